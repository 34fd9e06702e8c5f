"""The console in a real browser (Debian chromium): an agent logs in, goes available, a real banking call
says "agent", the screen pop shows who and why, the agent writes a ticket; the supervisor view updates live."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.web.browser import artifacts_dir, click, present, text_of, wait_for
from tests.web.conftest import PASSWORD, Clock, handed_off_call
from voicebot.acd.config import AcdSettings
from voicebot.acd.service import AcdService
from voicebot.storage.db import session_scope
from voicebot.storage.web_models import Ticket
from voicebot.web.app import create_app
from voicebot.web.server import WebServer
from voicebot.web.settings import parse_web

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


def _serve(engine: Engine, acd_settings: AcdSettings, acd: AcdService, **web: Any) -> Iterator[str]:
    settings = parse_web({"secret": "browser-test", "push_seconds": 0.3, "heartbeat_seconds": 1, **web})
    server = WebServer(create_app(engine, acd_settings, settings, acd=acd, run_webhooks=False), "127.0.0.1", 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    """The browser tests run on SQLite only (the same pages are tested on PostgreSQL over HTTP)."""
    return sqlite_engine


@pytest.fixture
def site(engine: Engine, acd_settings: AcdSettings, acd: AcdService) -> Iterator[str]:
    yield from _serve(engine, acd_settings, acd)


@pytest.fixture
def short_site(engine: Engine, acd_settings: AcdSettings, acd: AcdService) -> Iterator[str]:
    yield from _serve(engine, acd_settings, acd, session_seconds=3)



def sign_in(driver: Any, site: str, login: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{site}/login")
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: "/login" not in d.current_url)


def save(driver: Any, name: str, *, docs: bool = False) -> Path:
    """A screenshot in the artifacts folder; with VOICEBOT_UPDATE_SCREENSHOTS=1 also the committed one in
    docs/images (so an ordinary run leaves the work tree clean)."""
    path = artifacts_dir() / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a real page, not a blank one
    if docs and os.environ.get("VOICEBOT_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(DOCS / name))
    return path


def test_agent_answers_a_pre_qualified_call_and_writes_the_ticket(
        site: str, browser: Any, acd: AcdService, engine: Engine, clock: Clock, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, site, "alice")
    assert browser.current_url.endswith("/agent")
    assert text_of(browser, "#agent-state") == "Break"  # signed in "getting ready"
    click(browser, "#go-available")
    wait_for(browser, lambda d: text_of(d, "#agent-state") == "Available")
    assert acd.agents.get("alice").state == "available"
    # The page's heartbeat renews the presence lease (the ACD's clock is the test's, so it moves on demand).
    lease = acd.agents.get("alice").lease_expires_at
    clock.advance(20)
    wait_for(browser, lambda _d: acd.agents.get("alice").lease_expires_at != lease)
    renewed = acd.agents.get("alice").lease_expires_at
    assert lease is not None and renewed is not None and (renewed - lease).total_seconds() == pytest.approx(20)

    # A real call through the flow engine: balance, PIN, "agent"; queued and routed by the ACD.
    payload = handed_off_call(engine, tmp_path / "spool")
    entry = acd.enqueue_handoff(payload)
    assert [o.agent_login for o in acd.route().offers] == ["alice"]

    # The screen pop arrives over server-sent events, without a reload.
    wait_for(browser, lambda d: present(d, "#offer"))
    assert "Bob Smith" in text_of(browser, "#pop-name") and "VIP" in text_of(browser, "#pop-name")
    assert text_of(browser, "#pop-intent") == "speak to agent 88%"
    assert text_of(browser, "#pop-auth") == "Verified by pin"
    slots = text_of(browser, "#pop-slots")
    assert "●●●● verified input" in slots and "4321" not in browser.page_source
    save(browser, "console-screen-pop-text.png")  # the docs' one comes from a real SIP call (test_screen_pop_call)

    click(browser, "#accept")
    wait_for(browser, lambda d: d.current_url.endswith(f"/agent/calls/{entry.id}"))
    assert "Bob Smith" in text_of(browser, "#call-name")
    assert acd.agents.get("alice").state == "busy"
    browser.find_element(By.ID, "notes").send_keys("Balance explained; <b>card</b> to be reissued.")
    browser.find_element(By.ID, "tags").send_keys("balance, card")
    Select(browser.find_element(By.ID, "disposition")).select_by_visible_text("resolved")
    browser.find_element(By.ID, "close-ticket").click()
    wait_for(browser, lambda d: "Ticket closed" in text_of(d, "#message"))
    assert "closed" in text_of(browser, "#ticket-status")
    save(browser, "console-call-text.png")

    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket)).one()
    assert (ticket.call_id, ticket.agent, ticket.disposition, ticket.tags, ticket.status) == (
        payload.call_id, "alice", "resolved", ["balance", "card"], "closed")
    assert ticket.notes == "Balance explained; <b>card</b> to be reissued."

    # The caller hangs up: the wrap-up timer shows on the page, live.
    acd.complete(entry.id or 0)
    wait_for(browser, lambda d: "wrap-up:" in text_of(d, "#wrap-timer"))
    assert text_of(browser, "#agent-state") == "Wrap Up"


def test_supervisor_view_updates_live_while_calls_queue(
        site: str, browser: Any, acd: AcdService, engine: Engine, clock: Clock, tmp_path: Path) -> None:

    sign_in(browser, site, "sue")
    assert browser.current_url.endswith("/supervisor")
    assert text_of(browser, "#waiting-vip") == "0"
    acd.agents.login("bob", acd.now(), "break", "lunch")
    for n in range(3):
        acd.enqueue_handoff(handed_off_call(engine, tmp_path / f"spool{n}"))
        wait_for(browser, lambda d, n=n: text_of(d, "#waiting-vip") == str(n + 1))  # no reload: SSE
    entry = acd.enqueue("c-general", "general", caller_id="+15550100001",
                        handoff={"call_id": "c-general", "caller_id": "+15550100001",
                                 "customer": {"name": "Alice Johnson"}, "intent": {"name": "lost_card",
                                                                                   "confidence": 0.9},
                                 "queue": {"name": "general"}})
    wait_for(browser, lambda d: text_of(d, "#waiting-general") == "1")
    # Alice answers the first VIP caller after 12 s (within the 20 s service level); time passes for the rest.
    acd.agents.login("alice", acd.now())
    (offer,) = acd.route().offers
    clock.advance(12)
    acd.accept(offer.offer_id, offer.token)
    wait_for(browser, lambda d: text_of(d, "#waiting-vip") == "2")
    clock.advance(83)
    acd.agents.heartbeat("alice", acd.now())  # her console keeps her present
    wait_for(browser, lambda d: text_of(d, "#longest-vip") == "1:35")
    assert "100%" in text_of(browser, "#queue-vip") and "Busy" in text_of(browser, "#agent-alice")
    wait_for(browser, lambda d: "0 / 1" in text_of(d, "#queue-vip"))  # agents free / on calls
    acd.request_callback(entry.id or 0, "+15550100001")
    wait_for(browser, lambda d: present(d, f"#cancel-callback-{entry.id}"))
    assert "lunch" in text_of(browser, "#agent-bob")
    save(browser, "supervisor.png", docs=True)
    click(browser, f"#cancel-callback-{entry.id}")
    wait_for(browser, lambda d: "cancelled" in text_of(d, "#message"))
    assert acd.callbacks.pending() == []


def test_an_expired_session_sends_the_open_console_back_to_the_login_form(short_site: str, browser: Any) -> None:
    sign_in(browser, short_site, "alice")
    assert browser.current_url.endswith("/agent")
    # No reload by the user: the live stream notices the expiry and the page goes to the login form.
    wait_for(browser, lambda d: "/login" in d.current_url and "expired=1" in d.current_url, timeout=30)
    assert "Your session ended" in text_of(browser, ".notice")
