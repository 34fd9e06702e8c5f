"""The reconciler: nothing in the ACD stays stuck.

Run periodically (every second is cheap) by any node; every repair is idempotent and done in one claim
transaction, so two reconcilers racing change each row once. It

- times out offers whose lease passed: the entry returns to the queue with its place, the agent who let
  it ring goes on break ("missed offer", like Asterisk's autopause) or back to available;
- logs out agents whose presence lease lapsed (closed console, dead phone), cancelling their offers;
- ends wrap-up when its time is up;
- frees a busy agent whose call is over (its entry is final) - a call owner that crashed never returns;
- fails callbacks past their expiry.

``recover_node`` runs at start-up: live callers of the previous run of this node are gone (their
records are completed with the reason); callbacks survive untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.acd.config import AcdSettings
from voicebot.acd.entry_ops import finish_entry, finish_wrap_up, release_offers, requeue_if_unoffered, start_wrap_up
from voicebot.acd.tx import call_record, claim, get_locked, locked, move_agent, ms_between, try_lock
from voicebot.storage.acd_models import ENTRY_FINAL, Agent, CallbackAttempt, Offer, QueueEntry

log = logging.getLogger("voicebot.acd")


@dataclass
class Repairs:
    offers_timed_out: list[int] = field(default_factory=list)
    agents_logged_out: list[str] = field(default_factory=list)
    wrap_ups_ended: list[str] = field(default_factory=list)
    agents_freed: list[str] = field(default_factory=list)
    callbacks_expired: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.offers_timed_out, self.agents_logged_out, self.wrap_ups_ended, self.agents_freed,
                    self.callbacks_expired))


def reconcile(engine: Engine, settings: AcdSettings, now: datetime) -> Repairs:
    repairs = Repairs()
    with claim(engine) as session:
        _expire_offers(session, engine, settings, now, repairs)
        _wrap_ups(session, engine, now, repairs)  # before leases: a finished wrap-up still gets its time
        _lapsed_leases(session, engine, now, repairs)
        _orphaned_busy(session, engine, settings, now, repairs)
        _expired_callbacks(session, engine, now, repairs)
    if repairs:
        log.info("reconciler: %s", repairs)
    return repairs


def _expire_offers(session: Session, engine: Engine, settings: AcdSettings, now: datetime,
                   repairs: Repairs) -> None:
    offers = session.exec(locked(engine, select(Offer).where(
        Offer.status == "pending", col(Offer.expires_at) <= now))).all()
    for offer in offers:
        entry = try_lock(session, engine, QueueEntry, offer.entry_id)
        if entry is None:
            continue  # someone is acting on this entry right now (e.g. accepting): next round
        offer.status, offer.decided_at = "timeout", now
        session.add(offer)
        agent = get_locked(session, engine, Agent, offer.agent_id)
        if agent is not None and agent.state == "reserved" and agent.current_entry_id == offer.entry_id:
            if settings.agents.missed_offer_break:
                move_agent(session, agent, "break", now, "missed offer")
            else:
                move_agent(session, agent, "available", now, "missed offer")
                agent.available_since = now
        requeue_if_unoffered(session, entry)
        repairs.offers_timed_out.append(offer.id or 0)
        log.warning("offer %s of entry %s to agent %s rang out; the entry keeps its place",
                    offer.id, offer.entry_id, offer.agent_id)


def _lapsed_leases(session: Session, engine: Engine, now: datetime, repairs: Repairs) -> None:
    # A busy agent is on a live call: the call's end decides, not the console's heartbeat.
    agents = session.exec(locked(engine, select(Agent).where(
        col(Agent.state).in_(("available", "reserved", "wrap_up", "break")),
        col(Agent.lease_expires_at) <= now))).all()
    for agent in agents:
        if agent.state == "reserved" and agent.current_entry_id is not None:
            entry = try_lock(session, engine, QueueEntry, agent.current_entry_id)
            if entry is None:
                continue  # the offer is being answered or ended right now: next round
            offer = session.exec(select(Offer).where(Offer.entry_id == agent.current_entry_id,
                                                     Offer.agent_id == agent.id, Offer.status == "pending")).first()
            if offer is not None:
                offer.status, offer.decided_at = "cancelled", now
                session.add(offer)
            move_agent(session, agent, "logged_out", now, "presence lease lapsed")
            requeue_if_unoffered(session, entry)
        else:
            move_agent(session, agent, "logged_out", now, "presence lease lapsed")
        repairs.agents_logged_out.append(agent.login)
        log.warning("agent %s logged out: presence lease lapsed", agent.login)


def _wrap_ups(session: Session, engine: Engine, now: datetime, repairs: Repairs) -> None:
    agents = session.exec(locked(engine, select(Agent).where(
        Agent.state == "wrap_up", col(Agent.wrap_until) <= now))).all()
    for agent in agents:
        finish_wrap_up(session, agent, now)
        repairs.wrap_ups_ended.append(agent.login)


def _orphaned_busy(session: Session, engine: Engine, settings: AcdSettings, now: datetime,
                   repairs: Repairs) -> None:
    for agent in session.exec(locked(engine, select(Agent).where(Agent.state == "busy"))).all():
        entry = session.get(QueueEntry, agent.current_entry_id) if agent.current_entry_id else None
        if entry is not None and entry.status not in ENTRY_FINAL:
            continue
        wrap = settings.queue(entry.queue).wrap_up_seconds if entry is not None else 0.0
        start_wrap_up(session, agent, wrap, now)
        repairs.agents_freed.append(agent.login)
        log.warning("agent %s was busy with a finished call; freed", agent.login)


def _expired_callbacks(session: Session, engine: Engine, now: datetime, repairs: Repairs) -> None:
    entries = session.exec(locked(engine, select(QueueEntry).where(
        QueueEntry.kind == "callback", col(QueueEntry.status).in_(("waiting", "offered")),
        col(QueueEntry.expires_at) <= now))).all()
    for entry in entries:
        release_offers(session, engine, entry, now, "cancelled", "callback expired")
        fail_callback(session, entry, now, "expired")
        repairs.callbacks_expired.append(entry.id or 0)


def fail_callback(session: Session, entry: QueueEntry, now: datetime, reason: str) -> None:
    finish_entry(session, entry, "callback_failed", now, reason)
    record = call_record(session, entry.call_id, entry.enqueued_at)
    record.outcome = "callback_failed"
    session.add(record)


def recover_node(engine: Engine, settings: AcdSettings, node: str, now: datetime) -> list[int]:
    """After a restart of ``node``: its live callers are gone. Their entries end (abandoned, or completed
    if an agent had them), the agents are freed, the records say why. Callbacks are kept; one that was
    being dialled goes back to waiting (the attempt is recorded as failed). Returns the ended entry ids."""
    reason = "voicebot restarted while the caller was connected"
    ended: list[int] = []
    with claim(engine) as session:
        entries = session.exec(locked(engine, select(QueueEntry).where(
            QueueEntry.node == node, col(QueueEntry.status).in_(("waiting", "offered", "answered", "dialling"))),
            skip_locked=False)).all()
        for entry in entries:
            release_offers(session, engine, entry, now, "cancelled", reason)
            agent = get_locked(session, engine, Agent, entry.agent_id) if entry.agent_id else None
            if agent is not None and agent.state == "busy" and agent.current_entry_id == entry.id:
                start_wrap_up(session, agent, settings.queue(entry.queue).wrap_up_seconds, now)
            if entry.kind == "callback":
                _interrupt_callback(session, entry, now, reason)
                continue
            record = call_record(session, entry.call_id, entry.enqueued_at)
            if entry.status == "answered":
                finish_entry(session, entry, "completed", now, reason)
                record.talk_ms = ms_between(entry.answered_at, now)
            else:
                finish_entry(session, entry, "abandoned", now, reason)
                record.outcome, record.wait_ms = "abandoned_in_queue", ms_between(entry.enqueued_at, now)
            record.ended_at = record.ended_at or now
            record.error = record.error or reason
            session.add(record)
            ended.append(entry.id or 0)
    if ended:
        log.warning("node %r restarted: %d live queue entr%s ended: %s", node, len(ended),
                    "y" if len(ended) == 1 else "ies", ended)
    return ended


def _interrupt_callback(session: Session, entry: QueueEntry, now: datetime, reason: str) -> None:
    if entry.status == "dialling":
        attempt = session.exec(select(CallbackAttempt).where(
            CallbackAttempt.entry_id == entry.id, col(CallbackAttempt.ended_at).is_(None))).first()
        if attempt is not None:
            attempt.ended_at, attempt.outcome, attempt.detail = now, "failed", reason
            session.add(attempt)
    entry.status, entry.agent_id, entry.node = "waiting", None, ""
    session.add(entry)


def lease_until(now: datetime, settings: AcdSettings) -> datetime:
    return now + timedelta(seconds=settings.agents.lease_seconds)


