"""Soak: many real keypad calls, a few at a time, against a real ``voicebot serve`` process; resources stay flat.

The server is started as its own process (trunk mode, flows/banking.yaml, PocketSphinx so that the soak measures
the call path rather than a speech model's memory, the demo bank seeded in a fresh data folder). sipp places
``--calls`` callers of ``tests/telephony/sipp/balance_by_keypad.xml`` (key 1, PIN 1234 by RFC 2833, the balance),
cut to hang up ``--listen`` seconds after the PIN, at most ``--concurrent`` at a time, in batches of ``--every``.
After each batch, once the server is idle again, its threads, open file descriptors, sockets and RSS are read from
``/proc`` and printed (with the highest RSS seen while the batch ran), so a leak shows as an idle figure that keeps
growing after the first hundred calls. Bounded: sipp's own timeout and a call cap.

    .venv/bin/python bench/sip_soak.py [--calls 1000] [--concurrent 10] [--every 100] [--listen 1] [--preload LIB]

Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proc_status import rss_mb, status_field

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests/telephony/sipp/balance_by_keypad.xml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resources(pid: int) -> dict[str, float]:
    """Threads, RSS (MB), open fds and sockets of a live process, from /proc."""
    threads = status_field("Threads", pid)
    fds = sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        fds += 1
        with contextlib.suppress(OSError):  # closed while we looked
            sockets += os.readlink(fd).startswith("socket:")
    return {"threads": threads, "rss_mb": rss_mb(pid), "fds": fds, "sockets": sockets}


def default_preload() -> str:
    found = sorted(Path("/usr/lib").glob("*/libjemalloc.so.2"))
    return str(found[0]) if found else ""


def finished_calls(db: Path) -> tuple[int, dict[str, int]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT outcome, COUNT(*) FROM call_record WHERE ended_at IS NOT NULL "
                                "GROUP BY outcome").fetchall()
    except sqlite3.Error:
        return 0, {}
    outcomes = {str(o): int(n) for o, n in rows}
    return sum(outcomes.values()), outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--rate", type=float, default=4.0, help="new calls per second at most")
    parser.add_argument("--every", type=int, default=100,
                        help="calls per batch; resources are printed after each, with the server idle")
    parser.add_argument("--listen", type=float, default=1.0, help="seconds the caller stays after the PIN")
    parser.add_argument("--rtp-base", type=int, default=32000, help="first RTP port of the server (sipp's: +6000)")
    parser.add_argument("--preload", default=default_preload(),
                        help="a library the server runs with (LD_PRELOAD); default: jemalloc when installed, as "
                             "deploy/voicebot.service runs it; '' for the system allocator")
    parser.add_argument("--timeout", type=int, default=1800, help="sipp's overall limit (s)")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="voicebot-soak-") as tmp_name:
        tmp = Path(tmp_name)
        scenario = tmp / "soak.xml"
        text = SCENARIO.read_text()
        scenario.write_text(text.replace('<pause milliseconds="15000"/>',
                                         f'<pause milliseconds="{int(args.listen * 1000)}"/>'))
        port, rtp = free_port(), args.rtp_base
        config = tmp / "voicebot.yaml"
        high = rtp + 4 * args.concurrent + 40
        config.write_text(f"asr:\n  engine: pocketsphinx\nsip:\n  rtp_ports: [{rtp}, {high}]\n"
                          f"  max_calls: {args.concurrent + 5}\n  default_flow: {ROOT / 'flows/banking.yaml'}\n"
                          f"  shutdown_grace_seconds: 2\n")
        env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp / "data"), "VOICEBOT_SIP_PORT": str(port),
               "DATABASE_URL": f"sqlite:///{tmp / 'data' / 'voicebot.db'}"}
        (tmp / "data").mkdir()
        voicebot = [sys.executable, "-m", "voicebot.cli"]
        subprocess.run([*voicebot, "db", "init", "--demo"], env=env, cwd=ROOT, check=True, capture_output=True)
        log = (tmp / "serve.log").open("w")
        if args.preload:
            env["LD_PRELOAD"] = args.preload  # the server only: sipp and this script keep the system allocator
        server = subprocess.Popen([*voicebot, "serve", "--config", str(config)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "listen" not in (tmp / "serve.log").read_text():
                time.sleep(0.2)
            time.sleep(1.0)
            print(f"voicebot serve pid {server.pid} on 127.0.0.1:{port}; {args.calls} keypad calls, "
                  f"{args.concurrent} at a time; allocator: {args.preload or 'system'}")
            print(f"{'calls done':>10} {'threads':>8} {'fds':>5} {'sockets':>8} {'RSS MB':>8} {'peak MB':>8}  outcomes")
            base = resources(server.pid)
            print(f"{0:>10} {base['threads']:>8.0f} {base['fds']:>5.0f} {base['sockets']:>8.0f} "
                  f"{base['rss_mb']:>8.1f} {'':>8}  (idle, before the first call)")
            db = tmp / "data" / "voicebot.db"
            command = [sipp, f"127.0.0.1:{port}", "-sf", str(scenario), "-s", "1000", "-i", "127.0.0.1", "-p", "0",
                       "-mi", "127.0.0.1", "-mp", str(rtp + 6000), "-l", str(args.concurrent),
                       "-r", f"{args.rate:g}", "-nostdin", "-timeout", f"{args.timeout}s", "-timeout_error"]
            # Calls are placed in batches of --every; resources are read when a batch is over and the server is
            # idle, so the figures compare like with like instead of catching a varying number of calls in
            # flight. "peak" is the highest RSS seen (once a second) while the batch ran.
            idle: list[tuple[int, float]] = []
            failed_total, placed = 0, 0
            while placed < args.calls:
                batch = min(args.every, args.calls - placed)
                screen = tmp / "sipp.out"
                with screen.open("w") as sink:
                    runner = subprocess.Popen([*command, "-m", str(batch)], cwd=tmp, stdout=sink,
                                              stderr=subprocess.STDOUT)
                    peak = 0.0
                    while runner.poll() is None:
                        time.sleep(1.0)
                        peak = max(peak, resources(server.pid)["rss_mb"])
                placed += batch
                failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", screen.read_text(errors="replace"))
                failed_total += int(failed[-1]) if failed else 0
                deadline = time.monotonic() + 15  # the batch's last records are written just after its BYEs
                while time.monotonic() < deadline and finished_calls(db)[0] < placed:
                    time.sleep(0.5)
                time.sleep(1.0)
                done, outcomes = finished_calls(db)
                r = resources(server.pid)
                print(f"{done:>10} {r['threads']:>8.0f} {r['fds']:>5.0f} {r['sockets']:>8.0f} {r['rss_mb']:>8.1f} "
                      f"{peak:>8.1f}  {outcomes}", flush=True)
                idle.append((done, r["rss_mb"]))
            print(f"sipp: failed calls {failed_total} of {args.calls}")
            if len(idle) > 1:
                # The first batch is the warm-up (pools, caches, the first prompts); a leak shows as the idle
                # figure standing higher after each later batch.
                (first_done, first_rss), (last_done, last_rss) = idle[0], idle[-1]
                print(f"idle RSS after call {first_done}: {first_rss:.1f} MB; after call {last_done}: "
                      f"{last_rss:.1f} MB ({last_rss - first_rss:+.1f} MB); between: "
                      f"{min(x for _, x in idle[1:]):.1f}-{max(x for _, x in idle[1:]):.1f} MB")
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
