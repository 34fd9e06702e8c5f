"""Who is asking: signed, expiring sessions; CSRF tokens; login throttling with lock-out.

* A session is a cookie signed with the site's secret (itsdangerous): login, role, a CSRF token, issued
  time. It expires ``web.session_seconds`` after login (the signature carries the time, so a copied old
  cookie is refused too). The same token is accepted as ``Authorization: Bearer`` for API clients.
* CSRF: every POST from a cookie session must carry the session's token (form field ``csrf_token`` or header
  ``X-CSRF-Token``); the login form uses a double-submit cookie because there is no session yet. Bearer
  requests need none: a browser never attaches them on its own.
* Lock-out: ``max_login_failures`` wrong passwords in a row lock the login for ``lockout_seconds`` (counted
  per login name in the database, so every web process and a restart agree; unknown names are counted
  too, so the answer never tells which logins exist).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.acd.passwords import verify_password
from voicebot.storage.acd_models import Agent
from voicebot.storage.db import as_utc, session_scope
from voicebot.storage.web_models import LoginThrottle
from voicebot.web.settings import WebSettings

SESSION_COOKIE = "voicebot_session"
LOGIN_CSRF_COOKIE = "voicebot_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class User:
    login: str
    name: str
    role: str
    csrf: str
    #: How the request was authenticated: "cookie" (needs CSRF on POST) or "bearer".
    via: str = "cookie"

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"


class NotLoggedIn(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


class Sessions:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._serializer = URLSafeTimedSerializer(settings.signing_key(), salt="voicebot-web-session")

    def issue(self, agent: Agent) -> str:
        return self._serializer.dumps({"login": agent.login, "name": agent.name, "role": agent.role or "agent",
                                       "csrf": secrets.token_urlsafe(24)})

    def read(self, token: str, via: str = "cookie") -> User:
        try:
            data = self._serializer.loads(token, max_age=int(self.settings.session_seconds))
        except SignatureExpired:
            raise NotLoggedIn("your session expired; log in again") from None
        except BadSignature:
            raise NotLoggedIn("not logged in") from None
        return User(str(data["login"]), str(data.get("name", "")), str(data.get("role", "agent")),
                    str(data["csrf"]), via)

    def user(self, request: Request) -> User:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.read(header[7:].strip(), via="bearer")
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise NotLoggedIn("not logged in")
        return self.read(token)


def check_csrf(user: User, submitted: str | None) -> None:
    """403 unless a cookie session's POST carries its own CSRF token."""
    if user.via == "bearer":
        return
    if not submitted or not hmac.compare_digest(submitted, user.csrf):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")


class LoginGuard:
    """Password checks with lock-out after too many failures in a row."""

    def __init__(self, engine: Engine, settings: WebSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.limiter = AttemptLimiter(settings.login_attempts_per_minute)

    def locked_for(self, login: str, now: datetime) -> float:
        """Seconds the login stays locked (0: not locked)."""
        with session_scope(self.engine) as session:
            row = session.get(LoginThrottle, login)
        if row is None or row.locked_until is None:
            return 0.0
        return max(0.0, (as_utc(row.locked_until) - now).total_seconds())

    def authenticate(self, login: str, password: str, now: datetime) -> Agent | None:
        """The agent if the password is right and the login not locked; None otherwise (failure counted)."""
        if self.locked_for(login, now) > 0:
            return None
        with session_scope(self.engine) as session:
            agent = session.exec(select(Agent).where(Agent.login == login)).first()
        # Verify even for an unknown login (against a dummy hash): the answer takes as long either way.
        ok = verify_password(agent.password_hash if agent else _DUMMY_HASH, password) and agent is not None
        with session_scope(self.engine) as session:
            row = session.get(LoginThrottle, login) or LoginThrottle(login=login)
            if ok:
                row.failures, row.locked_until = 0, None
            else:
                row.failures += 1
                row.last_failure_at = now
                if row.failures >= self.settings.max_login_failures:
                    row.locked_until = now + timedelta(seconds=self.settings.lockout_seconds)
                    row.failures = 0
            session.add(row)
        return agent if ok else None


class AttemptLimiter:
    """Sign-in attempts per client address in a sliding minute (in this process): the per-login lock-out
    stops guessing one account's password; this stops trying one password across many accounts."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            if len(self._seen) > 10_000:  # bounded memory under a spray from many addresses
                self._seen.clear()
            recent = self._seen.setdefault(client, deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= self.per_minute:
                return False
            recent.append(now)
            return True


def _dummy_hash() -> str:
    from voicebot.acd.passwords import hash_password

    return hash_password(secrets.token_urlsafe(16))


_DUMMY_HASH = _dummy_hash()
