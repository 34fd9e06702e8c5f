"""Routing decision time: decide() over 1,000 waiting entries and 200 agents (target p95 <= 5 ms).

The pure policy only (the database claim is measured apart by --with-db: one full route() round
through a real SQLite file, claim + decide + writes). Figures go to docs/benchmarks.md.

    .venv/bin/python bench/acd_routing.py [--rounds 200] [--with-db]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime

from voicebot.acd.config import parse_acd
from voicebot.acd.policy import AgentView, EntryView, decide

QUEUES = {
    "general": {"skills": ["banking"], "strategy": "longest-idle", "sticky_agent_seconds": 30,
                "max_wait_seconds": 300, "overflow": {"callback": True}},
    "vip": {"skills": ["banking", "vip"], "strategy": "skills", "priority": 10, "max_wait_seconds": 120,
            "overflow": {"queue": "general"}},
    "cards": {"skills": ["cards"], "strategy": "fewest-calls"},
    "security": {"skills": ["security"], "strategy": "round-robin"},
}
NOW = 1_800_000_000.0


def world(seed: int, n_entries: int, n_agents: int, available: float) -> tuple[list[EntryView], list[AgentView]]:
    rng = random.Random(seed)
    skill_sets = [{"banking": 3}, {"banking": 5, "vip": 4}, {"cards": 4}, {"security": 5, "banking": 2},
                  {"banking": 2, "cards": 3}]
    agents = [
        AgentView(id=i + 1, login=f"agent{i:03d}", state="available" if rng.random() < available else "busy",
                  lease_expires_at=NOW + 60, skills=dict(rng.choice(skill_sets)), idle_since=NOW - rng.uniform(0, 900),
                  calls=rng.randint(0, 40), talk_seconds=rng.uniform(0, 8000))
        for i in range(n_agents)
    ]
    queues = list(QUEUES)
    entries = [
        EntryView(id=i + 1, queue=rng.choice(queues), enqueued_at=NOW - rng.uniform(0, 600),
                  priority=rng.choice([0, 5, 10]), vip=rng.random() < 0.05,
                  sticky_agent=rng.randint(1, n_agents) if rng.random() < 0.1 else None,
                  kind="callback" if rng.random() < 0.1 else "live")
        for i in range(n_entries)
    ]
    return entries, agents


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100)
    return (f"median {statistics.median(samples):.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms, "
            f"max {samples[-1]:.2f} ms")


def bench_policy(rounds: int, entries_n: int, agents_n: int) -> None:
    settings = parse_acd({"queues": QUEUES})
    for available in (0.1, 0.5, 1.0):
        times, cpu, assigned = [], [], 0
        for r in range(rounds):
            entries, agents = world(r, entries_n, agents_n, available)
            gc.collect()  # the garbage of building this world is not part of the decision
            start, start_cpu = time.perf_counter(), time.process_time()
            decision = decide(settings, entries, agents, NOW)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assigned += len(decision.assignments)
        print(f"decide(): {entries_n} waiting, {agents_n} agents, {available:.0%} available "
              f"({assigned / rounds:.0f} assignments/round), {rounds} rounds:\n"
              f"    wall {percentiles(times)}\n    cpu  {percentiles(cpu)}")


def bench_db(rounds: int, entries_n: int, agents_n: int) -> None:
    from voicebot.acd.service import AcdService
    from voicebot.storage.db import create_tables, make_engine

    settings = parse_acd({"queues": QUEUES})
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        create_tables(engine)
        clock = [NOW]
        acd = AcdService(engine, settings, clock=lambda: clock[0], node="bench")
        from voicebot.storage.acd_models import Agent
        from voicebot.storage.db import session_scope

        rng = random.Random(1)
        with session_scope(engine) as session:  # argon2 hashing 200 passwords would dominate the set-up
            for i in range(agents_n):
                session.add(Agent(login=f"agent{i:03d}", password_hash="x", state="logged_out",
                                  skills={"banking": 3, "vip": 3, "cards": 3, "security": 3},
                                  state_since=datetime.fromtimestamp(NOW, UTC)))
        for i in range(entries_n):
            acd.enqueue(f"call{i:04d}", rng.choice(list(QUEUES)))
        times = []
        for r in range(rounds):
            # Each round: 10 agents come free, the router offers them 10 entries, the offers are declined.
            for i in range(10):
                acd.agents.set_state(f"agent{(r * 10 + i) % agents_n:03d}", "available", acd.now())
            start = time.perf_counter()
            result = acd.route()
            times.append((time.perf_counter() - start) * 1000)
            for offer in result.offers:
                acd.decline(offer.offer_id, offer.token)
                acd.agents.set_state(offer.agent_login, "logged_out", acd.now())
            clock[0] += 1
        print(f"route() on SQLite: {entries_n} waiting, {agents_n} agents, 10 free per round, {rounds} rounds: "
              f"{percentiles(times)}")
        engine.dispose()


def main() -> None:
    # Wall time includes waiting for a core on a shared machine; CPU time is the decision's own cost.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--with-db", action="store_true", help="also time route() through a SQLite file")
    args = parser.parse_args()
    bench_policy(args.rounds, args.entries, args.agents)
    if args.with_db:
        bench_db(min(args.rounds, 50), args.entries, args.agents)


if __name__ == "__main__":
    main()
