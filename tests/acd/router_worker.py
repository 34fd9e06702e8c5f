"""One router process for the concurrency test: routes, answers or declines its offers, until done.

Run as ``python -m tests.acd.router_worker URL NAME SEED DEADLINE_EPOCH START_EPOCH``.
"""

from __future__ import annotations

import random
import sys
import time

from voicebot.acd.config import parse_acd
from voicebot.acd.service import AcdService
from voicebot.acd.tx import StaleOffer
from voicebot.storage.db import make_engine

SETTINGS = {"queues": {"q": {"skills": ["s"], "wrap_up_seconds": 0, "offer_timeout_seconds": 30}}}


def main(url: str, name: str, seed: int, deadline: float, start: float) -> int:
    rng = random.Random(seed)
    engine = make_engine(url)
    acd = AcdService(engine, parse_acd(SETTINGS), node=name)
    while time.time() < start:  # both routers begin together
        time.sleep(0.001)
    offers = 0
    while time.time() < deadline:
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
                return 3  # nobody else may touch this router's offers: a stale token here is a bug
        if not result.offers:
            waiting = acd.status()[0]
            if waiting.waiting == 0 and waiting.offered == 0:
                break
            time.sleep(0.002)
    print(offers)
    engine.dispose()
    return 0


if __name__ == "__main__":
    url, name, seed, deadline, start = sys.argv[1:6]
    sys.exit(main(url, name, int(seed), float(deadline), float(start)))
