"""``/healthz`` and ``/readyz`` for ``voicebot serve`` (load balancers, Kubernetes probes, monitoring).

``/healthz``: the process answers (200). ``/readyz``: it can take a call: the SIP endpoint is accepting and
the database answers (200), else 503; both return JSON with each check. Enabled by ``health.port`` in
voicebot.yaml (or ``VOICEBOT_HEALTH_PORT``); off by default. stdlib ``http.server``: two fixed paths do not
need a web framework (the web app of issue 10 may take these over). ``/metrics`` serves the process's
Prometheus metrics (docs/reports.md) on the same port.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("voicebot.health")

Checks = Callable[[], dict[str, str]]


class HealthServer:
    def __init__(self, host: str, port: int, checks: Checks, version: str,
                 metrics: Callable[[], tuple[bytes, str]] | None = None) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/healthz":
                    owner._reply(self, 200, {"status": "ok", "version": version})
                elif self.path.split("?")[0] == "/readyz":
                    results = owner._run_checks()
                    ready = all(value == "ok" for value in results.values())
                    owner._reply(self, 200 if ready else 503, {"status": "ready" if ready else "not ready",
                                                                "checks": results})
                elif self.path.split("?")[0] == "/metrics" and metrics is not None:
                    body, content_type = metrics()  # Prometheus' text format (voicebot.metrics)
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    owner._reply(self, 404, {"error": "not found: try /healthz or /readyz"})

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", self.address_string(), format % args)

        self.checks = checks
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="health", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: forever if it never ran
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()

    def _run_checks(self) -> dict[str, str]:
        try:
            return self.checks()
        except Exception as exc:  # a check that crashes means "not ready", with the reason
            return {"checks": f"failed: {type(exc).__name__}: {exc}"}

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        handler.wfile.write(data)


def server_checks(server: Any) -> Checks:
    """The readiness checks of a running :class:`~voicebot.telephony.server.VoicebotServer`."""
    from sqlalchemy import text

    def checks() -> dict[str, str]:
        endpoint = server.endpoint
        results = {"sip": "ok" if endpoint is not None and getattr(endpoint, "accepting", True)
                   else "not accepting calls"}
        try:
            with server.services.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            results["database"] = "ok"
        except Exception as exc:
            results["database"] = f"unreachable: {type(exc).__name__}"
        results["flows"] = "ok" if server.flows else "none loaded"
        return results

    return checks
