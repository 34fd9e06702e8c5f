"""The data of the supervisor's calls browser: searching the stored calls, and one call's timeline and
transcript, from what the runtime and the ACD store (call record, step log, queue entries, offers, callback
attempts, tickets). Secure input is already masked in the step log (the session stores ``***``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from voicebot.storage.acd_models import Agent, CallbackAttempt, Offer, QueueEntry
from voicebot.storage.call_models import CallEvent, CallRecord
from voicebot.storage.db import as_utc, session_scope
from voicebot.storage.web_models import Ticket

PAGE_SIZE = 25
#: "in progress" in the outcome filter: calls without an outcome yet.
IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class CallQuery:
    caller: str = ""
    since: datetime | None = None
    until: datetime | None = None
    outcome: str = ""
    queue: str = ""
    agent: str = ""
    page: int = 1


@dataclass(frozen=True)
class CallPage:
    calls: list[CallRecord]
    total: int
    page: int
    pages: int


def search_calls(engine: Engine, query: CallQuery) -> CallPage:
    """Calls matching every filter given, newest first, one page at a time. ``caller`` matches part of the
    caller id (digits typed without the +)."""
    conditions: list[Any] = []
    if query.caller.strip():
        escaped = query.caller.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(col(CallRecord.caller_id).like(f"%{escaped}%", escape="\\"))
    if query.since is not None:
        conditions.append(col(CallRecord.started_at) >= query.since)
    if query.until is not None:
        conditions.append(col(CallRecord.started_at) < query.until)
    if query.outcome == IN_PROGRESS:
        conditions.append(col(CallRecord.outcome).is_(None))
    elif query.outcome:
        conditions.append(CallRecord.outcome == query.outcome)
    if query.queue:
        conditions.append(CallRecord.queue == query.queue)
    if query.agent:
        conditions.append(CallRecord.agent == query.agent)
    with session_scope(engine) as session:
        total = session.exec(select(func.count()).select_from(CallRecord).where(*conditions)).one()
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, query.page), pages)
        rows = session.exec(select(CallRecord).where(*conditions)
                            .order_by(col(CallRecord.started_at).desc(), col(CallRecord.id))
                            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return CallPage(list(rows), int(total), page, pages)


def search_options(engine: Engine) -> dict[str, list[str]]:
    """The outcomes, queues and agents found in the stored calls (the search form's choices)."""
    with session_scope(engine) as session:
        def distinct(column: Any) -> list[str]:
            return sorted(str(v) for v in session.exec(select(column).distinct()).all() if v)
        return {"outcomes": [*distinct(CallRecord.outcome), IN_PROGRESS], "queues": distinct(CallRecord.queue),
                "agents": distinct(CallRecord.agent)}


@dataclass(frozen=True)
class Moment:
    at: datetime
    #: ivr | queue | agent | end
    kind: str
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Line:
    at: datetime
    #: ivr | caller
    who: str
    text: str
    detail: str = ""
    #: seconds into the call
    elapsed: float = 0.0


@dataclass
class CallDetail:
    record: CallRecord
    timeline: list[Moment] = field(default_factory=list)
    transcript: list[Line] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)


def call_record(engine: Engine, call_id: str) -> CallRecord | None:
    with session_scope(engine) as session:
        return session.get(CallRecord, call_id)


def call_detail(engine: Engine, call_id: str) -> CallDetail | None:
    with session_scope(engine) as session:
        record = session.get(CallRecord, call_id)
        if record is None:
            return None
        steps = session.exec(select(CallEvent).where(CallEvent.call_id == call_id)
                             .order_by(col(CallEvent.seq))).all()
        entries = session.exec(select(QueueEntry).where(QueueEntry.call_id == call_id)
                               .order_by(col(QueueEntry.id))).all()
        entry_ids = [e.id for e in entries if e.id is not None]
        offers = session.exec(select(Offer, Agent.login).join(Agent, col(Agent.id) == Offer.agent_id)
                              .where(col(Offer.entry_id).in_(entry_ids)).order_by(col(Offer.offered_at))).all()
        attempts = session.exec(select(CallbackAttempt).where(col(CallbackAttempt.entry_id).in_(entry_ids))
                                .order_by(col(CallbackAttempt.started_at))).all()
        logins = {a.id: a.login for a in session.exec(select(Agent)).all()}
        tickets = session.exec(select(Ticket).where(Ticket.call_id == call_id).order_by(col(Ticket.id))).all()
    detail = CallDetail(record, tickets=list(tickets))
    start = as_utc(record.started_at)
    _ivr(detail, start, list(steps))
    for entry in entries:
        _queue(detail, entry)
    for offer, login in offers:
        decided = f"{offer.status} at {as_utc(offer.decided_at):%H:%M:%S}" if offer.decided_at else offer.status
        detail.timeline.append(Moment(as_utc(offer.offered_at), "queue", f"offered to {login}", decided))
        if offer.status == "accepted" and offer.decided_at is not None:  # each answer (a transfer clears the entry's)
            entry = next(e for e in entries if e.id == offer.entry_id)
            wait = (as_utc(offer.decided_at) - as_utc(entry.enqueued_at)).total_seconds()
            detail.timeline.append(Moment(as_utc(offer.decided_at), "agent", f"answered by {login}",
                                          f"{wait:.0f} s after joining the queue"))
    for attempt in attempts:
        agent = logins.get(attempt.agent_id, "") if attempt.agent_id else ""
        facts = (attempt.number, agent, attempt.outcome, attempt.detail)
        detail.timeline.append(Moment(as_utc(attempt.started_at), "agent", f"callback attempt {attempt.attempt}",
                                      " · ".join(x for x in facts if x)))
    for ticket in tickets:
        detail.timeline.append(Moment(as_utc(ticket.created_at), "agent", f"ticket #{ticket.id} by {ticket.agent}",
                                      " · ".join(x for x in (ticket.status, ticket.disposition) if x)))
    if record.ended_at is not None:
        detail.timeline.append(Moment(as_utc(record.ended_at), "end", "call ended",
                                      (record.outcome or "").replace("_", " ")))
    detail.timeline.sort(key=lambda m: m.at)  # stable: same-time moments keep the order they were added in
    return detail


def _ivr(detail: CallDetail, start: datetime, steps: list[CallEvent]) -> None:
    """The IVR path (each node when it first acted, on the call's own clock) and the transcript."""
    if not steps:
        return
    origin = steps[0].at
    last_node = ""
    for step in steps:
        elapsed = step.at - origin
        at = start + timedelta(seconds=elapsed)
        event = step.event
        kind = event.get("type")
        if kind == "Utterance":
            confidence = event.get("confidence")
            detail.transcript.append(Line(at, "caller", str(event.get("text", "")),
                                          f"{float(confidence):.2f}" if confidence is not None else "", elapsed))
        elif kind == "Dtmf":
            detail.transcript.append(Line(at, "caller", f"keys {event.get('keys', '')}", "", elapsed))
        elif kind == "NoInput":
            detail.transcript.append(Line(at, "caller", "(no input)", "", elapsed))
        elif kind == "HangUp":
            detail.transcript.append(Line(at, "caller", "(hung up)", "", elapsed))
        for action in step.actions:
            node = str(action.get("node") or "")
            if node and node != last_node:
                detail.timeline.append(Moment(at, "ivr", node, str(action.get("type", ""))))
                last_node = node
            if action.get("type") == "Say" and action.get("text"):
                detail.transcript.append(Line(at, "ivr", str(action["text"]), "", elapsed))
            elif action.get("type") == "Handoff":
                detail.timeline.append(Moment(at, "queue", "handed off", node))


def _queue(detail: CallDetail, entry: QueueEntry) -> None:
    # The queue it entered first: overflows list it in ``visited``, transfers in the handoff's notes.
    transfers = (entry.handoff or {}).get("transfers") or []
    first = entry.visited[0] if entry.visited else str(transfers[0].get("from_queue")) if transfers else entry.queue
    detail.timeline.append(Moment(as_utc(entry.enqueued_at), "queue", f"queued in {first}",
                                  f"{entry.kind}, priority {entry.priority}"))
    for note in transfers:
        when = datetime.fromisoformat(str(note.get("at")))
        detail.timeline.append(Moment(as_utc(when), "queue", f"transferred to {note.get('to_queue')}",
                                      f"by {note.get('agent')}: {note.get('note') or ''}".rstrip(": ")))
    if entry.ended_at is not None:
        detail.timeline.append(Moment(as_utc(entry.ended_at), "queue", f"left {entry.queue}",
                                      " · ".join(x for x in (entry.status.replace("_", " "), entry.end_reason) if x)))
