"""What ``voicebot serve`` adds around the SIP server for operators: start-up log lines, a pid file for
``voicebot reload``, flow reload on SIGHUP, and the /healthz and /readyz endpoints.

:class:`ServeOps` is used as ``ops.bind_health()`` before the server is created, ``ready=ops.ready`` (called
once the server listens, in the main thread) and ``ops.close()`` when the server has stopped.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from voicebot.config import Config
from voicebot.runtime.allocator import allocator_in_use

if TYPE_CHECKING:
    from voicebot.health import HealthServer
    from voicebot.metrics import Metrics
    from voicebot.telephony.server import VoicebotServer

log = logging.getLogger("voicebot.serve")


def pid_file() -> Path:
    from voicebot.storage.db import data_dir

    return data_dir() / "voicebot.pid"


class ServeOps:
    def __init__(self, config: Config, version: str) -> None:
        self.config = config
        self.version = version
        self.server: VoicebotServer | None = None
        self.health: HealthServer | None = None
        self.metrics: Metrics | None = None
        self._previous_hup: Any = None
        self._pid: Path | None = None

    def bind_health(self) -> None:
        """Bind the /healthz port (``health.port``) now, before the slow part of start-up; it answers from
        :meth:`ready` on. A port taken or an address not of this machine is a :class:`CliError` naming it."""
        from voicebot.cli_errors import CliError, listen_error_line, os_error_line
        from voicebot.health import HealthServer

        health = self.config.settings.health
        if health.port is None:
            return
        try:
            self.health = HealthServer(health.host, health.port, self._checks, self.version,
                                       metrics=self._exposition)
        except OSError as exc:
            raise CliError(listen_error_line(exc, health.host, health.port) or os_error_line(exc)) from exc

    def _checks(self) -> dict[str, str]:
        from voicebot.health import server_checks

        if self.server is None:  # not reached: the endpoints answer once the server is ready
            return {"sip": "starting"}
        return server_checks(self.server)()

    def _exposition(self) -> tuple[bytes, str]:
        assert self.metrics is not None  # set in ready(), before the endpoints answer
        return self.metrics.exposition()

    def ready(self, server: VoicebotServer) -> None:
        self.server = server
        log_startup(server, self.version)
        self._pid = pid_file()
        try:
            self._pid.parent.mkdir(parents=True, exist_ok=True)
            self._pid.write_text(f"{os.getpid()}\n")
        except OSError as exc:
            log.warning("cannot write %s (%s): voicebot reload needs --pid", self._pid, exc.strerror)
            self._pid = None
        self._previous_hup = signal.signal(signal.SIGHUP, self._on_hup)
        log.info("flows reload on SIGHUP or `voicebot reload` (pid %d)", os.getpid())
        if self.health is not None:
            from voicebot.metrics import for_services

            self.metrics = for_services(server.services.bus)  # calls, speech latency, SIP responses, errors
            self.health.start()
            host, port = self.health.address
            log.info("health: http://%s:%d/healthz and /readyz; metrics: /metrics", host, port)

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        from voicebot.flow.catalog import reload_flows

        if self.server is not None:
            log.info("SIGHUP: reloading flows")
            reload_flows(self.server)

    def close(self) -> None:
        if self.health is not None:
            self.health.stop()
            self.health = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self._previous_hup is not None:
            signal.signal(signal.SIGHUP, self._previous_hup)
            self._previous_hup = None
        if self._pid is not None:
            self._pid.unlink(missing_ok=True)
            self._pid = None


def log_startup(server: VoicebotServer, version: str) -> None:
    sip = server.settings.sip
    services = server.services
    log.info("voicebot %s listening: SIP %s:%d/udp (%s mode), RTP %d-%d, at most %d calls", version, sip.host,
             server.sip_port, sip.mode, sip.rtp_port_low, sip.rtp_port_high, sip.max_calls)
    if sip.mode == "register":
        log.info("registering as %s at %s:%d", sip.username, sip.registrar_host, sip.registrar_port)
    routes = ", ".join(f"{number} -> {path}" for number, path in sorted(sip.flows.items()))
    log.info("flows: default %s%s", sip.default_flow, f"; {routes}" if routes else "")
    log.info("speech: recognizer %s; prompts cached in %s", server.recognizer.name, server.prompts.directory)
    allocator = allocator_in_use()
    if allocator == "system":
        log.info("memory allocator: system (glibc): memory grows in steps over days; preload jemalloc "
                 "(LD_PRELOAD=libjemalloc.so.2, as deploy/voicebot.service does) to keep it flat")
    else:
        log.info("memory allocator: %s", allocator)
    url = services.engine.url.render_as_string(hide_password=True)
    log.info("database: %s; spool %s (replayed at start and every %g s); configuration: %s", url,
             services.store.spool_dir, services.config.settings.spool.replay_seconds, services.config.source)


def send_reload(pid: int | None) -> int:
    """Send SIGHUP to the running server (``pid``, else the one in the pid file); returns the pid."""
    from voicebot.cli_errors import CliError

    if pid is None:
        path = pid_file()
        try:
            pid = int(path.read_text().strip())
        except FileNotFoundError:
            raise CliError(f"{path}: no such file: is `voicebot serve` running here? (or give --pid)") from None
        except ValueError:
            raise CliError(f"{path}: does not hold a process id") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise CliError(f"no process {pid}: `voicebot serve` is not running (stale pid file?)") from None
    return pid
