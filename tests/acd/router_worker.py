"""Processes for the concurrency test.

``python -m tests.acd.router_worker URL NAME SEED DEADLINE_EPOCH BARRIER_DIR PARTIES HANGUPS``

A router (NAME ``router*``) routes, reconciles, and answers or declines its own offers until nobody waits.
The caller process (NAME ``callers``) hangs up HANGUPS random waiting or ringing callers meanwhile, as
callers do, racing the routers' answers.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from sqlmodel import col, select

from voicebot.acd.config import parse_acd
from voicebot.acd.service import AcdService
from voicebot.acd.tx import AcdError, StaleOffer
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import make_engine, session_scope

# Leases long enough that a slow run on a loaded machine never logs an agent out mid-test (lapses are
# tested in test_store.py); here only the claims are under test.
SETTINGS = {"queues": {"q": {"skills": ["s"], "wrap_up_seconds": 0, "offer_timeout_seconds": 300}},
            "agents": {"lease_seconds": 3600}}


def route_loop(acd: AcdService, rng: random.Random, deadline: float, strict: bool) -> int:
    offers = 0
    while time.time() < deadline:
        acd.reconcile()
        result = acd.route()
        offers += len(result.offers)
        for offer in result.offers:
            try:
                if rng.random() < 0.3:
                    acd.decline(offer.offer_id, offer.token)
                else:
                    acd.accept(offer.offer_id, offer.token)
                    acd.complete(offer.entry_id)
            except StaleOffer:
                if strict:
                    raise  # nobody else touches this router's offers: a stale token is a bug
        if not result.offers:
            waiting = acd.status()[0]
            if waiting.waiting == 0 and waiting.offered == 0:
                break
        # A real router ticks (every 250 ms); a short random pause stands for that. It must outlast the first
        # steps of SQLite's busy-handler back-off (1, 2, 5, 10, 15, 20, 25 ms): with pauses of a few ms one
        # router re-took the lock every round and the other made no offer at all (seen in CI).
        time.sleep(rng.uniform(0.002, 0.03))
    return offers


def hangup_loop(acd: AcdService, rng: random.Random, deadline: float, hangups: int) -> int:
    done = 0
    while done < hangups and time.time() < deadline:
        with session_scope(acd.engine) as session:
            ids = list(session.exec(select(QueueEntry.id).where(
                col(QueueEntry.status).in_(("waiting", "offered")))).all())
        if not ids:
            break
        try:
            acd.abandon(rng.choice([i for i in ids if i is not None]))
            done += 1
        except AcdError:
            pass  # answered (or abandoned) in between: the race this process is here for
        time.sleep(rng.uniform(0, 0.01))
    return done


def main(url: str, name: str, seed: int, deadline: float, barrier: Path, parties: int, hangups: int) -> int:
    rng = random.Random(seed)
    engine = make_engine(url)
    acd = AcdService(engine, parse_acd(SETTINGS), node=name)
    # Everyone begins together: each process announces itself once imported and connected, then waits
    # for the others (a fixed start time fails when one process starts slowly on a loaded machine).
    (barrier / f"{name}.ready").touch()
    while len(list(barrier.glob("*.ready"))) < parties:
        if time.time() > deadline:
            return 4
        time.sleep(0.001)
    if name == "callers":
        count = hangup_loop(acd, rng, deadline, hangups)
    else:
        count = route_loop(acd, rng, deadline, strict=hangups == 0)
    print(count)
    engine.dispose()
    return 0


if __name__ == "__main__":
    url, name, seed, deadline, barrier, parties, hangups = sys.argv[1:8]
    sys.exit(main(url, name, int(seed), float(deadline), Path(barrier), int(parties), int(hangups)))
