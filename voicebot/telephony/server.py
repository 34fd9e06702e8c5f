"""``voicebot serve``: the SIP endpoint answering calls with flows, one thread per call, graceful shutdown.

Configuration: the ``sip:`` section of ``voicebot.yaml`` (or the file given), then environment overrides::

    sip:
      host: 127.0.0.1            # VOICEBOT_SIP_HOST (also the address put in SDP)
      port: 5060                 # VOICEBOT_SIP_PORT
      rtp_ports: [30000, 30999]  # VOICEBOT_RTP_PORTS=30000-30999
      mode: trunk                # VOICEBOT_SIP_MODE: trunk | register
      registrar: {host: 127.0.0.1, port: 5060, username: voicebot, password: secret}
                                 # VOICEBOT_SIP_REGISTRAR=host:port, VOICEBOT_SIP_USER, VOICEBOT_SIP_PASSWORD
      max_calls: 20              # VOICEBOT_MAX_CALLS; beyond it: 486 Busy Here
      default_flow: flows/banking.yaml
      flows: {"1000": flows/banking.yaml}   # dialled number -> flow
      shutdown_grace_seconds: 10 # on SIGTERM/SIGINT, calls in progress get this long to finish
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from voicebot.acd.dispatcher import AcdDispatcher
from voicebot.asr.base import Recognizer
from voicebot.config import ConfigError, load_settings
from voicebot.flow.compile import CompiledFlow
from voicebot.logs import call_log_context
from voicebot.runtime.app import Services, open_services
from voicebot.runtime.call import GOODBYE
from voicebot.runtime.call_events import CallEvent
from voicebot.runtime.speech import prepare_recognizer
from voicebot.storage.db import data_dir
from voicebot.telephony.call_loop import CallResult, run_call
from voicebot.telephony.endpoint import CallChannel, OutboundChannel, SipConfig, SipEndpoint
from voicebot.tts.cache import PromptCache

log = logging.getLogger("voicebot.serve")

POLL_S = 0.05  # how often shutdown looks at the calls still up
HARD_STOP_S = 2.0  # after the grace period: how long calls get to send BYE and release their ports
#: Finished calls kept in :attr:`VoicebotServer.results` (the newest): a server runs for months, and a list of
#: every call it ever took grew by each call's events (the call records are in the database).
RESULTS_KEPT = 200


@dataclass
class ServeSettings:
    sip: SipConfig
    shutdown_grace_seconds: float = 10.0


def load_sip_config(path: Path | None = None, env: dict[str, str] | None = None) -> ServeSettings:
    """The ``sip:`` section of the configuration file (``VOICEBOT_CONFIG`` or ./voicebot.yaml), then env.

    Checked by :mod:`voicebot.config` (ConfigError lines name the file and key, or the variable).
    """
    settings, _source = load_settings(path, env)
    try:
        sip = settings.sip.endpoint_config()
    except ValueError as exc:
        raise ConfigError(f"sip: {exc}") from exc
    return ServeSettings(sip, settings.sip.shutdown_grace_seconds)


@dataclass
class VoicebotServer:
    """The running service, usable in-process (tests, ``voicebot demo``): :meth:`start`, :meth:`shutdown`."""

    settings: ServeSettings
    services: Services
    recognizer: Recognizer
    prompts: PromptCache
    recordings_dir: Path | None = None
    on_event: Callable[[str, CallEvent], None] | None = None
    flows: dict[Path, CompiledFlow] = field(default_factory=dict)
    results: deque[CallResult] = field(default_factory=lambda: deque(maxlen=RESULTS_KEPT))  # the newest calls
    closing_calls: threading.Event = field(default_factory=threading.Event)  # calls say goodbye
    stop_calls: threading.Event = field(default_factory=threading.Event)  # calls end at once
    endpoint: SipEndpoint | None = None
    goodbye_seconds: float = 0.0
    #: The live ACD (``acd.live.enabled``): handed-off callers wait on the line and are bridged to agents.
    dispatcher: AcdDispatcher | None = None

    @classmethod
    def create(cls, settings: ServeSettings, *, engine: str | None = None, services: Services | None = None,
               recordings_dir: Path | None = None, prebuild_prompts: bool = True) -> VoicebotServer:
        from voicebot.tts.prompts import static_prompts

        services = services or open_services()
        paths = {settings.sip.default_flow, *settings.sip.flows.values()}
        flows = {path: services.load(path) for path in paths}  # every flow compiles before a call is taken
        prompts = services.prompts()
        if prebuild_prompts:
            for compiled in flows.values():
                prompts.build(static_prompts(compiled))
        goodbye = prompts.render(GOODBYE)  # ready before it is needed: shutdown is no time to synthesize
        recognizer = services.recognizer(engine)
        prepare_recognizer(recognizer, flows.values(), settings.sip.max_calls)
        return cls(settings, services, recognizer, prompts,
                   recordings_dir if recordings_dir is not None else data_dir() / "recordings", flows=flows,
                   goodbye_seconds=len(goodbye) / prompts.rate)

    @property
    def sip_port(self) -> int:
        assert self.endpoint is not None
        return self.endpoint.sip_port

    def start(self) -> None:
        self.endpoint = SipEndpoint(self.settings.sip, self._on_call)
        self.endpoint.start()
        if self.services.config.settings.acd.live.enabled:
            self.dispatcher = start_live_acd(self.services, self.endpoint)

    def _on_call(self, channel: CallChannel) -> None:
        flow = self.flows[self.settings.sip.flow_for(channel.dialled)]
        call = self.services.new_call(flow, recognizer=self.recognizer, recordings_dir=self.recordings_dir)
        hook = self.on_event
        unsubscribe: Callable[[], None] | None = None
        if hook is not None:
            def forward(event: CallEvent) -> None:
                if event.call_id == call.call_id:
                    hook(channel.sip_call_id, event)

            unsubscribe = self.services.bus.subscribe(forward, CallEvent)
        try:
            with call_log_context(sip_call_id=channel.sip_call_id):  # on every log line of this call (JSON logs)
                result = run_call(channel, call, stop=self.stop_calls, closing=self.closing_calls)
        finally:
            if unsubscribe is not None:
                unsubscribe()
        self.results.append(result)

    def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop taking calls (486) and end the calls in progress within the grace period, in total.

        Calls get the grace period to finish on their own, less the time the goodbye prompt takes; callers
        still with us then hear "We're sorry, this line is closing now" and get BYE when it has played. What
        is still up when the grace period is over is ended at once (records completed, BYE sent).
        """
        if self.endpoint is None:
            return
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        deadline = time.monotonic() + grace
        self.endpoint.stop_accepting()
        endpoint = self.endpoint
        if not self._wait_calls(endpoint, deadline - self.goodbye_seconds - 0.2):
            log.info("shutdown: saying goodbye to %d calls still in progress", endpoint.active_calls())
            self.closing_calls.set()
            if not self._wait_calls(endpoint, deadline):
                log.info("shutdown: ending %d calls still in progress", endpoint.active_calls())
        self.stop_calls.set()
        self._wait_calls(endpoint, time.monotonic() + HARD_STOP_S)
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.services.acd = None
            self.dispatcher = None
        endpoint.stop()
        self.endpoint = None
        self.recognizer.close()

    @staticmethod
    def _wait_calls(endpoint: SipEndpoint, until: float) -> bool:
        """Wait until no call is up or the monotonic time ``until``; True if none is up."""
        while endpoint.active_calls() > 0:
            if time.monotonic() >= until:
                return False
            time.sleep(POLL_S)
        return True


def start_live_acd(services: Services, endpoint: SipEndpoint) -> AcdDispatcher:
    """The ACD dispatcher on ``endpoint``: agents' legs are our outbound calls; calls queue through it."""
    from voicebot.acd.service import AcdService

    def dial(uri: str, caller: str, headers: dict[str, str], ring_timeout: float) -> OutboundChannel:
        return endpoint.dial(uri, caller=caller, headers=headers, ring_timeout=ring_timeout)

    dispatcher = AcdDispatcher(AcdService(services.engine, services.config.settings.acd), dial)
    services.acd = dispatcher
    return dispatcher.start()


def serve(config_path: Path | None = None, *, engine: str | None = None,
          stop: threading.Event | None = None, ready: Callable[[VoicebotServer], None] | None = None) -> int:
    """Run the SIP service until SIGTERM/SIGINT (or ``stop`` is set); returns an exit status (0).

    ``config_path``: the YAML file with the ``sip:`` section (default: ``VOICEBOT_CONFIG`` or ./voicebot.yaml,
    else built-in defaults); environment variables override it. ``engine`` overrides ``asr.engine``.
    """
    settings = load_sip_config(config_path)
    from voicebot.config import load_config

    services = open_services(config=load_config(config_path))
    from voicebot.storage.spool_replayer import SpoolReplayer

    # Spooled records now, then every spool.replay_seconds (issue 8).
    replayer = SpoolReplayer(services.store, services.config.settings.spool.replay_seconds).start()
    server = VoicebotServer.create(settings, engine=engine, services=services)
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    from voicebot.web.server import start_beside_serve

    web = None
    try:
        # The agent/supervisor console (and /metrics with these calls' figures) on its own port (web:), before SIP
        # takes calls: its metrics follow the event bus, and a call that began before it subscribed would be
        # missing from the gauges (the live ACD's start-up recovery made that window wide enough to hit).
        web = start_beside_serve(config_path, server.services.bus)
        server.start()
        if ready is not None:
            ready(server)
        while not stop.wait(0.5):
            pass
    finally:
        if web is not None:
            web.stop()
        server.shutdown()
        replayer.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
