"""Erlang C: how many agents a queue needs for a service level, from its traffic.

Traffic ``A`` (erlangs) = arrival rate x average handle time. With ``N`` agents (``N > A``) and nobody
abandoning, the chance a caller waits is Erlang C, and

    SL(t) = 1 - P(wait) * exp(-(N - A) * t / AHT)        ASA = P(wait) * AHT / (N - A)

Erlang C is computed from Erlang B by its recurrence (B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1))), which
never forms A^N or N! and so stays exact for hundreds of agents, where the textbook form overflows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: No queue plans for more agents than this; a higher answer means the inputs are wrong.
MAX_AGENTS = 10_000


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of ``agents`` servers offered ``traffic`` erlangs (Erlang B)."""
    if traffic < 0 or agents < 0:
        raise ValueError("traffic and agents must not be negative")
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """P(wait): the chance a caller has to wait; 1.0 when the agents cannot keep up (N <= A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1 - blocking))


def service_level(traffic: float, agents: int, aht_seconds: float, threshold_seconds: float) -> float:
    """The share of calls answered within ``threshold_seconds``."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return 1 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds)


def asa(traffic: float, agents: int, aht_seconds: float) -> float:
    """Average speed of answer (seconds); infinite when the agents cannot keep up."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht_seconds / (agents - traffic)


@dataclass(frozen=True)
class Staffing:
    traffic_erlangs: float
    agents: int
    service_level: float
    asa_seconds: float
    wait_probability: float


def agents_needed(calls_per_hour: float, aht_seconds: float, threshold_seconds: float, target: float) -> Staffing:
    """The fewest agents that answer ``target`` of the calls within ``threshold_seconds``."""
    if calls_per_hour < 0 or aht_seconds < 0:
        raise ValueError("calls and handle time must not be negative")
    traffic = calls_per_hour * aht_seconds / 3600
    if traffic == 0:
        return Staffing(0.0, 0, 1.0, 0.0, 0.0)
    agents = math.floor(traffic) + 1
    while service_level(traffic, agents, aht_seconds, threshold_seconds) < target:
        agents += 1
        if agents > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents for {traffic:.1f} erlangs: check the inputs")
    return Staffing(traffic, agents, service_level(traffic, agents, aht_seconds, threshold_seconds),
                    asa(traffic, agents, aht_seconds), erlang_c(traffic, agents))
