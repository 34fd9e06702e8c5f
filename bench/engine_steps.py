"""Benchmark: flow-engine steps on the demo bank flow (target: median step under 1 ms).

Real conversations are first run through the full session runtime against a real SQLite demo bank;
their recorded events (caller input and data-action results alike) are then replayed through the pure
``step`` function alone, many times, and each step is timed.

    .venv/bin/python bench/engine_steps.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from voicebot.config import load_config
from voicebot.events import Event
from voicebot.flow.engine import new_state, step
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.console import Console, run_script
from voicebot.runtime.session import CallSession
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS: list[tuple[str, list[str]]] = [
    ("+15550100001", ["balance", "#1234", "yes", "recent transactions", "no"]),
    ("+15550100001", ["#1", "#9999", "#1234", "goodbye"]),
    ("+15550100002", ["I lost my credit card", "yes", "no"]),
    ("+15550199999", ["check my balance", "four four one seven oh nine two three", "#1234", "agent"]),
    ("+15550100004", ["what did I spend recently", "#1357", "", "nothing else"]),
    ("+15550199999", ["purple", "", "operator"]),
]


def record_conversations(db_dir: Path) -> tuple[object, list[list[Event]]]:
    engine = make_engine(f"sqlite:///{db_dir}/bench.db")
    create_tables(engine)
    seed_demo(engine)
    registry = default_registry()
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), registry)
    store = CallStore(engine, db_dir / "spool")
    recorded = []
    for caller, lines in SCRIPTS:
        seed_demo(engine)  # PIN counters back to zero for every script
        clock = ManualClock()
        session = CallSession(flow, registry, store, clock)
        console = Console(session, clock, lambda _line: None, debug=False)
        console.start(caller, "+18005550100")
        run_script(console, lines, echo=False)
        recorded.append([record.event for record in session.history])
        print(f"  recorded {caller} {lines}: {len(session.history)} events, outcome {session.state.outcome}"
              f"{', error ' + session.state.error if session.state.error else ''}")
    return flow, recorded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="replays of every recorded conversation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flow, conversations = record_conversations(Path(tmp))
    timings: list[float] = []
    for _ in range(args.rounds):
        for events in conversations:
            state = new_state(flow)  # type: ignore[arg-type]
            for event in events:
                started = time.perf_counter_ns()
                state, _ = step(flow, state, event)  # type: ignore[arg-type]
                timings.append((time.perf_counter_ns() - started) / 1e6)
    timings.sort()
    total_s = sum(timings) / 1000
    q = statistics.quantiles(timings, n=100)
    print(f"engine steps on flows/banking.yaml: {len(timings)} steps "
          f"({len(conversations)} conversations x {args.rounds} rounds)")
    print(f"  steps/s (one core): {len(timings) / total_s:,.0f}")
    print(f"  median {statistics.median(timings):.3f} ms | p95 {q[94]:.3f} ms | p99 {q[98]:.3f} ms | "
          f"max {timings[-1]:.3f} ms")
    target_ok = statistics.median(timings) < 1.0
    print(f"  target median < 1 ms: {'met' if target_ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
