"""The ACD's port for the call owner: one object, every operation a call's life needs.

The call owner (runtime) holds one :class:`AcdService` per process and calls it on its events:

====================================  ==========================================================
call event                            service call
====================================  ==========================================================
the flow's Handoff action             ``enqueue_handoff(build_handoff(flow, history, action))`` -> the
                                      entry (its id goes in ``X-Voicebot-Handoff``)
every tick (or ~250 ms)               ``route()`` -> offers to ring; callback offers to make
agent phone answered (200 OK)         ``accept(offer_id, token)`` (StaleOffer: hang up that leg)
agent 486/603/unreachable             ``decline(offer_id, token, reason)``
caller hung up while queued/ringing   ``abandon(entry_id)``
caller pressed 1 for a callback       ``request_callback(entry_id, number)``
callback: the caller's leg ended      ``callback_result(entry_id, outcome)``
agent or caller hung up after bridge  ``complete(entry_id)``
agent dropped mid-call                ``requeue(entry_id)`` (caller back at the front)
every second                          ``reconcile()``
process start                         ``recover()`` (this node's live callers of the last run)
====================================  ==========================================================

Time comes from the injected clock (epoch seconds), so tests drive it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from voicebot.acd.agent_store import AgentStore
from voicebot.acd.callbacks import CallbackStore
from voicebot.acd.config import AcdSettings
from voicebot.acd.handoff import HandoffPayload
from voicebot.acd.reconcile import Repairs, reconcile, recover_node
from voicebot.acd.status import AgentOffer, QueueStatus, WaitingRow, agent_offer, queue_status, waiting_in
from voicebot.acd.store import Accepted, AcdStore, RouteResult
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import session_scope

Clock = Callable[[], float]

log = logging.getLogger("voicebot.acd")


def customer_vip(engine: Engine, customer_id: int | None) -> bool | None:
    """Whether the customer is VIP in the customer database; None when unknown or unreachable."""
    if customer_id is None:
        return None
    from voicebot.storage.bank_models import Customer

    try:
        with session_scope(engine) as session:
            customer = session.get(Customer, customer_id)
    except Exception as exc:  # the customer database is optional for queueing: never lose the caller
        log.warning("customer %s: VIP status unknown (%s)", customer_id, type(exc).__name__)
        return None
    return None if customer is None else bool(customer.vip)


def default_node_name() -> str:
    """This process's name among nodes: ``VOICEBOT_NODE`` or host name; used to recover after restarts."""
    return os.environ.get("VOICEBOT_NODE") or socket.gethostname()


class AcdService:
    def __init__(self, engine: Engine, settings: AcdSettings, *, clock: Clock | None = None,
                 node: str | None = None) -> None:
        import time

        self.engine = engine
        self.settings = settings
        self.node = node if node is not None else default_node_name()
        self._clock: Clock = clock or time.time
        self.entries = AcdStore(engine, settings, router=self.node, clock=self.now)
        self.agents = AgentStore(engine, settings)
        self.callbacks = CallbackStore(engine, settings)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # ----- the caller's side ----------------------------------------------------------------------

    def enqueue(self, call_id: str, queue: str, *, priority: int = 0, skills: tuple[str, ...] = (),
                handoff: dict[str, Any] | None = None, caller_id: str = "", customer_id: int | None = None,
                vip: bool = False) -> QueueEntry:
        return self.entries.enqueue(call_id, queue, self.now(), priority=priority, caller_id=caller_id,
                                    customer_id=customer_id, vip=vip, skills=skills, handoff=handoff, node=self.node)

    def enqueue_handoff(self, payload: HandoffPayload) -> QueueEntry:
        """Queue a call from its pre-qualified handoff (:func:`voicebot.acd.handoff.build_handoff`): queue,
        priority and skills from the flow's handoff node, VIP from the customer database."""
        customer = payload.customer
        customer_id = customer.id if customer else None
        vip = customer_vip(self.engine, customer_id)
        if vip is None:  # no customer database reachable: what the flow learned from it
            vip = bool(customer and customer.vip)
        return self.enqueue(payload.call_id, payload.queue.name, priority=payload.queue.priority,
                            skills=tuple(payload.queue.skills), handoff=payload.model_dump(mode="json"),
                            caller_id=payload.caller_id, customer_id=customer_id, vip=vip)

    def abandon(self, entry_id: int, reason: str = "caller hung up") -> QueueEntry:
        return self.entries.abandon(entry_id, self.now(), reason)

    def request_callback(self, entry_id: int, number: str) -> QueueEntry:
        return self.callbacks.request(entry_id, number, self.now())

    def callback_result(self, entry_id: int, outcome: str, detail: str = "") -> QueueEntry:
        return self.callbacks.result(entry_id, outcome, self.now(), detail)

    # ----- routing and offers ---------------------------------------------------------------------

    def route(self) -> RouteResult:
        return self.entries.route(self.now())

    def accept(self, offer_id: int, token: int) -> Accepted:
        return self.entries.accept(offer_id, token, self.now())

    def decline(self, offer_id: int, token: int, reason: str = "declined") -> None:
        self.entries.decline(offer_id, token, self.now(), reason)

    def complete(self, entry_id: int, reason: str = "call ended") -> QueueEntry:
        return self.entries.complete(entry_id, self.now(), reason)

    def requeue(self, entry_id: int, reason: str = "agent hung up") -> QueueEntry:
        return self.entries.requeue(entry_id, self.now(), reason)

    def reconcile(self) -> Repairs:
        return reconcile(self.engine, self.settings, self.now())

    def recover(self) -> list[int]:
        return recover_node(self.engine, self.settings, self.node, self.now())

    # ----- views ----------------------------------------------------------------------------------

    def status(self) -> list[QueueStatus]:
        return queue_status(self.engine, self.settings, self.now())

    def waiting(self, queue: str) -> list[WaitingRow]:
        return waiting_in(self.engine, self.settings, queue, self.now())

    def position(self, entry_id: int) -> int | None:
        """The entry's place in its queue's serving order (1 = next), for "you are number 3 in line";
        None when it is no longer waiting."""
        with session_scope(self.engine) as session:
            entry = session.get(QueueEntry, entry_id)
        if entry is None:
            return None
        return next((row.position for row in self.waiting(entry.queue) if row.entry.id == entry_id), None)

    def offer_for(self, login: str) -> AgentOffer | None:
        """What is ringing for this agent (for the console's screen pop and its accept/decline)."""
        return agent_offer(self.engine, login, self.now())
