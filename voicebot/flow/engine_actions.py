"""Nodes that leave the engine: back-end actions and their results, handoff to a person, and the
safe handoff when a flow fails mid-call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from voicebot.actions import Handoff, RunAction, Say
from voicebot.events import ActionResult
from voicebot.flow.engine_step import StepBase
from voicebot.flow.errors import FlowRuntimeError
from voicebot.flow.schema import ActionNode, HandoffNode, prompt_list

_SINGLE_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\[\]\"']*)\}")


class ActionSteps(StepBase):
    def _run_action(self, node_id: str, node: ActionNode) -> None:
        s = self.s
        args = {name: self._argument(value) for name, value in node.args.items()}
        name = node.function or "http"
        if node.http is not None:
            args = {
                "url": node.http.url,
                "headers": dict(node.http.headers),
                "body": args,
                "timeout_ms": node.timeout_ms,
            }
        s.request_seq += 1
        request = f"{s.call_id}:{s.request_seq}"
        s.pending_request = request
        self.actions.append(RunAction(request, name, args, node.timeout_ms, node_id))
        self._stop("action")

    def _argument(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        single = _SINGLE_PLACEHOLDER.fullmatch(value)
        if single:
            return self._evaluate(single.group(1))  # keep the value's type (numbers, dicts)
        return self._render(value)

    def _action_result(self, event: ActionResult) -> None:
        s = self.s
        node = self.flow.node(s.flow, s.node)
        assert isinstance(node, ActionNode)
        s.pending_request = None
        if event.ok:
            if node.result:
                s.vars[node.result] = dict(event.data)
            for var, path in node.assign.items():
                s.vars[var] = _lookup(event.data, path)
            self._goto(node.next)
            return
        s.vars["last_error"] = event.error
        if node.on_error:
            self._goto(node.on_error)
            return
        raise FlowRuntimeError(s.node, f"action {node.function or 'http'} failed: {event.error}")

    def _handoff_node(self, node_id: str, node: HandoffNode) -> None:
        s = self.s
        if node.prompt is not None:
            self._say(prompt_list(node.prompt), 0, barge_in=False)
        reason = self._render(node.reason) if node.reason else ""
        payload = self._payload(reason, node.attach)
        s.handoff = {"queue": node.queue, "priority": node.priority, "skills": list(node.skills), **payload}
        s.outcome = "handoff"
        self.actions.append(Handoff(node.queue, node.priority, tuple(node.skills), reason, payload, node_id))
        self._stop("ended")

    def _payload(self, reason: str, attach: Sequence[str]) -> dict[str, Any]:
        """Everything collected, for the agent: the caller never repeats themselves."""
        s = self.s
        attached = {name: ("***" if name in s.secure_slots else s.vars.get(name)) for name in attach}
        return {
            "call_id": s.call_id,
            "caller_id": s.vars.get("caller_id", ""),
            "dialled": s.vars.get("dialled", ""),
            "flow": self.flow.root,
            "reason": reason,
            "authenticated": s.authenticated,
            "customer": s.vars.get("customer"),
            "intents": list(s.intents),
            "slots": s.recorded_slots(),
            "last_node": s.node,
            "attached": attached,
        }

    def _safe_handoff(self, exc: FlowRuntimeError) -> None:
        """A flow that fails mid-call apologises and hands the caller to a person, with what it has."""
        s = self.s
        policy = self.flow.flows[self.flow.root].settings.on_error
        s.error = f"{s.flow}.{exc.node}: {exc.message}" if s.flow != self.flow.root else str(exc)
        self.actions.append(Say(policy.prompt, exc.node, barge_in=False, static=True))
        reason = f"self-service error at {exc.node}: {exc.message}"
        payload = self._payload(reason, [])
        s.handoff = {"queue": policy.queue, "priority": policy.priority, "skills": [], **payload}
        s.outcome = "handoff"
        self.actions.append(Handoff(policy.queue, policy.priority, (), reason, payload, exc.node))
        s.waiting = "ended"
        self.moving = False

    def _caller_hung_up(self) -> None:
        s = self.s
        s.vars["ended_by"] = "caller"
        s.outcome = str(s.vars.get("outcome") or "abandoned")
        s.waiting = "ended"


def _lookup(data: Any, path: str) -> Any:
    """A dotted field of an action result; a missing field is None (results may omit optional data)."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current
