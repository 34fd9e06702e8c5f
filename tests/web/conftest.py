"""Fixtures of the web console tests: a real SQLite file with the demo bank, agents, and the app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from voicebot.acd.config import AcdSettings, parse_acd
from voicebot.acd.service import AcdService
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo
from voicebot.web.app import create_app
from voicebot.web.settings import WebSettings, parse_web

PASSWORD = "correct horse battery"
QUEUES: dict[str, Any] = {
    "general": {"skills": ["banking"], "wrap_up_seconds": 30, "offer_timeout_seconds": 60},
    "vip": {"skills": ["banking", "vip"], "priority": 10, "wrap_up_seconds": 30, "offer_timeout_seconds": 60},
    "cards": {"skills": ["banking"], "wrap_up_seconds": 30},
}


class Clock:
    def __init__(self) -> None:
        import time

        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _seeded(url: str) -> Engine:
    engine = make_engine(url)
    create_tables(engine)
    seed_demo(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The demo bank on a SQLite file, and on PostgreSQL (a fresh database; see tests/acd/conftest.py)."""
    if request.param == "sqlite":
        yield _seeded(f"sqlite:///{tmp_path}/web.db")
        return
    from tests.acd.conftest import fresh_postgres_database

    for url in fresh_postgres_database():
        engine = _seeded(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    return _seeded(f"sqlite:///{tmp_path}/web.db")


@pytest.fixture
def acd_settings() -> AcdSettings:
    # The console on its own: offers are accepted on the page (no SIP phones ring, acd.live off). With the live
    # ACD (the default) only the phone accepts: tests/web/test_live_accept.py and test_screen_pop_call.py.
    return parse_acd({"queues": QUEUES, "live": {"enabled": False}})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def acd(engine: Engine, acd_settings: AcdSettings, clock: Clock) -> AcdService:
    service = AcdService(engine, acd_settings, clock=clock, node="web-test")
    now = service.now()
    service.agents.add("alice", PASSWORD, name="Alice Agent", skills={"banking": 5, "vip": 4}, now=now)
    service.agents.add("bob", PASSWORD, name="Bob Agent", skills={"banking": 3}, now=now)
    service.agents.add("sue", PASSWORD, name="Sue Supervisor", skills={}, now=now, role="supervisor")
    return service


@pytest.fixture
def web_settings() -> WebSettings:
    return parse_web({"secret": "test-secret", "max_login_failures": 3, "lockout_seconds": 120,
                      "webhooks": {"urls": ["http://127.0.0.1:9/hook"], "secret": "s3cret", "max_attempts": 3,
                                   "backoff_seconds": 1}})


@pytest.fixture
def client(engine: Engine, acd_settings: AcdSettings, web_settings: WebSettings,
           acd: AcdService) -> Iterator[TestClient]:
    app = create_app(engine, acd_settings, web_settings, acd=acd, run_webhooks=False)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def log_in(client: TestClient, login: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from the page's hx-headers)."""
    token = login_csrf(client)
    response = client.post("/login", data={"login": login, "password": password, "csrf_token": token})
    assert response.status_code == 200, response.text
    match = re.search(r'X-CSRF-Token&#34;: &#34;([^&]+)&#34;|"X-CSRF-Token": "([^"]+)"', response.text)
    assert match, response.text[:2000]
    return match.group(1) or match.group(2)


ROOT = Path(__file__).resolve().parents[2]


def handed_off_call(engine: Engine, spool: Path, caller: str = "+15550100002") -> Any:
    """A real banking call through the flow engine (text): balance, the PIN spoken, then "agent".
    Returns the handoff payload built from it, as the call owner builds it."""
    from voicebot.acd.handoff import build_handoff
    from voicebot.actions import Handoff
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.session import CallSession
    from voicebot.services.registry import default_registry
    from voicebot.storage.calls import CallStore

    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    clock = ManualClock()
    call = CallSession(flow, default_registry(), CallStore(engine, spool), clock)
    call.start(caller, "+18005550100")
    clock.advance(2)
    call.say("balance", confidence=0.91)
    clock.advance(3)
    call.say("four three two one", confidence=0.7)
    clock.advance(4)
    call.say("agent", confidence=0.88)
    handoffs = [a for step in call.history for a in step.actions if isinstance(a, Handoff)]
    assert len(handoffs) == 1, [step.actions for step in call.history]
    return build_handoff(flow, call.history, handoffs[0])


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Debian chromium; at the end, nothing blocked by the Content-Security-Policy, no script errors."""
    from tests.web.browser import chromium, page_errors

    driver = chromium()
    try:
        yield driver
        assert page_errors(driver) == []
    finally:
        driver.quit()
