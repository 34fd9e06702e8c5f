"""The http action against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from voicebot.services import ActionContext, ActionFailed, default_registry
from voicebot.storage.db import make_engine

RELEASE_SLOW = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        received = json.loads(self.rfile.read(length) or b"null")
        path = urlsplit(self.path).path
        if path == "/echo":
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("x-", "content-type"))}
            self._reply(200, json.dumps({"received": received, "headers": headers}).encode())
        elif path == "/list":
            self._reply(200, b"[1, 2, 3]")
        elif path == "/number":
            self._reply(201, b"42")
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif path == "/fail":
            self._reply(500, b'{"error": "boom"}')
        elif path == "/text":
            self._reply(200, b"<html>hello</html>", "text/html")
        elif path == "/slow":
            RELEASE_SLOW.wait(5)
            self._reply(200, b"{}")
        else:
            self._reply(404, b"{}")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the slow handler writes to a socket the client already gave up on


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only 127.0.0.1 traffic, never via a proxy from the environment.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def base_url() -> Iterator[str]:
    RELEASE_SLOW.clear()
    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        RELEASE_SLOW.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def ctx(tmp_path: Path) -> ActionContext:
    return ActionContext(make_engine(f"sqlite:///{tmp_path / 'x.db'}"), "call-42", datetime.now(UTC))


def http(ctx: ActionContext, **args: Any) -> dict[str, Any]:
    return default_registry().run("http", args, ctx)


def test_json_object_reply(ctx: ActionContext, base_url: str) -> None:
    result = http(ctx, url=f"{base_url}/echo", body={"account": "44170923", "amount": 12},
                  headers={"X-Api-Key": "secret"})
    assert result["received"] == {"account": "44170923", "amount": 12}
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["headers"]["X-Api-Key"] == "secret"
    assert result["headers"]["X-Voicebot-Call-Id"] == "call-42"


def test_other_json_is_wrapped(ctx: ActionContext, base_url: str) -> None:
    assert http(ctx, url=f"{base_url}/list", body={}) == {"result": [1, 2, 3]}
    assert http(ctx, url=f"{base_url}/number") == {"result": 42}
    assert http(ctx, url=f"{base_url}/empty") == {}


def test_http_error(ctx: ActionContext, base_url: str) -> None:
    with pytest.raises(ActionFailed, match=f"^HTTP 500 from {base_url}/fail$"):
        http(ctx, url=f"{base_url}/fail?token=secret", body={})
    with pytest.raises(ActionFailed, match="HTTP 404"):
        http(ctx, url=f"{base_url}/nowhere", body={})


def test_timeout(ctx: ActionContext, base_url: str) -> None:
    with pytest.raises(ActionFailed, match="timed out after 200 ms"):
        http(ctx, url=f"{base_url}/slow", body={}, timeout_ms=200)


def test_non_json_reply(ctx: ActionContext, base_url: str) -> None:
    with pytest.raises(ActionFailed, match=f"non-JSON reply from {base_url}/text"):
        http(ctx, url=f"{base_url}/text", body={})


def test_connection_refused(ctx: ActionContext) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ActionFailed, match=f"cannot reach http://127.0.0.1:{port}/"):
        http(ctx, url=f"http://127.0.0.1:{port}/", body={})


@pytest.mark.parametrize(("args", "reason"), [
    ({"url": "file:///etc/passwd"}, "http:// or https://"),
    ({"url": "ftp://127.0.0.1/x"}, "http:// or https://"),
    ({"url": "http://"}, "http:// or https://"),
    ({"url": 42}, "url must be a string"),
    ({"url": "http://127.0.0.1:9/", "body": [1]}, "body must be an object"),
    ({"url": "http://127.0.0.1:9/", "headers": "x"}, "headers must be an object"),
    ({"url": "http://127.0.0.1:9/", "timeout_ms": 0}, "timeout_ms must be positive"),
    ({"url": "http://127.0.0.1:9/", "timeout_ms": "soon"}, "timeout_ms must be a number"),
    ({"url": "http://127.0.0.1:9/", "body": {"x": float("nan")}}, "not JSON-serialisable"),
    ({"url": "http://127.0.0.1:9/", "method": "GET"}, "unknown argument"),
])
def test_bad_arguments(ctx: ActionContext, args: dict[str, Any], reason: str) -> None:
    with pytest.raises(ActionFailed, match=reason):
        http(ctx, **args)
