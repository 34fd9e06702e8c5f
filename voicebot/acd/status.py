"""Read-only views of the queues for the CLI, the console and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from voicebot.acd.config import AcdSettings
from voicebot.acd.handoff import with_queue_figures
from voicebot.acd.policy import effective_priority, service_order
from voicebot.acd.store import OfferInfo
from voicebot.acd.views import agent_view, entry_view
from voicebot.storage.acd_models import Agent, Offer, QueueEntry
from voicebot.storage.db import as_utc, session_scope


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    strategy: str
    waiting: int
    callbacks_waiting: int
    offered: int
    longest_wait_seconds: float
    #: Agents with the queue's skills, by state.
    agents_available: int
    agents_busy: int
    agents_logged_in: int
    answered_today: int
    abandoned_today: int
    answered_within_sl_today: int


@dataclass(frozen=True)
class WaitingRow:
    position: int
    entry: QueueEntry
    effective_priority: int
    waited_seconds: float


def queue_status(engine: Engine, settings: AcdSettings, now: datetime) -> list[QueueStatus]:
    """Every configured queue, plus any queue that has entries without being configured."""
    day_start = as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(engine) as session:
        active = list(session.exec(select(QueueEntry).where(
            col(QueueEntry.status).in_(("waiting", "offered")))).all())
        today = list(session.exec(select(QueueEntry).where(col(QueueEntry.enqueued_at) >= day_start)).all())
        agents = list(session.exec(select(Agent)).all())
    names = list(settings.queues) + sorted({e.queue for e in active} - set(settings.queues))
    out = []
    for name in names:
        queue = settings.queue(name)
        mine = [e for e in active if e.queue == name]
        waits = [(now - as_utc(e.enqueued_at)).total_seconds() for e in mine]
        skilled = [a for a in agents if all(a.skills.get(s, 0) > 0 for s in queue.skills)
                   and agent_view(a).present(now.timestamp())]
        answered = [e for e in today if e.queue == name and e.answered_at is not None and e.kind == "live"]
        sl = timedelta(seconds=queue.service_level_seconds)
        out.append(QueueStatus(
            queue=name, strategy=queue.strategy,
            waiting=sum(1 for e in mine if e.status == "waiting" and e.kind == "live"),
            callbacks_waiting=sum(1 for e in mine if e.kind == "callback"),
            offered=sum(1 for e in mine if e.status == "offered"),
            longest_wait_seconds=max(waits, default=0.0),
            agents_available=sum(1 for a in skilled if a.state == "available"),
            agents_busy=sum(1 for a in skilled if a.state in ("reserved", "busy", "wrap_up")),
            agents_logged_in=len(skilled),
            answered_today=len(answered),
            abandoned_today=sum(1 for e in today if e.queue == name and e.status == "abandoned"),
            answered_within_sl_today=sum(
                1 for e in answered if e.answered_at and as_utc(e.answered_at) - as_utc(e.enqueued_at) <= sl),
        ))
    return out


@dataclass(frozen=True)
class AgentOffer:
    """The offer ringing for an agent now, with what the agent should see (the screen pop's data)."""

    offer: OfferInfo
    handoff: dict[str, Any]


def agent_offer(engine: Engine, login: str, now: datetime) -> AgentOffer | None:
    """The agent's pending offer, if any: what a console shows and answers with (offer id + token)."""
    with session_scope(engine) as session:
        agent = session.exec(select(Agent).where(Agent.login == login)).first()
        if agent is None or agent.id is None:
            return None
        offer = session.exec(select(Offer).where(Offer.agent_id == agent.id, Offer.status == "pending")
                             .order_by(col(Offer.id).desc())).first()
        entry = session.get(QueueEntry, offer.entry_id) if offer is not None else None
    if offer is None or entry is None or as_utc(offer.expires_at) <= now:
        return None
    info = OfferInfo(offer.id or 0, offer.token, entry.id or 0, entry.call_id, entry.queue, entry.kind, agent.id,
                     agent.login, agent.sip_uri, offer.expires_at)
    handoff = with_queue_figures(entry.handoff, as_utc(entry.enqueued_at), now, entry.offers) if entry.handoff else {}
    return AgentOffer(info, handoff)


def waiting_in(engine: Engine, settings: AcdSettings, queue: str, now: datetime) -> list[WaitingRow]:
    """The queue's active entries in the order they will be served (live and callbacks alike)."""
    with session_scope(engine) as session:
        entries = list(session.exec(select(QueueEntry).where(
            QueueEntry.queue == queue, col(QueueEntry.status).in_(("waiting", "offered")))).all())
    by_id = {e.id: e for e in entries}
    ordered = service_order(settings, [entry_view(e) for e in entries], now.timestamp())
    return [
        WaitingRow(i + 1, by_id[v.id], effective_priority(v, settings.queue(queue), now.timestamp()),
                   (now - as_utc(by_id[v.id].enqueued_at)).total_seconds())
        for i, v in enumerate(ordered)
    ]
