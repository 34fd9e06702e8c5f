"""``voicebot calls list`` and ``calls show``: header, filters, readable values, the event log, and records
spooled during a database fault written back before they are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.test_cli import run
from voicebot.cli_calls import parse_since, readable
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _call(store: CallStore, call_id: str, caller: str, outcome: str | None, flow: str = "banking",
          started: datetime = T0) -> None:
    store.start_call(call_id, caller, "+18005550100", flow, started, sip_call_id=f"sip-{call_id}")
    store.log_step(call_id, 0, 0.0, {"type": "CallStarted", "call_id": call_id},
                   [{"type": "Say", "text": "Welcome to Open Bank."}])
    store.log_step(call_id, 1, 2.5, {"type": "Utterance", "text": "balance", "confidence": 0.9},
                   [{"type": "Listen", "slot_type": "digits"}])
    if outcome is not None:
        store.finish_call(call_id, ended_at=started + timedelta(seconds=42), outcome=outcome, authenticated=True,
                          customer_id=None, intents=["check_balance"], slots={}, nodes=["a"], handoff=None,
                          error=None)


@pytest.mark.integration
def test_list_and_show(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'voicebot.db'}")
    create_tables(engine)
    store = CallStore(engine, data / "spool")
    _call(store, "call-old", "+15550100001", "self_served", started=T0 - timedelta(days=30))
    _call(store, "call-a", "+15550100001", "self_served")
    _call(store, "call-b", "+15550100002", "handoff", flow="other")
    _call(store, "call-c", "+15550100003", None)

    listed = run(tmp_path, "calls", "list").stdout.splitlines()
    assert listed[0].split() == ["CALL", "ID", "STARTED", "(UTC)", "CALLER", "FLOW", "OUTCOME", "AUTH", "LENGTH",
                                 "INTENTS"]
    assert len(listed) == 5 and [line.split()[0] for line in listed[1:]] == ["call-c", "call-b", "call-a",
                                                                             "call-old"]
    assert "in progress" in listed[1]
    assert "42s" in "".join(listed)

    def ids(*args: str) -> list[str]:
        out = run(tmp_path, "calls", "list", *args).stdout.splitlines()
        return [line.split()[0] for line in out[1:]] if out and out[0].startswith("CALL ID") else out

    assert sorted(ids("--outcome", "handoff")) == ["call-b"]
    assert sorted(ids("--outcome", "in_progress")) == ["call-c"]
    assert sorted(ids("--flow", "other")) == ["call-b"]
    assert sorted(ids("--caller", "0100001")) == ["call-a", "call-old"]
    assert sorted(ids("--since", "2026-11-01")) == ["call-a", "call-b", "call-c"]
    assert ids("--caller", "nobody") == ["no calls match"]

    shown = run(tmp_path, "calls", "show", "call-a")
    assert shown.returncode == 0
    out = shown.stdout
    assert "authenticated: yes" in out and "sip_call_id: sip-call-a" in out and "duration: 42s" in out
    assert "started_at: 2026-11-20 10:00:00 UTC" in out and "intents: check_balance" in out
    assert "None" not in out and "True" not in out and "events: 2 (--events to show them)" in out
    with_events = run(tmp_path, "calls", "show", "call-a", "--events").stdout
    assert "CallStarted" in with_events and "Say(Welcome to Open Bank.)" in with_events
    assert 'Utterance text="balance" confidence=0.9' in with_events and "Listen(digits)" in with_events


@pytest.mark.integration
def test_a_spooled_call_is_written_back_before_it_is_listed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    good = make_engine(f"sqlite:///{data / 'voicebot.db'}")
    create_tables(good)
    CallStore(good, data / "spool").start_call("call-s", "+15550100001", "", "banking", T0)
    # The database "moves away" for the rest of the call: everything after the start is spooled.
    broken = CallStore(make_engine(f"sqlite:///{tmp_path / 'gone' / 'voicebot.db'}"), data / "spool")
    _call(broken, "call-s", "+15550100001", "self_served")
    assert (data / "spool" / "call-s.jsonl").exists()

    listed = run(tmp_path, "calls", "list")
    assert "call-s" in listed.stdout and "in progress" not in listed.stdout and "self_served" in listed.stdout
    assert not (data / "spool" / "call-s.jsonl").exists()


def test_since_parsing() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-29", now) == datetime(2026, 11, 29, tzinfo=UTC)
    assert parse_since("2026-11-29T08:00+01:00", now) == datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def test_readable_values() -> None:
    assert [readable(v) for v in (None, True, False, "", [], {"a": 1}, ["x", "y"], 3)] == [
        "-", "yes", "no", "-", "-", '{"a": 1}', "x, y", "3"]
    assert readable(datetime(2026, 11, 29, 8, 0, 1, 123456, tzinfo=UTC)) == "2026-11-29 08:00:01 UTC"
