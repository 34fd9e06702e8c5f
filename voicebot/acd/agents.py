"""The agent state machine: which state changes are allowed, and who may make them.

States: ``logged_out``, ``available``, ``reserved`` (an offer is ringing), ``busy`` (on a call),
``wrap_up`` (after-call work) and ``break`` (with a reason). The router and the call owner move agents
through reserved/busy/wrap_up; the agent (console, CLI) moves between available, break and logged
out; the reconciler may log out anyone whose presence lease lapsed, so no state is a trap.
"""

from __future__ import annotations

from typing import Literal

AgentState = Literal["logged_out", "available", "reserved", "busy", "wrap_up", "break"]
AGENT_STATES: tuple[AgentState, ...] = ("logged_out", "available", "reserved", "busy", "wrap_up", "break")

#: States an agent (or a supervisor) may ask for; the others are entered by routing and calls.
MANUAL_STATES: tuple[AgentState, ...] = ("available", "break", "logged_out")

_ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    "logged_out": frozenset({"available", "break"}),
    "available": frozenset({"reserved", "break", "logged_out", "available"}),
    # reserved -> available: declined or cancelled; -> break: the offer rang out; -> logged_out: left.
    "reserved": frozenset({"busy", "available", "break", "logged_out"}),
    # busy -> available when the queue has no wrap-up time.
    "busy": frozenset({"wrap_up", "available", "break", "logged_out"}),
    "wrap_up": frozenset({"available", "break", "logged_out"}),
    "break": frozenset({"available", "break", "logged_out"}),
}


class IllegalTransition(ValueError):
    """A state change the machine does not allow (e.g. busy without an offer)."""


def check_transition(current: str, target: str) -> AgentState:
    """``target`` as a state if ``current -> target`` is allowed; raises IllegalTransition otherwise."""
    if current not in _ALLOWED:
        raise IllegalTransition(f"unknown agent state {current!r}")
    if target not in AGENT_STATES:
        raise IllegalTransition(f"unknown agent state {target!r}; states: {', '.join(AGENT_STATES)}")
    allowed = _ALLOWED[current]
    if target not in allowed:
        raise IllegalTransition(f"an agent cannot go from {current} to {target}")
    return target


def check_manual(current: str, target: str) -> AgentState:
    """A state change asked for by the agent or a supervisor: only available, break or logged out, and
    never available while on a call (busy) - the call's end does that."""
    if target not in MANUAL_STATES:
        raise IllegalTransition(f"{target} is set by routing, not by hand; choose one of {', '.join(MANUAL_STATES)}")
    if current == "busy" and target == "available":
        raise IllegalTransition("the agent is on a call; the call's end makes them available")
    return check_transition(current, target)
