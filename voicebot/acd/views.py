"""Rows as the pure policy sees them: queue entries and agents turned into its frozen views."""

from __future__ import annotations

from typing import Any

from sqlmodel import col

from voicebot.acd.policy import AgentView, EntryView
from voicebot.acd.tx import epoch
from voicebot.storage.acd_models import Agent, QueueEntry


def entry_view(entry: QueueEntry) -> EntryView:
    return EntryView(
        id=entry.id or 0, queue=entry.queue, enqueued_at=epoch(entry.enqueued_at) or 0.0,
        priority=entry.priority, queued_at=epoch(entry.queued_at), skills=tuple(entry.skills), vip=entry.vip,
        sticky_agent=entry.sticky_agent_id, kind="callback" if entry.kind == "callback" else "live",
        not_before=epoch(entry.not_before), visited=tuple(entry.visited), callback_offered=entry.callback_offered,
    )


VIEW_COLUMNS = tuple(col(c) for c in (
    QueueEntry.id, QueueEntry.queue, QueueEntry.enqueued_at, QueueEntry.priority, QueueEntry.queued_at,
    QueueEntry.skills, QueueEntry.vip, QueueEntry.sticky_agent_id, QueueEntry.kind, QueueEntry.not_before,
    QueueEntry.visited, QueueEntry.callback_offered,
))


def row_view(row: Any) -> EntryView:
    return EntryView(
        id=row.id, queue=row.queue, enqueued_at=epoch(row.enqueued_at) or 0.0, priority=row.priority,
        queued_at=epoch(row.queued_at), skills=tuple(row.skills), vip=row.vip, sticky_agent=row.sticky_agent_id,
        kind="callback" if row.kind == "callback" else "live", not_before=epoch(row.not_before),
        visited=tuple(row.visited), callback_offered=row.callback_offered,
    )


def agent_view(agent: Agent) -> AgentView:
    return AgentView(
        id=agent.id or 0, login=agent.login, state=agent.state,
        lease_expires_at=epoch(agent.lease_expires_at) or 0.0, skills=dict(agent.skills),
        idle_since=epoch(agent.available_since) or 0.0, calls=agent.calls_handled,
        talk_seconds=agent.talk_ms / 1000,
    )
