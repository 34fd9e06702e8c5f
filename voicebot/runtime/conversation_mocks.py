"""``mocks:`` in a conversation test: data actions answered from the test file instead of a backend.

::

    mocks:
      http:                          # one mapping: every call gets this reply
        result: {balance: "12.50"}
      bank.balance:                  # a list: one entry per call, in order; the last one repeats
        - result: {balance: "2345.67", currency: USD, kind: checking, last4: "0923"}
        - error: "HTTP 500 from https://bank.example/balance"

An ``error`` makes the action fail exactly as a real failure would (the flow's ``on_error`` runs).
Actions without a mock run for real (the demo bank on the test's own database).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicebot.services.registry import ActionContext, ActionFailed, ActionRegistry


class MockSpecError(ValueError):
    pass


@dataclass
class MockedAction:
    replies: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def next_reply(self, args: dict[str, Any]) -> dict[str, Any]:
        reply = self.replies[min(len(self.calls), len(self.replies) - 1)]
        self.calls.append(dict(args))
        if "error" in reply:
            raise ActionFailed(str(reply["error"]))
        return dict(reply["result"])


def parse_mocks(spec: Any, known: list[str]) -> dict[str, MockedAction]:
    """The ``mocks:`` mapping checked against the registered actions' names."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise MockSpecError("mocks must map action names to a reply or a list of replies")
    mocks: dict[str, MockedAction] = {}
    for name, value in spec.items():
        if name not in known:
            raise MockSpecError(f"mocks: unknown action {name!r} (known: {', '.join(known)})")
        replies = value if isinstance(value, list) else [value]
        if not replies:
            raise MockSpecError(f"mocks.{name}: give at least one reply")
        for i, reply in enumerate(replies):
            where = f"mocks.{name}" + (f"[{i}]" if isinstance(value, list) else "")
            if not isinstance(reply, Mapping) or len(set(reply) & {"result", "error"}) != 1 or \
                    set(reply) - {"result", "error"}:
                raise MockSpecError(f"{where}: a reply is {{result: {{...}}}} or {{error: message}}")
            if "result" in reply and not isinstance(reply["result"], Mapping):
                raise MockSpecError(f"{where}.result must be a mapping (an action's result is an object)")
        mocks[str(name)] = MockedAction([dict(r) for r in replies])
    return mocks


class MockedRegistry(ActionRegistry):
    """``base`` with some actions answered by :class:`MockedAction` (same names and parameters)."""

    def __init__(self, base: ActionRegistry, mocks: dict[str, MockedAction]) -> None:
        super().__init__()
        self.base = base
        self.mocks = mocks

    def names(self) -> list[str]:
        return self.base.names()

    def __contains__(self, name: object) -> bool:
        return name in self.base

    def params(self, name: str) -> tuple[str, ...]:
        return self.base.params(name)

    def description(self, name: str) -> str:
        return self.base.description(name)

    def run(self, name: str, args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        mock = self.mocks.get(name)
        if mock is None:
            return self.base.run(name, args, ctx)
        return mock.next_reply(args)
