"""The health port of ``voicebot serve`` over a real loopback socket: /healthz while the process runs, /readyz
200 only when every check is ok and 503 with the reason otherwise (a check that crashes included), /metrics,
404 elsewhere; the checks of a running server (SIP accepting, database answering, flows loaded)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine

from voicebot.health import HealthServer, server_checks

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


class _Checks:
    def __init__(self) -> None:
        self.results: dict[str, str] | Exception = {"sip": "ok", "database": "ok", "flows": "ok"}

    def __call__(self) -> dict[str, str]:
        if isinstance(self.results, Exception):
            raise self.results
        return self.results


@pytest.fixture
def health() -> Iterator[tuple[str, _Checks]]:
    checks = _Checks()
    server = HealthServer("127.0.0.1", 0, checks, "9.9.9", metrics=lambda: (b"voicebot_calls 3\n", "text/plain"))
    server.start()
    host, port = server.address
    try:
        yield f"http://{host}:{port}", checks
    finally:
        server.stop()


def test_ready_and_not_ready(health: tuple[str, _Checks]) -> None:
    base, checks = health
    status, kind, body = _get(f"{base}/healthz")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"status": "ok", "version": "9.9.9"})
    status, _, body = _get(f"{base}/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"

    checks.results = {"sip": "not accepting calls", "database": "ok", "flows": "ok"}  # e.g. shutting down
    status, _, body = _get(f"{base}/readyz")
    assert (status, json.loads(body)) == (503, {"status": "not ready", "checks": checks.results})
    assert _get(f"{base}/healthz")[0] == 200  # alive all the same

    checks.results = RuntimeError("engine disposed")
    status, _, body = _get(f"{base}/readyz")
    assert (status, json.loads(body)["checks"]) == (503, {"checks": "failed: RuntimeError: engine disposed"})


def test_metrics_and_unknown_paths(health: tuple[str, _Checks]) -> None:
    base, _ = health
    assert _get(f"{base}/metrics") == (200, "text/plain", b"voicebot_calls 3\n")
    status, _, body = _get(f"{base}/nowhere")
    assert status == 404 and "try /healthz" in json.loads(body)["error"]


def test_a_stopped_server_that_never_served_closes_at_once() -> None:
    server = HealthServer("127.0.0.1", 0, _Checks(), "9.9.9")
    stopping = threading.Thread(target=server.stop, daemon=True)  # not started: no serve loop to wait for
    stopping.start()
    stopping.join(10)
    assert not stopping.is_alive() and server.httpd.socket.fileno() == -1


def _server(endpoint: Any, engine: Any, flows: dict[str, str]) -> Any:
    return SimpleNamespace(endpoint=endpoint, services=SimpleNamespace(engine=engine), flows=flows)


def test_the_checks_of_a_running_server(tmp_path: Any) -> None:
    good = create_engine(f"sqlite:///{tmp_path / 'voicebot.db'}")
    # A database that cannot be opened: its folder does not exist.
    gone = create_engine(f"sqlite:///{tmp_path / 'missing' / 'voicebot.db'}")
    try:
        ok = server_checks(_server(SimpleNamespace(accepting=True), good, {"f": "flow"}))()
        assert ok == {"sip": "ok", "database": "ok", "flows": "ok"}
        bad = server_checks(_server(SimpleNamespace(accepting=False), gone, {}))()
        assert bad == {"sip": "not accepting calls", "database": "unreachable: OperationalError",
                       "flows": "none loaded"}
        assert server_checks(_server(None, good, {"f": "flow"}))()["sip"] == "not accepting calls"
    finally:
        good.dispose()
        gone.dispose()
