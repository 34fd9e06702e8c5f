"""The supervisor view: live queues, agents by state and time in state, callbacks (cancel), forced states."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from voicebot.acd.tx import AcdError
from voicebot.web.auth import User
from voicebot.web.context import WebContext
from voicebot.web.live import stream
from voicebot.web.pages import Context, CurrentUser, PostUser
from voicebot.web.views import supervisor_board

router = APIRouter(include_in_schema=False)


def require_supervisor(user: User) -> None:
    if not user.supervisor:
        raise HTTPException(403, "supervisors only")


def _board(context: WebContext, user: User) -> str:
    return context.templates.get_template("_supervisor_live.html").render(user=user, **supervisor_board(context))


@router.get("/supervisor")
def board(request: Request, context: Context, user: CurrentUser) -> Response:
    require_supervisor(user)
    return context.page(request, "supervisor.html", user, board=_board(context, user),
                        agents=[a.login for a in context.acd.agents.all()],
                        message=request.query_params.get("done", ""))


@router.get("/supervisor/live")
def live(request: Request, context: Context, user: CurrentUser) -> Response:
    require_supervisor(user)
    return stream(request, context, "board", lambda: _board(context, user))


@router.post("/supervisor/agents/state")
def force_state(context: Context, user: PostUser, login: Annotated[str, Form()], state: Annotated[str, Form()],
                reason: Annotated[str, Form()] = "") -> Response:
    require_supervisor(user)
    if state not in ("available", "break", "logged_out"):
        raise HTTPException(400, f"unknown state {state!r}")
    why = f"set by {user.login}" + (f": {reason.strip()[:80]}" if reason.strip() else "")
    try:
        context.acd.agents.set_state(login, state, context.now(), why)
    except (AcdError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/supervisor?done=agent+{login}+is+now+{state}", status_code=303)


@router.post("/supervisor/callbacks/{entry_id}/cancel")
def cancel_callback(context: Context, user: PostUser, entry_id: int) -> Response:
    require_supervisor(user)
    try:
        context.acd.callbacks.cancel(entry_id, context.now(), f"cancelled by supervisor {user.login}")
    except AcdError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/supervisor?done=callback+{entry_id}+cancelled", status_code=303)
