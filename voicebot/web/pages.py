"""Log in, log out, and the front door (agents to their console, supervisors to the supervisor view)."""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from voicebot.acd.tx import AcdError
from voicebot.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, NotLoggedIn, User, check_csrf
from voicebot.web.context import WebContext, ctx

router = APIRouter(include_in_schema=False)


def current_user(request: Request) -> User:
    user: User = request.app.state.web.sessions.user(request)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
Context = Annotated[WebContext, Depends(ctx)]


def checked_user(request: Request, user: CurrentUser,
                 csrf_token: Annotated[str | None, Form()] = None) -> User:
    """The session's user after the CSRF check of a POST (form field or X-CSRF-Token header)."""
    check_csrf(user, csrf_token or request.headers.get("X-CSRF-Token"))
    return user


PostUser = Annotated[User, Depends(checked_user)]


def _home(user: User) -> str:
    return "/supervisor" if user.supervisor else "/agent"


def _safe_next(value: str | None) -> str | None:
    # Only paths on this site: "//evil.example" or "https://..." would be an open redirect.
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return None


@router.get("/")
def root(request: Request, context: Context) -> Response:
    try:
        user = context.sessions.user(request)
    except NotLoggedIn:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(_home(user), status_code=303)


def _login_page(request: Request, context: WebContext, error: str = "", status_code: int = 200,
                login: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = context.page(request, "login.html", None, status_code=status_code, error=error, csrf=token,
                            login=login, expired=request.query_params.get("expired") == "1",
                            next=_safe_next(request.query_params.get("next")) or "")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, context: Context) -> Response:
    return _login_page(request, context)


@router.post("/login")
def login(request: Request, context: Context, login: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return _login_page(request, context, "The form expired; please try again.", 403, login)
    login = login.strip().lower()
    now = context.now()
    if not context.guard.limiter.allow(request.client.host if request.client else "?", now.timestamp()):
        return _login_page(request, context, "Too many sign-in attempts from here; wait a minute.", 429, login)
    locked = context.guard.locked_for(login, now)
    if locked > 0:
        return _login_page(request, context, f"Too many failed attempts: try again in {int(locked) + 1} s.", 429,
                           login)
    agent = context.guard.authenticate(login, password, now)
    if agent is None:
        locked = context.guard.locked_for(login, now)
        message = (f"Too many failed attempts: try again in {int(locked) + 1} s." if locked > 0
                   else "Wrong login or password.")
        return _login_page(request, context, message, 429 if locked > 0 else 401, login)
    if agent.state == "logged_out" and (agent.role or "agent") == "agent":
        try:  # presence starts "not ready": the agent says when they are available
            agent = context.acd.agents.login(login, now, "break", "getting ready")
        except (AcdError, ValueError) as exc:
            return _login_page(request, context, str(exc), 409, login)
    token = context.sessions.issue(agent)
    user = context.sessions.read(token)
    response = RedirectResponse(_safe_next(next) or _home(user), status_code=303)
    # A browser-session cookie: the signed time inside decides expiry (so the page can say "your session
    # ended" rather than find no cookie at all), and closing the browser ends it sooner.
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(context: Context, user: PostUser) -> Response:
    # Already logged out (lease lapsed) or on a call: the session ends all the same.
    with contextlib.suppress(AcdError, ValueError):
        context.acd.agents.logout(user.login, context.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
