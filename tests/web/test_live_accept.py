"""With the live ACD (``acd.live.enabled``) the agent's SIP phone rings with the screen pop, and answering the
phone is what accepts the call. An Accept from the page or the API used to be taken as the answer while the phone
still rang: the dispatcher then CANCELled the phone (the offer was no longer pending) and the caller waited on
hold for ever, their entry "answered" by an agent shown as busy. The console now says to pick up the phone, and
Accept is refused; Decline still stops the phone. The real phone's answer: tests/web/test_screen_pop_call.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.web.conftest import PASSWORD, QUEUES, handed_off_call, log_in
from voicebot.acd.config import AcdSettings, parse_acd
from voicebot.acd.service import AcdService
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import session_scope

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def acd_settings() -> AcdSettings:
    # Overrides conftest's (console only): its ``client`` fixture then builds the app on the live ACD.
    return parse_acd({"queues": QUEUES, "live": {"enabled": True}})


def test_the_pop_says_to_pick_up_the_phone_and_accept_is_refused_while_it_rings(
        client: TestClient, acd: AcdService, engine: Engine, tmp_path: Path) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    (offer,) = acd.route().offers
    pop = client.get("/agent/panel").text
    assert "Bob Smith" in pop and 'id="pick-up"' in pop and 'id="accept"' not in pop

    page = client.post(f"/agent/offers/{offer.offer_id}/accept", data={"token": offer.token, "csrf_token": csrf},
                       headers={"HX-Request": "true"})
    assert page.status_code == 409 and "pick up your phone" in page.text
    token = client.post("/api/token", json={"login": "alice", "password": PASSWORD}).json()["token"]
    api = TestClient(client.app, headers={"Authorization": f"Bearer {token}"})
    refused = api.post(f"/api/offers/{offer.offer_id}/accept", json={"token": offer.token})
    assert refused.status_code == 409 and "pick up your phone" in refused.json()["detail"]
    still = acd.offer_for("alice")
    assert still is not None and still.offer.offer_id == offer.offer_id  # still ringing, nothing answered
    with session_scope(engine) as session:
        status = session.exec(select(QueueEntry).where(QueueEntry.id == entry.id)).one().status
    assert acd.agents.get("alice").state == "reserved" and status == "offered"

    # Decline still works from the page (the dispatcher then stops the phone; the caller keeps their place).
    match = re.search(r'action="/agent/offers/(\d+)/decline">.*?name="token" value="(\d+)"', pop)
    assert match is not None
    declined = client.post(f"/agent/offers/{match.group(1)}/decline",
                           data={"token": match.group(2), "csrf_token": csrf})
    assert declined.status_code == 200 and acd.offer_for("alice") is None


def test_a_decline_from_the_console_stops_the_ringing_phone_and_the_caller_keeps_waiting(
        engine: Engine, tmp_path: Path) -> None:
    """The dispatcher's side of a console Decline (a real call on virtual time, fake phones: tests/acd)."""
    from tests.acd.test_dispatcher import Rig

    rig = Rig(engine, tmp_path)
    rig.staff("alice", "bob")
    rig.queue_the_caller()
    rig.round()
    (phone,) = rig.phones
    assert rig.call.phase == "ringing"
    offer = rig.acd.offer_for("alice")
    assert offer is not None
    rig.acd.decline(offer.offer.offer_id, offer.offer.token, "declined at the console")
    rig.round()
    assert phone.hung_up == 1 and phone.outcome == "cancelled"
    rig.round()
    assert rig.entry().status in ("waiting", "offered") and rig.entry().answered_at is None
    assert [p.uri.split("@")[0] for p in rig.phones] == ["sip:alice", "sip:bob"]  # the next agent's phone rings
