"""The keypad dialogue of a waiting caller choosing a callback (pure: one key at a time)."""

from __future__ import annotations

from voicebot.runtime.callback_choice import ASK, BACK, CONFIRMED, CallbackChoice


def keys(choice: CallbackChoice, pressed: str) -> list[tuple[str | None, str | None]]:
    return [(r.say, r.number) for r in (choice.key(k) for k in pressed)]


def test_the_caller_id_is_read_back_and_confirmed() -> None:
    choice = CallbackChoice("+1 (555) 010-0001")
    [(say, number)] = keys(choice, "1")
    assert say == "We'll call you back on 1 5 5 5 0 1 0 0 0 0 1. Press 1 to confirm, or 2 to key another number."
    assert number is None
    assert keys(choice, "1") == [(CONFIRMED, "15550100001")]


def test_another_number_is_keyed_then_confirmed() -> None:
    choice = CallbackChoice("+15550100001")
    keys(choice, "1")
    assert keys(choice, "2") == [(ASK, None)]
    assert keys(choice, "12#") == [(None, None), (None, None), (ASK, None)]  # too short: asked again
    *_, (say, _) = keys(choice, "5550199#")
    assert say is not None and say.startswith("We'll call you back on 5 5 5 0 1 9 9.")
    assert keys(choice, "1") == [(CONFIRMED, "5550199")]


def test_an_anonymous_caller_is_asked_for_a_number_and_star_goes_back_to_waiting() -> None:
    choice = CallbackChoice("anonymous")
    assert keys(choice, "1") == [(ASK, None)]
    assert keys(choice, "55*") == [(None, None), (None, None), (BACK, None)]
    assert choice.state == "idle"
    assert keys(choice, "9") == [(None, None)]  # other keys while waiting mean nothing
