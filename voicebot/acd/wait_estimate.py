"""What a waiting caller is told: their place in line and, when it can be estimated honestly, the wait.

The estimate comes from measured handle times: the median of the queue's recent answered calls (answer to
end) times the callers ahead, shared among the agents staffing the queue now. It says nothing (None) when it
cannot be trusted: too few recent calls, or nobody logged in to serve the queue. An estimate that is wrong
is worse than none (callers plan around it).
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from voicebot.storage.acd_models import Agent, QueueEntry
from voicebot.storage.db import session_scope

RECENT = 20  # handled calls looked at
STAFFING = ("available", "reserved", "busy", "wrap_up")


def estimated_wait(engine: Engine, queue: str, position: int, skills: tuple[str, ...] = (), *,
                   min_samples: int = 3) -> float | None:
    """Seconds until a caller at ``position`` (1 = next) is likely answered; None when unreliable."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(QueueEntry.answered_at, QueueEntry.ended_at)
            .where(QueueEntry.queue == queue, col(QueueEntry.answered_at).is_not(None),
                   col(QueueEntry.ended_at).is_not(None))
            .order_by(col(QueueEntry.ended_at).desc()).limit(RECENT)).all()
        agents = session.exec(select(Agent).where(col(Agent.state).in_(STAFFING))).all()
        staffed = sum(1 for agent in agents if all(skill in agent.skills for skill in skills))
    handle = [(ended - answered).total_seconds() for answered, ended in rows
              if isinstance(answered, datetime) and isinstance(ended, datetime) and ended >= answered]
    if len(handle) < min_samples or staffed == 0:
        return None
    return position * statistics.median(handle) / staffed


def announcement(position: int | None, wait_seconds: float | None) -> str | None:
    """The sentence for a waiting caller ("You are number 3 in line. ..."); None when there is nothing to say."""
    if position is None:
        return None
    text = "You are next in line." if position == 1 else f"You are number {position} in line."
    if wait_seconds is not None:
        if wait_seconds < 60:
            text += " Your estimated wait is less than a minute."
        else:
            minutes = math.ceil(wait_seconds / 60)
            text += f" Your estimated wait is about {minutes} minute{'s' if minutes != 1 else ''}."
    return text
