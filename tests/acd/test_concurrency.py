"""Two router processes racing on one database never offer one entry twice or one agent two entries."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.acd.router_worker import SETTINGS
from voicebot.acd.config import parse_acd
from voicebot.acd.service import AcdService
from voicebot.storage.acd_models import AgentTransition, Offer, QueueEntry
from voicebot.storage.db import session_scope

ENTRIES, AGENTS = 150, 12

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("hangups", [0, 40], ids=["answers", "with-hangups"])
def test_two_routers_race_without_double_offers(engine: Engine, db_url: str, hangups: int, tmp_path: Path) -> None:
    """Two routers route, reconcile, answer and decline; optionally a third process hangs callers up
    meanwhile (racing the answers: the lock order must hold without deadlocks)."""
    acd = AcdService(engine, parse_acd(SETTINGS), node="setup")
    for i in range(AGENTS):
        acd.agents.add(f"agent{i:02d}", "pw", skills={"s": 3}, now=acd.now())
        acd.agents.login(f"agent{i:02d}", acd.now())
    for i in range(ENTRIES):
        acd.enqueue(f"call{i:03d}", "q")
    deadline = time.time() + 150
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    root = str(Path(__file__).resolve().parents[2])  # so "tests.acd.router_worker" imports from any cwd
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    names = ["router1", "router2"] + (["callers"] if hangups else [])
    processes = [
        subprocess.Popen([sys.executable, "-m", "tests.acd.router_worker", db_url, name, str(n), str(deadline),
                          str(barrier), str(len(names)), str(hangups)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=root)
        for n, name in enumerate(names)
    ]
    outputs = [p.communicate(timeout=200) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"{process.args[4]} failed ({process.returncode}): {err[-2000:]}"
    made = [int(out.strip()) for out, _ in outputs[:2]]
    assert all(n > 0 for n in made), f"both routers must have routed to make this a race: {made}"

    with session_scope(engine) as session:
        offers = list(session.exec(select(Offer)).all())
        entries = list(session.exec(select(QueueEntry)).all())
    statuses = {e.status for e in entries}
    assert statuses <= {"completed", "abandoned"}, f"every caller answered once or hung up: {statuses}"
    abandoned = sum(e.status == "abandoned" for e in entries)
    if hangups:
        assert abandoned == int(outputs[2][0].strip()) and abandoned > 0
    else:
        assert abandoned == 0
    assert sum(made) == len(offers)
    by_entry: dict[int, list[Offer]] = defaultdict(list)
    by_agent: dict[int, list[Offer]] = defaultdict(list)
    for offer in offers:
        assert offer.decided_at is not None and offer.status in ("accepted", "declined", "cancelled")
        by_entry[offer.entry_id].append(offer)
        by_agent[offer.agent_id].append(offer)
    final = {e.id: e.status for e in entries}
    for entry_id, mine in by_entry.items():
        answered = sum(o.status == "accepted" for o in mine)
        assert answered == (1 if final[entry_id] == "completed" else 0), f"entry {entry_id}: {mine}"
        # Two routers offering one entry at once would both have read fence k and written k + 1: a
        # repeated token. Distinct consecutive tokens prove every offer came from its own claim.
        assert sorted(o.token for o in mine) == list(range(1, len(mine) + 1)), f"entry {entry_id}: {mine}"
    # Each agent's transitions, in the order written (under the agent's row lock), form one unbroken
    # chain through the state machine: an agent reserved twice would break it (reserved -> reserved).
    with session_scope(engine) as session:
        transitions = list(session.exec(select(AgentTransition).order_by(col(AgentTransition.id))).all())
    chains: dict[int, list[AgentTransition]] = defaultdict(list)
    for transition in transitions:
        chains[transition.agent_id].append(transition)
    for agent_id, chain in chains.items():
        for before, after in itertools.pairwise(chain):
            assert before.to_state == after.from_state, f"agent {agent_id}: {before} then {after}"
        reserved = sum(t.to_state == "reserved" for t in chain)
        assert reserved == len(by_agent[agent_id]), f"agent {agent_id}: one reservation per offer"
        assert chain[-1].to_state == "available", f"agent {agent_id} left in {chain[-1].to_state}"
