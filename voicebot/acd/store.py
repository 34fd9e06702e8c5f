"""Queue entries and offers in the database: enqueue, route, accept/decline, abandon, complete.

Every public method is one transaction (:func:`voicebot.acd.tx.claim`) and takes ``now``: the caller's
clock decides time, as everywhere in voicebot. The call owner (runtime) calls these through
:class:`voicebot.acd.service.AcdService`; docs/acd.md lists them with the events that trigger each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.acd.config import AcdSettings
from voicebot.acd.entry_ops import (
    close_hold,
    finish_entry,
    finish_wrap_up,
    last_agent,
    release_offers,
    requeue_if_unoffered,
    start_wrap_up,
)
from voicebot.acd.policy import Decision, decide
from voicebot.acd.tx import AcdError, StaleOffer, call_record, claim, get_locked, locked, move_agent, ms_between
from voicebot.acd.views import VIEW_COLUMNS, agent_view, row_view
from voicebot.storage.acd_models import Agent, CallbackAttempt, Offer, QueueEntry, RouterCursor
from voicebot.storage.db import as_utc, is_postgres

log = logging.getLogger("voicebot.acd")

#: A caller whose agent hung up mid-call goes back ahead of everyone of their own priority band.
REQUEUE_PRIORITY_BONUS = 100


@dataclass(frozen=True)
class OfferInfo:
    """An offer made: ring ``sip_uri`` with ``X-Voicebot-Handoff: <entry_id>``; accept/decline with
    ``offer_id`` and ``token``."""

    offer_id: int
    token: int
    entry_id: int
    call_id: str
    queue: str
    kind: str
    agent_id: int
    agent_login: str
    sip_uri: str
    expires_at: datetime


@dataclass(frozen=True)
class CallbackOffer:
    """A live caller waited past the queue's max wait: the call owner should offer them a callback."""

    entry_id: int
    call_id: str
    queue: str


@dataclass(frozen=True)
class RouteResult:
    offers: tuple[OfferInfo, ...] = ()
    callback_offers: tuple[CallbackOffer, ...] = ()
    #: (entry id, from queue, to queue) for entries that overflowed into another queue.
    moved: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True)
class Accepted:
    entry_id: int
    call_id: str
    agent_id: int
    kind: str
    #: For a callback: the number to call now (agent-first), and the attempt's id for its outcome.
    callback_number: str | None = None
    attempt_id: int | None = None


class AcdStore:
    def __init__(self, engine: Engine, settings: AcdSettings, router: str = "",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.router = router
        #: Read again once a claim holds its locks: a request that waited for another router's
        #: transaction must not stamp (and time its offer lease from) the moment it started waiting.
        self.clock = clock

    def _locked_now(self, now: datetime) -> datetime:
        return max(now, self.clock()) if self.clock is not None else now

    # ----- entries --------------------------------------------------------------------------------

    def enqueue(self, call_id: str, queue: str, now: datetime, *, priority: int = 0, caller_id: str = "",
                customer_id: int | None = None, vip: bool = False, skills: tuple[str, ...] = (),
                handoff: dict[str, Any] | None = None, node: str = "") -> QueueEntry:
        """A new waiting entry; the caller's previous agent (if any) is remembered for sticky routing."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            sticky = last_agent(session, caller_id) if caller_id else None
            entry = QueueEntry(call_id=call_id, queue=queue, priority=priority, caller_id=caller_id,
                               customer_id=customer_id, vip=vip, skills=list(skills), handoff=handoff or {},
                               enqueued_at=now, queued_at=now, sticky_agent_id=sticky, node=node)
            session.add(entry)
            record = call_record(session, call_id, now)
            if record.enqueued_at is None:
                record.enqueued_at, record.queue = now, queue
            session.add(record)
            session.flush()
        log.info("call %s: queued in %s as entry %s (priority %d%s)", call_id, queue, entry.id, priority,
                 ", VIP" if vip else "")
        return entry

    def route(self, now: datetime) -> RouteResult:
        """One routing round: claim waiting entries and routable agents, decide, write the offers."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            # Only the columns the policy needs (not the handoff payloads): this runs every round over
            # every waiting entry. The rows are claimed all the same (FOR UPDATE locks them).
            query = sa_select(*VIEW_COLUMNS).where(col(QueueEntry.status) == "waiting").order_by(col(QueueEntry.id))
            if is_postgres(self.engine):
                query = query.with_for_update(skip_locked=True)
            views = [row_view(row) for row in session.execute(query).all()]
            if not views:
                return RouteResult()
            free = list(session.exec(locked(self.engine, select(Agent).where(
                Agent.state == "available").order_by(col(Agent.id)))).all())
            # Present but not free agents matter for sticky routing only; read, not claimed.
            others = list(session.exec(select(Agent).where(
                col(Agent.state).in_(("reserved", "busy", "wrap_up"))).order_by(col(Agent.id))).all())
            cursors = {c.queue: c.last_login for c in session.exec(select(RouterCursor)).all()}
            decision = decide(self.settings, views, [agent_view(a) for a in free + others], now.timestamp(), cursors)
            touched = {a.entry_id for a in decision.assignments} | {m.entry_id for m in decision.overflows}
            if not touched:
                return RouteResult()
            entries = session.exec(select(QueueEntry).where(col(QueueEntry.id).in_(touched))).all()
            return self._apply(session, decision, {e.id: e for e in entries if e.id is not None},
                               {a.id: a for a in free if a.id is not None}, now)

    def _apply(self, session: Session, decision: Decision, entries: dict[int, QueueEntry],
               agents: dict[int, Agent], now: datetime) -> RouteResult:
        offers: list[OfferInfo] = []
        for assignment in decision.assignments:
            entry = entries[assignment.entry_id]
            entry.fence += 1
            entry.offers += 1
            entry.status = "offered"
            entry.first_offered_at = entry.first_offered_at or now
            timeout = timedelta(seconds=self.settings.queue(entry.queue).offer_timeout_seconds)
            for agent_id in assignment.agent_ids:
                agent = agents[agent_id]
                move_agent(session, agent, "reserved", now, f"offered entry {entry.id}")
                agent.current_entry_id = entry.id
                offer = Offer(entry_id=entry.id or 0, agent_id=agent_id, token=entry.fence, offered_at=now,
                              expires_at=now + timeout, router=self.router)
                session.add(offer)
                session.flush()
                offers.append(OfferInfo(offer.id or 0, offer.token, entry.id or 0, entry.call_id, entry.queue,
                                        entry.kind, agent_id, agent.login, agent.sip_uri, offer.expires_at))
            if entry.kind == "live":
                record = call_record(session, entry.call_id, entry.enqueued_at)
                record.offered_at = record.offered_at or now
                session.add(record)
            session.add(entry)
        callback_offers, moved = [], []
        for move in decision.overflows:
            entry = entries[move.entry_id]
            if move.to_queue is None:
                entry.callback_offered = True
                callback_offers.append(CallbackOffer(entry.id or 0, entry.call_id, entry.queue))
            else:
                entry.visited = [*entry.visited, entry.queue]
                entry.queue, entry.queued_at = move.to_queue, now
                moved.append((entry.id or 0, move.from_queue, move.to_queue))
                log.info("entry %s overflowed from %s to %s", entry.id, move.from_queue, move.to_queue)
            session.add(entry)
        for queue, login in decision.cursors.items():
            cursor = session.get(RouterCursor, queue) or RouterCursor(queue=queue)
            cursor.last_login = login
            session.add(cursor)
        return RouteResult(tuple(offers), tuple(callback_offers), tuple(moved))

    # ----- offers ---------------------------------------------------------------------------------

    def accept(self, offer_id: int, token: int, now: datetime) -> Accepted:
        """The agent answered. Raises StaleOffer if the offer is no longer current (fencing)."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            offer, entry = self._current_offer(session, offer_id, token, now)
            agent = get_locked(session, self.engine, Agent, offer.agent_id)
            if agent is None or agent.state != "reserved" or agent.current_entry_id != entry.id:
                raise StaleOffer(f"offer {offer_id}: the agent is no longer reserved for it")
            offer.status, offer.decided_at = "accepted", now
            session.add(offer)
            # Ring-all: the other phones stop ringing and their agents are free again.
            release_offers(session, self.engine, entry, now, "cancelled", f"answered by {agent.login}")
            move_agent(session, agent, "busy", now, f"answered entry {entry.id}")
            self._renew_lease(agent, now)  # answering the phone proves presence as a heartbeat does
            agent.current_entry_id = entry.id
            entry.agent_id = agent.id
            attempt_id = None
            if entry.kind == "callback":
                # Agent-first: the agent is on the line; now voicebot dials the caller.
                entry.status, entry.node = "dialling", self.router
                entry.callback_attempts += 1
                attempt = CallbackAttempt(entry_id=entry.id or 0, attempt=entry.callback_attempts,
                                          number=entry.callback_number or "", agent_id=agent.id, started_at=now)
                session.add(attempt)
                session.flush()
                attempt_id = attempt.id
            else:
                entry.status, entry.answered_at = "answered", now
                record = call_record(session, entry.call_id, entry.enqueued_at)
                record.answered_at, record.agent = now, agent.login
                record.wait_ms = ms_between(entry.enqueued_at, now)
                record.outcome = "answered"
                session.add(record)
            session.add(entry)
            log.info("entry %s (call %s) answered by %s", entry.id, entry.call_id, agent.login)
            return Accepted(entry.id or 0, entry.call_id, agent.id or 0, entry.kind, entry.callback_number,
                            attempt_id)

    def decline(self, offer_id: int, token: int, now: datetime, reason: str = "declined") -> None:
        """The agent declined (or their phone answered busy/unreachable): the entry keeps its place and
        the agent goes to the back of the idle line."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            offer, entry = self._current_offer(session, offer_id, token, now)
            offer.status, offer.decided_at = "declined", now
            session.add(offer)
            agent = get_locked(session, self.engine, Agent, offer.agent_id)
            if agent is not None and agent.state == "reserved" and agent.current_entry_id == entry.id:
                move_agent(session, agent, "available", now, reason)
                agent.available_since = now
            requeue_if_unoffered(session, entry)
            log.info("entry %s: offer %s to agent %s %s", entry.id, offer_id, offer.agent_id, reason)

    def _current_offer(self, session: Session, offer_id: int, token: int,
                       now: datetime) -> tuple[Offer, QueueEntry]:
        # Lock order everywhere: entry, then offer, then agent (then call record), so that two
        # transactions on PostgreSQL never wait for each other in a circle. The offer's entry never
        # changes, so reading it unlocked first is safe.
        entry_id = session.exec(select(Offer.entry_id).where(Offer.id == offer_id)).first()
        if entry_id is None:
            raise StaleOffer(f"offer {offer_id} does not exist")
        entry = get_locked(session, self.engine, QueueEntry, entry_id)
        offer = get_locked(session, self.engine, Offer, offer_id)
        if entry is None or offer is None:
            raise StaleOffer(f"offer {offer_id}: its entry is gone")
        if offer.token != token or entry.fence != token:
            raise StaleOffer(f"offer {offer_id}: stale token {token} (current {entry.fence})")
        if offer.status != "pending" or entry.status != "offered":
            raise StaleOffer(f"offer {offer_id} is {offer.status}, entry {entry.id} is {entry.status}")
        if as_utc(offer.expires_at) <= now:
            raise StaleOffer(f"offer {offer_id} expired at {offer.expires_at.isoformat()}")
        return offer, entry

    # ----- the end of a wait or a call ------------------------------------------------------------

    def abandon(self, entry_id: int, now: datetime, reason: str = "caller hung up") -> QueueEntry:
        """The caller hung up while waiting or ringing: ringing phones stop, the record says
        ``abandoned_in_queue`` with the time waited (short abandons are told apart by reports)."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            entry = self._entry(session, entry_id)
            if entry.status not in ("waiting", "offered"):
                raise AcdError(f"entry {entry_id} is {entry.status}, not waiting")
            release_offers(session, self.engine, entry, now, "cancelled", reason)
            finish_entry(session, entry, "abandoned", now, reason)
            if entry.kind == "live":
                record = call_record(session, entry.call_id, entry.enqueued_at)
                record.outcome, record.wait_ms = "abandoned_in_queue", ms_between(entry.enqueued_at, now)
                session.add(record)
            return entry

    def complete(self, entry_id: int, now: datetime, reason: str = "call ended") -> QueueEntry:
        """The agent's conversation ended: the agent goes to wrap-up (or available with no wrap-up)."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            entry = self._entry(session, entry_id)
            if entry.status != "answered":
                raise AcdError(f"entry {entry_id} is {entry.status}, not answered")
            status = "callback_completed" if entry.kind == "callback" else "completed"
            finish_entry(session, entry, status, now, reason)
            hold_ms = close_hold(entry, now)
            talk_ms = max(0, (ms_between(entry.answered_at, now) or 0) - hold_ms)
            agent = get_locked(session, self.engine, Agent, entry.agent_id) if entry.agent_id else None
            record = call_record(session, entry.call_id, entry.enqueued_at)
            record.talk_ms = talk_ms
            record.hold_ms = hold_ms
            record.outcome = "callback_completed" if entry.kind == "callback" else "answered"
            session.add(record)
            if agent is not None and agent.state == "busy" and agent.current_entry_id == entry.id:
                agent.calls_handled += 1
                agent.talk_ms += talk_ms
                self._renew_lease(agent, now)
                start_wrap_up(session, agent, self.settings.queue(entry.queue).wrap_up_seconds, now)
            return entry

    def requeue(self, entry_id: int, now: datetime, reason: str = "agent hung up") -> QueueEntry:
        """The agent left mid-call: the caller goes back to the front of the queue, keeping their place."""
        with claim(self.engine) as session:
            now = self._locked_now(now)
            entry = self._entry(session, entry_id)
            if entry.status not in ("answered", "dialling"):
                raise AcdError(f"entry {entry_id} is {entry.status}, not with an agent")
            agent = get_locked(session, self.engine, Agent, entry.agent_id) if entry.agent_id else None
            if agent is not None and agent.state == "busy" and agent.current_entry_id == entry.id:
                start_wrap_up(session, agent, self.settings.queue(entry.queue).wrap_up_seconds, now)
            entry.status, entry.agent_id, entry.answered_at = "waiting", None, None
            entry.hold_started_at, entry.hold_ms = None, None  # talk and hold count from the next answer
            entry.priority += REQUEUE_PRIORITY_BONUS
            entry.end_reason = reason
            session.add(entry)
            log.info("entry %s (call %s) back in %s at the front: %s", entry.id, entry.call_id, entry.queue, reason)
            return entry

    def end_wrap_up(self, agent_id: int, now: datetime) -> None:
        with claim(self.engine) as session:
            now = self._locked_now(now)
            agent = get_locked(session, self.engine, Agent, agent_id)
            if agent is None or agent.state != "wrap_up":
                raise AcdError(f"agent {agent_id} is not in wrap-up")
            finish_wrap_up(session, agent, now)

    def _renew_lease(self, agent: Agent, now: datetime) -> None:
        renewed = now + timedelta(seconds=self.settings.agents.lease_seconds)
        if agent.lease_expires_at is None or as_utc(agent.lease_expires_at) < renewed:
            agent.lease_expires_at = renewed

    def _entry(self, session: Session, entry_id: int) -> QueueEntry:
        entry = get_locked(session, self.engine, QueueEntry, entry_id)
        if entry is None:
            raise AcdError(f"no queue entry {entry_id}")
        return entry
