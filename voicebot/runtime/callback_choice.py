""""Press 1 for a callback, keeping your place": the keypad dialogue of a waiting caller (issue 9 item 4).

A small state machine fed one key at a time; it says what to tell the caller and, once a number is confirmed,
which number to call back. The caller ID is offered first ("press 1 to confirm, or 2 to key another number");
another number is keyed and ended with ``#``; ``*`` goes back to waiting. Pure: no audio, no time.
"""

from __future__ import annotations

from dataclasses import dataclass

OFFER = "To be called back instead, keeping your place in line, press 1."
ASK = "Please key the number we should call you back on, then the hash key."
BACK = "All right, you keep your place in line."
CONFIRMED = "Thank you. We'll call you back when an agent is free, in your place in line. Goodbye."
MIN_DIGITS = 3


def spoken(number: str) -> str:
    """Digits one by one, so that the caller can check them."""
    return " ".join(number)


def digits_of(caller_id: str) -> str:
    return "".join(ch for ch in caller_id if ch.isdigit())


@dataclass
class Reply:
    say: str | None = None
    number: str | None = None  # set when the caller confirmed the number to call back


class CallbackChoice:
    def __init__(self, caller_id: str) -> None:
        self.caller_number = digits_of(caller_id)
        self.state = "idle"  # idle -> confirming -> done, or entering -> confirming
        self.number = self.caller_number
        self.typed = ""

    def _confirm(self) -> Reply:
        self.state = "confirming"
        return Reply(f"We'll call you back on {spoken(self.number)}. Press 1 to confirm, or 2 to key another number.")

    def key(self, key: str) -> Reply:
        if self.state == "idle":
            if key != "1":
                return Reply()
            if len(self.number) >= MIN_DIGITS:
                return self._confirm()
            self.state = "entering"
            return Reply(ASK)
        if self.state == "confirming":
            if key == "1":
                self.state = "done"
                return Reply(CONFIRMED, self.number)
            if key == "2":
                self.state, self.typed = "entering", ""
                return Reply(ASK)
            if key == "*":
                self.state = "idle"
                return Reply(BACK)
            return Reply()
        if self.state == "entering":
            if key.isdigit():
                self.typed += key
                return Reply()
            if key == "#":
                if len(self.typed) < MIN_DIGITS:
                    self.typed = ""
                    return Reply(ASK)
                self.number, self.typed = self.typed, ""
                return self._confirm()
            if key == "*":
                self.state, self.typed = "idle", ""
                return Reply(BACK)
        return Reply()
