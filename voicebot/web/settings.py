"""The ``web:`` section of the configuration, typed (unknown keys are errors), with environment overrides.

``VOICEBOT_WEB_HOST``, ``VOICEBOT_WEB_PORT``, ``VOICEBOT_WEB_ENABLED`` and ``VOICEBOT_WEB_SECRET`` override
the file; the secret signs session cookies, so every process serving one site must share it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSettings(_Strict):
    #: Every handoff and every closed ticket is POSTed as JSON to each of these.
    urls: tuple[str, ...] = ()
    #: HMAC-SHA256 key of the ``X-Voicebot-Signature`` header (VOICEBOT_WEBHOOK_SECRET overrides).
    secret: str = ""
    #: Failed deliveries are retried this many times in all, then kept in the dead-letter table.
    max_attempts: int = Field(default=6, ge=1)
    #: Retry n waits backoff_seconds * 2**(n-1).
    backoff_seconds: float = Field(default=2.0, gt=0)
    timeout_seconds: float = Field(default=5.0, gt=0)


class WebSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Signs the session cookies; empty: a random one per process (sessions end with the process).
    secret: str = ""
    #: A session ends this long after the last request.
    session_seconds: float = Field(default=8 * 3600.0, gt=0)
    #: Wrong passwords in a row before the login is locked, and for how long.
    max_login_failures: int = Field(default=5, ge=1)
    lockout_seconds: float = Field(default=300.0, gt=0)
    #: How often the console renews the agent's presence lease (well under acd.agents.lease_seconds).
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: How often the live views are refreshed over server-sent events.
    push_seconds: float = Field(default=1.0, gt=0)
    #: Dispositions an agent chooses from when saving a ticket.
    dispositions: tuple[str, ...] = ("resolved", "follow-up", "escalated", "fraud-report", "no-action")
    webhooks: WebhookSettings = WebhookSettings()

    def signing_key(self) -> str:
        return self.secret or _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_urlsafe(32)


def parse_web(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> WebSettings:
    """The ``web:`` mapping with environment overrides applied; raises pydantic's ValidationError."""
    env = os.environ if env is None else env
    data: dict[str, Any] = dict(raw or {})
    for key, name in (("host", "VOICEBOT_WEB_HOST"), ("port", "VOICEBOT_WEB_PORT"),
                      ("enabled", "VOICEBOT_WEB_ENABLED"), ("secret", "VOICEBOT_WEB_SECRET")):
        if env.get(name):
            data[key] = env[name]
    if env.get("VOICEBOT_WEBHOOK_SECRET"):
        data["webhooks"] = {**dict(data.get("webhooks") or {}), "secret": env["VOICEBOT_WEBHOOK_SECRET"]}
    return WebSettings.model_validate(data)


def load_web_settings() -> WebSettings:
    from voicebot.config import config_document

    document, _source = config_document()
    return parse_web(document.get("web"))
