"""What the SIP benchmarks measure on the IVR's side, by wrapping the SIP layer's hooks in-process.

Per call (keyed by the call's RTP client): the send time of every RTP packet and whether it carried audio, the
arrival time of every caller packet and whether it carried speech, RFC 2833 key arrivals, INVITE arrival, and
the caller audio still waiting in the receive buffer when each of our packets went out (once a tick, after the
tick's reads: how far behind the caller the call was hearing, in ms).
"""

from __future__ import annotations

import itertools
import os
import re
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: A caller packet louder than this (peak, 16-bit) carries speech; the callers' files are digital silence
#: between utterances, so any threshold well above zero and below soft speech works.
SPEECH_PEAK = 300


class Probe:
    """Send times of RTP packets, caller packet, key and INVITE arrivals, keyed by the call's RTP client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sends: dict[int, list[tuple[float, bool]]] = {}
        self.heard: dict[int, list[tuple[float, bool]]] = {}
        self.keys: dict[int, list[float]] = {}
        self.invites: dict[int, float] = {}
        self.ports: dict[int, int] = {}  # the client's local RTP port (CallResult.stats["rtp_port"])
        self.behind: dict[int, list[float]] = {}  # caller audio waiting at each send (ms)

    def install(self) -> None:
        from voicebot.telephony import inbound
        from voicebot.telephony import rtp as rtp_module

        probe = self
        stream = rtp_module.RtpStream
        send_frame = stream.send_frame
        push = stream._push
        init = stream.__init__
        invite = inbound.Answerer.invite

        def timed_send(client: Any, pcm: np.ndarray) -> None:
            now = time.monotonic()
            send_frame(client, pcm)
            behind = client.buffered_samples / 8  # (the code before and after the backlog catch-up alike)
            with probe.lock:
                probe.sends.setdefault(id(client), []).append((now, bool(np.any(pcm))))
                probe.ports.setdefault(id(client), int(client.port))
                probe.behind.setdefault(id(client), []).append(behind)

        def timed_push(client: Any, pcm: np.ndarray) -> None:
            now = time.monotonic()
            loud = bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) > SPEECH_PEAK
            with probe.lock:
                probe.heard.setdefault(id(client), []).append((now, loud))
            push(client, pcm)

        def timed_init(client: Any, *args: Any, **kwargs: Any) -> None:
            on_key = kwargs.get("on_key")
            if on_key is not None:
                def key(digit: str) -> None:
                    with probe.lock:
                        probe.keys.setdefault(id(client), []).append(time.monotonic())
                    on_key(digit)
                kwargs["on_key"] = key
            init(client, *args, **kwargs)

        def timed_invite(answerer: Any, request: Any, source: Any) -> None:
            now = time.monotonic()
            invite(answerer, request, source)
            call = answerer.ua.calls.get(request.call_id)
            rtp = getattr(call, "rtp", None) if call is not None else None
            if rtp is not None:
                with probe.lock:
                    probe.invites.setdefault(id(rtp), now)

        setattr(stream, "send_frame", timed_send)  # noqa: B010 (a benchmark's probe)
        setattr(stream, "_push", timed_push)  # noqa: B010
        setattr(stream, "__init__", timed_init)  # noqa: B010
        setattr(inbound.Answerer, "invite", timed_invite)  # noqa: B010

    def reset(self) -> None:
        with self.lock:
            self.sends.clear()
            self.heard.clear()
            self.keys.clear()
            self.invites.clear()
            self.ports.clear()
            self.behind.clear()

    def snapshot(self) -> tuple[dict[int, list[tuple[float, bool]]], dict[int, list[tuple[float, bool]]],
                                dict[int, list[float]], dict[int, float]]:
        with self.lock:
            return ({k: list(v) for k, v in self.sends.items()}, {k: list(v) for k, v in self.heard.items()},
                    {k: list(v) for k, v in self.keys.items()}, dict(self.invites))


def behind_figures(behind: dict[int, list[float]]) -> str:
    """How far behind its caller each call heard: the worst per call (p50, p95, max over calls), and the share
    of ticks more than 100 ms behind."""
    worst = [max(values) for values in behind.values() if values]
    ticks = [v for values in behind.values() for v in values]
    over = sum(1 for v in ticks if v > 100) / len(ticks) * 100 if ticks else float("nan")
    return (f"caller audio waiting, worst per call p50 {pct(worst, 50):.0f} p95 {pct(worst, 95):.0f} "
            f"max {max(worst, default=float('nan')):.0f} ms, ticks over 100 ms {over:.1f}%")


def pacing(sends: dict[int, list[tuple[float, bool]]]) -> tuple[list[float], list[float]]:
    """Inter-packet gaps (ms) over all calls, and each call's drift: (last - first) - (packets - 1) x 20 ms."""
    gaps: list[float] = []
    drifts: list[float] = []
    for packets in sends.values():
        times = [t for t, _ in packets]
        gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(times))
        if len(times) > 1:
            drifts.append((times[-1] - times[0]) * 1000 - (len(times) - 1) * 20)
    return gaps, drifts


def first_audio(sends: dict[int, list[tuple[float, bool]]], invites: dict[int, float]) -> list[float]:
    """INVITE received -> first RTP packet carrying audio (ms), per call."""
    out = []
    for client, packets in sends.items():
        voiced = [t for t, loud in packets if loud]
        if client in invites and voiced:
            out.append((voiced[0] - invites[client]) * 1000)
    return out


def prompt_onsets(packets: list[tuple[float, bool]]) -> list[float]:
    """Send times of the first packet of each stretch of IVR audio (the packet before it was silence)."""
    onsets = []
    previous = False
    for at, loud in packets:
        if loud and not previous:
            onsets.append(at)
        previous = loud
    return onsets


def answers_after(moments: list[float], packets: list[tuple[float, bool]]) -> list[float]:
    """For each moment (a caller's last key or last speech packet): ms until the IVR's next prompt onset."""
    onsets = prompt_onsets(packets)
    out = []
    for at in moments:
        later = [t for t in onsets if t > at]
        if later:
            out.append((later[0] - at) * 1000)
    return out


def speech_ends(heard: list[tuple[float, bool]], pause_s: float = 0.5) -> list[float]:
    """Arrival times of the last speech packet of each caller utterance (a pause longer than ``pause_s`` ends one)."""
    ends = []
    last: float | None = None
    for at, loud in heard:
        if loud:
            if last is not None and at - last > pause_s:
                ends.append(last)
            last = at
    if last is not None:
        ends.append(last)
    return ends


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class SippRun:
    """One sipp run against the in-process server, as the server saw it."""

    done: subprocess.CompletedProcess[str]
    failed: int  # sipp's count of failed calls (-1: sipp printed none)
    not_served: int  # calls whose record did not end self_served, or that left no record
    results: list[Any]  # the server's CallResult of each call (events, RTP stats)
    cpu: float  # this process's CPU time / wall time while sipp ran (100 % = one core)
    rss: float  # peak RSS of this process (MB)
    outcomes: list[str | None]  # each result's record outcome (None: no record), in the order of results


def run_sipp_calls(probe: Probe, sipp: str, scenario: Callable[[Path], Path], *, calls: int, rate: float,
                   engine: str, rtp_base: int, sipp_timeout_s: int) -> SippRun:
    """Start the server (trunk mode, flows/banking.yaml, ``engine``, the demo bank seeded, a fresh data
    folder), run ``calls`` sipp callers of ``scenario(tmp_dir)`` started ``rate`` per second, and take the
    server's results and records before shutting it down."""
    from voicebot.runtime.app import open_services
    from voicebot.storage.seed import seed_demo
    from voicebot.telephony.endpoint import SipConfig
    from voicebot.telephony.server import ServeSettings, VoicebotServer

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VOICEBOT_DATA_DIR"] = str(Path(tmp) / "data")
        scenario_file = scenario(Path(tmp))
        services = open_services()
        seed_demo(services.engine)
        sip = SipConfig(sip_port=0, rtp_port_low=rtp_base, rtp_port_high=rtp_base + 4 * calls + 10,
                        max_calls=calls, default_flow=ROOT / "flows/banking.yaml")
        srv = VoicebotServer.create(ServeSettings(sip, shutdown_grace_seconds=2), engine=engine, services=services)
        srv.start()
        probe.reset()
        try:
            cpu0, wall0 = time.process_time(), time.monotonic()
            done = subprocess.run(
                [sipp, f"127.0.0.1:{srv.sip_port}", "-sf", str(scenario_file), "-s", "1000", "-i", "127.0.0.1",
                 "-p", "0", "-mi", "127.0.0.1", "-mp", str(rtp_base + 5000), "-m", str(calls), "-l", str(calls),
                 "-r", f"{rate:g}", "-nostdin", "-timeout", f"{sipp_timeout_s}s", "-timeout_error"],
                cwd=tmp, capture_output=True, text=True, timeout=sipp_timeout_s + 60,
            )
            deadline = time.monotonic() + 15
            while len(srv.results) < calls and time.monotonic() < deadline:
                time.sleep(0.05)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
            rss = rss_mb()
            results = list(srv.results)
            outcomes = []
            for result in results:
                record = services.store.get_call(result.call_id)
                outcomes.append(record.outcome if record is not None else None)
        finally:
            srv.shutdown(2)
    failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", done.stdout)
    not_served = sum(1 for o in outcomes if o != "self_served") + max(0, calls - len(outcomes))
    return SippRun(done, int(failed[-1]) if failed else -1, not_served, results, cpu, rss, outcomes)
