"""Benchmark: what one live update of the console costs the server (the SSE stream re-renders these every
``web.push_seconds`` for every open page), and a sign-in (argon2id verification).

A real SQLite demo bank, N agents and M waiting callers with real handoff payloads (a banking call through
the flow engine); each request goes through the whole FastAPI app in process (TestClient).

    .venv/bin/python bench/web_console.py [--agents 20] [--waiting 50] [--rounds 100]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.conftest import handed_off_call  # noqa: E402  (a real call through the flow engine)
from voicebot.acd.config import parse_acd  # noqa: E402
from voicebot.acd.service import AcdService  # noqa: E402
from voicebot.storage.db import create_tables, make_engine  # noqa: E402
from voicebot.storage.seed import seed_demo  # noqa: E402
from voicebot.web.app import create_app  # noqa: E402
from voicebot.web.settings import parse_web  # noqa: E402

PASSWORD = "bench-password"


def timed(rounds: int, fn: object) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{name:<42} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   ({len(ms)} requests)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    create_tables(engine)
    seed_demo(engine)
    settings = parse_acd({"queues": {"general": {"skills": ["banking"]}, "vip": {"skills": ["banking", "vip"]}}})
    acd = AcdService(engine, settings, node="bench")
    now = acd.now()
    acd.agents.add("sue", PASSWORD, now=now, role="supervisor")
    for n in range(args.agents):
        acd.agents.add(f"agent{n}", PASSWORD, skills={"banking": 3, "vip": 3}, now=now)
        acd.agents.login(f"agent{n}", now, "break" if n else "available", "bench")
    payload = handed_off_call(engine, folder / "spool")
    for n in range(args.waiting):
        acd.enqueue(f"call{n}", "vip", handoff=payload.model_dump(mode="json"), caller_id=payload.caller_id,
                    customer_id=2, vip=True)
    acd.route()  # agent0 now has an offer ringing: the screen pop is rendered on every update
    app = create_app(engine, settings, parse_web({"secret": "bench"}), acd=acd, run_webhooks=False)
    with TestClient(app) as agent, TestClient(app) as boss:
        for client, login in ((agent, "agent0"), (boss, "sue")):
            page = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
        assert "Bob Smith" in agent.get("/agent/panel").text
        print(f"{args.agents} agents, {args.waiting} callers waiting (vip), SQLite file, in-process requests")
        report("agent panel with the screen pop", timed(args.rounds, lambda: agent.get("/agent/panel")))
        report("supervisor board (JSON API)", timed(args.rounds, lambda: boss.get("/api/supervisor")))
        report("supervisor page (HTML)", timed(max(10, args.rounds // 5), lambda: boss.get("/supervisor")))
        fresh = TestClient(app)
        report("sign-in (argon2id verify + session)", timed(10, lambda: fresh.post(
            "/api/token", json={"login": "sue", "password": PASSWORD})))


if __name__ == "__main__":
    main()
