"""The app's wiring: Prometheus /metrics (voicebot/metrics.py) served by the console with the ACD's figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voicebot.acd.config import parse_acd
from voicebot.acd.service import AcdService
from voicebot.metrics import for_services
from voicebot.runtime.bus import EventBus
from voicebot.storage.db import create_tables, make_engine
from voicebot.web.app import create_app
from voicebot.web.settings import parse_web

pytestmark = pytest.mark.integration


def test_metrics_are_served_with_the_queues_and_agents(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    create_tables(engine)
    settings = parse_acd({"queues": {"general": {}}})
    acd = AcdService(engine, settings, node="t")
    acd.agents.add("alice", "pw-alice-1", now=acd.now())
    acd.agents.login("alice", acd.now())
    acd.enqueue("c1", "general", caller_id="+1555")
    acd.enqueue("c2", "general", caller_id="+1556")
    metrics = for_services(EventBus(), acd, sip=False)
    app = create_app(engine, settings, parse_web({}), acd=acd, metrics=metrics, run_webhooks=False)
    with TestClient(app) as client:
        text = client.get("/metrics/").text
        assert 'voicebot_queue_depth{queue="general"} 2.0' in text
        assert 'voicebot_agents{state="available"} 1.0' in text
        assert "voicebot_calls_active" in text
        assert client.get("/metrics", follow_redirects=True).status_code == 200


def test_without_metrics_there_is_no_metrics_route(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    create_tables(engine)
    with TestClient(create_app(engine, parse_acd({}), parse_web({}), run_webhooks=False)) as client:
        assert client.get("/metrics/").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
