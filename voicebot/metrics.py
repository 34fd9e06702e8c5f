"""Prometheus metrics (prometheus-client): live figures of calls, queues, agents, speech latency and SIP.

One :class:`Metrics` per process, on its own registry:

* fed by the event bus (:meth:`Metrics.attach`): active calls by phase, calls ended by outcome, and the
  recognition, prompt first-audio and turn latency histograms from each spoken turn;
* fed by the SIP layer (:mod:`voicebot.telephony.sip_stats`): SIP responses by code and direction;
* fed by logging: errors by logger (every ERROR record under ``voicebot``);
* read from the ACD at scrape time (``acd``): queue depth, callbacks waiting and longest wait per queue,
  agents by state.

:func:`metrics_app` is the ASGI app serving the text format; the web app mounts it at ``/metrics``
(``app.mount("/metrics", metrics_app(metrics))``). docs/grafana-dashboard.json charts these series.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from voicebot.runtime.call_events import Answered, CallBegan, CallEnded, CallEvent, Phase, PhaseChanged, TurnEnded
from voicebot.storage.acd_models import Agent

if TYPE_CHECKING:
    from voicebot.acd.service import AcdService
    from voicebot.runtime.bus import EventBus

log = logging.getLogger("voicebot.metrics")

#: The phases a live call can be in (ended calls are not active).
LIVE_PHASES: tuple[str, ...] = tuple(p for p in get_args(Phase) if p != "ended")
AGENT_STATES = ("logged_out", "available", "reserved", "busy", "wrap_up", "break")
#: Seconds; a spoken turn's parts are tens to hundreds of milliseconds, a slow recognizer a few seconds.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class AcdCollector(Collector):
    """Queue and agent gauges read from the ACD's views when scraped (they are the database's truth,
    shared by every node, so they are not kept in this process)."""

    def __init__(self, acd: AcdService) -> None:
        self.acd = acd

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("voicebot_queue_depth", "Live callers in line (waiting or ringing an agent)",
                                  labels=["queue"])
        callbacks = GaugeMetricFamily("voicebot_queue_callbacks_waiting", "Callbacks waiting for an agent",
                                      labels=["queue"])
        longest = GaugeMetricFamily("voicebot_queue_longest_wait_seconds",
                                    "Longest time in line of an entry in the queue (callbacks keep their place)",
                                    labels=["queue"])
        agents = GaugeMetricFamily("voicebot_agents", "Agents by state", labels=["state"])
        try:
            statuses = self.acd.status()
            everyone: list[Agent] = self.acd.agents.all()
        except Exception as exc:  # a scrape must not fail because the database blinked: report no figure
            log.warning("metrics: ACD views unavailable (%s)", type(exc).__name__)
            return
        for status in statuses:
            depth.add_metric([status.queue], status.waiting + status.offered)
            callbacks.add_metric([status.queue], status.callbacks_waiting)
            longest.add_metric([status.queue], status.longest_wait_seconds)
        by_state = Tally(a.state for a in everyone)
        for state in AGENT_STATES:
            agents.add_metric([state], by_state.get(state, 0))
        yield from (depth, callbacks, longest, agents)


class _ErrorLogs(logging.Handler):
    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter.labels(record.name).inc()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge("voicebot_calls_active", "Calls in progress by phase", ["phase"], registry=r)
        self.calls_ended = Counter("voicebot_calls_ended",
                                   "Calls ended, by the outcome the call published (the flow's: handoff, not the "
                                   "ACD's answered; reports use the stored records)", ["outcome"], registry=r)
        self.recognition = Histogram("voicebot_recognition_latency_seconds",
                                     "Recognizer result after the end of the caller's speech (wall clock)",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.first_audio = Histogram("voicebot_prompt_first_audio_seconds",
                                     "Flow step to the answer's first prompt audio ready (wall clock)",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.turn = Histogram("voicebot_turn_latency_seconds",
                              "End of the caller's speech to the answer's first audio: endpointer silence "
                              "(call time) + recognition + step and first audio (wall clock)",
                              buckets=LATENCY_BUCKETS, registry=r)
        self.sip_responses = Counter("voicebot_sip_responses", "SIP responses by code and direction",
                                     ["code", "direction"], registry=r)
        self.errors = Counter("voicebot_errors", "ERROR log records by logger", ["logger"], registry=r)
        for phase in LIVE_PHASES:
            self.calls_active.labels(phase)
        self._phases: dict[str, str] = {}
        #: Per call: the endpointer's wait after the speech of its latest spoken turn (seconds).
        self._endpoint_wait: dict[str, float] = {}
        self._lock = threading.Lock()
        self._detach: list[Callable[[], None]] = []

    # ----- sources ---------------------------------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        self._detach.append(bus.subscribe(self.on_event, CallEvent))

    def watch_acd(self, acd: AcdService) -> None:
        collector = AcdCollector(acd)
        self.registry.register(collector)
        self._detach.append(lambda: self.registry.unregister(collector))

    def watch_sip(self) -> None:
        from voicebot.telephony import sip_stats

        self._detach.append(sip_stats.listen(self.sip_response))

    def watch_errors(self, logger: str = "voicebot") -> None:
        handler = _ErrorLogs(self.errors)
        logging.getLogger(logger).addHandler(handler)
        self._detach.append(lambda: logging.getLogger(logger).removeHandler(handler))

    def close(self) -> None:
        for detach in reversed(self._detach):
            detach()
        self._detach.clear()

    # ----- events ----------------------------------------------------------------------------------

    def sip_response(self, direction: str, code: int) -> None:
        self.sip_responses.labels(str(code), direction).inc()

    def on_event(self, event: CallEvent) -> None:
        if isinstance(event, CallBegan):
            self._set_phase(event.call_id, "ivr")
        elif isinstance(event, PhaseChanged):
            self._set_phase(event.call_id, event.after)
        elif isinstance(event, CallEnded):
            self._set_phase(event.call_id, None)
            self.calls_ended.labels(event.outcome or "none").inc()
        elif isinstance(event, TurnEnded):
            if event.speech_end_ms is not None:
                with self._lock:
                    self._endpoint_wait[event.call_id] = max(0, event.at_ms - event.speech_end_ms) / 1000
        elif isinstance(event, Answered):
            with self._lock:
                waited = self._endpoint_wait.pop(event.call_id, 0.0)
            self.recognition.observe(event.recognize_ms / 1000)
            self.first_audio.observe(event.first_audio_ms / 1000)
            self.turn.observe(waited + (event.recognize_ms + event.first_audio_ms) / 1000)

    def _set_phase(self, call_id: str, phase: str | None) -> None:
        with self._lock:
            before = self._phases.pop(call_id, None)
            if phase is not None and phase != "ended":
                self._phases[call_id] = phase
            else:
                self._endpoint_wait.pop(call_id, None)
        if before is not None:
            self.calls_active.labels(before).dec()
        if phase is not None and phase != "ended":
            self.calls_active.labels(phase).inc()

    # ----- output ----------------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type (for a plain HTTP handler, e.g. serve's health port)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample now, keyed by (name, sorted labels): for tests and the CLI."""
        out = {}
        for family in self.registry.collect():
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out


def metrics_app(metrics: Metrics) -> Callable[..., Any]:
    """The ASGI app serving ``metrics`` in Prometheus' text format (mount it at ``/metrics``)."""
    app: Callable[..., Any] = make_asgi_app(registry=metrics.registry)
    return app


def for_services(bus: EventBus, acd: AcdService | None = None, *, sip: bool = True,
                 errors: bool = True) -> Metrics:
    """The process's metrics wired to its sources (what ``voicebot serve`` and ``voicebot web`` call)."""
    metrics = Metrics()
    metrics.attach(bus)
    if acd is not None:
        metrics.watch_acd(acd)
    if sip:
        metrics.watch_sip()
    if errors:
        metrics.watch_errors()
    return metrics

