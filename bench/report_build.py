"""How long `voicebot report` takes over a busy day: N synthetic calls stored as the runtime and the ACD store
them (a call record, its step log, a queue entry for the handed-off ones) plus agents' state logs, then
`build_report` over the day, timed. Prints the figures; a SQLite file in a temporary folder.

    .venv/bin/python bench/report_build.py --calls 5000 --steps 12 --agents 20
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from voicebot.acd.config import parse_acd
from voicebot.reports.queries import build_report
from voicebot.reports.settings import ReportSettings
from voicebot.storage.acd_models import Agent, AgentTransition, QueueEntry
from voicebot.storage.call_models import CallEvent, CallRecord
from voicebot.storage.db import create_tables, make_engine

DAY = datetime(2027, 1, 15, tzinfo=UTC)


def populate(engine_url: str, calls: int, steps: int, agents: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    engine = make_engine(engine_url)
    create_tables(engine)
    with Session(engine) as session:
        for a in range(agents):
            agent = Agent(login=f"agent{a:03d}", state="available", state_since=DAY)
            session.add(agent)
            session.flush()
            at, state = DAY + timedelta(hours=8), "available"
            session.add(AgentTransition(agent_id=agent.id or 0, from_state="logged_out", to_state=state, at=at))
            while at < DAY + timedelta(hours=17):
                nxt = rng.choice(["reserved", "busy", "wrap_up", "available", "break"])
                at += timedelta(seconds=rng.randint(5, 300))
                session.add(AgentTransition(agent_id=agent.id or 0, from_state=state, to_state=nxt, at=at))
                state = nxt
        for i in range(calls):
            start = DAY + timedelta(seconds=rng.uniform(8 * 3600, 17 * 3600))
            queued = rng.random() < 0.4
            outcome = rng.choice(["answered", "abandoned_in_queue", "answered"]) if queued else rng.choice(
                ["self_served", "self_served", "abandoned", "abandoned_during_answer"])
            wait = rng.randint(0, 120_000) if queued else None
            record = CallRecord(id=f"c{i}", started_at=start, outcome=outcome, queue="general" if queued else None,
                                enqueued_at=start + timedelta(seconds=30) if queued else None,
                                answered_at=start + timedelta(seconds=90) if outcome == "answered" else None,
                                wait_ms=wait, talk_ms=rng.randint(30_000, 600_000) if outcome == "answered" else None,
                                wrap_ms=10_000 if outcome == "answered" else None)
            session.add(record)
            session.flush()  # the record before its steps (foreign key)
            for seq in range(1, steps + 1):
                node = f"node{seq % 8}"
                event = {"type": "Utterance", "confidence": rng.random()} if seq % 3 else {"type": "Dtmf", "keys": "1"}
                session.add(CallEvent(call_id=record.id, seq=seq, at=start.timestamp() + seq, event=event,
                                      actions=[{"type": "Say", "node": node}, {"type": "Listen", "node": node,
                                                                               "slot_type": "intent"}]))
            if queued:
                session.add(QueueEntry(call_id=record.id, queue="general", status="completed", enqueued_at=start,
                                       queued_at=start))
        session.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        began = time.perf_counter()
        populate(url, args.calls, args.steps, args.agents)
        print(f"stored {args.calls} calls x {args.steps} steps, {args.agents} agents in "
              f"{time.perf_counter() - began:.1f} s")
        engine = make_engine(url)
        settings = parse_acd({"queues": {"general": {}}})
        times = []
        for _ in range(args.rounds):
            began = time.perf_counter()
            report = build_report(engine, settings, ReportSettings(), DAY, DAY + timedelta(days=1))
            times.append(time.perf_counter() - began)
        engine.dispose()
    print(f"build_report over the day: best {min(times):.2f} s, worst {max(times):.2f} s of {args.rounds} "
          f"({report['calls']} calls, {len(report['ivr_funnel'])} funnel nodes, "
          f"{len(report['occupancy']['agents'])} agents, {len(report['staffing'])} staffing hours)")


if __name__ == "__main__":
    main()
