"""Callbacks that keep the caller's place.

Choosing a callback turns the caller's own queue entry into a ``callback`` entry: same row, same
``enqueued_at``, so it is routed exactly where the caller would have been. It lives in the database
(it survives a restart, and any node may place it). When it reaches the head and an agent accepts the
offer, voicebot has the agent on the line first, then dials the caller (agent-first); each attempt and
its outcome is a row of ``acd_callback_attempt``. A failed attempt puts the entry back in line (same
place) after the retry interval; after the last attempt, or past the expiry, it is ``callback_failed``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from voicebot.acd.config import AcdSettings
from voicebot.acd.entry_ops import release_offers, start_wrap_up
from voicebot.acd.reconcile import fail_callback
from voicebot.acd.tx import AcdError, call_record, claim, get_locked
from voicebot.storage.acd_models import Agent, CallbackAttempt, QueueEntry
from voicebot.storage.db import session_scope

log = logging.getLogger("voicebot.acd")

#: Outcomes of one attempt to reach the caller.
ATTEMPT_OUTCOMES = ("answered", "no_answer", "busy", "failed")


class CallbackStore:
    def __init__(self, engine: Engine, settings: AcdSettings) -> None:
        self.engine = engine
        self.settings = settings

    def request(self, entry_id: int, number: str, now: datetime) -> QueueEntry:
        """The waiting caller chose a callback on ``number``: the same entry, the same place."""
        if not number.strip():
            raise AcdError("a callback needs a number")
        with claim(self.engine) as session:
            entry = get_locked(session, self.engine, QueueEntry, entry_id)
            if entry is None:
                raise AcdError(f"no queue entry {entry_id}")
            if entry.kind != "live" or entry.status not in ("waiting", "offered"):
                raise AcdError(f"entry {entry_id} is a {entry.kind} entry in state {entry.status}")
            release_offers(session, self.engine, entry, now, "cancelled", "caller chose a callback")
            entry.kind, entry.status, entry.node = "callback", "waiting", ""
            entry.callback_number, entry.callback_requested_at = number.strip(), now
            entry.expires_at = now + timedelta(seconds=self.settings.callbacks.expiry_seconds)
            session.add(entry)
            log.info("entry %s (call %s): callback to %s requested; place kept (queued since %s)",
                     entry.id, entry.call_id, entry.callback_number, entry.enqueued_at.isoformat())
            return entry

    def result(self, entry_id: int, outcome: str, now: datetime, detail: str = "") -> QueueEntry:
        """The outcome of dialling the caller after the agent accepted (see module docstring)."""
        if outcome not in ATTEMPT_OUTCOMES:
            raise AcdError(f"callback outcome must be one of {', '.join(ATTEMPT_OUTCOMES)}, not {outcome!r}")
        with claim(self.engine) as session:
            entry = get_locked(session, self.engine, QueueEntry, entry_id)
            if entry is None or entry.kind != "callback" or entry.status != "dialling":
                raise AcdError(f"entry {entry_id} is not a callback being dialled")
            attempt = session.exec(select(CallbackAttempt).where(
                CallbackAttempt.entry_id == entry.id, col(CallbackAttempt.ended_at).is_(None))
                .order_by(col(CallbackAttempt.id).desc())).first()
            if attempt is not None:
                attempt.ended_at, attempt.outcome, attempt.detail = now, outcome, detail
                session.add(attempt)
            if outcome == "answered":
                entry.status, entry.answered_at = "answered", now
                record = call_record(session, entry.call_id, entry.enqueued_at)
                record.answered_at = record.answered_at or now
                agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
                record.agent = agent.login if agent else record.agent
                session.add(record)
                session.add(entry)
                return entry
            agent = get_locked(session, self.engine, Agent, entry.agent_id) if entry.agent_id else None
            if agent is not None and agent.state == "busy" and agent.current_entry_id == entry.id:
                # The agent spoke to nobody: no wrap-up, straight back to available.
                start_wrap_up(session, agent, 0, now)
            entry.agent_id = None
            if entry.callback_attempts >= self.settings.callbacks.attempts:
                fail_callback(session, entry, now, f"{entry.callback_attempts} attempts, last: {outcome}")
            else:
                entry.status = "waiting"
                entry.not_before = now + timedelta(seconds=self.settings.callbacks.retry_interval_seconds)
                log.info("entry %s: callback attempt %d %s; retry after %s, place kept", entry.id,
                         entry.callback_attempts, outcome, entry.not_before.isoformat())
            session.add(entry)
            return entry

    def cancel(self, entry_id: int, now: datetime, reason: str = "cancelled by a supervisor") -> QueueEntry:
        with claim(self.engine) as session:
            entry = get_locked(session, self.engine, QueueEntry, entry_id)
            if entry is None or entry.kind != "callback":
                raise AcdError(f"no callback {entry_id}")
            if entry.status not in ("waiting", "offered"):
                raise AcdError(f"callback {entry_id} is {entry.status}; only a waiting one can be cancelled")
            release_offers(session, self.engine, entry, now, "cancelled", reason)
            entry.status, entry.ended_at, entry.end_reason = "cancelled", now, reason
            session.add(entry)
            return entry

    def pending(self, include_final: bool = False) -> list[QueueEntry]:
        """Callbacks in their place in line (enqueue time), pending ones only unless ``include_final``."""
        query = select(QueueEntry).where(QueueEntry.kind == "callback")
        if not include_final:
            query = query.where(col(QueueEntry.status).in_(("waiting", "offered", "dialling", "answered")))
        with session_scope(self.engine) as session:
            return list(session.exec(query.order_by(col(QueueEntry.enqueued_at), col(QueueEntry.id))).all())

    def attempts(self, entry_id: int) -> list[CallbackAttempt]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(CallbackAttempt).where(CallbackAttempt.entry_id == entry_id)
                                     .order_by(col(CallbackAttempt.attempt))).all())
