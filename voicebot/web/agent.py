"""The agent console: state, heartbeat, the offer's screen pop, accept/decline, the call page with its
ticket (notes, tags, disposition), transfer to another queue, and the wrap-up timer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from voicebot.acd.handoff import with_queue_figures
from voicebot.acd.hold import hold, resume
from voicebot.acd.tx import AcdError, StaleOffer
from voicebot.storage.db import as_utc
from voicebot.web.auth import User
from voicebot.web.context import WebContext
from voicebot.web.live import stream
from voicebot.web.pages import Context, CurrentUser, PostUser
from voicebot.web.tickets import TicketError, customer_history, parse_tags, save_ticket, tickets_for_entry
from voicebot.web.transfer import transfer
from voicebot.web.views import agent_console, entry_for_agent

router = APIRouter(include_in_schema=False)


def _panel(context: WebContext, user: User, on_call_page: int | None = None) -> str:
    """The live part of the console; ``on_call_page``: the call page of that entry shows it already."""
    data = agent_console(context, user.login)
    return context.templates.get_template("_agent_live.html").render(
        user=user, on_call_page=on_call_page, phones_ring=phones_ring(context), **data)


#: Why Accept is refused while the agent's phone rings (the live ACD): accepting here would not answer it.
PICK_UP = "pick up your phone to take this call: answering it accepts the call"


def phones_ring(context: WebContext) -> bool:
    """With the live ACD every offer rings the agent's SIP phone, and answering that phone is what accepts it:
    an Accept from the page would mark the call answered while the phone is still ringing, the dispatcher
    would then stop the phone and the caller would wait on hold for an agent who is shown as talking to them."""
    return context.acd.settings.live.enabled


@router.get("/agent")
def console(request: Request, context: Context, user: CurrentUser) -> Response:
    return context.page(request, "agent.html", user, panel=_panel(context, user),
                        queues=sorted(context.acd.settings.queues))


@router.get("/agent/panel")
def panel(context: Context, user: CurrentUser) -> Response:
    return Response(_panel(context, user), media_type="text/html")


@router.get("/agent/live")
def live(request: Request, context: Context, user: CurrentUser, on: int | None = None) -> Response:
    return stream(request, context, "console", lambda: _panel(context, user, on))


@router.post("/agent/state")
def set_state(context: Context, user: PostUser, state: Annotated[str, Form()],
              reason: Annotated[str, Form()] = "") -> Response:
    if state not in ("available", "break", "logged_out"):
        raise HTTPException(400, f"unknown state {state!r}")
    try:
        context.acd.agents.set_state(user.login, state, context.now(), reason.strip()[:80] or (
            "break" if state == "break" else ""))
    except (AcdError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse("/agent", status_code=303)


@router.post("/agent/heartbeat")
def heartbeat(context: Context, user: PostUser) -> Response:
    try:
        context.acd.agents.heartbeat(user.login, context.now())
    except AcdError as exc:  # logged out by a lapse: the console shows it and offers to log in again
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


def _own_offer(context: WebContext, user: User, offer_id: int) -> Any:
    offer = context.acd.offer_for(user.login)
    if offer is None or offer.offer.offer_id != offer_id:
        # Another agent's offer, or one that is over: never act on it.
        raise HTTPException(403, "this offer is not ringing for you")
    return offer


@router.post("/agent/offers/{offer_id}/accept")
def accept(context: Context, user: PostUser, offer_id: int, token: Annotated[int, Form()]) -> Response:
    _own_offer(context, user, offer_id)
    if phones_ring(context):
        raise HTTPException(409, PICK_UP)
    try:
        accepted = context.acd.accept(offer_id, token)
    except StaleOffer as exc:
        raise HTTPException(409, f"the offer is no longer valid: {exc}") from None
    return RedirectResponse(f"/agent/calls/{accepted.entry_id}", status_code=303)


@router.post("/agent/offers/{offer_id}/decline")
def decline(context: Context, user: PostUser, offer_id: int, token: Annotated[int, Form()]) -> Response:
    _own_offer(context, user, offer_id)
    try:
        context.acd.decline(offer_id, token, "declined at the console")
    except StaleOffer as exc:
        raise HTTPException(409, f"the offer is no longer valid: {exc}") from None
    return RedirectResponse("/agent", status_code=303)


def own_entry(context: WebContext, user: User, entry_id: int) -> Any:
    try:
        return entry_for_agent(context, user.login, entry_id)
    except AcdError as exc:
        raise HTTPException(403, str(exc)) from None


def _call_page(request: Request, context: WebContext, user: User, entry_id: int, *, message: str = "",
               error: str = "", status_code: int = 200) -> Response:
    entry = own_entry(context, user, entry_id)
    # The wait the caller had: from their place in line to the answer.
    handoff = with_queue_figures(entry.handoff, as_utc(entry.enqueued_at), as_utc(entry.answered_at or context.now()),
                                 entry.offers) if entry.handoff else {}
    history = customer_history(context.engine, entry.customer_id, entry.caller_id, exclude_call=entry.call_id)
    tickets = tickets_for_entry(context.engine, entry_id)
    mine = next((t for t in reversed(tickets) if t.agent == user.login), None)
    return context.page(request, "call.html", user, entry=entry, handoff=handoff, history=history,
                        ticket=mine, tickets=tickets, message=message, error=error, status_code=status_code,
                        panel=_panel(context, user, entry_id), queues=sorted(q for q in context.acd.settings.queues
                                                                   if q != entry.queue))


@router.get("/agent/calls/{entry_id}")
def call_page(request: Request, context: Context, user: CurrentUser, entry_id: int) -> Response:
    saved = request.query_params.get("saved")
    return _call_page(request, context, user, entry_id, message={
        "1": "Ticket saved.", "closed": "Ticket closed and sent to the CRM.",
        "transferred": "Caller transferred; your note travels with the call."}.get(saved or "", ""))


@router.post("/agent/calls/{entry_id}/ticket")
def ticket(request: Request, context: Context, user: PostUser, entry_id: int,
           notes: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
           disposition: Annotated[str, Form()] = "", action: Annotated[str, Form()] = "save") -> Response:
    entry = own_entry(context, user, entry_id)
    if disposition and disposition not in context.settings.dispositions:
        raise HTTPException(400, f"unknown disposition {disposition!r}")
    close = action == "close"
    try:
        saved = save_ticket(context.engine, entry, user.login, notes, parse_tags(tags), disposition, context.now(),
                            close)
    except TicketError as exc:
        return _call_page(request, context, user, entry_id, error=str(exc), status_code=400)
    if close:
        context.hooks.ticket_closed(saved)
    return RedirectResponse(f"/agent/calls/{entry_id}?saved={'closed' if close else '1'}", status_code=303)


@router.post("/agent/calls/{entry_id}/transfer")
def transfer_call(request: Request, context: Context, user: PostUser, entry_id: int,
                  queue: Annotated[str, Form()], note: Annotated[str, Form()] = "") -> Response:
    own_entry(context, user, entry_id)
    if queue not in context.acd.settings.queues:
        raise HTTPException(400, f"unknown queue {queue!r}")
    try:
        transfer(context.acd, entry_id, queue, user.login, note.strip()[:2000])
    except AcdError as exc:
        return _call_page(request, context, user, entry_id, error=str(exc), status_code=409)
    return RedirectResponse(f"/agent/calls/{entry_id}?saved=transferred", status_code=303)


@router.post("/agent/calls/{entry_id}/hold")
def hold_call(request: Request, context: Context, user: PostUser, entry_id: int,
              on: Annotated[str, Form()] = "1") -> Response:
    """Hold (``on=1``) or resume (``on=0``): htmx swaps the hold controls; a plain form goes back to the call."""
    own_entry(context, user, entry_id)
    error = ""
    try:
        entry = (hold if on == "1" else resume)(context.acd, entry_id, user.login)
    except AcdError as exc:
        entry, error = own_entry(context, user, entry_id), str(exc)
    if request.headers.get("HX-Request"):
        return context.page(request, "_hold.html", user, entry=entry, hold_error=error,
                            status_code=409 if error else 200)
    return RedirectResponse(f"/agent/calls/{entry_id}", status_code=303)
