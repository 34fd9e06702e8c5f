"""The live ACD: the call owner's :class:`~voicebot.runtime.ports.AcdPort`, and the thread that drives it.

One :class:`AcdDispatcher` per ``voicebot serve`` process. The call owner (a call's tick thread) tells it
when a caller is handed off (``enqueue``), leaves (``cancel``), finishes a bridged conversation (``complete``)
or loses their agent (``agent_dropped``). Its own thread runs ``recover()`` once at start, then ``route()``
every ``route_interval_seconds``, ``reconcile()`` every ``reconcile_interval_seconds``, and:

* for each offer, places the agent's leg: an INVITE to the agent's SIP URI with ``X-Voicebot-Handoff: <entry
  id>``, ringing for what is left of the offer's lease; the caller moves to "ringing" (hold music goes on);
* polls the ringing legs: answered -> ``accept(offer, token)`` -> the call is bridged to the leg (a
  ``StaleOffer``: BYE to that leg); busy, declined, no answer, unreachable -> ``decline`` (the caller keeps
  their place, the next agent is tried); in ring-all the other ringing phones are CANCELled;
* announces position and estimated wait to each waiting caller every ``announce_every_seconds``
  (comfort prompt in between), from this thread: the caller's tick never waits on the database.

Callbacks, agent first (:mod:`voicebot.acd.callback_calls`): a callback entry's offer rings the agent; when they
answer (``accept`` gives the number), the caller is dialled at ``acd.live.callback_uri`` (``{number}`` filled in);
the caller answering is ``callback_result(answered)`` and the two legs are joined
(:func:`voicebot.runtime.leg_bridge.relay_legs`) until either hangs up, then ``complete``; the caller not
answering, busy or unreachable is recorded as such (the ACD retries per the queue's callback policy, the entry
keeping its place) and the agent's leg gets BYE. Callback entries live in the database, so a restarted process
places them.

Several nodes: any node's router may offer any entry; each node rings the pending offers of the callers
waiting on it (looked up every routing round), and callbacks are placed by the node whose router offered them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import col, select

from voicebot.acd.callback_calls import FAILED, HANDOFF_HEADER, AgentPhone, CallbackCalls, Dial
from voicebot.acd.handoff import build_handoff
from voicebot.acd.service import AcdService
from voicebot.acd.store import OfferInfo
from voicebot.acd.tx import AcdError, StaleOffer
from voicebot.acd.wait_estimate import announcement, estimated_wait
from voicebot.actions import Handoff
from voicebot.logs import FailureLog
from voicebot.runtime.callback_choice import OFFER as CALLBACK_OFFER
from voicebot.runtime.ports import BridgeRules, CallControl
from voicebot.storage.acd_models import Agent, Offer, QueueEntry
from voicebot.storage.db import session_scope

log = logging.getLogger("voicebot.acd.live")

POLL_S = 0.02  # how often ringing legs are looked at: an answer reaches the caller within a frame or so


@dataclass
class Ringing:
    offer: OfferInfo
    leg: AgentPhone
    dialled_at: float


@dataclass
class Waiting:
    entry_id: int
    call: CallControl
    queue: str
    skills: tuple[str, ...]
    caller_id: str
    next_announcement: float
    announcements: int = 0
    legs: dict[int, Ringing] = field(default_factory=dict)  # offer id -> its ringing leg
    bridged: bool = False
    held: bool = False  # on hold from the agent's console (the call was told)
    rung: bool = False  # the call is in its ringing phase (a phone sent 180, or answered)


class AcdDispatcher:
    def __init__(self, service: AcdService, dial: Dial, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.dial = dial
        self.live = service.settings.live
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, Waiting] = {}  # by ticket (the entry id as text)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recovered: list[int] = []
        #: (entry id, seconds from dialling to answer) of each bridge, for the benchmarks and the logs.
        self.answered: list[tuple[int, float]] = []
        self.callbacks = CallbackCalls(service, dial, self._stop, self._decline)
        self.failures = FailureLog(log, "ACD dispatcher round")

    # ----- the call owner's side (AcdPort) ---------------------------------------------------------

    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        session = call.session
        payload = build_handoff(session.flow, session.history, handoff)
        entry = self.service.enqueue_handoff(payload)
        assert entry.id is not None
        ticket = str(entry.id)
        with self._lock:
            self._waiting[ticket] = Waiting(
                entry.id, call, entry.queue, tuple(entry.skills), payload.caller_id,
                next_announcement=self._clock() + self.live.first_announcement_seconds)
        log.info("call %s queued in %s as entry %s", call_id, entry.queue, ticket)
        return ticket

    def cancel(self, ticket: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(ticket, None)
        if waiting is None:
            return
        for ringing in waiting.legs.values():
            ringing.leg.hang_up()  # CANCEL to a ringing agent phone
        try:
            self.service.abandon(waiting.entry_id)
        except AcdError as exc:
            log.warning("entry %s: abandon refused (%s)", ticket, exc)
        log.info("entry %s: the caller left while %s", ticket, "ringing" if waiting.legs else "queued")

    def complete(self, ticket: str, reason: str = "caller hung up") -> None:
        with self._lock:
            waiting = self._waiting.pop(ticket, None)
        if waiting is None:
            return
        try:
            self.service.complete(waiting.entry_id, reason)
        except AcdError as exc:
            log.warning("entry %s: complete refused (%s)", ticket, exc)
            self._abandon_if_waiting(waiting.entry_id, reason)

    def _abandon_if_waiting(self, entry_id: int, reason: str) -> None:
        """The call ended just as its agent transferred it (the entry waits in the new queue, with no caller
        left to ring for): abandon it so it is never offered to anyone."""
        with session_scope(self.service.engine) as session:
            entry = session.get(QueueEntry, entry_id)
        if entry is not None and entry.status == "waiting" and entry.kind == "live":
            with contextlib.suppress(AcdError):
                self.service.abandon(entry_id, f"{reason} as the call was transferred")

    def request_callback(self, ticket: str, number: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(ticket, None)
        if waiting is None:
            raise KeyError(f"entry {ticket} is not waiting on this node")
        for ringing in waiting.legs.values():
            ringing.leg.hang_up()  # the ACD cancels the offers; the phones stop ringing
        self.service.request_callback(waiting.entry_id, number)
        log.info("entry %s: callback to %s requested; it keeps its place", ticket, number)

    def agent_dropped(self, ticket: str) -> None:
        with self._lock:
            waiting = self._waiting.get(ticket)
            if waiting is None:
                return
            waiting.bridged = waiting.held = False
            waiting.rung = False
            waiting.legs.clear()
            waiting.next_announcement = self._clock() + self.live.announce_every_seconds
        try:
            self.service.requeue(waiting.entry_id)
        except AcdError as exc:
            log.warning("entry %s: requeue refused (%s)", ticket, exc)

    # ----- the thread ------------------------------------------------------------------------------

    def start(self) -> AcdDispatcher:
        self.recovered = self.service.recover()
        if self.recovered:
            log.info("recovered %d entries of this node's previous run", len(self.recovered))
        self._thread = threading.Thread(target=self._run, name="acd-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        next_route = next_reconcile = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            try:
                if now >= next_reconcile:
                    next_reconcile = now + self.live.reconcile_interval_seconds
                    self.service.reconcile()
                if now >= next_route:
                    next_route = now + self.live.route_interval_seconds
                    self.route_once()
                self.poll_legs()
                self.callbacks.poll()
                self.announce_due(now)
            except Exception:  # a database hiccup must not stop the dispatcher: the next round retries
                self.failures.failed()  # (a traceback once, then a count per minute: not one per round)
            else:
                self.failures.succeeded()
            self._stop.wait(POLL_S)

    def route_once(self) -> None:
        self.follow_console()
        self.stop_withdrawn_offers()
        result = self.service.route()
        for offer in result.offers:
            if offer.kind == "callback":
                self._ring(offer)  # any node places a callback: the router that offered it does
        # Live callers: this node rings the offers for its own callers, whichever node's router made them (a
        # router on another node offers our callers too; it leaves them to us, and we leave theirs to them).
        for offer in self.pending_offers_for_my_callers():
            self._ring(offer)
        for callback_offer in result.callback_offers:
            log.info("entry %s: waited past its queue's maximum (callback offer not yet spoken)",
                     callback_offer.entry_id)

    def follow_console(self) -> None:
        """What agents did from the console (which may run in another process) to this node's bridged callers.

        Hold (:mod:`voicebot.acd.hold`): the call plays hold audio to the caller and silence to the agent, until
        resumed. Transfer (:func:`voicebot.web.transfer.transfer`: the entry waits again): the call drops the first
        agent's leg (BYE), plays the transfer prompt and hold audio, and this node rings the new queue's agent (the
        note is in the entry's handoff, for their screen pop)."""
        with self._lock:
            bridged = {w.entry_id: w for w in self._waiting.values() if w.bridged}
        if not bridged:
            return
        with session_scope(self.service.engine) as session:
            rows = session.exec(select(QueueEntry.id, QueueEntry.status, QueueEntry.hold_started_at)
                                .where(col(QueueEntry.id).in_(bridged))).all()
        moved = []
        for entry_id, status, hold_started_at in rows:
            waiting = bridged[entry_id or 0]
            held = status == "answered" and hold_started_at is not None
            if status == "answered" and held != waiting.held:
                waiting.held = held
                waiting.call.hold(held)
            elif status == "waiting":
                moved.append(entry_id or 0)
        if not moved:
            return
        with session_scope(self.service.engine) as session:
            entries = session.exec(select(QueueEntry).where(col(QueueEntry.id).in_(moved))).all()
        for entry in entries:
            waiting = bridged[entry.id or 0]
            with self._lock:
                waiting.bridged = waiting.rung = waiting.held = False
                waiting.legs.clear()
                waiting.queue, waiting.skills = entry.queue, tuple(entry.skills)
                waiting.next_announcement = self._clock() + self.live.announce_every_seconds
            log.info("entry %s: transferred to %s; the first agent's leg ends, the caller waits", entry.id, entry.queue)
            waiting.call.transferred(entry.queue, self.live.transfer_prompt)

    def pending_offers_for_my_callers(self) -> list[OfferInfo]:
        """Pending offers of the entries whose callers wait on this node and whose phones do not ring yet."""
        with self._lock:
            mine = {w.entry_id for w in self._waiting.values() if not w.bridged}
            ringing = {o for w in self._waiting.values() for o in w.legs}
        if not mine:
            return []
        now = self.service.now()
        with session_scope(self.service.engine) as session:
            rows = session.exec(
                select(Offer, QueueEntry, Agent)
                .where(col(Offer.entry_id).in_(mine), Offer.status == "pending", QueueEntry.id == Offer.entry_id,
                       Agent.id == Offer.agent_id)
                .order_by(col(Offer.id))).all()
        return [OfferInfo(offer.id or 0, offer.token, entry.id or 0, entry.call_id, entry.queue, entry.kind,
                          agent.id or 0, agent.login, agent.sip_uri, offer.expires_at)
                for offer, entry, agent in rows if offer.id not in ringing and offer.expires_at > now]

    def _ring(self, offer: OfferInfo) -> None:
        ticket = str(offer.entry_id)
        if offer.kind == "callback":
            self.callbacks.ring_agent(offer)
            return
        with self._lock:
            waiting = self._waiting.get(ticket)
        if waiting is None or waiting.bridged:
            return  # the caller left or is talking already: the ACD withdraws or fences this offer
        remaining = max(1.0, (offer.expires_at - self.service.now()).total_seconds())
        try:
            leg = self.dial(offer.sip_uri, waiting.caller_id or self.live.agent_caller_id,
                            {HANDOFF_HEADER: ticket}, remaining)
        except Exception as exc:
            log.warning("entry %s: calling agent %s at %s failed (%s)", ticket, offer.agent_login, offer.sip_uri, exc)
            self._decline(offer, f"unreachable: {exc}")
            return
        with self._lock:
            waiting.legs[offer.offer_id] = Ringing(offer, leg, self._clock())
        log.info("entry %s: calling agent %s at %s", ticket, offer.agent_login, offer.sip_uri)

    # ----- live callers' legs --------------------------------------------------------------------------

    def stop_withdrawn_offers(self) -> None:
        """Phones still ringing for offers the ACD has withdrawn (the agent logged out, their presence lapsed, the
        offer expired) stop ringing now (CANCEL); the caller goes on waiting in their place."""
        with self._lock:
            ringing = {o: (t, w) for t, w in self._waiting.items() for o in w.legs}
        ids = set(ringing) | self.callbacks.ringing_agents()
        if not ids:
            return
        with session_scope(self.service.engine) as session:
            withdrawn = {offer.id: offer.status for offer in
                         session.exec(select(Offer).where(col(Offer.id).in_(ids), Offer.status != "pending")).all()}
        for offer_id, status in withdrawn.items():
            if offer_id in ringing:
                ticket, waiting = ringing[offer_id]
                with self._lock:
                    ring = waiting.legs.get(offer_id)
                    if ring is None or ring.leg.outcome == "answered":
                        continue  # answered meanwhile: _answered() finds the offer stale and sends BYE
                    del waiting.legs[offer_id]
                    last = not waiting.legs and not waiting.bridged
                log.info("entry %s: offer to %s %s: the phone stops ringing", ticket, ring.offer.agent_login, status)
                ring.leg.hang_up()
                if last and ticket in self._waiting:
                    self._back_to_queue(waiting)
            elif offer_id is not None:
                self.callbacks.withdrawn(offer_id, status)

    def poll_legs(self) -> None:
        with self._lock:
            ringing = [(t, w, r) for t, w in self._waiting.items() for r in list(w.legs.values())]
        for ticket, waiting, ring in ringing:
            outcome = ring.leg.outcome
            if not waiting.rung and (outcome == "answered" or ring.leg.ringing):
                waiting.rung = True  # 180 (or a straight 200): the caller's ringing phase
                waiting.call.offer(ring.offer.agent_login)
                log.info("entry %s: agent %s's phone rings", ticket, ring.offer.agent_login)
            if outcome == "answered":
                self._answered(ticket, waiting, ring)
            elif outcome in FAILED:
                with self._lock:
                    waiting.legs.pop(ring.offer.offer_id, None)
                    last = not waiting.legs and not waiting.bridged
                log.info("entry %s: agent %s %s (%s); the caller keeps their place", ticket, ring.offer.agent_login,
                         outcome, ring.leg.outcome_reason)
                self._decline(ring.offer, outcome)
                if last and ticket in self._waiting:
                    self._back_to_queue(waiting)

    def _answered(self, ticket: str, waiting: Waiting, ring: Ringing) -> None:
        offer = ring.offer
        with self._lock:
            waiting.legs.pop(offer.offer_id, None)
            others = list(waiting.legs.values())
            waiting.legs.clear()
        try:
            self.service.accept(offer.offer_id, offer.token)
        except AcdError as exc:  # StaleOffer, or the entry moved on (the caller left): never bridge it
            log.info("entry %s: agent %s answered a stale offer (%s): BYE", ticket, offer.agent_login, exc)
            ring.leg.hang_up()
            with self._lock:
                waiting.legs.update({o.offer.offer_id: o for o in others})
                last = not waiting.legs
            if last:
                self._back_to_queue(waiting)
            return
        for other in others:  # ring-all: the first to answer wins, the others stop ringing
            other.leg.hang_up()
        waiting.bridged = True
        waiting.call.bridge(offer.agent_login, ring.leg, self.bridge_rules(waiting.queue))
        self.answered.append((offer.entry_id, self._clock() - ring.dialled_at))
        log.info("entry %s: agent %s answered; bridged", ticket, offer.agent_login)

    def bridge_rules(self, queue: str) -> BridgeRules:
        """When the agent's leg ending is a lost leg rather than the end of the call (the queue's settings)."""
        settings = self.service.settings.queue(queue)
        return BridgeRules(requeue_within_ms=int(settings.requeue_if_agent_leaves_within_seconds * 1000),
                           media_timeout_ms=int(settings.agent_media_timeout_seconds * 1000),
                           closing_prompt=self.live.closing_prompt)

    @staticmethod
    def _back_to_queue(waiting: Waiting) -> None:
        """No phone rings for the caller any more: back to the queued phase (if a phone had rung)."""
        if waiting.rung:
            waiting.rung = False
            waiting.call.requeue()

    def _decline(self, offer: OfferInfo, reason: str) -> None:
        # StaleOffer: the reconciler (or a logout) got there first: the entry is already back in line
        with contextlib.suppress(StaleOffer):
            self.service.decline(offer.offer_id, offer.token, reason)

    def announce_due(self, now: float) -> None:
        with self._lock:
            due = [(t, w) for t, w in self._waiting.items()
                   if not w.bridged and not w.legs and now >= w.next_announcement]
            for _ticket, waiting in due:
                waiting.next_announcement = now + self.live.announce_every_seconds
        for ticket, waiting in due:
            text = self.announcement_for(waiting)
            waiting.announcements += 1
            if text:
                waiting.call.announce(text)
            log.debug("entry %s: announced %r", ticket, text)

    def announcement_for(self, waiting: Waiting) -> str | None:
        """Position and wait on odd rounds, the comfort prompt on even ones (position again if it changed)."""
        if waiting.announcements % 2 == 1:
            offer = CALLBACK_OFFER if self.live.callback_offer else ""
            return " ".join(t for t in (self.live.comfort_prompt, offer) if t) or None
        position = self.service.position(waiting.entry_id)
        wait = None
        if position is not None:
            wait = estimated_wait(self.service.engine, waiting.queue, position, waiting.skills,
                                  min_samples=self.live.estimate_min_samples)
        return announcement(position, wait)
