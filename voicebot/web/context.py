"""What every route needs, built once per app: database, ACD service, settings, sessions, webhooks, templates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from starlette.responses import Response

from voicebot.acd.service import AcdService
from voicebot.web.auth import LoginGuard, Sessions, User
from voicebot.web.settings import WebSettings
from voicebot.web.webhooks import Webhooks

HERE = Path(__file__).parent


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _money(cents: int, currency: str = "USD") -> str:
    sign = "−" if cents < 0 else ""
    return f"{sign}{abs(cents) / 100:,.2f} {currency}"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


@dataclass
class WebContext:
    engine: Engine
    acd: AcdService
    settings: WebSettings
    sessions: Sessions
    guard: LoginGuard
    hooks: Webhooks
    templates: Jinja2Templates

    @classmethod
    def build(cls, engine: Engine, acd: AcdService, settings: WebSettings, hooks: Webhooks) -> WebContext:
        templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape on for .html
        templates.env.filters.update(duration=_duration, money=_money, when=_when)
        return cls(engine, acd, settings, Sessions(settings), LoginGuard(engine, settings), hooks, templates)

    def now(self) -> datetime:
        return self.acd.now()

    def page(self, request: Request, name: str, user: User | None, status_code: int = 200,
             **values: Any) -> Response:
        return self.templates.TemplateResponse(request, name, {"user": user, "settings": self.settings, **values},
                                               status_code=status_code)


def ctx(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context
