"""A small harness for engine tests: flows from inline YAML, a call driven event by event.

No database, no session runtime: data-action results are fed by the test as ``ActionResult`` events,
which is exactly what the engine sees in production.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from voicebot.actions import Action, Handoff, Hangup, Listen, RunAction, Say, StartTimer
from voicebot.events import (
    ActionResult,
    CallStarted,
    Dtmf,
    Event,
    HangUp,
    Hypothesis,
    NoInput,
    TimerFired,
    Utterance,
)
from voicebot.flow.compile import CompiledFlow, load_flow
from voicebot.flow.engine import new_state, step
from voicebot.flow.state import CallState

GRAMMARS = Path(__file__).resolve().parents[2] / "grammars"
ACTIONS = {"lookup": ("key",), "fail": ()}
QUEUES = ["general", "security"]


def compile_yaml(tmp_path: Path, text: str, *, extra: dict[str, str] | None = None) -> CompiledFlow:
    for name, body in (extra or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(body))
    path = tmp_path / "main.yaml"
    path.write_text(textwrap.dedent(text))
    return load_flow(path, actions=ACTIONS, queues=QUEUES, grammars_dir=GRAMMARS)


class Call:
    def __init__(self, flow: CompiledFlow) -> None:
        self.flow = flow
        self.state: CallState = new_state(flow)
        self.at = 1_795_000_000.0
        self.actions: list[Action] = []

    def send(self, event: Event) -> list[Action]:
        self.state, self.actions = step(self.flow, self.state, event)
        return self.actions

    def tick(self) -> float:
        self.at += 1.0
        return self.at

    def start(self, caller: str = "+15550100001") -> list[Action]:
        return self.send(CallStarted("call-1", caller, "+18005550100", self.tick()))

    def say(self, text: str, confidence: float = 1.0, nbest: tuple[str, ...] = ()) -> list[Action]:
        hyps = tuple(Hypothesis(h, confidence) for h in nbest)
        return self.send(Utterance(text, confidence, hyps, self.tick()))

    def keys(self, keys: str) -> list[Action]:
        return self.send(Dtmf(keys, self.tick()))

    def silence(self) -> list[Action]:
        return self.send(NoInput(self.tick()))

    def timer(self, name: str = "interdigit") -> list[Action]:
        return self.send(TimerFired(name, self.tick()))

    def hang_up(self) -> list[Action]:
        return self.send(HangUp(self.tick()))

    def result(self, ok: bool = True, data: dict[str, Any] | None = None, error: str = "") -> list[Action]:
        request = self.pending_request()
        return self.send(ActionResult(request, ok, data or {}, error, self.tick()))

    def pending_request(self) -> str:
        assert self.state.pending_request is not None, "no data action is pending"
        return self.state.pending_request

    # what the last step did
    @property
    def said(self) -> list[str]:
        return [a.text for a in self.actions if isinstance(a, Say)]

    @property
    def text(self) -> str:
        return " ".join(self.said)

    @property
    def listen(self) -> Listen | None:
        found = [a for a in self.actions if isinstance(a, Listen)]
        return found[-1] if found else None

    @property
    def run_action(self) -> RunAction | None:
        found = [a for a in self.actions if isinstance(a, RunAction)]
        return found[-1] if found else None

    @property
    def handoff(self) -> Handoff | None:
        found = [a for a in self.actions if isinstance(a, Handoff)]
        return found[-1] if found else None

    @property
    def hangup(self) -> Hangup | None:
        found = [a for a in self.actions if isinstance(a, Hangup)]
        return found[-1] if found else None

    @property
    def timers(self) -> list[StartTimer]:
        return [a for a in self.actions if isinstance(a, StartTimer)]
