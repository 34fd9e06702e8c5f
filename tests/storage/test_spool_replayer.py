"""Real database faults during a call, then the database back: the background replayer completes the records.

The faults are made for real: the database file made immutable (``chattr +i``, which stops root too), the file
moved away, and an exclusive lock held by a second process (``BEGIN EXCLUSIVE``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.storage.test_spool import T0, _assert_call_complete, _whole_call
from voicebot.storage.calls import SPOOLED, CallStore
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.spool_replayer import SpoolReplayer

pytestmark = pytest.mark.integration

#: Bounds the wait for the replayer; it replays every 0.1 s here, so this is only reached on failure.
WAIT_SECONDS = 20.0


def _store(db_file: Path, spool: Path) -> CallStore:
    engine = make_engine(f"sqlite:///{db_file}", busy_timeout_ms=200)
    create_tables(engine)
    return CallStore(engine, spool)


def _wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _complete(store: CallStore, call_id: str) -> bool:
    try:
        record = store.get_call(call_id)
        return record is not None and record.outcome is not None and bool(store.handoffs_for(call_id))
    except Exception:
        return False


def _call_during_fault_then_back(store: CallStore, fault: Callable[[], Iterator[None]], call_id: str) -> None:
    with SpoolReplayer(store, interval=0.1) as replayer:
        with contextmanager(fault)():
            assert _whole_call(store, call_id) == SPOOLED
            spool = store.spool_path(call_id)
            assert spool.exists()
            rounds = replayer.rounds
            assert _wait_until(lambda: replayer.rounds >= rounds + 2)  # replays that fail keep the spool
            assert spool.exists()
        # The fault is gone: no restart, no further call, the replayer completes the record.
        assert _wait_until(lambda: _complete(store, call_id) and not spool.exists())
    _assert_call_complete(store, call_id)
    assert store.get_call(call_id).started_at == T0  # type: ignore[union-attr]


def test_immutable_database_file(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    db_file = tmp_path / "voicebot.db"
    store = _store(db_file, tmp_path / "spool")
    probe = subprocess.run(["chattr", "+i", str(db_file)], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {probe.stderr.strip()}")
    subprocess.run(["chattr", "-i", str(db_file)], check=True)

    def immutable() -> Iterator[None]:
        subprocess.run(["chattr", "+i", str(db_file)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(db_file)], check=True)

    _call_during_fault_then_back(store, immutable, "call-ro")


def test_database_file_moved_away(tmp_path: Path) -> None:
    db_file = tmp_path / "voicebot.db"
    store = _store(db_file, tmp_path / "spool")
    store.start_call("call-earlier", "+15550100009", "100", "bank", T0)  # a row, so the file has content

    def moved_away() -> Iterator[None]:
        for suffix in ("", "-wal", "-shm"):
            source = db_file.with_name(db_file.name + suffix)
            if source.exists():
                source.rename(tmp_path / f"away{suffix}")
        try:
            yield
        finally:
            for suffix in ("", "-wal", "-shm"):
                # SQLite made a new, empty file meanwhile: the real one replaces it.
                db_file.with_name(db_file.name + suffix).unlink(missing_ok=True)
                away = tmp_path / f"away{suffix}"
                if away.exists():
                    away.rename(db_file.with_name(db_file.name + suffix))

    _call_during_fault_then_back(store, moved_away, "call-moved")
    assert store.get_call("call-earlier") is not None


def test_exclusive_lock_held_by_another_process(tmp_path: Path) -> None:
    db_file = tmp_path / "voicebot.db"
    store = _store(db_file, tmp_path / "spool")
    holder_code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db_file)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )

    def locked() -> Iterator[None]:
        holder = subprocess.Popen([sys.executable, "-c", holder_code], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            yield
        finally:
            assert holder.stdin is not None
            holder.stdin.close()  # the holder exits and its lock goes with it
            holder.wait(timeout=10)
            assert holder.stdout is not None
            holder.stdout.close()

    _call_during_fault_then_back(store, locked, "call-locked")


def test_replayer_stops_promptly(tmp_path: Path) -> None:
    store = _store(tmp_path / "voicebot.db", tmp_path / "spool")
    replayer = SpoolReplayer(store, interval=3600).start()
    assert _wait_until(lambda: replayer.rounds >= 1)  # the start-up replay ran at once
    started = time.monotonic()
    replayer.stop()
    assert time.monotonic() - started < WAIT_SECONDS


def test_two_processes_replay_one_spool_without_losing_a_line(tmp_path: Path) -> None:
    # The server's replayer and `voicebot calls list` may replay the same folder at the same time.
    db_file = tmp_path / "voicebot.db"
    store = _store(db_file, tmp_path / "spool")
    for n in range(20):
        call_id = f"call-{n}"
        spool = store.spool_path(call_id)
        spool.parent.mkdir(parents=True, exist_ok=True)
        store._append(spool, {"op": "start_call", "call_id": call_id, "caller_id": "+1555", "dialled": "1",
                              "flow": "bank", "started_at": T0.isoformat()})
    code = (
        "from pathlib import Path\n"
        "from voicebot.storage.calls import CallStore\n"
        "from voicebot.storage.db import make_engine\n"
        f"CallStore(make_engine({'sqlite:///' + str(db_file)!r}), Path({str(tmp_path / 'spool')!r})).replay_spool()\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code])
    store.replay_spool()
    assert other.wait(timeout=60) == 0
    store.replay_spool()
    assert sorted(r.id for r in store.list_calls(100)) == sorted(f"call-{n}" for n in range(20))
    assert not list((tmp_path / "spool").glob("*.jsonl"))
