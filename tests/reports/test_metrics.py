"""/metrics scraped while real calls (runtime + ACD on virtual time, tests/reports/scenario.py) are in the
IVR, queued and bridged: the gauges follow the calls, the queue and the agents, the latency histograms move
with each spoken turn, SIP responses are counted by code."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.reports.scenario import BLAH, SPEECH, Day, key_the_pin, make_day
from voicebot.metrics import Metrics, for_services, metrics_app
from voicebot.runtime.bus import EventBus
from voicebot.telephony import sip_stats


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics through the ASGI app the web server mounts, parsed as Prometheus parses it."""
    app = metrics_app(metrics)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "root_path": "", "query_string": b"", "headers": [],
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_scraped_while_calls_are_in_the_ivr_queued_and_bridged(tmp_path: Path) -> None:
    bus = EventBus()
    day: Day = make_day(tmp_path, bus)
    metrics = for_services(bus, day.service, sip=False, errors=False)
    try:
        before = scrape(metrics)
        assert value(before, "voicebot_calls_active", phase="ivr") == 0
        assert value(before, "voicebot_turn_latency_seconds_count") == 0
        assert value(before, "voicebot_agents", state="logged_out") == 1

        # A caller in the IVR, who says something at "anything else?"
        a = day.call("A", [BLAH])
        key_the_pin(day, a)
        s = scrape(metrics)
        assert value(s, "voicebot_calls_active", phase="ivr") == 1
        day.until_listening(a, "anything_else")
        day.run(a, 15, SPEECH)
        day.run(a, 60)
        s = scrape(metrics)
        assert value(s, "voicebot_recognition_latency_seconds_count") == 1
        assert value(s, "voicebot_prompt_first_audio_seconds_count") == 1
        assert value(s, "voicebot_turn_latency_seconds_count") == 1
        # The turn's latency includes the endpointer's silence after the speech (0.8 s at this node).
        assert value(s, "voicebot_turn_latency_seconds_bucket", le="0.5") == 0
        assert value(s, "voicebot_turn_latency_seconds_sum") >= 0.8

        # A second caller waits in the queue while the first is still in the IVR
        d, entry, enqueued = day.queue_for_agent("D")
        day.service.agents.login("alice", day.service.now(), "break", "not yet")
        day.at(d, enqueued + 5)
        s = scrape(metrics)
        assert value(s, "voicebot_calls_active", phase="queued") == 1
        assert value(s, "voicebot_calls_active", phase="ivr") == 1
        assert value(s, "voicebot_queue_depth", queue="general") == 1
        assert abs(value(s, "voicebot_queue_longest_wait_seconds", queue="general") - 5) < 1e-3
        assert value(s, "voicebot_agents", state="break") == 1

        day.alice_takes(d, entry)
        day.run(d, 1)
        s = scrape(metrics)
        assert value(s, "voicebot_calls_active", phase="bridged") == 1
        assert value(s, "voicebot_calls_active", phase="queued") == 0
        assert value(s, "voicebot_queue_depth", queue="general") == 0
        assert value(s, "voicebot_agents", state="busy") == 1

        day.service.complete(entry)
        d.finish()
        day.run(d, 1)
        a.hang_up()
        s = scrape(metrics)
        assert sum(value(s, "voicebot_calls_active", phase=p) for p in ("ivr", "queued", "ringing", "bridged",
                                                                          "wrap_up")) == 0
        assert value(s, "voicebot_calls_ended_total", outcome="handoff") == 1  # the flow's outcome (bus)
        assert value(s, "voicebot_calls_ended_total", outcome="self_served") == 1  # A heard the balance
        assert value(s, "voicebot_agents", state="wrap_up") == 1
    finally:
        metrics.close()
    assert bus.subscribers == 0


def test_sip_responses_by_code_and_errors_by_logger(tmp_path: Path) -> None:
    metrics = for_services(EventBus(), None, sip=True, errors=True)
    try:
        sip_stats.observe("sent", b"SIP/2.0 180 Ringing\r\nVia: x\r\n\r\n")
        sip_stats.observe("sent", b"SIP/2.0 200 OK\r\n\r\n")
        sip_stats.observe("sent", b"SIP/2.0 200 OK\r\n\r\n")
        sip_stats.observe("received", b"SIP/2.0 486 Busy Here\r\n\r\n")
        sip_stats.observe("received", b"INVITE sip:a@b SIP/2.0\r\n\r\n")  # a request: not a response
        logging.getLogger("voicebot.acd").error("something broke")
        logging.getLogger("other.library").error("not ours")
        s = scrape(metrics)
        assert value(s, "voicebot_sip_responses_total", code="200", direction="sent") == 2
        assert value(s, "voicebot_sip_responses_total", code="180", direction="sent") == 1
        assert value(s, "voicebot_sip_responses_total", code="486", direction="received") == 1
        assert value(s, "voicebot_errors_total", logger="voicebot.acd") == 1
        assert ("voicebot_errors_total", frozenset({("logger", "other.library")})) not in s
    finally:
        metrics.close()
    sip_stats.observe("sent", b"SIP/2.0 200 OK\r\n\r\n")  # detached: nothing counts it any more
    assert value(scrape(metrics), "voicebot_sip_responses_total", code="200", direction="sent") == 2


@pytest.mark.integration  # a database fault made for real
def test_a_database_failure_leaves_out_the_acd_figures_but_the_scrape_works(tmp_path: Path) -> None:
    bus = EventBus()
    day = make_day(tmp_path, bus)
    metrics = for_services(bus, day.service, sip=False, errors=False)
    try:
        day.engine.dispose()
        (tmp_path / "day.db").unlink()
        (tmp_path / "day.db").mkdir()  # the database file is now a folder: every query fails
        s = scrape(metrics)
        assert not any(name == "voicebot_queue_depth" for name, _ in s)
        assert value(s, "voicebot_calls_active", phase="ivr") == 0
    finally:
        metrics.close()


@pytest.mark.integration  # real UDP sockets on loopback
def test_the_sip_transport_counts_the_responses_it_sends_and_receives(tmp_path: Path) -> None:
    import socket
    import time

    from voicebot.telephony.sip_transport import UdpTransport

    heard: list[bytes] = []
    transport = UdpTransport("127.0.0.1", 0, lambda data, _addr: heard.append(data))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    metrics = for_services(EventBus(), None, sip=True, errors=False)
    transport.start()
    try:
        reply = b"SIP/2.0 603 Decline\r\nContent-Length: 0\r\n\r\n"
        transport.send(reply, peer.getsockname())
        assert peer.recvfrom(2048)[0] == reply
        peer.sendto(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", transport.port))
        peer.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n", ("127.0.0.1", transport.port))  # a request
        deadline = time.monotonic() + 5
        while len(heard) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(heard) == 2
        s = scrape(metrics)
        assert value(s, "voicebot_sip_responses_total", code="603", direction="sent") == 1
        assert value(s, "voicebot_sip_responses_total", code="486", direction="received") == 1
        assert not any(name == "voicebot_sip_responses_total" and dict(labels).get("code") not in ("603", "486")
                       for name, labels in s)
    finally:
        transport.stop()
        metrics.close()
        peer.close()


def test_the_grafana_dashboard_charts_only_series_that_exist(tmp_path: Path) -> None:
    import json
    import re

    from tests.reports.scenario import ROOT

    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bvoicebot_[a-z_]+", e)}
    bus = EventBus()
    metrics = for_services(bus, make_day(tmp_path, bus).service, sip=False, errors=False)
    try:
        metrics.sip_response("sent", 200)
        metrics.errors.labels("voicebot.test").inc()
        metrics.calls_ended.labels("self_served").inc()
        exposed = {name for name, _labels in scrape(metrics)}
    finally:
        metrics.close()
    assert used and used <= exposed, used - exposed
    for name in ("voicebot_calls_active", "voicebot_queue_depth", "voicebot_queue_longest_wait_seconds",
                 "voicebot_agents", "voicebot_turn_latency_seconds_bucket", "voicebot_sip_responses_total",
                 "voicebot_errors_total"):
        assert name in used
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
