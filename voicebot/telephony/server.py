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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from voicebot.asr.base import Recognizer
from voicebot.config import ConfigError, load_settings
from voicebot.flow.compile import CompiledFlow
from voicebot.logs import call_log_context
from voicebot.runtime.app import Services, open_services
from voicebot.runtime.media import MediaEvent
from voicebot.runtime.speech import make_prompt_cache, make_recognizer, phrases_by_intent, prepare_recognizer
from voicebot.storage.db import data_dir
from voicebot.telephony.call_loop import CallResult, run_call
from voicebot.telephony.endpoint import CallChannel, SipConfig, SipEndpoint
from voicebot.tts.cache import PromptCache

log = logging.getLogger("voicebot.serve")


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
    on_event: Callable[[str, MediaEvent], None] | None = None
    flows: dict[Path, CompiledFlow] = field(default_factory=dict)
    results: list[CallResult] = field(default_factory=list)
    stop_calls: threading.Event = field(default_factory=threading.Event)
    endpoint: SipEndpoint | None = None

    @classmethod
    def create(cls, settings: ServeSettings, *, engine: str | None = None, services: Services | None = None,
               recordings_dir: Path | None = None, prebuild_prompts: bool = True) -> VoicebotServer:
        from voicebot.tts.prompts import static_prompts

        services = services or open_services()
        paths = {settings.sip.default_flow, *settings.sip.flows.values()}
        flows = {path: services.load(path) for path in paths}  # every flow compiles before a call is taken
        prompts = make_prompt_cache(services.config)
        if prebuild_prompts:
            for compiled in flows.values():
                prompts.build(static_prompts(compiled))
        recognizer = make_recognizer(services.config, engine)
        prepare_recognizer(recognizer, flows.values(), settings.sip.max_calls)
        return cls(settings, services, recognizer, prompts,
                   recordings_dir if recordings_dir is not None else data_dir() / "recordings", flows=flows)

    @property
    def sip_port(self) -> int:
        assert self.endpoint is not None
        return self.endpoint.sip_port

    def start(self) -> None:
        self.endpoint = SipEndpoint(self.settings.sip, self._on_call)
        self.endpoint.start()

    def _on_call(self, channel: CallChannel) -> None:
        path = self.settings.sip.flow_for(channel.dialled)
        flow = self.flows[path]
        hook = self.on_event

        def forward(event: MediaEvent) -> None:
            if hook is not None:
                hook(channel.sip_call_id, event)

        with call_log_context(sip_call_id=channel.sip_call_id):  # on every log line of this call (JSON logs)
            result = run_call(
                channel, flow=flow, registry=self.services.registry, store=self.services.store,
                prompts=self.prompts, recognizer=self.recognizer, phrases=phrases_by_intent(flow),
                recordings_dir=self.recordings_dir, stop=self.stop_calls,
                on_event=forward if hook is not None else None,
            )
        self.results.append(result)

    def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop taking calls (486), let calls in progress finish for the grace period, then end the rest
        (their records are completed and they get BYE), and close the endpoint."""
        if self.endpoint is None:
            return
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self.endpoint.stop_accepting()
        if not self.endpoint.wait_calls(grace):
            log.info("shutdown: ending %d calls still in progress", self.endpoint.active_calls())
        self.stop_calls.set()
        self.endpoint.wait_calls(5.0)
        self.endpoint.stop()
        self.endpoint = None
        self.recognizer.close()


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
    try:
        server.start()
        if ready is not None:
            ready(server)
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        replayer.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
