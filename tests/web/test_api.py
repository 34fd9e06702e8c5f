"""The JSON API end to end with a bearer token: state, the offer with its handoff payload, accept, the call,
its ticket, the customer's history (docs/supervisors-guide.md, "The JSON API")."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.web.conftest import PASSWORD, handed_off_call, log_in
from voicebot.acd.service import AcdService

pytestmark = pytest.mark.integration


def test_an_api_client_answers_a_call_and_closes_its_ticket(client: TestClient, acd: AcdService, engine: Engine,
                                                            tmp_path: Path) -> None:
    token = client.post("/api/token", json={"login": "alice", "password": PASSWORD}).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 8 * 3600
    api = TestClient(client.app, headers={"Authorization": f"Bearer {token['token']}"})
    assert api.post("/api/agent/state", json={"state": "available"}).json()["state"] == "available"
    assert api.post("/api/agent/heartbeat").json()["state"] == "available"
    assert api.get("/api/agent").json()["offer"] is None

    payload = handed_off_call(engine, tmp_path / "spool")
    entry = acd.enqueue_handoff(payload)
    acd.route()
    offer = api.get("/api/agent").json()["offer"]
    assert (offer["entry_id"], offer["queue"]) == (entry.id, "vip")
    assert offer["handoff"]["customer"]["name"] == "Bob Smith" and offer["handoff"]["queue"]["offers"] == 1
    assert api.post(f"/api/offers/{offer['offer_id']}/accept", json={"token": offer["token"] + 1}).status_code == 409
    accepted = api.post(f"/api/offers/{offer['offer_id']}/accept", json={"token": offer["token"]}).json()
    assert accepted == {"accepted": True, "entry_id": entry.id, "call_id": payload.call_id}
    assert api.get("/api/agent").json()["state"] == "busy"

    held = api.post(f"/api/calls/{entry.id}/hold", json={"on": True}).json()
    assert held == {"entry_id": entry.id, "on_hold": True, "hold_ms": 0}
    assert api.post(f"/api/calls/{entry.id}/hold", json={"on": True}).status_code == 409
    assert api.post(f"/api/calls/{entry.id}/hold", json={"on": False}).json()["on_hold"] is False
    call = api.get(f"/api/calls/{entry.id}").json()
    assert call["status"] == "answered" and call["handoff"]["intent"]["name"] == "speak_to_agent"
    bad = api.post(f"/api/calls/{entry.id}/ticket", json={"disposition": "whatever", "close": True})
    assert bad.status_code == 400
    ticket = api.post(f"/api/calls/{entry.id}/ticket", json={
        "notes": "Travel notice added", "tags": ["Travel"], "disposition": "resolved", "close": True}).json()
    assert (ticket["status"], ticket["tags"], ticket["customer_id"]) == ("closed", ["travel"], 2)
    assert api.get(f"/api/calls/{entry.id}").json()["tickets"][0]["id"] == ticket["id"]

    history = api.get("/api/customers/2/history").json()
    assert [t["id"] for t in history["tickets"]] == [ticket["id"]]
    assert payload.call_id in [c["id"] for c in history["calls"]]
    assert history["transactions"] and all(t["account"].startswith("…") for t in history["transactions"])


def test_cookies_are_secure_over_https(engine: Engine, acd: AcdService) -> None:
    from voicebot.web.app import create_app
    from voicebot.web.settings import parse_web

    app = create_app(engine, acd.settings, parse_web({"secret": "s"}), acd=acd, run_webhooks=False)
    with TestClient(app, base_url="https://console.example") as secure:
        log_in(secure, "alice")
        (cookie,) = [c for c in secure.cookies.jar if c.name == "voicebot_session"]
        assert cookie.secure
    with TestClient(app, base_url="http://console.example") as plain:
        page = plain.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        response = plain.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token},
                              follow_redirects=False)
        assert "HttpOnly" in response.headers["set-cookie"] and "Secure" not in response.headers["set-cookie"]


def test_a_queue_with_callers_and_no_free_agent_is_flagged(client: TestClient, acd: AcdService) -> None:
    log_in(client, "sue")
    acd.enqueue("c1", "general", caller_id="+1555")
    board = client.get("/supervisor").text
    assert 'class="card tile alert" id="queue-general"' in board
    assert 'class="card tile " id="queue-vip"' in board
