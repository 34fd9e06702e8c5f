"""Reading a period's rows and building the report (the JSON form: snake_case keys named after the
definitions of docs/reports.md).

A call belongs to the period it *started* in (``since <= started_at < until``): its IVR steps, its queue
visit and its callback are all counted there. Agent time is cut to the period itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.acd.config import AcdSettings
from voicebot.reports import definitions as d
from voicebot.reports.settings import ReportSettings
from voicebot.storage.acd_models import Agent, AgentTransition, QueueEntry
from voicebot.storage.call_models import CallEvent, CallRecord
from voicebot.storage.db import as_utc, session_scope

#: Call ids per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def calls_in(session: Session, since: datetime, until: datetime) -> list[CallRecord]:
    query = select(CallRecord).where(col(CallRecord.started_at) >= since, col(CallRecord.started_at) < until)
    return list(session.exec(query.order_by(col(CallRecord.started_at), col(CallRecord.id))).all())


def entries_of(session: Session, call_ids: list[str]) -> dict[str, QueueEntry]:
    """Each call's queue entry (the latest, should a call have been queued twice)."""
    out: dict[str, QueueEntry] = {}
    for chunk in _chunks(call_ids):
        query = select(QueueEntry).where(col(QueueEntry.call_id).in_(chunk)).order_by(col(QueueEntry.id))
        out.update({e.call_id: e for e in session.exec(query).all()})
    return out


def steps_of(session: Session, call_ids: list[str]) -> dict[str, list[d.Step]]:
    out: dict[str, list[d.Step]] = defaultdict(list)
    for chunk in _chunks(call_ids):
        # Columns, not ORM objects: a busy day has hundreds of thousands of steps.
        query = (select(CallEvent.call_id, CallEvent.event, CallEvent.actions)
                 .where(col(CallEvent.call_id).in_(chunk)).order_by(col(CallEvent.call_id), col(CallEvent.seq)))
        for call_id, event, actions in session.exec(query).all():
            out[call_id].append((dict(event), list(actions)))
    return dict(out)


def transitions_in(session: Session, since: datetime, until: datetime) -> dict[str, list[AgentTransition]]:
    """Each agent's transitions in the period, preceded by their last one before it (the state it starts in)."""
    out: dict[str, list[AgentTransition]] = {}
    for agent in session.exec(select(Agent).order_by(col(Agent.login))).all():
        before = session.exec(select(AgentTransition).where(
            AgentTransition.agent_id == agent.id, col(AgentTransition.at) < since)
            .order_by(col(AgentTransition.at).desc(), col(AgentTransition.id).desc())).first()
        during = session.exec(select(AgentTransition).where(
            AgentTransition.agent_id == agent.id, col(AgentTransition.at) >= since, col(AgentTransition.at) < until)
            .order_by(col(AgentTransition.at), col(AgentTransition.id))).all()
        rows = ([before] if before is not None else []) + list(during)
        if rows:
            out[agent.login] = rows
    return out


def build_report(engine: Engine, acd: AcdSettings, settings: ReportSettings, since: datetime, until: datetime,
                 queue: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The report of [since, until) as JSON-ready data. ``queue`` limits the queue figures (service level,
    ASA, abandonment, AHT, callbacks, staffing) to calls that entered that queue; the IVR figures
    (containment, funnel) and occupancy cover the whole site. Agent time ends at ``now`` if earlier."""
    since, until = as_utc(since), as_utc(until)
    if until <= since:
        raise ValueError("--until must be after --since")
    with session_scope(engine) as session:
        calls = calls_in(session, since, until)
        ids = [c.id for c in calls]
        entries = entries_of(session, ids)
        steps = steps_of(session, ids)
        transitions = transitions_in(session, since, until)
    queued = d.classify(calls, entries, acd)
    if queue is not None:
        queued = [q for q in queued if q.queue == queue]
    chosen = {q.call_id for q in queued}
    whole, agents = d.occupancy(transitions, since, min(until, as_utc(now)) if now is not None else until)
    figures = d.queue_figures(queued)
    outcomes: dict[str, int] = defaultdict(int)
    for call in calls:
        outcomes[call.outcome or "in_progress"] += 1
    per_queue = defaultdict(list)
    for q in queued:
        per_queue[q.queue].append(q)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "queue": queue,
        "calls": len(calls),
        "outcomes": dict(sorted(outcomes.items())),
        "containment": asdict(d.containment(calls)),
        **_figures(figures),
        "queues": {name: _figures(d.queue_figures(rows)) for name, rows in sorted(per_queue.items())},
        "occupancy": {**asdict(whole), "agents": {login: asdict(a) for login, a in agents.items()}},
        "ivr_funnel": [_node(n) for n in d.funnel(steps)],
        "callbacks": asdict(d.callbacks(e for e in entries.values() if e.call_id in chosen)),
        "hourly": [{**asdict(h), "hour": h.hour.isoformat()} for h in d.hourly(calls, queued)],
        "staffing": [{**asdict(h), "hour": h.hour.isoformat()}
                     for h in d.staffing(queued, settings.service_level_target)],
    }


def _figures(f: d.QueueFigures) -> dict[str, Any]:
    return {"service_level": asdict(f.service_level), "asa": f.asa, "abandonment": asdict(f.abandonment),
            "aht": asdict(f.aht)}


def _node(n: d.NodeFunnel) -> dict[str, Any]:
    return {"node": n.node, "reached": n.reached, "hung_up": n.hung_up, "handed_off": n.handed_off,
            "turns": n.turns, "no_match": n.no_match, "no_input": n.no_input, "no_match_rate": n.no_match_rate,
            "no_input_rate": n.no_input_rate, "mean_confidence": n.mean_confidence}
