"""The flow engine: ``step(flow, state, event) -> (state, actions)``, a pure function.

No clock, socket, thread or database is touched here: time arrives in events, data arrives as
``ActionResult`` events, and everything the call needs done leaves as actions. The same engine runs
under SIP, in the text console, in conversation tests and in the benchmark.

Vocabulary follows VoiceXML's form interpretation: a listening node is *visited*, input *fills* its
slot or is a no-input / no-match that escalates, and after ``max_attempts`` failures the node fails.

This module is the transition core (dispatching events, moving from node to node); the handlers it
calls live in ``engine_step`` (shared helpers), ``engine_prompts``, ``engine_input`` and
``engine_actions``.
"""

from __future__ import annotations

from typing import Any

from voicebot.actions import Action, Hangup, Listen, Play
from voicebot.events import ActionResult, CallStarted, Dtmf, Event, HangUp, NoInput, TimerFired, Utterance
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.engine_actions import ActionSteps
from voicebot.flow.engine_input import InputSteps
from voicebot.flow.engine_step import INTERDIGIT_TIMER
from voicebot.flow.errors import FlowRuntimeError
from voicebot.flow.expr import truthy
from voicebot.flow.schema import (
    ActionNode,
    AskNode,
    BranchNode,
    GotoNode,
    HandoffNode,
    HangupNode,
    MenuNode,
    ReturnNode,
    SayNode,
    SetNode,
    SubflowNode,
    prompt_list,
)
from voicebot.flow.state import CallState, Frame

MAX_PATH = 500


def new_state(flow: CompiledFlow) -> CallState:
    root = flow.flows[flow.root]
    return CallState(flow=flow.root, node=root.start, vars=dict(root.variables))


def listen_at(flow: CompiledFlow, flow_name: str, node_id: str, *, confirming: bool = False) -> Listen:
    """The Listen action a listening node issues, so tools recognize audio exactly as that node would.

    ``confirming``: the Listen of the node's yes/no confirmation turn instead.
    """
    node = flow.flows[flow_name].nodes.get(node_id) if flow_name in flow.flows else None
    if not isinstance(node, (AskNode, MenuNode)):
        raise ValueError(f"{flow_name}.{node_id} is not an ask or menu node")
    state = CallState(flow=flow_name, node=node_id, waiting="confirm" if confirming else "input")
    return _Step(flow, state, NoInput(at=0.0))._listen_action(node, confirming=confirming)


def listens_of(flow: CompiledFlow) -> list[Listen]:
    """Every Listen the flow (and its subflows) can issue: each ask and menu node, and its confirmation turn."""
    found: list[Listen] = []
    for flow_name, sub in flow.flows.items():
        for node_id, node in sub.nodes.items():
            if isinstance(node, (AskNode, MenuNode)):
                found.append(listen_at(flow, flow_name, node_id))
                found.append(listen_at(flow, flow_name, node_id, confirming=True))
    return found


def step(flow: CompiledFlow, state: CallState, event: Event) -> tuple[CallState, list[Action]]:
    """Advance one call by one event. ``state`` is not modified; a new state is returned."""
    run = _Step(flow, state.model_copy(deep=True), event)
    run.handle()
    return run.s, run.actions


class _Step(InputSteps, ActionSteps):
    """The transition core: dispatch one event, then run nodes until one waits or the call ends."""

    def handle(self) -> None:
        s, event = self.s, self.event
        if s.ended:
            return
        s.events += 1
        try:
            if isinstance(event, CallStarted):
                if s.waiting == "start":
                    self._start(event)
            elif s.waiting == "start":
                return
            elif isinstance(event, HangUp):
                self._caller_hung_up()
            elif isinstance(event, ActionResult):
                if s.waiting == "action" and event.request_id == s.pending_request:
                    self._action_result(event)
            elif isinstance(event, Dtmf):
                s.dtmf_buffer += event.keys
                if s.waiting in ("input", "confirm"):
                    self._consume_keys(self._listening())
            elif s.waiting in ("input", "confirm"):
                self._input(event)
        except FlowRuntimeError as exc:
            self._safe_handoff(exc)

    def _input(self, event: Event) -> None:
        node = self._listening()
        if isinstance(event, Utterance):
            self._utterance(node, event)
        elif isinstance(event, NoInput):
            if self.s.collecting:
                self._complete_keys(node, final=True)
            else:
                self._failure(node, "no_input")
        elif isinstance(event, TimerFired) and event.name == INTERDIGIT_TIMER and self.s.collecting:
            self._complete_keys(node, final=True)

    def _start(self, event: CallStarted) -> None:
        s = self.s
        s.call_id = event.call_id
        s.started_at = event.at
        s.vars.update(caller_id=event.caller_id, dialled=event.dialled, call_id=event.call_id)
        s.vars.setdefault("authenticated", False)
        self._goto(s.node)

    def _goto(self, node_id: str) -> None:
        """Continue at ``node_id`` and run nodes until one waits or the call ends."""
        s = self.s
        s.node = node_id
        s.waiting = "input"  # provisional; nodes that do not wait move on immediately
        self.moving = True
        while self.moving:
            self.budget -= 1
            if self.budget < 0:
                limit = self.flow.flows[self.flow.root].settings.max_steps
                raise FlowRuntimeError(s.node, f"step limit reached: {limit} nodes without input (a loop?)")
            if len(s.path) < MAX_PATH:
                s.path.append(s.node if s.flow == self.flow.root else f"{s.flow}.{s.node}")
            self._visit(self.flow.node(s.flow, s.node))

    def _visit(self, node: Any) -> None:
        s = self.s
        node_id = s.node
        if isinstance(node, SayNode):
            visits = self._count(node_id, "visits")
            if node.play:
                fallback = self._render_choice(prompt_list(node.prompt), visits - 1) if node.prompt else ""
                self.actions.append(Play(node.play, node_id, node.barge_in, fallback))
            elif node.prompt is not None:
                self._say(prompt_list(node.prompt), visits - 1, node.barge_in)
            self._next(node.next)
        elif isinstance(node, (AskNode, MenuNode)):
            self._enter_listening(node_id, node)
        elif isinstance(node, ActionNode):
            self._run_action(node_id, node)
        elif isinstance(node, BranchNode):
            target = node.otherwise
            for case in node.cases:
                if truthy(self._evaluate(case.when)):
                    target = case.goto
                    break
            self._next(target)
        elif isinstance(node, SetNode):
            for name in node.clear:
                s.vars.pop(name, None)
                s.slots.pop(name, None)
            for name, value in node.values.items():
                s.vars[name] = self._evaluate(value) if isinstance(value, str) else value
            self._next(node.next)
        elif isinstance(node, GotoNode):
            self._next(node.target)
        elif isinstance(node, SubflowNode):
            s.stack.append(Frame(flow=s.flow, node=node_id))
            s.flow = self.flow.subflow_names[s.flow][node.flow]
            for name, value in self.flow.flows[s.flow].variables.items():
                s.vars.setdefault(name, value)  # a subflow's variables are defaults, not resets
            self._next(self.flow.flows[s.flow].start)
        elif isinstance(node, ReturnNode):
            if not s.stack:
                raise FlowRuntimeError(node_id, "return outside a subflow")
            frame = s.stack.pop()
            s.flow = frame.flow
            caller = self.flow.node(frame.flow, frame.node)
            assert isinstance(caller, SubflowNode)
            self._next(caller.next)
        elif isinstance(node, HandoffNode):
            self._handoff_node(node_id, node)
        elif isinstance(node, HangupNode):
            if node.prompt is not None:
                self._say(prompt_list(node.prompt), 0, barge_in=False)
            s.outcome = node.outcome or str(s.vars.get("outcome") or "completed")
            self.actions.append(Hangup(s.outcome, "flow ended", node_id))
            self._stop("ended")
