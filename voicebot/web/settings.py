"""The ``web:`` section of the configuration: the console's own checked model (unknown keys refused), held by
:class:`voicebot.config.Settings` like the ACD's; environment overrides live with the others in
``voicebot.config.ENV_OVERRIDES`` (VOICEBOT_WEB_HOST, VOICEBOT_WEB_PORT, VOICEBOT_WEB_ENABLED,
VOICEBOT_WEB_SECRET, VOICEBOT_WEBHOOK_SECRET).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSettings(_Strict):
    urls: tuple[str, ...] = Field((), description="Every handoff and closed ticket is POSTed as JSON to each URL.")
    secret: str = Field("", description="HMAC-SHA256 key of X-Voicebot-Signature (VOICEBOT_WEBHOOK_SECRET).")
    max_attempts: int = Field(6, ge=1, description="Attempts in all before a delivery is dead-lettered.")
    backoff_seconds: float = Field(2.0, gt=0, description="Retry n waits backoff_seconds * 2**(n-1).")
    timeout_seconds: float = Field(5.0, gt=0, description="An endpoint slower than this counts as failed.")


class WebSettings(_Strict):
    enabled: bool = Field(True, description="voicebot serve runs the console beside SIP (VOICEBOT_WEB_ENABLED).")
    host: str = Field("127.0.0.1", description="Address the console listens on (VOICEBOT_WEB_HOST).")
    port: int = Field(8080, ge=0, le=65535, description="Its port; 0 takes any free port (VOICEBOT_WEB_PORT).")
    secret: str = Field("", description="Signs session cookies; share it between the processes of one site; empty: "
                                        "a random key per process (VOICEBOT_WEB_SECRET).")
    session_seconds: float = Field(8 * 3600.0, gt=0, description="A session ends this long after sign-in.")
    max_login_failures: int = Field(5, ge=1, description="Wrong passwords in a row before the login is locked.")
    lockout_seconds: float = Field(300.0, gt=0, description="How long a locked login stays locked.")
    login_attempts_per_minute: int = Field(30, ge=1, description="Sign-in attempts one client address may make "
                                                                 "per minute, whatever the logins (then 429).")
    heartbeat_seconds: float = Field(15.0, gt=0, description="The console renews the agent's presence lease this "
                                                             "often (keep it well under acd.agents.lease_seconds).")
    push_seconds: float = Field(1.0, gt=0, description="Live views are refreshed over server-sent events this often.")
    dispositions: tuple[str, ...] = Field(("resolved", "follow-up", "escalated", "fraud-report", "no-action"),
                                          description="What an agent chooses from when closing a ticket.")
    reconcile_seconds: float = Field(1.0, ge=0, description="The console process also runs the ACD's reconciler "
                                                            "this often (lapsed presence, expired offers); 0: off.")
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings, description="The CRM webhook.")

    def signing_key(self) -> str:
        return self.secret or _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_urlsafe(32)


def parse_web(raw: Mapping[str, Any] | None) -> WebSettings:
    """A ``web:`` mapping as settings (tests; the service reads ``load_settings().web``)."""
    return WebSettings.model_validate(dict(raw or {}))


def load_web_settings(config_path: Any = None) -> WebSettings:
    """The ``web:`` section of the effective configuration (defaults, file, environment), checked with the rest."""
    from voicebot.config import load_settings

    settings, _source = load_settings(config_path)
    return settings.web
