"""Benchmark: writing spooled call records back after a database outage (issue 8).

Calls are written while the database has no tables (every write spools, as during a real outage: file
moved away, read-only, locked), then the tables are created and one replay writes everything back. A
typical call here: start, 12 steps, a handoff request and the finish (15 ops).

    .venv/bin/python bench/spool_replay.py [--calls 500]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def spool_calls(store: CallStore, calls: int, steps: int) -> None:
    for n in range(calls):
        call_id = f"call-{n:05d}"
        store.start_call(call_id, "+15550100001", "+18005550100", "banking", T0, sip_call_id=f"{n}@pbx")
        for seq in range(steps):
            store.log_step(call_id, seq, seq * 2.0, {"type": "Utterance", "text": "balance", "confidence": 0.9},
                           [{"type": "Say", "text": "For your checking account ending in 0 9 2 3, the balance is"}])
        store.enqueue_handoff(call_id, "general", 0, ["banking"], "caller asked for an agent",
                              {"account_number": "44170923"})
        store.finish_call(call_id, ended_at=T0 + timedelta(seconds=40), outcome="handoff", authenticated=True,
                          customer_id=1, intents=["check_balance"], slots={"account_number": "44170923"},
                          nodes=["identify", "main_menu"], handoff={"queue": "general"}, error=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # every spooled write warns; a thousand of them would hide the figures
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'voicebot.db'}")
        store = CallStore(engine, Path(tmp) / "spool")
        started = time.perf_counter()
        spool_calls(store, args.calls, args.steps)
        spooling = time.perf_counter() - started
        files = len(list(store.spool_dir.glob("*.jsonl")))
        create_tables(engine)  # the database is back
        started = time.perf_counter()
        replayed = store.replay_spool()
        replay = time.perf_counter() - started
        assert replayed == files == args.calls and len(store.list_calls(args.calls + 1)) == args.calls
        again = time.perf_counter()
        store.replay_spool()  # an empty spool folder: the cost of each periodic round with nothing to do
        idle_ms = (time.perf_counter() - again) * 1000
    ops = args.calls * (args.steps + 3)
    print(f"{args.calls} calls ({ops} ops) spooled in {spooling:.2f} s; written back in {replay:.2f} s "
          f"({args.calls / replay:.0f} calls/s, {ops / replay:.0f} ops/s); an idle round {idle_ms:.2f} ms")


if __name__ == "__main__":
    main()
