"""The agent state machine and password hashing (pure: no database)."""

from __future__ import annotations

import pytest

from voicebot.acd.agents import AGENT_STATES, IllegalTransition, check_manual, check_transition
from voicebot.acd.passwords import hash_password, needs_rehash, verify_password


@pytest.mark.parametrize(("current", "target"), [
    ("logged_out", "available"), ("available", "reserved"), ("reserved", "busy"), ("busy", "wrap_up"),
    ("wrap_up", "available"), ("reserved", "available"), ("reserved", "break"), ("busy", "available"),
    ("break", "break"), ("available", "logged_out"),
])
def test_allowed_transitions(current: str, target: str) -> None:
    assert check_transition(current, target) == target


@pytest.mark.parametrize(("current", "target"), [
    ("logged_out", "busy"), ("logged_out", "reserved"), ("available", "busy"), ("reserved", "reserved"),
    ("wrap_up", "busy"), ("break", "reserved"), ("available", "on_fire"), ("haunted", "available"),
])
def test_refused_transitions(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


def test_every_state_has_a_way_out_to_logged_out_or_available() -> None:
    for state in AGENT_STATES:
        exits = [t for t in ("available", "logged_out") if t != state]
        assert any(_allowed(state, t) for t in exits), f"{state} is a trap"


def test_manual_changes_are_limited_to_available_break_and_logout() -> None:
    assert check_manual("available", "break") == "break"
    assert check_manual("wrap_up", "available") == "available"  # ending wrap-up early
    for target in ("reserved", "busy", "wrap_up"):
        with pytest.raises(IllegalTransition, match="set by routing"):
            check_manual("available", target)
    with pytest.raises(IllegalTransition, match="on a call"):
        check_manual("busy", "available")


def test_argon2_hashes_verify_and_never_contain_the_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse") and not verify_password(stored, "wrong")
    assert not verify_password("not a hash", "correct horse")
    assert hash_password("correct horse") != stored  # salted
    assert not needs_rehash(stored)
    with pytest.raises(ValueError):
        hash_password("")


def _allowed(current: str, target: str) -> bool:
    try:
        check_transition(current, target)
    except IllegalTransition:
        return False
    return True
