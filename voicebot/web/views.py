"""The data behind the pages and the JSON API (one function per view, so both show the same thing)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from voicebot.acd.tx import AcdError
from voicebot.storage.acd_models import Agent, QueueEntry
from voicebot.storage.db import as_utc, session_scope
from voicebot.web.context import WebContext
from voicebot.web.tickets import customer_history


def agent_row(context: WebContext, login: str) -> Agent:
    return context.acd.agents.get(login)


def seconds_since(value: datetime | None, now: datetime) -> float | None:
    return None if value is None else (now - as_utc(value)).total_seconds()


def agent_console(context: WebContext, login: str) -> dict[str, Any]:
    """The agent's state, the offer ringing (with its screen pop) and the call in hand."""
    now = context.now()
    agent = agent_row(context, login)
    offer = context.acd.offer_for(login)
    current = None
    if agent.current_entry_id is not None and agent.state in ("busy", "wrap_up"):
        with session_scope(context.engine) as session:
            current = session.get(QueueEntry, agent.current_entry_id)
    if current is None and agent.state == "wrap_up":
        current = last_entry_of(context, agent)
    wrap_left = (as_utc(agent.wrap_until) - now).total_seconds() if agent.wrap_until and agent.state == "wrap_up" \
        else None
    history = None
    if offer is not None:
        customer = offer.handoff.get("customer") or {}
        history = customer_history(context.engine, customer.get("id"), str(offer.handoff.get("caller_id") or ""),
                                   exclude_call=offer.offer.call_id, limit=4)
    return {
        "agent": agent, "now": now, "history": history, "in_state": seconds_since(agent.state_since, now),
        "lease_left": seconds_since(agent.lease_expires_at, now),
        "offer": offer, "offer_left": (as_utc(offer.offer.expires_at) - now).total_seconds() if offer else None,
        "current": current, "wrap_left": None if wrap_left is None else max(0.0, wrap_left),
    }


def last_entry_of(context: WebContext, agent: Agent) -> QueueEntry | None:
    with session_scope(context.engine) as session:
        return session.exec(select(QueueEntry).where(QueueEntry.agent_id == agent.id)
                            .order_by(col(QueueEntry.id).desc())).first()


def entry_for_agent(context: WebContext, login: str, entry_id: int) -> QueueEntry:
    """The entry if this agent answered it (or is talking to it); AcdError otherwise (the caller maps to 403)."""
    agent = agent_row(context, login)
    with session_scope(context.engine) as session:
        entry = session.get(QueueEntry, entry_id)
    transferred_by = {t.get("agent") for t in (entry.handoff or {}).get("transfers") or []} if entry else set()
    if entry is None or not ((entry.agent_id == agent.id and entry.answered_at is not None)
                             or agent.login in transferred_by):
        raise AcdError(f"call {entry_id} is not yours")
    return entry


def supervisor_board(context: WebContext) -> dict[str, Any]:
    now = context.now()
    queues = []
    for status in context.acd.status():
        queue = context.acd.settings.queue(status.queue)
        offered_today, abandoned = _offered_today(context, status.queue, now)
        row = asdict(status)
        # Service level over today's calls whose fate is known (answered, or abandoned after the short-abandon
        # threshold); callers still waiting are not counted yet either way.
        decided = status.answered_today + status.abandoned_today - abandoned
        row.update(offered_today=offered_today, service_level=(
            status.answered_within_sl_today / decided if decided > 0 else None),
            service_level_seconds=queue.service_level_seconds, short_abandoned_today=abandoned)
        queues.append(row)
    agents: list[dict[str, Any]] = [{"login": a.login, "name": a.name, "role": a.role or "agent", "state": a.state,
               "reason": a.state_reason, "in_state": seconds_since(a.state_since, now),
               "calls": a.calls_handled, "skills": dict(a.skills),
               "lease_left": None if a.lease_expires_at is None else (as_utc(a.lease_expires_at) - now).total_seconds()}
              for a in context.acd.agents.all()]
    callbacks = [{"entry": e.id, "queue": e.queue, "number": e.callback_number, "status": e.status,
                  "attempts": e.callback_attempts, "enqueued_at": e.enqueued_at, "not_before": e.not_before,
                  "expires_at": e.expires_at} for e in context.acd.callbacks.pending()]
    waiting = []
    for name in [q["queue"] for q in queues]:
        for line in context.acd.waiting(name):
            handoff = line.entry.handoff or {}
            waiting.append({"queue": name, "position": line.position, "entry": line.entry.id,
                            "caller_id": line.entry.caller_id, "kind": line.entry.kind, "status": line.entry.status,
                            "customer": (handoff.get("customer") or {}).get("name", ""),
                            "intent": (handoff.get("intent") or {}).get("name", ""), "vip": line.entry.vip,
                            "waited": line.waited_seconds, "priority": line.effective_priority})
    by_state: dict[str, int] = {}
    for agent in agents:
        state = str(agent["state"])
        by_state[state] = by_state.get(state, 0) + 1
    return {"now": now, "queues": queues, "agents": agents, "callbacks": callbacks, "waiting": waiting,
            "by_state": by_state}


def _offered_today(context: WebContext, queue: str, now: datetime) -> tuple[int, int]:
    """Calls offered to the queue today (entries that arrived, live ones) and short abandons among them."""
    day_start = as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    short = context.acd.settings.queue(queue).short_abandon_seconds
    with session_scope(context.engine) as session:
        entries = list(session.exec(select(QueueEntry).where(
            QueueEntry.queue == queue, col(QueueEntry.enqueued_at) >= day_start)).all())
    offered = sum(1 for e in entries if e.kind == "live" or e.callback_requested_at is not None)
    short_abandons = sum(1 for e in entries if e.status == "abandoned" and e.ended_at is not None
                         and (as_utc(e.ended_at) - as_utc(e.enqueued_at)).total_seconds() < short)
    return offered, short_abandons
