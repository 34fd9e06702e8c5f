"""The agent console end to end over HTTP (real SQLite file, real flow engine call, real ACD)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.web.conftest import Clock, handed_off_call, log_in
from voicebot.acd.service import AcdService
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import session_scope
from voicebot.storage.web_models import Ticket, WebhookDelivery

pytestmark = pytest.mark.integration


def _offer_form(html: str) -> tuple[int, int]:
    match = re.search(r'action="/agent/offers/(\d+)/accept">.*?name="token" value="(\d+)"', html)
    assert match, html
    return int(match.group(1)), int(match.group(2))


def test_handoff_screen_pop_accept_ticket_and_webhook(client: TestClient, acd: AcdService, engine: Engine,
                                                       tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    assert acd.agents.get("alice").state == "break"  # signed in "getting ready"
    assert client.post("/agent/state", data={"state": "available", "csrf_token": csrf}).status_code == 200
    assert acd.agents.get("alice").state == "available"

    payload = handed_off_call(engine, tmp_path / "spool")
    entry = acd.enqueue_handoff(payload)
    offers = acd.route().offers
    assert [o.agent_login for o in offers] == ["alice"]

    pop = client.get("/agent/panel").text
    assert "Bob Smith" in pop and "VIP" in pop
    assert "speak to agent" in pop and "88%" in pop
    assert "verified" in pop and "by pin" in pop
    assert "●●●● verified input" in pop  # the PIN: masked, shown as verified
    assert "four three two one" not in pop and "4321" not in pop
    assert "Welcome back to Open Bank, Bob." in pop  # the transcript

    offer_id, token = _offer_form(pop)
    accepted = client.post(f"/agent/offers/{offer_id}/accept", data={"token": token, "csrf_token": csrf})
    assert accepted.status_code == 200 and accepted.url.path == f"/agent/calls/{entry.id}"
    page = accepted.text
    assert "Bob Smith" in page and "Recent transactions" in page
    assert re.search(r'id="transactions".*?USD', page, re.S)  # the customer's last transactions
    assert acd.agents.get("alice").state == "busy"

    saved = client.post(f"/agent/calls/{entry.id}/ticket", data={
        "csrf_token": csrf, "notes": "Asked about a <b>travel</b> notice", "tags": "cards, Travel",
        "disposition": "resolved", "action": "close"})
    assert saved.status_code == 200 and "Ticket closed" in saved.text
    assert "Asked about a &lt;b&gt;travel&lt;/b&gt; notice" in saved.text
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket)).one()
        deliveries = session.exec(select(WebhookDelivery)).all()
    assert (ticket.call_id, ticket.agent, ticket.customer_id, ticket.tags, ticket.disposition, ticket.status) == (
        payload.call_id, "alice", 2, ["cards", "travel"], "resolved", "closed")
    assert [(d.event, d.event_key) for d in deliveries] == [("ticket.closed", f"ticket.closed:{ticket.id}")]

    # The caller hangs up: wrap-up with its timer, then the next call shows this one in the history.
    acd.complete(entry.id)
    panel = client.get("/agent/panel").text
    assert 'id="wrap-timer"' in panel and "wrap-up: 30 s left" in panel
    second = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool2"))
    assert client.post("/agent/state", data={"state": "available", "csrf_token": csrf}).status_code == 200
    assert acd.route().offers
    offer_id, token = _offer_form(client.get("/agent/panel").text)
    page = client.post(f"/agent/offers/{offer_id}/accept", data={"token": token, "csrf_token": csrf}).text
    assert f"/agent/calls/{second.id}" in client.get("/agent/panel").text
    assert "travel" in page and "resolved" in page  # the previous ticket
    assert "answered" in page  # the previous call


def test_transfer_carries_the_note_to_the_next_agents_screen_pop(client: TestClient, acd: AcdService,
                                                                 engine: Engine, tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    acd.route()
    offer_id, token = _offer_form(client.get("/agent/panel").text)
    client.post(f"/agent/offers/{offer_id}/accept", data={"token": token, "csrf_token": csrf})
    moved = client.post(f"/agent/calls/{entry.id}/transfer", data={
        "csrf_token": csrf, "queue": "cards", "note": "Card stolen abroad, <i>urgent</i>"})
    assert moved.status_code == 200 and "Caller transferred" in moved.text
    assert acd.agents.get("alice").state == "wrap_up"
    waiting = acd.waiting("cards")
    assert [row.entry.id for row in waiting] == [entry.id]
    transfers = waiting[0].entry.handoff["transfers"]
    assert transfers[0]["note"] == "Card stolen abroad, <i>urgent</i>" and transfers[0]["from_queue"] == "vip"

    with TestClient(client.app) as other:
        bob_csrf = log_in(other, "bob")
        other.post("/agent/state", data={"state": "available", "csrf_token": bob_csrf})
        assert [o.agent_login for o in acd.route().offers] == ["bob"]
        pop = other.get("/agent/panel").text
        assert "Transferred from <b>vip</b> by alice" in pop
        assert "Card stolen abroad, &lt;i&gt;urgent&lt;/i&gt;" in pop


def test_hold_and_resume_from_the_call_page_keep_the_hold_time(client: TestClient, acd: AcdService, engine: Engine,
                                                               clock: Clock, tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    acd.route()
    offer_id, token = _offer_form(client.get("/agent/panel").text)
    client.post(f"/agent/offers/{offer_id}/accept", data={"token": token, "csrf_token": csrf})
    page = client.get(f"/agent/calls/{entry.id}").text
    assert 'id="hold"' in page and 'hx-post="/agent/calls/' in page
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    assert client.post(f"/agent/calls/{entry.id}/hold", data={"on": "1"}).status_code == 403  # no CSRF token
    held = client.post(f"/agent/calls/{entry.id}/hold", data={"on": "1"}, headers=htmx)
    assert held.status_code == 200 and 'id="resume"' in held.text and "On hold" in held.text
    again = client.post(f"/agent/calls/{entry.id}/hold", data={"on": "1"}, headers=htmx)
    assert again.status_code == 409 and "already on hold" in again.text
    clock.advance(12)
    resumed = client.post(f"/agent/calls/{entry.id}/hold", data={"on": "0", "csrf_token": csrf})  # no htmx: a form
    assert resumed.status_code == 200 and 'id="hold"' in resumed.text  # redirected back to the call page
    clock.advance(30)
    done = acd.complete(entry.id or 0)
    assert done.hold_ms == 12_000
    with session_scope(engine) as session:  # the call record: hold apart from talk
        row = session.get(CallRecord, done.call_id)
    assert row is not None and row.hold_ms == 12_000 and row.talk_ms == 30_000


def test_closed_tab_mid_offer_returns_the_caller_to_the_queue(client: TestClient, acd: AcdService,
                                                              engine: Engine, clock: Clock, tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    assert acd.route().offers
    # The tab closes: no more heartbeats. The presence lease (60 s) lapses; the reconciler does the rest.
    clock.advance(61)
    acd.reconcile()
    assert acd.agents.get("alice").state == "logged_out"
    assert [row.entry.id for row in acd.waiting("vip")] == [entry.id]
    assert acd.waiting("vip")[0].entry.status == "waiting"
    # The console then shows the agent as logged out, and a heartbeat says so.
    assert 'id="agent-state">logged out' in client.get("/agent/panel").text
    assert client.post("/agent/heartbeat", headers={"X-CSRF-Token": csrf}).status_code == 409


def test_heartbeat_renews_the_presence_lease(client: TestClient, acd: AcdService, clock: Clock) -> None:
    csrf = log_in(client, "alice")
    before = acd.agents.get("alice").lease_expires_at
    clock.advance(30)
    assert client.post("/agent/heartbeat", headers={"X-CSRF-Token": csrf}).status_code == 204
    after = acd.agents.get("alice").lease_expires_at
    assert before is not None and after is not None and (after - before).total_seconds() == pytest.approx(30)


def test_decline_puts_the_caller_back_in_line(client: TestClient, acd: AcdService, engine: Engine,
                                              tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    acd.route()
    offer_id, token = _offer_form(client.get("/agent/panel").text)
    response = client.post(f"/agent/offers/{offer_id}/decline", data={"token": token, "csrf_token": csrf})
    assert response.status_code == 200
    assert acd.agents.get("alice").state == "available"
    assert acd.waiting("vip")[0].entry.id == entry.id
    # A replayed accept of the declined offer changes nothing.
    again = client.post(f"/agent/offers/{offer_id}/accept", data={"token": token, "csrf_token": csrf})
    assert again.status_code == 403


def test_the_console_process_runs_the_reconciler(engine: Engine, acd: AcdService, clock: Clock,
                                                 tmp_path: Path) -> None:
    """With no SIP node up, a closed tab still logs the agent out and returns the ringing caller to the line."""
    import time

    from voicebot.web.app import create_app
    from voicebot.web.settings import parse_web

    app = create_app(engine, acd.settings, parse_web({"secret": "s", "reconcile_seconds": 0.05}), acd=acd)
    with TestClient(app) as client:
        csrf = log_in(client, "alice")
        client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
        entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
        assert acd.route().offers
        clock.advance(61)  # no heartbeat: the lease lapses
        deadline = time.monotonic() + 20
        while acd.agents.get("alice").state != "logged_out" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert acd.agents.get("alice").state == "logged_out"
    assert acd.waiting("vip")[0].entry.id == entry.id and acd.waiting("vip")[0].entry.status == "waiting"
