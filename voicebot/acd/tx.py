"""Claim transactions and the row helpers every ACD store module shares.

Two routers (two processes, later two nodes) must never offer one entry twice or one agent two
entries. On SQLite a claim transaction starts with ``BEGIN IMMEDIATE``: it takes the database's write
lock before reading, so the read-decide-write of one router cannot interleave with another's. On
PostgreSQL the candidate rows are read with ``SELECT ... FOR UPDATE SKIP LOCKED``: each router locks
the rows it will decide about and skips those another router holds, so routers work side by side on
disjoint rows instead of queueing behind one lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from voicebot.acd.agents import check_transition
from voicebot.storage.acd_models import Agent, AgentTransition
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import as_utc, is_postgres, session_scope

T = TypeVar("T", bound=SQLModel)


class AcdError(ValueError):
    """A request the ACD refuses (unknown agent or entry, wrong state); the message says why."""


class StaleOffer(AcdError):
    """An accept or decline whose offer is no longer current (timed out, cancelled, or superseded):
    the fencing token did not match, so the request changes nothing."""


@contextmanager
def claim(engine: Engine) -> Iterator[Session]:
    """A write transaction that holds its claims until it commits (see the module docstring)."""
    with session_scope(engine) as session:
        if not is_postgres(engine):
            # pysqlite opens transactions lazily (at the first write); take the write lock now instead.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def locked(engine: Engine, query: SelectOfScalar[T], *, skip_locked: bool = True) -> SelectOfScalar[T]:
    """``query`` with ``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL (SQLite's claim already holds the lock)."""
    if is_postgres(engine):
        return query.with_for_update(skip_locked=skip_locked)
    return query


def get_locked(session: Session, engine: Engine, model: type[T], key: Any) -> T | None:
    """The row ``key`` of ``model``, locked for this transaction (waits for another holder)."""
    if is_postgres(engine):
        return session.get(model, key, with_for_update=True)
    return session.get(model, key)


def try_lock(session: Session, engine: Engine, model: type[T], key: Any) -> T | None:
    """The row ``key`` locked, or None if another transaction holds it (PostgreSQL: SKIP LOCKED).

    For the reconciler, which takes locks out of the usual entry -> offer -> agent order: rather than
    wait (and risk a deadlock) it leaves a busy row to its next round.
    """
    if not is_postgres(engine):
        return session.get(model, key)
    mapper_key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    query = select(model).where(mapper_key == key).with_for_update(skip_locked=True)
    return session.exec(query).first()


def move_agent(session: Session, agent: Agent, target: str, now: datetime, reason: str = "") -> None:
    """Change an agent's state through the state machine, and log the transition."""
    check_transition(agent.state, target)
    session.add(AgentTransition(agent_id=agent.id or 0, from_state=agent.state, to_state=target,
                                reason=reason, at=now))
    if target == "available" and agent.state != "reserved":
        # Back from a call, a break or a login: idle from now (longest-idle). Back from a cancelled or
        # declined-by-others ring the agent keeps their place; a decline itself resets it (see decline).
        agent.available_since = now
    if target in ("available", "logged_out", "break"):
        agent.current_entry_id = None
    if target != "wrap_up":
        agent.wrap_until = None
    if target == "logged_out":
        agent.lease_expires_at = None
    agent.state, agent.state_reason, agent.state_since = target, reason, now
    session.add(agent)


def call_record(session: Session, call_id: str, started_at: datetime) -> CallRecord:
    """The call's record, created as a placeholder if it is not stored (yet): queue times must not be
    lost because the call's own start was spooled."""
    record = session.get(CallRecord, call_id)
    if record is None:
        record = CallRecord(id=call_id, started_at=started_at)
        session.add(record)
    return record


def ms_between(start: datetime | None, end: datetime) -> int | None:
    if start is None:
        return None
    return max(0, round((as_utc(end) - as_utc(start)) / timedelta(milliseconds=1)))


def epoch(value: datetime | None) -> float | None:
    return None if value is None else as_utc(value).timestamp()
