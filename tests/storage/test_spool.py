"""CallStore when the database fails: nothing raises, nothing is lost, replay restores it all."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from voicebot.storage.calls import SPOOLED, CallStore
from voicebot.storage.db import create_tables, make_engine

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _engine(db_file: Path) -> Engine:
    return make_engine(f"sqlite:///{db_file}")


def _finish(store: CallStore, call_id: str) -> None:
    store.finish_call(call_id, ended_at=T0 + timedelta(seconds=30), outcome="handoff", authenticated=True,
                      customer_id=1, intents=["lost_card"], slots={"last4": "5521"}, nodes=["a", "b"],
                      handoff={"queue": "cards"}, error=None)


def _whole_call(store: CallStore, call_id: str) -> int:
    store.start_call(call_id, "+15550100001", "100", "bank", T0)
    store.log_step(call_id, 0, 0.0, {"type": "CallStarted", "call_id": call_id}, [{"type": "Say"}])
    store.log_step(call_id, 1, 1.5, {"type": "Dtmf", "keys": "1"}, [])
    request_id = store.enqueue_handoff(call_id, "cards", 5, ["cards"], "lost card", {"last4": "5521"})
    _finish(store, call_id)
    return request_id


def _assert_call_complete(store: CallStore, call_id: str) -> None:
    record = store.get_call(call_id)
    assert record is not None
    assert record.caller_id == "+15550100001" and record.started_at == T0
    assert record.outcome == "handoff" and record.ended_at == T0 + timedelta(seconds=30)
    assert record.slots == {"last4": "5521"} and record.handoff == {"queue": "cards"}
    assert [(e.seq, e.event["type"]) for e in store.call_events(call_id)] == [(0, "CallStarted"), (1, "Dtmf")]
    [handoff] = store.handoffs_for(call_id)
    assert (handoff.queue, handoff.priority, handoff.payload) == ("cards", 5, {"last4": "5521"})


def _ops(path: Path) -> list[str]:
    return [json.loads(line)["op"] for line in path.read_text().splitlines()]


def test_missing_tables_spool_then_replay(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path / "empty.db")  # no create_tables: every write fails
    store = CallStore(engine, tmp_path / "spool")
    with caplog.at_level(logging.WARNING, logger="voicebot.storage"):
        assert _whole_call(store, "call-A") == SPOOLED
    spool = store.spool_path("call-A")
    assert _ops(spool) == ["start_call", "log_step", "log_step", "enqueue_handoff", "finish_call"]
    assert any("call-A" in r.getMessage() and r.name == "voicebot.storage" for r in caplog.records)
    first = json.loads(spool.read_text().splitlines()[0])
    assert first["started_at"] == "2026-11-20T10:00:00+00:00"
    saved = spool.read_text()

    assert store.replay_spool() == 0  # still broken: kept
    assert spool.exists()
    create_tables(engine)
    assert store.replay_spool() == 1
    assert not spool.exists()
    _assert_call_complete(store, "call-A")

    # Replaying the same lines again (e.g. a crash after commit, before delete) stores nothing twice.
    spool.write_text(saved)
    assert store.replay_spool() == 1
    _assert_call_complete(store, "call-A")
    assert store.replay_spool() == 0


def test_database_folder_gone_mid_call(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    engine = _engine(db_dir / "voicebot.db")
    create_tables(engine)
    store = CallStore(engine, tmp_path / "spool")
    store.start_call("call-B", "+15550100001", "100", "bank", T0)
    db_dir.rename(tmp_path / "away")

    store.log_step("call-B", 0, 0.0, {"type": "CallStarted"}, [{"type": "Say"}])
    store.log_step("call-B", 1, 1.5, {"type": "Dtmf", "keys": "1"}, [])
    assert store.enqueue_handoff("call-B", "cards", 5, ["cards"], "lost card", {"last4": "5521"}) == SPOOLED
    _finish(store, "call-B")
    assert _ops(store.spool_path("call-B")) == ["log_step", "log_step", "enqueue_handoff", "finish_call"]

    (tmp_path / "away").rename(db_dir)
    assert store.replay_spool() == 1
    _assert_call_complete(store, "call-B")


def test_database_folder_is_not_a_folder(tmp_path: Path) -> None:
    # Writing is impossible even for root: the database's folder is a regular file.
    blocker = tmp_path / "db"
    blocker.write_text("not a folder")
    engine = _engine(blocker / "voicebot.db")
    store = CallStore(engine, tmp_path / "spool")
    _whole_call(store, "call-C")
    assert len(_ops(store.spool_path("call-C"))) == 5

    blocker.unlink()
    blocker.mkdir()
    create_tables(engine)
    assert store.replay_spool() == 1
    _assert_call_complete(store, "call-C")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_database_folder_unwritable(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db_dir.chmod(0o500)
    try:
        engine = _engine(db_dir / "voicebot.db")
        store = CallStore(engine, tmp_path / "spool")
        _whole_call(store, "call-D")
        assert store.spool_path("call-D").exists()
    finally:
        db_dir.chmod(0o700)
    create_tables(engine)
    assert store.replay_spool() == 1
    _assert_call_complete(store, "call-D")


def test_later_writes_follow_the_spool_and_finish_flushes_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "late.db")
    store = CallStore(engine, tmp_path / "spool")
    store.start_call("call-E", "+15550100001", "100", "bank", T0)  # spooled: no tables yet
    create_tables(engine)
    store.log_step("call-E", 0, 0.0, {"type": "CallStarted"}, [{"type": "Say"}])
    # The database works again, but the step must not overtake its spooled start_call.
    assert _ops(store.spool_path("call-E")) == ["start_call", "log_step"]
    assert store.get_call("call-E") is None

    store.log_step("call-E", 1, 1.5, {"type": "Dtmf", "keys": "1"}, [])
    request_id = store.enqueue_handoff("call-E", "cards", 5, ["cards"], "lost card", {"last4": "5521"})
    assert request_id > 0  # a waiting caller: the spool was flushed first and the request queued for real
    assert not store.spool_path("call-E").exists()
    _finish(store, "call-E")
    _assert_call_complete(store, "call-E")


def test_unreadable_lines_are_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path / "ok.db")
    create_tables(engine)
    store = CallStore(engine, tmp_path / "nothing-yet")
    store.start_call("call-F", "+15550100001", "100", "bank", T0)
    store.spool_dir.mkdir()
    good = {"op": "log_step", "call_id": "call-F", "seq": 0, "at": 0.0, "event": {"type": "NoInput"},
            "actions": []}
    cut_short = '{"op": "log_step", "call_id": "call-F", "se'
    store.spool_path("call-F").write_text(json.dumps(good) + "\n" + cut_short + "\n")
    with caplog.at_level(logging.ERROR, logger="voicebot.storage"):
        assert store.replay_spool() == 1
    assert not store.spool_path("call-F").exists()
    assert [e.seq for e in store.call_events("call-F")] == [0]
    [aside] = store.spool_dir.glob("call-F.*.corrupt")
    assert aside.read_text() == cut_short + "\n"
    assert "unreadable" in caplog.text


def test_unwritable_spool_logs_the_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path / "none.db")
    spool_dir = tmp_path / "spool"
    spool_dir.write_text("a file where the spool folder should be")
    store = CallStore(engine, spool_dir)
    with caplog.at_level(logging.WARNING, logger="voicebot.storage"):
        store.start_call("call-G", "+15550100001", "100", "bank", T0)  # must not raise
    assert "call-G" in caplog.text and "+15550100001" in caplog.text
    assert store.replay_spool() == 0


def test_spool_file_names_are_safe(tmp_path: Path) -> None:
    store = CallStore(_engine(tmp_path / "x.db"), tmp_path / "spool")
    evil = store.spool_path("../../etc/passwd")
    assert evil.parent == store.spool_dir
    assert store.spool_path("a/b") != store.spool_path("a_b")
    assert store.spool_path("plain-id_1.2") == store.spool_dir / "plain-id_1.2.jsonl"
    assert store.spool_path("").parent == store.spool_dir
