"""The text channel: a caller typing instead of speaking (``voicebot chat``, ``voicebot demo``).

Input syntax: plain text is an utterance; ``#1234`` keys digits (``#1234#`` ends with the pound key);
an empty line is silence (no-input); ``~0.4 some words`` sets the recognition confidence;
``/hangup`` hangs up. Each line moves the virtual clock on by a second, and keypad entries fire the
inter-digit timer, so a line of keys is one complete entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from voicebot.actions import Action, Handoff, Hangup, Listen, Play, Say
from voicebot.events import Dtmf, Event, HangUp, NoInput, Utterance
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.session import CallSession
from voicebot.storage.calls import to_jsonable

Output = Callable[[str], None]


def parse_line(line: str, at: float) -> Event:
    text = line.strip()
    if text in ("/hangup", "/quit", "/bye"):
        return HangUp(at=at)
    if not text:
        return NoInput(at=at)
    if text.startswith("#") and len(text) > 1 and all(c in "0123456789*#ABCD" for c in text[1:]):
        return Dtmf(text[1:], at=at)
    if text.startswith("~"):
        head, _, rest = text[1:].partition(" ")
        try:
            return Utterance(rest.strip(), float(head), at=at)
        except ValueError:
            pass
    return Utterance(text, 1.0, at=at)


class Console:
    def __init__(self, session: CallSession, clock: ManualClock, out: Output, debug: bool = True) -> None:
        self.session = session
        self.clock = clock
        self.out = out
        self.debug = debug

    def show(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                self.out(f"IVR > {action.text}")
            elif isinstance(action, Play):
                self.out(f"IVR > [plays {action.path}] {action.fallback_text}".rstrip())
            elif isinstance(action, Listen) and self.debug:
                keys = " ".join(action.dtmf_keys)
                secure = ", secure" if action.secure else ""
                self.out(f"      (listening at {action.node}: {action.slot_type}{secure}; keys {keys})")
            elif isinstance(action, Handoff):
                self.out(f"      -> handoff to queue '{action.queue}' (priority {action.priority}): "
                         f"{action.reason}")
            elif isinstance(action, Hangup):
                self.out(f"      -> hang up ({action.outcome})")

    def start(self, caller: str, dialled: str) -> None:
        self.show(self.session.start(caller, dialled))

    def feed(self, line: str) -> None:
        self.clock.advance(1.0)
        event = parse_line(line, self.clock.now())
        before = self.session.state
        actions = self.session.send(event)
        if isinstance(event, Dtmf) and self.session.timers:
            # A typed line of keys is one whole entry: let the inter-digit timer run out now.
            self.clock.advance(max(self.session.timers.values()) - self.clock.now() + 0.01)
            actions += self.session.fire_due_timers()
        if self.debug:
            self._recognised(before, event)
        self.show(actions)

    def _recognised(self, before: Any, event: Event) -> None:
        after = self.session.state
        new_intents = after.intents[len(before.intents):]
        changed = {
            k: v for k, v in after.recorded_slots().items() if before.recorded_slots().get(k, object()) != v
        }
        parts = []
        if isinstance(event, Utterance):
            parts.append(f'heard "{event.text}" ({event.confidence:.2f})')
        if new_intents:
            parts.append("intent " + ", ".join(new_intents))
        if changed:
            parts.append("slots " + json.dumps(to_jsonable(changed)))
        if parts:
            self.out("      [" + "; ".join(parts) + "]")

    def summary(self) -> None:
        s = self.session.state
        self.out(f"      call {self.session.call_id} ended: outcome {s.outcome}, "
                 f"authenticated {'yes' if s.authenticated else 'no'}")
        if s.error:
            self.out(f"      error: {s.error}")
        if s.handoff is not None:
            self.out("      handoff payload:")
            for line in json.dumps(to_jsonable(s.handoff), indent=2).splitlines():
                self.out("        " + line)


def run_script(console: Console, lines: Iterable[str], echo: bool = True) -> None:
    """Play typed caller lines until the call ends (used by the demo and by tests of the console)."""
    for line in lines:
        if console.session.ended:
            break
        if echo:
            console.out(f"you > {line}" if line else "you > (silence)")
        console.feed(line)
    if not console.session.ended:
        console.feed("/hangup")
    console.session.close()
    console.summary()
