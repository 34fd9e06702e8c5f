"""The app's wiring: Prometheus /metrics mounted from voicebot/metrics.py when that module exists."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from voicebot.acd.config import parse_acd
from voicebot.storage.db import create_tables, make_engine
from voicebot.web.app import create_app
from voicebot.web.settings import parse_web


def _app(tmp_path: Path) -> TestClient:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    create_tables(engine)
    return TestClient(create_app(engine, parse_acd({}), parse_web({}), run_webhooks=False))


def test_metrics_router_is_mounted_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    router = APIRouter()

    @router.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse("voicebot_up 1\n")

    module = types.ModuleType("voicebot.metrics")
    module.router = router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "voicebot.metrics", module)
    with _app(tmp_path) as client:
        assert client.get("/metrics").text == "voicebot_up 1\n"


def test_without_a_metrics_module_there_is_no_metrics_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "voicebot.metrics", None)  # import fails as if the file were absent
    with _app(tmp_path) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
