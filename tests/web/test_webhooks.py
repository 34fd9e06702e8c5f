"""CRM webhooks against a real local HTTP receiver: signatures verified, retries with backoff, timeouts,
dead letters, handoffs found by scanning the queue, and a queueing call never waits for a webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.web.conftest import handed_off_call
from voicebot.acd.service import AcdService
from voicebot.storage.db import session_scope
from voicebot.storage.web_models import Ticket, WebhookDeadLetter, WebhookDelivery
from voicebot.web.settings import WebhookSettings
from voicebot.web.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhooks, WebhookWorker, sign, verify

pytestmark = pytest.mark.integration
SECRET = "whsec-test"


class Receiver:
    """A CRM endpoint: records requests, verifies signatures, answers with the scripted status codes."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER])
                receiver.received.append({"body": json.loads(body), "verified": ok, "path": self.path})
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/crm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


class Now:
    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.t


def _hooks(engine: Engine, url: str, now: Now, **extra: Any) -> Webhooks:
    settings = WebhookSettings(urls=(url,), secret=SECRET, **{"max_attempts": 3, "backoff_seconds": 2, **extra})
    return Webhooks(engine, settings, clock=now)


def _ticket(engine: Engine) -> Ticket:
    with session_scope(engine) as session:
        ticket = Ticket(call_id="c1", agent="alice", notes="n", disposition="resolved", status="closed")
        session.add(ticket)
        session.flush()
        session.refresh(ticket)
        return ticket


def _deliveries(engine: Engine) -> list[WebhookDelivery]:
    with session_scope(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"event": "x"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", body) == "v1=" + expected
    assert verify("k", "1700000000", body, "v1=" + expected, now=1700000010)
    assert not verify("k", "1700000000", body + b" ", "v1=" + expected, now=1700000010)  # tampered body
    assert not verify("other", "1700000000", body, "v1=" + expected, now=1700000010)  # wrong secret
    assert not verify("k", "1700000000", body, "v1=" + expected, now=1700000000 + 301)  # a replay, too late


def test_a_closed_ticket_is_delivered_signed(engine: Engine, receiver: Receiver) -> None:
    now = Now()
    hooks = _hooks(engine, receiver.url, now)
    ticket = _ticket(engine)
    assert hooks.ticket_closed(ticket) == 1
    assert hooks.ticket_closed(ticket) == 0  # the same event is never queued twice
    assert hooks.deliver_due() == 1
    assert len(receiver.received) == 1 and receiver.received[0]["verified"] is True
    body = receiver.received[0]["body"]
    assert body["event"] == "ticket.closed" and body["data"]["id"] == ticket.id
    assert body["data"]["disposition"] == "resolved"
    (delivery,) = _deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_500s_are_retried_with_exponential_backoff_then_dead_lettered(engine: Engine, receiver: Receiver) -> None:
    now = Now()
    hooks = _hooks(engine, receiver.url, now)
    receiver.statuses = [500, 500, 500]
    hooks.ticket_closed(_ticket(engine))
    start = now.t
    assert hooks.deliver_due() == 1
    (delivery,) = _deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at == start + timedelta(seconds=2)
    assert hooks.deliver_due() == 0  # not due yet
    now.t = start + timedelta(seconds=2)
    hooks.deliver_due()
    (delivery,) = _deliveries(engine)
    assert delivery.attempts == 2 and delivery.next_attempt_at == now.t + timedelta(seconds=4)  # doubled
    now.t += timedelta(seconds=4)
    hooks.deliver_due()
    (delivery,) = _deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    with session_scope(engine) as session:
        dead = session.exec(select(WebhookDeadLetter)).all()
    assert [(d.delivery_id, d.attempts, d.last_error, d.url) for d in dead] == [
        (delivery.id, 3, "HTTP 500", receiver.url)]
    assert [r["verified"] for r in receiver.received] == [True, True, True]
    now.t += timedelta(hours=1)
    assert hooks.deliver_due() == 0  # dead stays dead


def test_a_500_then_success_is_delivered_on_retry(engine: Engine, receiver: Receiver) -> None:
    now = Now()
    hooks = _hooks(engine, receiver.url, now)
    receiver.statuses = [500]
    hooks.ticket_closed(_ticket(engine))
    hooks.deliver_due()
    now.t += timedelta(seconds=2)
    hooks.deliver_due()
    (delivery,) = _deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_a_timeout_counts_as_a_failure(engine: Engine, receiver: Receiver) -> None:
    now = Now()
    hooks = _hooks(engine, receiver.url, now, timeout_seconds=0.3)
    receiver.delay = 1.5
    hooks.ticket_closed(_ticket(engine))
    hooks.deliver_due()
    (delivery,) = _deliveries(engine)
    assert delivery.status == "pending" and "Timeout" in delivery.last_error


def test_connection_refused_counts_as_a_failure(engine: Engine) -> None:
    now = Now()
    hooks = _hooks(engine, "http://127.0.0.1:9/nothing-listens", now, max_attempts=1)
    hooks.ticket_closed(_ticket(engine))
    hooks.deliver_due()
    (delivery,) = _deliveries(engine)
    assert delivery.status == "dead" and "ConnectError" in delivery.last_error


def test_every_handoff_is_sent_by_the_background_worker(engine: Engine, acd: AcdService, receiver: Receiver,
                                                        tmp_path: Path) -> None:
    hooks = Webhooks(engine, WebhookSettings(urls=(receiver.url,), secret=SECRET))
    hooks.scan_handoffs()  # the first scan starts from now: old entries are not replayed
    receiver.delay = 0.5  # a slow CRM
    worker = WebhookWorker(hooks, interval_seconds=0.05)
    worker.start()
    try:
        payload = handed_off_call(engine, tmp_path / "spool")
        entry = acd.enqueue_handoff(payload)  # the call's path: one insert, no HTTP
        deadline = time.monotonic() + 20
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    (sent,) = receiver.received
    assert sent["verified"] and sent["body"]["event"] == "handoff"
    data = sent["body"]["data"]
    assert (data["entry_id"], data["call_id"], data["queue"]) == (entry.id, payload.call_id, "vip")
    assert data["handoff"]["customer"]["name"] == "Bob Smith" and "4321" not in json.dumps(data)


def test_enqueueing_does_not_touch_webhooks(engine: Engine, acd: AcdService) -> None:
    # The call owner's enqueue writes the entry only: deliveries appear when a web process scans.
    hooks = Webhooks(engine, WebhookSettings(urls=("http://127.0.0.1:9/x",), secret=SECRET))
    hooks.scan_handoffs()
    acd.enqueue("c1", "general", caller_id="+1555")
    assert _deliveries(engine) == []
    assert hooks.scan_handoffs() == 1 and hooks.scan_handoffs() == 0
    assert [d.event_key for d in _deliveries(engine)] == ["handoff:1"]
