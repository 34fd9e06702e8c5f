"""``voicebot chat --record FILE``: a typed session saved as a conversation test that replays it.

Each typed line becomes a turn; its expectations are what the IVR said (the first sentence of each
prompt, so a random reference number later in a prompt does not make the test fail) and the node the call
was at. The end is the call's outcome and whether the caller was authenticated. Edit the file freely.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voicebot.events import Dtmf, HangUp, NoInput, Utterance
from voicebot.runtime.console import parse_line

_SENTENCE = re.compile(r"^(.+?[.?!])(\s|$)")


def first_sentence(text: str) -> str:
    found = _SENTENCE.match(text.strip())
    return found.group(1) if found else text.strip()


@dataclass
class RecordedCall:
    caller: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recorder:
    flow: Path
    calls: list[RecordedCall] = field(default_factory=list)
    _said: list[str] = field(default_factory=list)

    def heard(self, line: str) -> None:
        """Wraps the console's output: lines the IVR says are kept for the current turn's expectations."""
        if line.startswith("IVR > "):
            text = re.sub(r"^\[plays [^\]]*\]\s*", "", line[6:])
            if text:
                self._said.append(first_sentence(text))

    def start(self, caller: str) -> None:
        self.calls.append(RecordedCall(caller))
        self._said = []

    def turn(self, line: str | None, node: str, ended: bool) -> None:
        """After the call start (``line`` None) or a typed line: one turn with what was said back."""
        turn: dict[str, Any] = {}
        if line is not None:
            event = parse_line(line, 0.0)
            if isinstance(event, Dtmf):
                turn["dtmf"] = event.keys
            elif isinstance(event, NoInput):
                turn["silence"] = True
            elif isinstance(event, HangUp):
                turn["hangup"] = True
            elif isinstance(event, Utterance):
                turn["say"] = event.text
                if event.confidence != 1.0:
                    turn["confidence"] = event.confidence
        expect: dict[str, Any] = {"says": list(self._said)} if self._said else {}
        expect["node"] = node
        if ended:
            expect["ended"] = True
        turn["expect"] = expect
        self.calls[-1].turns.append(turn)
        self._said = []

    def finish(self, outcome: str | None, authenticated: bool) -> None:
        self.calls[-1].end = {"outcome": outcome, "authenticated": authenticated}

    def document(self, out: Path) -> dict[str, Any]:
        flow = os.path.relpath(self.flow.resolve(), out.resolve().parent)
        specs = [{"name": f"recorded chat {n + 1} from {call.caller}", "flow": flow, "caller": call.caller,
                  "turns": call.turns, "end": call.end} for n, call in enumerate(self.calls)]
        return specs[0] if len(specs) == 1 else {"conversations": specs}

    def write(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        header = "# Recorded with `voicebot chat --record`; replay with `voicebot test` (edit as you like).\n"
        out.write_text(header + yaml.safe_dump(self.document(out), sort_keys=False, allow_unicode=True,
                                               width=110), encoding="utf-8")
