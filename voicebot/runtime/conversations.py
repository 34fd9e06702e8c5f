"""Conversation tests: scripted calls with expectations, written in YAML by flow authors.

A file holds one conversation, or several under ``conversations:``::

    name: known caller checks balance with a keypad PIN
    flow: ../../flows/banking.yaml      # relative to this file
    caller: "+15550100001"
    database: demo                      # demo (fresh seeded copy) | bank_down (bank tables missing)
    turns:
      - expect: {says: ["Welcome back to Open Bank, Alice"], node: main_menu}
      - say: balance
        confidence: 0.9                 # optional, default 1.0
        expect: {says: ["PIN"]}
      - dtmf: "1234"
      - silence: true                   # the caller says nothing (no-input)
      - wait: 4                         # seconds pass (timers fire)
      - hangup: true
    end:
      outcome: self_served
      authenticated: true
      vars: {auth_result: ok}
      handoff: {queue: general, attached: {account_number: "44170923"}}

Each call runs against its own fresh database file, through the same session runtime as real calls,
and the stored call record is checked against the final state. A failure names the file and the line
of its turn (``tests/x.yaml:14: turn 2 (say 'balance'): ...``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import SQLModel

from voicebot.actions import Action, Listen, Play, Say
from voicebot.config import load_config
from voicebot.events import Dtmf, Event, HangUp, NoInput, Utterance
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.conversation_mocks import MockedRegistry, MockSpecError, parse_mocks
from voicebot.runtime.session import CallSession
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore, to_jsonable
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo

TURN_KEYS = {"say", "confidence", "nbest", "dtmf", "silence", "wait", "hangup", "expect", "note"}
EXPECT_KEYS = {"says", "not_says", "node", "vars", "slots", "listening", "ended", "secure"}
END_KEYS = {"outcome", "authenticated", "vars", "slots", "intents", "handoff", "error", "nodes_include"}
DATABASES = ("demo", "bank_down")
TOP_KEYS = {"name", "flow", "caller", "dialled", "database", "turns", "end", "mocks", "note", "description", "$schema"}
#: Where the loader keeps the line numbers of a conversation's parts (not a key a test file may use).
LINES = "__lines__"


class ConversationSpecError(ValueError):
    pass


@dataclass
class ConversationResult:
    name: str
    path: Path
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    #: The flow file that ran and the nodes the call went through (for coverage reports).
    flow_path: Path | None = None
    nodes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


def load_conversations(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConversationSpecError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    items = data.get("conversations") if isinstance(data, dict) and "conversations" in data else [data]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConversationSpecError(f"{path}: expected a conversation mapping or a conversations list")
    lines = _part_lines(text)
    for index, item in enumerate(items):
        _check_spec(path, index, item)
        item[LINES] = lines[index] if index < len(lines) else {}
    return items


def _part_lines(text: str) -> list[dict[str, Any]]:
    """For each conversation of a file: the line of its start, of each turn and of its end."""
    root = yaml.compose(text)
    if isinstance(root, yaml.MappingNode):
        by_key = {key.value: value for key, value in root.value}
        conversations = by_key.get("conversations")
        nodes = conversations.value if isinstance(conversations, yaml.SequenceNode) else [root]
    else:
        nodes = []
    out: list[dict[str, Any]] = []
    for node in nodes:
        parts: dict[str, Any] = {"start": node.start_mark.line + 1, "turns": []}
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "turns" and isinstance(value, yaml.SequenceNode):
                    parts["turns"] = [item.start_mark.line + 1 for item in value.value]
                elif key.value == "end":
                    parts["end"] = key.start_mark.line + 1
        out.append(parts)
    return out


def _check_spec(path: Path, index: int, spec: dict[str, Any]) -> None:
    where = f"{path}: conversation {spec.get('name', index)!r}"
    for key in ("name", "flow", "turns"):
        if key not in spec:
            raise ConversationSpecError(f"{where}: missing '{key}'")
    unknown = set(spec) - TOP_KEYS - {LINES}
    if unknown:
        raise ConversationSpecError(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(TOP_KEYS))})")
    try:
        parse_mocks(spec.get("mocks"), default_registry().names())
    except MockSpecError as exc:
        raise ConversationSpecError(f"{where}: {exc}") from None
    if spec.get("database", "demo") not in DATABASES:
        raise ConversationSpecError(f"{where}: database must be one of {', '.join(DATABASES)}")
    for number, turn in enumerate(spec["turns"], 1):
        if not isinstance(turn, dict):
            raise ConversationSpecError(f"{where}: turn {number} must be a mapping")
        unknown = set(turn) - TURN_KEYS
        if unknown:
            raise ConversationSpecError(f"{where}: turn {number}: unknown keys {sorted(unknown)}")
        if len({"say", "dtmf", "silence", "wait", "hangup"} & set(turn)) > 1:
            raise ConversationSpecError(f"{where}: turn {number}: one of say, dtmf, silence, wait, hangup")
        unknown = set(turn.get("expect") or {}) - EXPECT_KEYS
        if unknown:
            raise ConversationSpecError(f"{where}: turn {number}: unknown expect keys {sorted(unknown)}")
    unknown = set(spec.get("end") or {}) - END_KEYS
    if unknown:
        raise ConversationSpecError(f"{where}: unknown end keys {sorted(unknown)}")


def run_file(path: Path) -> Iterator[ConversationResult]:
    for spec in load_conversations(path):
        yield run_conversation(spec, path)


def run_conversation(spec: dict[str, Any], path: Path) -> ConversationResult:
    result = ConversationResult(str(spec["name"]), path)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voicebot-conv-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/conversation.db")
        try:
            _Runner(spec, path, Path(tmp), engine, result).run()
        finally:
            engine.dispose()
    result.seconds = time.perf_counter() - started
    return result


class _Runner:
    def __init__(self, spec: dict[str, Any], path: Path, tmp: Path, engine: Any, result: ConversationResult):
        self.spec = spec
        self.result = result
        create_tables(engine)
        seed_demo(engine)
        if spec.get("database", "demo") == "bank_down":
            # The bank's database is gone while call records still work: a real failure, not a mock.
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name.startswith("bank_"):
                    table.drop(engine)
        config = load_config()
        flow_path = (path.parent / spec["flow"]).resolve()
        base = default_registry()
        registry = MockedRegistry(base, parse_mocks(spec.get("mocks"), base.names()))
        self.flow = load_flow_with(flow_path, config, registry)
        result.flow_path = flow_path
        self.path = path
        self.lines: dict[str, Any] = spec.get(LINES) or {}
        self.clock = ManualClock()
        self.store = CallStore(engine, tmp / "spool")
        self.session = CallSession(self.flow, registry, self.store, self.clock)

    def fail(self, message: str) -> None:
        self.result.failures.append(message)

    def _at(self, number: int) -> str:
        """``file:line: `` of turn ``number`` (0: the call start, -1: the end)."""
        turns = self.lines.get("turns") or []
        if number < 0:
            line = self.lines.get("end") or self.lines.get("start")
        elif self._first_is_expect and number < len(turns):
            line = turns[number]
        elif not self._first_is_expect and 0 < number <= len(turns):
            line = turns[number - 1]
        else:
            line = self.lines.get("start")
        return f"{self.path}:{line}: " if line else f"{self.path}: "

    def run(self) -> None:
        spec = self.spec
        turns = list(spec["turns"])
        actions = self.session.start(str(spec.get("caller", "")), str(spec.get("dialled", "")))
        first = turns[0] if turns and set(turns[0]) <= {"expect", "note"} else None
        self._first_is_expect = first is not None
        if first is not None:
            turns = turns[1:]
        self._check_turn(0, first or {}, actions)
        for number, turn in enumerate(turns, 1):
            if self.session.ended and not turn.get("wait"):
                self.fail(f"{self._at(number)}turn {number}: the call had already ended before {_describe(turn)}")
                break
            actions = self._play(turn)
            self._check_turn(number, turn, actions)
        self.session.close()
        self._check_end(spec.get("end") or {})
        record = self.store.get_call(self.session.call_id)
        self.result.nodes = list(record.nodes) if record is not None else []

    def _play(self, turn: dict[str, Any]) -> list[Action]:
        self.clock.advance(1.0)
        at = self.clock.now()
        event: Event | None = None
        if "say" in turn:
            from voicebot.events import Hypothesis

            nbest = tuple(Hypothesis(str(h["text"]), float(h.get("confidence", 1.0)))
                          for h in turn.get("nbest", []))
            event = Utterance(str(turn["say"]), float(turn.get("confidence", 1.0)), nbest, at)
            self.result.transcript.append(f"caller: {turn['say']}")
        elif "dtmf" in turn:
            event = Dtmf(str(turn["dtmf"]), at)
            self.result.transcript.append(f"caller: [keys {turn['dtmf']}]")
        elif turn.get("silence"):
            event = NoInput(at)
            self.result.transcript.append("caller: (silence)")
        elif turn.get("hangup"):
            event = HangUp(at)
            self.result.transcript.append("caller: (hangs up)")
        actions = self.session.send(event) if event is not None else []
        if "wait" in turn:
            self.clock.advance(float(turn["wait"]))
        elif isinstance(event, Dtmf) and self.session.timers:
            self.clock.advance(max(self.session.timers.values()) - self.clock.now() + 0.01)
        actions += self.session.fire_due_timers()
        return actions

    def _check_turn(self, number: int, turn: dict[str, Any], actions: list[Action]) -> None:
        said = [a.text if isinstance(a, Say) else a.fallback_text for a in actions if isinstance(a, Say | Play)]
        for text_said in said:
            self.result.transcript.append(f"ivr: {text_said}")
        expect = turn.get("expect") or {}
        where = f"{self._at(number)}turn {number} ({_describe(turn)})"
        joined = " ".join(said)
        position = 0
        for wanted in expect.get("says", []):
            found = joined.lower().find(str(wanted).lower(), position)
            if found < 0:
                self.fail(f"{where}: expected the IVR to say {wanted!r}; it said {joined!r}")
            else:
                position = found + len(str(wanted))
        for unwanted in expect.get("not_says", []):
            if str(unwanted).lower() in joined.lower():
                self.fail(f"{where}: the IVR said {unwanted!r}, which it must not: {joined!r}")
        state = self.session.state
        if "node" in expect and state.node != expect["node"]:
            self.fail(f"{where}: expected to be at node {expect['node']!r}, at {state.node!r}")
        if "ended" in expect and state.ended != bool(expect["ended"]):
            self.fail(f"{where}: expected ended={expect['ended']}, got {state.ended}")
        listens = [a for a in actions if isinstance(a, Listen)]
        if "listening" in expect:
            got = listens[-1].slot_type if listens else None
            if got != expect["listening"]:
                self.fail(f"{where}: expected to listen for {expect['listening']!r}, got {got!r}")
        if "secure" in expect and (not listens or listens[-1].secure != bool(expect["secure"])):
            self.fail(f"{where}: expected a listen with secure={expect['secure']}")
        _compare(self.fail, f"{where}: vars", expect.get("vars"), to_jsonable(state.vars))
        _compare(self.fail, f"{where}: slots", expect.get("slots"), to_jsonable(state.recorded_slots()))

    def _check_end(self, end: dict[str, Any]) -> None:
        at = self._at(-1)
        failures_before = len(self.result.failures)
        self._check_end_at(end)
        for i in range(failures_before, len(self.result.failures)):
            self.result.failures[i] = at + self.result.failures[i]

    def _check_end_at(self, end: dict[str, Any]) -> None:
        state = self.session.state
        record = self.store.get_call(self.session.call_id)
        if record is None:
            self.fail("end: no call record was stored")
            return
        if record.ended_at is None or record.outcome != state.outcome:
            self.fail(f"end: incomplete call record (ended_at={record.ended_at}, outcome={record.outcome})")
        if "outcome" in end and state.outcome != end["outcome"]:
            self.fail(f"end: expected outcome {end['outcome']!r}, got {state.outcome!r}")
        if "authenticated" in end and record.authenticated != bool(end["authenticated"]):
            self.fail(f"end: expected authenticated={end['authenticated']}, record has {record.authenticated}")
        if "error" in end:
            wanted = end["error"]
            if wanted is None and record.error is not None:
                self.fail(f"end: expected no error, got {record.error!r}")
            elif wanted is not None and (record.error is None or str(wanted) not in record.error):
                self.fail(f"end: expected an error containing {wanted!r}, got {record.error!r}")
        if "intents" in end and list(record.intents) != list(end["intents"]):
            self.fail(f"end: expected intents {end['intents']}, record has {record.intents}")
        for node in end.get("nodes_include", []):
            if node not in record.nodes:
                self.fail(f"end: node {node!r} was not visited ({record.nodes})")
        _compare(self.fail, "end: vars", end.get("vars"), to_jsonable(state.vars))
        _compare(self.fail, "end: slots", end.get("slots"), to_jsonable(record.slots))
        if "handoff" in end:
            wanted = end["handoff"]
            stored = self.store.handoffs_for(self.session.call_id)
            if wanted is None:
                if record.handoff is not None or stored:
                    self.fail(f"end: expected no handoff, got {record.handoff}")
            else:
                if len(stored) != 1:
                    self.fail(f"end: expected one queued handoff request, found {len(stored)}")
                _compare(self.fail, "end: handoff", wanted, to_jsonable(record.handoff or {}))
        if not self.store.call_events(self.session.call_id):
            self.fail("end: no events were logged")


def _describe(turn: dict[str, Any]) -> str:
    for key in ("say", "dtmf"):
        if key in turn:
            return f"{key} {turn[key]!r}"
    for key in ("silence", "hangup", "wait"):
        if key in turn:
            return key
    return "call start"


def _compare(fail: Any, where: str, wanted: Any, got: Any) -> None:
    """Subset comparison: every key in ``wanted`` must match; other keys of ``got`` are ignored."""
    if wanted is None:
        return
    if isinstance(wanted, dict):
        if not isinstance(got, dict):
            fail(f"{where}: expected a mapping, got {got!r}")
            return
        for key, value in wanted.items():
            if key not in got:
                fail(f"{where}.{key}: missing (have {sorted(got)})")
            else:
                _compare(fail, f"{where}.{key}", value, got[key])
    elif isinstance(wanted, list) and isinstance(got, list):
        if len(wanted) != len(got):
            fail(f"{where}: expected {wanted!r}, got {got!r}")
        for i, (w, g) in enumerate(zip(wanted, got, strict=False)):
            _compare(fail, f"{where}[{i}]", w, g)
    elif str(wanted) != str(got) if not isinstance(wanted, bool | type(None)) else wanted != got:
        fail(f"{where}: expected {wanted!r}, got {got!r}")

