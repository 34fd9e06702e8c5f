"""Benchmark: N simultaneous real SIP calls (sipp over loopback) against one in-process voicebot server.

Each caller runs ``tests/telephony/sipp/balance_by_keypad.xml`` (key 1 at the menu, PIN 1234 by RFC 2833,
listens to the balance, hangs up): one sipp process, ``-l N -m N -r N``. The server runs in this process
(trunk mode, flows/banking.yaml, pocketsphinx recognizer, the Piper voice from the project's config), and the
IVR's side is measured in-process by wrapping the SIP layer's hooks:

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
import shutil
from pathlib import Path

from sip_probe import Probe, answers_after, first_audio, pacing, pct, rss_mb, run_sipp_calls

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests/telephony/sipp/balance_by_keypad.xml"
KEY_GAP_S = 1.0  # keys closer than this belong to one turn (the PIN digits are 0.5 s apart)


def run(calls: int, probe: Probe, rtp_base: int, sipp: str) -> None:
    done = run_sipp_calls(probe, sipp, lambda _tmp: SCENARIO, calls=calls, rate=calls, engine="pocketsphinx",
                          rtp_base=rtp_base, sipp_timeout_s=90)
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
    print(f"{calls:>3} calls | sipp rc {done.done.returncode}, failed {done.failed}, "
          f"not self_served {done.not_served} | "
          f"RTP gap p50 {pct(gaps, 50):.1f} p99 {pct(gaps, 99):.1f} max {max(gaps, default=float('nan')):.1f} ms, "
          f"drift worst {max(drifts, key=abs, default=float('nan')):+.1f} ms | "
          f"CPU {done.cpu:.0f}% RSS {done.rss:.0f} MB | "
          f"INVITE->audio p50 {pct(audio, 50):.0f} p95 {pct(audio, 95):.0f} ms (n={len(audio)}) | "
          f"turn p50 {pct(turns, 50):.0f} p95 {pct(turns, 95):.0f} ms (n={len(turns)})", flush=True)
    if done.failed != 0 or done.done.returncode != 0:
        print(done.done.stdout[-1500:], done.done.stderr[-1500:])


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
