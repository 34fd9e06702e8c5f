"""Running the web app: in the foreground (``voicebot web``) or in a thread beside the SIP service
(``voicebot serve``), with uvicorn."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from voicebot.runtime.bus import EventBus

log = logging.getLogger("voicebot.web")


class WebServer:
    """uvicorn in a daemon thread; ``stop()`` ends it (SSE streams are closed with it)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        # log_config=None: uvicorn's records go through serve's own handler (text or --log-format json), not
        # uvicorn's console format, so every line of `voicebot --log-format json serve` stays JSON.
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2,
                                log_config=None)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="voicebot-web", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web console did not start (is the port in use?)")
            time.sleep(0.05)

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def start_beside_serve(config_path: Path | None = None, bus: EventBus | None = None) -> WebServer | None:
    """What ``voicebot serve`` calls: the console on ``web.host:web.port`` unless ``web.enabled`` is false."""
    from voicebot.web.app import app_from_environment
    from voicebot.web.settings import load_web_settings

    settings = load_web_settings(config_path)
    if not settings.enabled:
        return None
    server = WebServer(app_from_environment(config_path, bus), settings.host, settings.port)
    try:
        server.start()
    except RuntimeError as exc:  # calls matter more than the console: answer them, say why it is missing
        log.error("web console on %s:%d not started: %s", settings.host, settings.port, exc)
        return None
    log.info("web console on http://%s:%d/", settings.host, server.port)
    return server
