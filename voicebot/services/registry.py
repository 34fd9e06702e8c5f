"""Data actions: named functions a flow may call (``RunAction``), with their allowed arguments.

The registry is the boundary between a flow and the outside world: whatever goes wrong behind it
(bad arguments, a database error, a remote service down) comes out as :class:`ActionFailed`, which the
runtime turns into a failed ``ActionResult`` so the flow can take its error branch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from voicebot.storage.calls import to_jsonable

ActionFn = Callable[..., dict[str, Any]]


class ActionFailed(Exception):
    """An action could not produce a result. The message is safe to log (no PINs, no SQL parameters)."""


@dataclass(frozen=True)
class ActionContext:
    """What every action gets besides its arguments: the database, the call, and the call's "now"."""

    engine: Engine
    call_id: str
    now: datetime


@dataclass(frozen=True)
class _Entry:
    fn: ActionFn
    params: tuple[str, ...]
    description: str


def _reason(exc: BaseException) -> str:
    """A short reason for ``exc`` that cannot leak argument values."""
    if isinstance(exc, DBAPIError):
        # The driver's own message ("no such table: bank_account") without SQLAlchemy's rendering of
        # the statement and its parameters, which could include a PIN hash.
        detail = str(exc.orig).splitlines()[0] if str(exc.orig) else ""
        return f"{type(exc.orig).__name__}: {detail}"[:200]
    if isinstance(exc, SQLAlchemyError):
        return type(exc).__name__
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {detail}"[:200]


class ActionRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, name: str, fn: ActionFn, *, params: Sequence[str], description: str = "") -> None:
        """Register ``fn(ctx, **args)`` as ``name``; ``params`` are the argument names a flow may pass."""
        if name in self._entries:
            raise ValueError(f"action {name!r} is already registered")
        self._entries[name] = _Entry(fn, tuple(params), description)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def params(self, name: str) -> tuple[str, ...]:
        return self._entries[name].params

    def description(self, name: str) -> str:
        return self._entries[name].description

    def run(self, name: str, args: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        """Run action ``name``; every failure is raised as :class:`ActionFailed`."""
        entry = self._entries.get(name)
        if entry is None:
            raise ActionFailed(f"unknown action {name!r}")
        unknown = sorted(set(args) - set(entry.params))
        if unknown:
            raise ActionFailed(f"{name}: unknown argument(s) {', '.join(unknown)}")
        try:
            inspect.signature(entry.fn).bind(ctx, **args)
        except TypeError as exc:
            raise ActionFailed(f"{name}: {exc}") from None
        try:
            result = entry.fn(ctx, **args)
        except ActionFailed:
            raise
        except Exception as exc:
            raise ActionFailed(f"{name} failed: {_reason(exc)}") from exc
        if not isinstance(result, dict):
            raise ActionFailed(f"{name} returned {type(result).__name__}, not a dict")
        # The result travels in an ActionResult event and into the call log, both JSON.
        return dict(to_jsonable(result))


def default_registry() -> ActionRegistry:
    """A registry with the demo bank actions and ``http``."""
    # Imported here: the bank actions import this module for ActionContext/ActionFailed.
    from voicebot.bank.actions import register_bank_actions
    from voicebot.services.http_action import register_http_action

    registry = ActionRegistry()
    register_bank_actions(registry)
    register_http_action(registry)
    return registry
