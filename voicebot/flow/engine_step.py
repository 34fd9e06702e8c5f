"""What one engine step works with: the flow, a copy of the call state, the event, the actions it
emits, and the helpers every kind of node shares (rendering, expressions, counters).

The step is split by concern over a few modules (``engine_prompts``, ``engine_input``,
``engine_actions``, ``engine``), each a class in one chain of inheritance, so each file reads
on its own while the step stays one object with one state.
"""

from __future__ import annotations

from typing import Any

from voicebot.actions import Action, Say
from voicebot.events import Event
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.errors import FlowRuntimeError
from voicebot.flow.expr import EvalError, MissingVariable
from voicebot.flow.schema import AskNode, MenuNode
from voicebot.flow.state import CallState
from voicebot.flow.template import RenderError

INTERDIGIT_TIMER = "interdigit"

Listening = AskNode | MenuNode


class StepBase:
    """One event applied to one call (see :func:`voicebot.flow.engine.step`)."""

    def __init__(self, flow: CompiledFlow, state: CallState, event: Event) -> None:
        self.flow = flow
        self.s = state
        self.event = event
        self.actions: list[Action] = []
        self.budget = flow.flows[flow.root].settings.max_steps
        self.moving = False

    def _next(self, node_id: str) -> None:
        self.s.node = node_id

    def _stop(self, waiting: str) -> None:
        self.s.waiting = waiting  # type: ignore[assignment]
        self.moving = False

    def _counter(self, node_id: str, suffix: str) -> str:
        """Counter names: "node:suffix" in the root flow, "subflow.node:suffix" in a subflow (ids may repeat)."""
        prefix = node_id if self.s.flow == self.flow.root else f"{self.s.flow}.{node_id}"
        return f"{prefix}:{suffix}"

    def _count(self, node_id: str, suffix: str) -> int:
        key = self._counter(node_id, suffix)
        self.s.counters[key] = self.s.counters.get(key, 0) + 1
        return self.s.counters[key]

    def _say(self, prompts: list[str], index: int, barge_in: bool) -> None:
        text = self._render_choice(prompts, index)
        if text:
            # static describes the prompt actually chosen: a prompt cache may store it, so it must not
            # hold caller data ("Hello." first, "Hello again, {name}." later is static only once).
            source = prompts[max(0, min(index, len(prompts) - 1))]
            self.actions.append(Say(text, self.s.node, barge_in, self._is_static(source)))

    def _render_choice(self, prompts: list[str], index: int) -> str:
        if not prompts:
            return ""
        return self._render(prompts[max(0, min(index, len(prompts) - 1))])

    def _render(self, source: str) -> str:
        try:
            return self.flow.template(source).render(self.s.vars)
        except MissingVariable as exc:
            raise FlowRuntimeError(self.s.node, f"variable '{exc.name}' is not set") from None
        except RenderError as exc:
            raise FlowRuntimeError(self.s.node, str(exc)) from None

    def _evaluate(self, source: str) -> Any:
        try:
            return self.flow.expr(source).evaluate(self.s.vars)
        except MissingVariable as exc:
            raise FlowRuntimeError(self.s.node, f"variable '{exc.name}' is not set") from None
        except EvalError as exc:
            raise FlowRuntimeError(self.s.node, f"cannot evaluate {source!r}: {exc.message}") from None

    def _is_static(self, text: str) -> bool:
        template = self.flow.templates.get(text)
        return template is not None and template.is_static

    def _goto(self, node_id: str) -> None:
        """Continue at ``node_id``: the transition core, defined by the engine's step."""
        raise NotImplementedError
