"""CRM webhooks: every handoff and every closed ticket POSTed as JSON to the configured URLs.

Signing (documented in docs/supervisors-guide.md): ``X-Voicebot-Timestamp: <unix seconds>`` and
``X-Voicebot-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>``.

Nothing here runs on a call's path: an event becomes one ``web_webhook_delivery`` row per URL (a unique
key per event and URL, so two web processes never send one twice), and the :class:`WebhookWorker` thread
delivers due rows with httpx. A failure (timeout, connection refused, non-2xx) is retried after
``backoff_seconds * 2**(attempt-1)``; after ``max_attempts`` the delivery is dead and copied to
``web_webhook_dead_letter``. Handoffs are found by scanning new queue entries (a cursor row), so a handoff
queued by any process (the SIP server, a test, another node) is sent without that process knowing of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import session_scope
from voicebot.storage.web_models import Ticket, WebhookCursor, WebhookDeadLetter, WebhookDelivery, ticket_json
from voicebot.web.settings import WebhookSettings

log = logging.getLogger("voicebot.web.webhooks")

TIMESTAMP_HEADER = "X-Voicebot-Timestamp"
SIGNATURE_HEADER = "X-Voicebot-Signature"
EVENT_HEADER = "X-Voicebot-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``v1=<hex>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
           tolerance_seconds: float = 300.0) -> bool:
    """What a receiver does: recompute, compare in constant time, and refuse stale timestamps (replays)."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _body(event: str, data: dict[str, Any], at: datetime) -> str:
    return json.dumps({"event": event, "sent_at": at.isoformat(), "data": data}, sort_keys=True, default=str)


class Webhooks:
    """Queues events as deliveries and delivers them (:meth:`deliver_due`, run by the worker)."""

    def __init__(self, engine: Engine, settings: WebhookSettings, clock: Callable[[], datetime] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.now = clock or (lambda: datetime.now(UTC))
        self._client = httpx.Client(timeout=settings.timeout_seconds, transport=transport)

    def close(self) -> None:
        self._client.close()

    def emit(self, event_key: str, event: str, data: dict[str, Any]) -> int:
        """One pending delivery per URL (an event already queued is not queued twice); returns how many."""
        added = 0
        now = self.now()
        for url in self.settings.urls:
            try:
                with session_scope(self.engine) as session:
                    session.add(WebhookDelivery(event_key=event_key, event=event, url=url, body=_body(event, data, now),
                                                next_attempt_at=now, created_at=now))
                added += 1
            except IntegrityError:
                pass  # another process queued this event for this URL first
        return added

    def ticket_closed(self, ticket: Ticket) -> int:
        return self.emit(f"ticket.closed:{ticket.id}", "ticket.closed", ticket_json(ticket))

    def scan_handoffs(self) -> int:
        """Queue a ``handoff`` event for every queue entry created since the last scan."""
        if not self.settings.urls:
            return 0
        with session_scope(self.engine) as session:
            cursor = session.get(WebhookCursor, "handoff")
            last = cursor.last_id if cursor else None
            if last is None:  # first run: only entries from now on, not the whole history
                newest = session.exec(select(QueueEntry.id).order_by(col(QueueEntry.id).desc())).first()
                session.add(WebhookCursor(name="handoff", last_id=newest or 0))
                return 0
            entries = list(session.exec(select(QueueEntry).where(col(QueueEntry.id) > last)
                                        .order_by(col(QueueEntry.id)).limit(200)).all())
        count = 0
        for entry in entries:
            count += self.emit(f"handoff:{entry.id}", "handoff", {
                "entry_id": entry.id, "call_id": entry.call_id, "queue": entry.queue, "kind": entry.kind,
                "caller_id": entry.caller_id, "customer_id": entry.customer_id, "vip": entry.vip,
                "enqueued_at": entry.enqueued_at.isoformat(), "handoff": entry.handoff})
        if entries:
            with session_scope(self.engine) as session:
                cursor = session.get(WebhookCursor, "handoff") or WebhookCursor(name="handoff")
                cursor.last_id = max(cursor.last_id, entries[-1].id or 0)
                session.add(cursor)
        return count

    def deliver_due(self, limit: int = 20) -> int:
        """Try every pending delivery whose time has come; returns how many were attempted."""
        now = self.now()
        with session_scope(self.engine) as session:
            due = list(session.exec(select(WebhookDelivery).where(
                WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.next_attempt_at)).limit(limit)).all())
        for delivery in due:
            self._attempt(delivery)
        return len(due)

    def _attempt(self, delivery: WebhookDelivery) -> None:
        body = delivery.body.encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", EVENT_HEADER: delivery.event, TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.settings.secret, timestamp, body),
                   "User-Agent": "voicebot-webhooks/1"}
        error = ""
        try:
            response = self._client.post(delivery.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        now = self.now()
        with session_scope(self.engine) as session:
            row = session.get(WebhookDelivery, delivery.id)
            if row is None:
                return
            row.attempts += 1
            if not error:
                row.status, row.delivered_at, row.last_error = "delivered", now, ""
            else:
                row.last_error = error
                if row.attempts >= self.settings.max_attempts:
                    row.status = "dead"
                    session.add(WebhookDeadLetter(delivery_id=row.id or 0, event_key=row.event_key, event=row.event,
                                                  url=row.url, body=row.body, attempts=row.attempts,
                                                  last_error=error, failed_at=now))
                    log.warning("webhook %s to %s dead after %d attempts: %s", row.event_key, row.url,
                                row.attempts, error)
                else:
                    delay = self.settings.backoff_seconds * 2 ** (row.attempts - 1)
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    log.info("webhook %s to %s failed (%s); retry %d in %.1f s", row.event_key, row.url, error,
                             row.attempts + 1, delay)
            session.add(row)


class WebhookWorker:
    """A daemon thread: scan for new handoffs, deliver what is due, sleep a little; never on a call's path."""

    def __init__(self, hooks: Webhooks, interval_seconds: float = 0.5) -> None:
        self.hooks = hooks
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voicebot-webhooks", daemon=True)

    def start(self) -> None:
        if self.hooks.settings.urls:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.hooks.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.hooks.scan_handoffs()
                self.hooks.deliver_due()
            except Exception:  # a database hiccup must not end the worker: log it and try again
                log.exception("webhook worker")
            self._stop.wait(self.interval)
