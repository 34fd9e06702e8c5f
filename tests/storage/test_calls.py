"""CallStore against a working database: what goes in comes back out."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from voicebot.actions import Say, action_to_dict
from voicebot.events import CallStarted, Utterance, event_from_dict, event_to_dict
from voicebot.storage.calls import CallStore, to_jsonable
from voicebot.storage.db import create_tables, make_engine

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'calls.db'}")
    create_tables(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> CallStore:
    return CallStore(engine, tmp_path / "spool")


def _finish(store: CallStore, call_id: str, **overrides: object) -> None:
    fields: dict[str, object] = {
        "ended_at": T0 + timedelta(seconds=95), "outcome": "self_served", "authenticated": True,
        "customer_id": 1, "intents": ["balance"],
        "slots": {"account": "44170923", "amount": Decimal("12.50")},
        "nodes": ["welcome", "auth", "balance"], "handoff": None, "error": None,
    }
    fields.update(overrides)
    store.finish_call(call_id, **fields)  # type: ignore[arg-type]


def test_round_trip(store: CallStore) -> None:
    store.start_call("c-1", "+15550100001", "+18005550199", "bank", T0)
    started = event_to_dict(CallStarted(call_id="c-1", caller_id="+15550100001"))
    store.log_step("c-1", 0, 0.0, started, [action_to_dict(Say(text="Welcome", node="welcome"))])
    store.log_step("c-1", 1, 2.5, event_to_dict(Utterance(text="balance", at=2.5)), [])
    _finish(store, "c-1", recording_path="recordings/c-1.wav")

    record = store.get_call("c-1")
    assert record is not None
    assert (record.caller_id, record.dialled, record.flow) == ("+15550100001", "+18005550199", "bank")
    assert record.started_at == T0 and record.started_at.tzinfo is not None
    assert record.ended_at == T0 + timedelta(seconds=95)
    assert record.outcome == "self_served" and record.authenticated and record.customer_id == 1
    assert record.intents == ["balance"]
    assert record.slots == {"account": "44170923", "amount": "12.50"}
    assert record.nodes == ["welcome", "auth", "balance"]
    assert record.handoff is None and record.error is None
    assert record.recording_path == "recordings/c-1.wav"

    events = store.call_events("c-1")
    assert [(e.seq, e.at) for e in events] == [(0, 0.0), (1, 2.5)]
    assert events[0].actions == [{"type": "Say", "text": "Welcome", "node": "welcome", "barge_in": True,
                                  "static": False}]
    assert event_from_dict(events[1].event) == Utterance(text="balance", at=2.5)
    assert not (store.spool_dir.exists() and any(store.spool_dir.iterdir()))


def test_handoff_request(store: CallStore) -> None:
    store.start_call("c-2", "+15550100002", "100", "bank", T0)
    request_id = store.enqueue_handoff("c-2", "vip", 10, ["cards", "english"], "lost card",
                                       {"customer": "Bob Smith", "when": date(2026, 11, 20)})
    assert request_id > 0
    handoff = {"queue": "vip", "request_id": request_id}
    _finish(store, "c-2", outcome="handoff", handoff=handoff)
    [request] = store.handoffs_for("c-2")
    assert request.id == request_id
    assert (request.queue, request.priority, request.skills, request.reason, request.status) == (
        "vip", 10, ["cards", "english"], "lost card", "waiting")
    assert request.payload == {"customer": "Bob Smith", "when": "2026-11-20"}
    assert request.created_at.tzinfo is not None
    record = store.get_call("c-2")
    assert record is not None and record.handoff == handoff


def test_list_and_last_call(store: CallStore) -> None:
    assert store.last_call() is None
    assert store.list_calls() == []
    for index in range(3):
        store.start_call(f"c-{index}", "+15550100001", "100", "bank", T0 + timedelta(minutes=index))
    last = store.last_call()
    assert last is not None and last.id == "c-2"
    assert [c.id for c in store.list_calls()] == ["c-2", "c-1", "c-0"]
    assert [c.id for c in store.list_calls(limit=2)] == ["c-2", "c-1"]
    assert store.get_call("nope") is None
    assert store.call_events("nope") == []


def test_writes_are_idempotent(store: CallStore) -> None:
    store.start_call("c-3", "+15550100001", "100", "bank", T0)
    store.start_call("c-3", "+15550100001", "100", "bank", T0)
    store.log_step("c-3", 0, 0.0, {"type": "CallStarted"}, [])
    store.log_step("c-3", 0, 0.0, {"type": "CallStarted"}, [])
    _finish(store, "c-3")
    _finish(store, "c-3")
    assert len(store.call_events("c-3")) == 1
    assert len(store.list_calls()) == 1
    assert not store.spool_dir.exists()


def test_timestamps_are_stored_as_utc(store: CallStore) -> None:
    paris = timezone(timedelta(hours=1))
    store.start_call("c-tz", "+15550100001", "100", "bank", datetime(2026, 11, 20, 11, 0, tzinfo=paris))
    store.start_call("c-naive", "+15550100001", "100", "bank", datetime(2026, 11, 20, 10, 0))
    for call_id in ("c-tz", "c-naive"):
        record = store.get_call(call_id)
        assert record is not None and record.started_at == T0 and record.started_at.tzinfo == UTC


def test_step_without_start_is_kept(store: CallStore) -> None:
    store.log_step("orphan", 0, 0.0, {"type": "NoInput"}, [])
    assert len(store.call_events("orphan")) == 1
    assert store.get_call("orphan") is not None


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    when: datetime


def test_to_jsonable() -> None:
    value = {
        "amount": Decimal("2345.67"), "day": date(2026, 11, 20), "at": T0, "colour": Colour.RED,
        "path": Path("a/b"), "tuple": (1, 2), "set": {"b", "a"}, 3: "int key", "point": Point(1, T0),
        "nan": float("nan"), "nested": [{"d": Decimal("1")}], "other": object,
    }
    result = to_jsonable(value)
    json.dumps(result, allow_nan=False)
    assert result["amount"] == "2345.67"
    assert result["day"] == "2026-11-20"
    assert result["at"] == "2026-11-20T10:00:00+00:00"
    assert result["colour"] == "red"
    assert result["path"] == "a/b"
    assert result["tuple"] == [1, 2]
    assert result["set"] == ["a", "b"]
    assert result["3"] == "int key"
    assert result["point"] == {"x": 1, "when": "2026-11-20T10:00:00+00:00"}
    assert result["nan"] == "nan"
    assert result["nested"] == [{"d": "1"}]
    assert isinstance(result["other"], str)
    assert to_jsonable(None) is None and to_jsonable(True) is True and to_jsonable(1.5) == 1.5
