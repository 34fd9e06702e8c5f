"""The JSON API: the console's and supervisor's data for scripts and CRMs (OpenAPI at /docs).

Authenticated by the session cookie (POSTs then need the ``X-CSRF-Token`` header) or by
``Authorization: Bearer <token>`` from ``POST /api/token`` (same expiry and lock-out as the login form).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from voicebot.acd.handoff import handoff_json_schema
from voicebot.acd.hold import hold, resume
from voicebot.acd.tx import AcdError, StaleOffer
from voicebot.storage.web_models import ticket_json
from voicebot.web.agent import PICK_UP, phones_ring
from voicebot.web.auth import check_csrf
from voicebot.web.pages import Context, CurrentUser
from voicebot.web.supervisor import require_supervisor
from voicebot.web.tickets import TicketError, customer_history, parse_tags, save_ticket
from voicebot.web.views import agent_console, entry_for_agent, supervisor_board

router = APIRouter(prefix="/api", tags=["api"])
CsrfHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]


class Credentials(BaseModel):
    login: str
    password: str


class StateChange(BaseModel):
    state: str
    reason: str = ""


class OfferAnswer(BaseModel):
    token: int


class HoldIn(BaseModel):
    on: bool


class TicketIn(BaseModel):
    notes: str = ""
    tags: list[str] = []
    disposition: str = ""
    close: bool = False


@router.post("/token")
def token(request: Request, context: Context, credentials: Credentials) -> dict[str, Any]:
    """A bearer token for API clients (expires like a session)."""
    login = credentials.login.strip().lower()
    now = context.now()
    if not context.guard.limiter.allow(request.client.host if request.client else "?", now.timestamp()):
        raise HTTPException(429, "too many sign-in attempts from here; wait a minute")
    if context.guard.locked_for(login, now) > 0:
        raise HTTPException(429, "too many failed attempts; try later")
    agent = context.guard.authenticate(login, credentials.password, now)
    if agent is None:
        raise HTTPException(429 if context.guard.locked_for(login, now) > 0 else 401, "wrong login or password")
    return {"token": context.sessions.issue(agent), "token_type": "bearer",
            "expires_in": int(context.settings.session_seconds)}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return {"login": user.login, "name": user.name, "role": user.role}


@router.get("/agent")
def agent_state(context: Context, user: CurrentUser) -> dict[str, Any]:
    """The agent's state and the offer ringing for them, with its handoff payload."""
    data = agent_console(context, user.login)
    agent, offer = data["agent"], data["offer"]
    return {
        "login": agent.login, "state": agent.state, "reason": agent.state_reason,
        "since": agent.state_since.isoformat(), "in_state_seconds": data["in_state"],
        "wrap_up_seconds_left": data["wrap_left"],
        "current_entry": data["current"].id if data["current"] is not None else None,
        "offer": None if offer is None else {
            "offer_id": offer.offer.offer_id, "token": offer.offer.token, "entry_id": offer.offer.entry_id,
            "queue": offer.offer.queue, "expires_at": offer.offer.expires_at.isoformat(), "handoff": offer.handoff},
    }


@router.post("/agent/state")
def set_state(context: Context, user: CurrentUser, change: StateChange, csrf: CsrfHeader = None) -> dict[str, Any]:
    check_csrf(user, csrf)
    if change.state not in ("available", "break", "logged_out"):
        raise HTTPException(400, f"unknown state {change.state!r}")
    try:
        agent = context.acd.agents.set_state(user.login, change.state, context.now(), change.reason[:80])
    except (AcdError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return {"state": agent.state, "reason": agent.state_reason}


@router.post("/agent/heartbeat")
def heartbeat(context: Context, user: CurrentUser, csrf: CsrfHeader = None) -> dict[str, Any]:
    check_csrf(user, csrf)
    try:
        agent = context.acd.agents.heartbeat(user.login, context.now())
    except AcdError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"state": agent.state, "lease_expires_at": agent.lease_expires_at.isoformat()
            if agent.lease_expires_at else None}


@router.post("/offers/{offer_id}/{answer}")
def answer_offer(context: Context, user: CurrentUser, offer_id: int, answer: str, body: OfferAnswer,
                 csrf: CsrfHeader = None) -> dict[str, Any]:
    """``answer`` is ``accept`` or ``decline``; the token is the offer's fencing token."""
    check_csrf(user, csrf)
    offer = context.acd.offer_for(user.login)
    if offer is None or offer.offer.offer_id != offer_id:
        raise HTTPException(403, "this offer is not ringing for you")
    try:
        if answer == "accept":
            if phones_ring(context):
                raise HTTPException(409, PICK_UP)
            accepted = context.acd.accept(offer_id, body.token)
            return {"accepted": True, "entry_id": accepted.entry_id, "call_id": accepted.call_id}
        if answer == "decline":
            context.acd.decline(offer_id, body.token, "declined by API")
            return {"declined": True}
    except StaleOffer as exc:
        raise HTTPException(409, str(exc)) from None
    raise HTTPException(404, "answer must be accept or decline")


@router.get("/calls/{entry_id}")
def call(context: Context, user: CurrentUser, entry_id: int) -> dict[str, Any]:
    """A call this agent answered: its handoff payload and tickets (403 for anyone else's)."""
    try:
        entry = entry_for_agent(context, user.login, entry_id)
    except AcdError as exc:
        raise HTTPException(403, str(exc)) from None
    from voicebot.web.tickets import tickets_for_entry

    return {"entry_id": entry.id, "call_id": entry.call_id, "queue": entry.queue, "status": entry.status,
            "handoff": entry.handoff, "tickets": [ticket_json(t) for t in tickets_for_entry(context.engine, entry_id)]}


@router.post("/calls/{entry_id}/ticket")
def ticket(context: Context, user: CurrentUser, entry_id: int, body: TicketIn,
           csrf: CsrfHeader = None) -> dict[str, Any]:
    check_csrf(user, csrf)
    try:
        entry = entry_for_agent(context, user.login, entry_id)
    except AcdError as exc:
        raise HTTPException(403, str(exc)) from None
    if body.disposition and body.disposition not in context.settings.dispositions:
        raise HTTPException(400, f"unknown disposition {body.disposition!r}")
    try:
        saved = save_ticket(context.engine, entry, user.login, body.notes, parse_tags(",".join(body.tags)),
                            body.disposition, context.now(), body.close)
    except TicketError as exc:
        raise HTTPException(400, str(exc)) from None
    if body.close:
        context.hooks.ticket_closed(saved)
    return ticket_json(saved)


@router.post("/calls/{entry_id}/hold")
def hold_call(context: Context, user: CurrentUser, entry_id: int, body: HoldIn,
              csrf: CsrfHeader = None) -> dict[str, Any]:
    """Put this agent's caller on hold (``on: true``: hold audio to the caller, silence to the agent) or resume."""
    check_csrf(user, csrf)
    try:
        entry_for_agent(context, user.login, entry_id)
    except AcdError as exc:
        raise HTTPException(403, str(exc)) from None
    try:
        entry = (hold if body.on else resume)(context.acd, entry_id, user.login)
    except AcdError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"entry_id": entry.id, "on_hold": entry.hold_started_at is not None, "hold_ms": entry.hold_ms or 0}


@router.get("/customers/{customer_id}/history")
def history(context: Context, user: CurrentUser, customer_id: int) -> dict[str, Any]:
    found = customer_history(context.engine, customer_id, "")
    return {"calls": [{"id": c.id, "started_at": c.started_at.isoformat(), "outcome": c.outcome, "queue": c.queue,
                       "agent": c.agent, "intents": c.intents} for c in found.calls],
            "tickets": [ticket_json(t) for t in found.tickets],
            "transactions": [{**t, "posted_at": t["posted_at"].isoformat()} for t in found.transactions]}


@router.get("/supervisor")
def board(context: Context, user: CurrentUser) -> dict[str, Any]:
    """Queues, agents, waiting callers and callbacks (supervisors only)."""
    require_supervisor(user)
    data = supervisor_board(context)
    data["now"] = data["now"].isoformat()
    for row in data["callbacks"]:
        for key in ("enqueued_at", "not_before", "expires_at"):
            row[key] = row[key].isoformat() if row[key] else None
    return data


@router.get("/schemas/handoff.json")
def handoff_schema() -> dict[str, Any]:
    """The JSON Schema of the handoff payload (version 1), as committed in docs/handoff.schema.json."""
    return handoff_json_schema()
