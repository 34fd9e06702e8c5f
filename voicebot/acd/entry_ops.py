"""Row-level steps shared by the store, the reconciler, callbacks and agents: ending offers, putting an
entry back in line, ending an entry, starting and ending wrap-up. Each runs inside the caller's claim
transaction and keeps the lock order entry -> offer -> agent -> call record."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.acd.tx import call_record, get_locked, locked, move_agent, ms_between
from voicebot.storage.acd_models import Agent, Offer, QueueEntry

log = logging.getLogger("voicebot.acd")


def release_offers(session: Session, engine: Engine, entry: QueueEntry, now: datetime, status: str,
                   reason: str) -> int:
    """End the entry's pending offers with ``status``; their reserved agents are available again
    (keeping their place in the idle line: they did nothing wrong). Returns how many were ended."""
    pending = session.exec(locked(engine, select(Offer).where(
        Offer.entry_id == entry.id, Offer.status == "pending"), skip_locked=False)).all()
    for offer in pending:
        offer.status, offer.decided_at = status, now
        session.add(offer)
        agent = get_locked(session, engine, Agent, offer.agent_id)
        if agent is not None and agent.state == "reserved" and agent.current_entry_id == entry.id:
            move_agent(session, agent, "available", now, reason)
    return len(pending)


def requeue_if_unoffered(session: Session, entry: QueueEntry) -> None:
    """An offered entry with no pending offer left goes back to waiting, keeping its enqueue time."""
    if entry.status != "offered":
        return
    still = session.exec(select(Offer.id).where(Offer.entry_id == entry.id, Offer.status == "pending")).first()
    if still is None:
        entry.status = "waiting"
        session.add(entry)


def finish_entry(session: Session, entry: QueueEntry, status: str, now: datetime, reason: str) -> None:
    entry.status, entry.ended_at, entry.end_reason = status, now, reason
    session.add(entry)
    log.info("entry %s (call %s) %s: %s", entry.id, entry.call_id, status, reason)


def start_wrap_up(session: Session, agent: Agent, seconds: float, now: datetime) -> None:
    if seconds <= 0:
        move_agent(session, agent, "available", now, "call ended")
        return
    move_agent(session, agent, "wrap_up", now, "call ended")
    agent.wrap_until = now + timedelta(seconds=seconds)


def finish_wrap_up(session: Session, agent: Agent, now: datetime) -> None:
    """Wrap-up over: the agent is available and the call's record gets its wrap-up time."""
    wrap_ms = ms_between(agent.state_since, now)
    last = session.exec(select(QueueEntry).where(QueueEntry.agent_id == agent.id)
                        .order_by(col(QueueEntry.ended_at).desc().nulls_last(), col(QueueEntry.id).desc())).first()
    if last is not None:
        record = call_record(session, last.call_id, last.enqueued_at)
        record.wrap_ms = wrap_ms
        session.add(record)
    move_agent(session, agent, "available", now, "wrap-up over")


def last_agent(session: Session, caller_id: str) -> int | None:
    """The agent who last served this caller (sticky routing)."""
    return session.exec(
        select(QueueEntry.agent_id).where(QueueEntry.caller_id == caller_id, col(QueueEntry.agent_id).is_not(None))
        .order_by(col(QueueEntry.answered_at).desc().nulls_last(), col(QueueEntry.id).desc())
    ).first()


def close_hold(entry: QueueEntry, now: datetime) -> int:
    """End the entry's open hold stretch (if any) at ``now``; returns its total hold time in ms."""
    if entry.hold_started_at is not None:
        entry.hold_ms = (entry.hold_ms or 0) + (ms_between(entry.hold_started_at, now) or 0)
        entry.hold_started_at = None
    return entry.hold_ms or 0
