"""The live ACD over loopback SIP: ring latency, the bridge's one-way delay, RTP gaps with N bridged calls.

In-process voicebot (trunk mode, ``bench/flows/agent_at_once.yaml``: every caller is handed off at once, so no
recognizer is in the way) with the live ACD on a SQLite file; N agent phones and N callers are our own SIP
endpoints on loopback (real SIP, real RTP through the server):

* ring latency: the flow's handoff (HandoffRequested on the server) -> the agent phone receives the call
  (p50/p95; the target for "agent" said -> agent phone ringing is p95 <= 1 s);
* bridge one-way delay: each agent phone sends a loud marker frame every 500 ms; the caller's side notes when
  the marker arrives (polled every 2 ms): send -> receive p50/p95, which is the whole path agent -> voicebot
  (RTP in, the caller's next 20 ms tick, RTP out) -> caller; the target for the extra delay is p95 <= 40 ms;
* RTP gaps: at each caller, the time between successive frames of the bridged audio, p99 over all calls
  (target <= 25 ms with 20 simultaneous bridged calls).

Prints figures only; nothing is asserted.

    .venv/bin/python bench/acd_bridge.py [--calls 1 20] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "bench" / "flows" / "agent_at_once.yaml"
MARK = 30000  # the marker frame's level; hold music peaks at 8000
MARK_EVERY = 25  # frames: every 500 ms

CONFIG = """
acd:
  live: {enabled: true, first_announcement_seconds: 60, route_interval_seconds: 0.25}
  queues:
    general: {skills: [banking], offer_timeout_seconds: 10, wrap_up_seconds: 0}
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(calls: int, seconds: float) -> None:
    from voicebot.acd.service import AcdService
    from voicebot.runtime.app import open_services
    from voicebot.runtime.call_events import CallEvent
    from voicebot.telephony.endpoint import CallChannel, SipConfig, SipEndpoint
    from voicebot.telephony.server import ServeSettings, VoicebotServer
    from voicebot.tts.cache import PromptCache
    from voicebot.tts.fake import FakeSynthesizer

    tmp = Path(tempfile.mkdtemp(prefix="bench-acd-bridge-"))
    (tmp / "voicebot.yaml").write_text(CONFIG)
    os.environ.update(VOICEBOT_CONFIG=str(tmp / "voicebot.yaml"), VOICEBOT_DATA_DIR=str(tmp / "data"),
                      VOICEBOT_NODE=f"bench-{os.getpid()}")
    os.environ.pop("DATABASE_URL", None)
    services = open_services()
    services.use_prompts(PromptCache(tmp / "prompts", FakeSynthesizer(sample_rate=8000), rate=8000))
    port = 32000
    sip = SipConfig(sip_port=0, rtp_port_low=port, rtp_port_high=port + 4 * calls + 20, default_flow=FLOW,
                    max_calls=2 * calls + 4)
    server = VoicebotServer.create(ServeSettings(sip, shutdown_grace_seconds=2), engine="pocketsphinx",
                                   services=services)
    handoffs: dict[str, float] = {}  # caller (From user) -> handoff time
    lock = threading.Lock()

    def on_event(_sip_id: str, event: CallEvent) -> None:
        if event.kind == "handoff":
            with lock:
                handoffs[event.call_id] = time.monotonic()

    server.on_event = on_event
    server.start()
    ring: list[float] = []
    delays: list[float] = []
    gaps: list[float] = []
    marks_sent: dict[str, list[float]] = {}  # by X-Voicebot-Handoff... by agent login

    def agent_phone(login: str) -> SipEndpoint:
        def on_call(channel: CallChannel) -> None:
            arrived = time.monotonic()
            with lock:
                # the newest handoff without a ring yet is this call's (calls are placed one by one)
                pending = sorted(handoffs.values())
                if pending:
                    ring.append(arrived - pending.pop(0))
                    handoffs.pop(next(k for k, v in handoffs.items() if v == min(handoffs.values())))
            silence = np.zeros(160, dtype=np.int16)
            marker = np.full(160, MARK, dtype=np.int16)
            sent = marks_sent.setdefault(login, [])
            n = 0
            start = time.monotonic()
            while not channel.ended:
                n += 1
                if n % MARK_EVERY == 0:
                    sent.append(time.monotonic())
                    channel.write_frame(marker)
                else:
                    channel.write_frame(silence)
                channel.read_frame()
                time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

        low = port + 4 * calls + 40 + 10 * len(agents)
        endpoint = SipEndpoint(SipConfig(sip_port=0, rtp_port_low=low, rtp_port_high=low + 9, max_calls=2), on_call)
        endpoint.start()
        return endpoint

    agents: list[SipEndpoint] = []
    acd = server.dispatcher.service if server.dispatcher else AcdService(services.engine, services.config.settings.acd)
    for i in range(calls):
        login = f"agent{i:02d}"
        endpoint = agent_phone(login)
        agents.append(endpoint)
        acd.agents.add(login, "pw", sip_uri=f"sip:{login}@127.0.0.1:{endpoint.sip_port}", skills={"banking": 3},
                       now=acd.now())
        acd.agents.login(login, acd.now())
    caller_low = port + 4 * calls + 40 + 10 * calls + 10
    callers = SipEndpoint(SipConfig(sip_port=0, rtp_port_low=caller_low, rtp_port_high=caller_low + 2 * calls + 4,
                                    max_calls=calls + 2), lambda _c: None)
    callers.start()

    def caller(index: int) -> None:
        leg = callers.dial(f"sip:1000@127.0.0.1:{server.sip_port}", caller=f"+1555020{index:04d}", ring_timeout=10)
        if leg.wait_outcome(10) != "answered":
            print(f"caller {index}: {leg.outcome} {leg.outcome_reason}")
            return
        silence = np.zeros(160, dtype=np.int16)
        end = time.monotonic() + seconds
        next_send = time.monotonic()
        last_frame: float | None = None
        heard: list[float] = []
        bridged = False
        while time.monotonic() < end and not leg.ended:
            now = time.monotonic()
            if now >= next_send:
                leg.write_frame(silence)
                next_send += 0.02
            frame = leg.read_frame()
            if frame is None:
                time.sleep(0.002)
                continue
            if bridged and last_frame is not None:
                gaps.append((now - last_frame) * 1000)
            last_frame = now
            if int(np.abs(frame.astype(np.int32)).max()) >= MARK - 100:
                bridged = True
                heard.append(now)
        leg.hang_up()
        with lock:
            delays.extend(heard_delays(heard))

    def heard_delays(heard: list[float]) -> list[float]:
        sent = sorted(t for times in marks_sent.values() for t in times)
        out = []
        for t in heard:
            before = [s for s in sent if s <= t]
            if before and t - before[-1] < 0.4:
                out.append((t - before[-1]) * 1000)
        return out

    threads = []
    for i in range(calls):
        thread = threading.Thread(target=caller, args=(i,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)
    for thread in threads:
        thread.join(seconds + 30)
    server.shutdown(2)
    callers.stop()
    for endpoint in agents:
        endpoint.stop()
    print(f"{calls} bridged calls, {seconds:.0f} s each:")
    print(f"  ring latency (handoff -> agent phone rings) p50 {pct(ring, 50) * 1000:.0f} ms, "
          f"p95 {pct(ring, 95) * 1000:.0f} ms (n={len(ring)})")
    print(f"  agent -> caller one-way through the bridge p50 {pct(delays, 50):.1f} ms, p95 {pct(delays, 95):.1f} ms "
          f"(n={len(delays)})")
    if gaps:
        print(f"  caller-side frame gaps p50 {statistics.median(gaps):.1f} ms, p99 {pct(gaps, 99):.1f} ms, "
              f"max {max(gaps):.1f} ms (n={len(gaps)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    for calls in args.calls:
        run(calls, args.seconds)


if __name__ == "__main__":
    main()
