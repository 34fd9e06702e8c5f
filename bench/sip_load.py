"""Benchmark: N simultaneous real SIP calls (sipp over loopback) against one in-process voicebot server.

Each caller runs ``tests/telephony/sipp/balance_by_keypad.xml`` (key 1 at the menu, PIN 1234 by RFC 2833,
listens to the balance, hangs up): one sipp process, ``-l N -m N -r N``. The server runs in this process
(trunk mode, flows/banking.yaml, pocketsphinx recognizer, the Piper voice from the project's config), and the
IVR's side is measured in-process by wrapping the pyVoIP adapter's hooks:

* failed calls: sipp's count, plus records that did not end self_served;
* RTP pacing: the send time of every RTP packet of the IVR; inter-packet gap p50/p99 over all calls, and
  drift = (last packet - first packet) - (packets - 1) * 20 ms per call (worst call shown);
* CPU % (process CPU time / wall time; 100 % = one core) and peak RSS of this process (the server; sipp and
  its CPU are not counted);
* INVITE to first prompt audio: INVITE received -> first RTP packet carrying non-silent audio, p50/p95;
* turn latency: RFC 2833 key received (the last key of each keyed turn) -> first non-silent RTP packet after
  it, p50/p95, over all turns (the menu key -> PIN prompt, cached; the PIN's fourth digit -> the balance,
  a dynamic prompt synthesized during the call).

The callers key their input: this measures keypad callers, not speaking ones (no speech scenario for sipp).
Prints figures only; nothing is asserted.

    .venv/bin/python bench/sip_load.py [--calls 1 10 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sip_probe import Probe, answers_after, first_audio, pacing, pct, rss_mb

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests/telephony/sipp/balance_by_keypad.xml"
KEY_GAP_S = 1.0  # keys closer than this belong to one turn (the PIN digits are 0.5 s apart)


def run(calls: int, probe: Probe, rtp_base: int, sipp: str) -> None:
    from voicebot.runtime.app import open_services
    from voicebot.storage.seed import seed_demo
    from voicebot.telephony.endpoint import SipConfig
    from voicebot.telephony.server import ServeSettings, VoicebotServer

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VOICEBOT_DATA_DIR"] = str(Path(tmp) / "data")
        services = open_services()
        seed_demo(services.engine)
        sip = SipConfig(sip_port=0, rtp_port_low=rtp_base, rtp_port_high=rtp_base + 4 * calls + 10,
                        max_calls=calls, flows={"1000": ROOT / "flows/banking.yaml"},
                        default_flow=ROOT / "flows/banking.yaml")
        srv = VoicebotServer.create(ServeSettings(sip, shutdown_grace_seconds=2), engine="pocketsphinx",
                                    services=services)
        srv.start()
        probe.reset()
        try:
            cpu0, wall0 = time.process_time(), time.monotonic()
            done = subprocess.run(
                [sipp, f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIO), "-s", "1000", "-i", "127.0.0.1",
                 "-p", "0", "-mi", "127.0.0.1", "-mp", str(rtp_base + 5000), "-m", str(calls), "-l", str(calls),
                 "-r", str(calls), "-nostdin", "-timeout", "90s", "-timeout_error"],
                cwd=tmp, capture_output=True, text=True, timeout=120,
            )
            deadline = time.monotonic() + 10
            while len(srv.results) < calls and time.monotonic() < deadline:
                time.sleep(0.05)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
            rss = rss_mb()
            failed_sipp = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", done.stdout)
            outcomes = []
            for result in srv.results:
                record = services.store.get_call(result.call_id)
                outcomes.append(record.outcome if record is not None else None)
        finally:
            srv.shutdown(2)

    sends, _heard, keys, invites = probe.snapshot()
    gaps, drifts = pacing(sends)
    audio = first_audio(sends, invites)
    turns: list[float] = []
    for client, packets in sends.items():
        client_keys = keys.get(client, [])
        # the last key of each keyed turn (keys closer than KEY_GAP_S belong to one turn)
        last_keys = [at for index, at in enumerate(client_keys)
                     if index + 1 >= len(client_keys) or client_keys[index + 1] - at >= KEY_GAP_S]
        turns.extend(answers_after(last_keys, packets))
    failed = int(failed_sipp[-1]) if failed_sipp else -1
    bad = sum(1 for o in outcomes if o != "self_served") + max(0, calls - len(outcomes))
    print(f"{calls:>3} calls | sipp rc {done.returncode}, failed {failed}, not self_served {bad} | "
          f"RTP gap p50 {pct(gaps, 50):.1f} p99 {pct(gaps, 99):.1f} max {max(gaps, default=float('nan')):.1f} ms, "
          f"drift worst {max(drifts, key=abs, default=float('nan')):+.1f} ms | CPU {cpu:.0f}% RSS {rss:.0f} MB | "
          f"INVITE->audio p50 {pct(audio, 50):.0f} p95 {pct(audio, 95):.0f} ms (n={len(audio)}) | "
          f"turn p50 {pct(turns, 50):.0f} p95 {pct(turns, 95):.0f} ms (n={len(turns)})", flush=True)
    if failed != 0 or done.returncode != 0:
        print(done.stdout[-1500:], done.stderr[-1500:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 20])
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp (Debian sip-tester) is not installed")
    os.chdir(ROOT)
    os.environ.pop("DATABASE_URL", None)
    probe = Probe()
    probe.install()
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; scenario {SCENARIO.name}")
    for index, calls in enumerate(args.calls):
        run(calls, probe, 40000 + 200 * index, sipp)
        print(f"  (load average now {os.getloadavg()[0]:.2f})", flush=True)
    print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
