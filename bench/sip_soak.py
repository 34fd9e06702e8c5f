"""Soak: many real keypad calls, a few at a time, against a real ``voicebot serve`` process; resources stay flat.

The server is started as its own process (trunk mode, flows/banking.yaml, PocketSphinx so that the soak measures
the call path rather than a speech model's memory, the demo bank seeded in a fresh data folder). sipp places
``--calls`` callers of ``tests/telephony/sipp/balance_by_keypad.xml`` (key 1, PIN 1234 by RFC 2833, the balance),
cut to hang up ``--listen`` seconds after the PIN, at most ``--concurrent`` at a time. Every ``--every`` finished
calls the server's threads, open file descriptors, sockets and RSS are read from ``/proc`` and printed, so a leak
shows as a column that keeps growing after the first hundred calls. Bounded: sipp's own timeout and a call cap.

    .venv/bin/python bench/sip_soak.py [--calls 1000] [--concurrent 10] [--every 100] [--listen 1]

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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests/telephony/sipp/balance_by_keypad.xml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resources(pid: int) -> dict[str, float]:
    """Threads, RSS (MB), open fds and sockets of a live process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    fds = sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        fds += 1
        with contextlib.suppress(OSError):  # closed while we looked
            sockets += os.readlink(fd).startswith("socket:")
    return {"threads": threads, "rss_mb": rss_kb / 1024, "fds": fds, "sockets": sockets}


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
    parser.add_argument("--every", type=int, default=100, help="print resources every this many finished calls")
    parser.add_argument("--listen", type=float, default=1.0, help="seconds the caller stays after the PIN")
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
        port, rtp = free_port(), 32000
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
        server = subprocess.Popen([*voicebot, "serve", "--config", str(config)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "listen" not in (tmp / "serve.log").read_text():
                time.sleep(0.2)
            time.sleep(1.0)
            print(f"voicebot serve pid {server.pid} on 127.0.0.1:{port}; {args.calls} keypad calls, "
                  f"{args.concurrent} at a time")
            print(f"{'calls done':>10} {'threads':>8} {'fds':>5} {'sockets':>8} {'RSS MB':>8}  outcomes")
            base = resources(server.pid)
            print(f"{0:>10} {base['threads']:>8.0f} {base['fds']:>5.0f} {base['sockets']:>8.0f} "
                  f"{base['rss_mb']:>8.1f}  (idle, before the first call)")
            sipp_run = subprocess.Popen(
                [sipp, f"127.0.0.1:{port}", "-sf", str(scenario), "-s", "1000", "-i", "127.0.0.1", "-p", "0",
                 "-mi", "127.0.0.1", "-mp", str(rtp + 6000), "-m", str(args.calls), "-l", str(args.concurrent),
                 "-r", f"{args.rate:g}", "-nostdin", "-timeout", f"{args.timeout}s", "-timeout_error"],
                cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            out: list[str] = []
            reader = threading.Thread(target=lambda: out.append(sipp_run.stdout.read() if sipp_run.stdout else ""))
            reader.start()
            db = tmp / "data" / "voicebot.db"
            mark = args.every
            while sipp_run.poll() is None:
                time.sleep(1.0)
                done, outcomes = finished_calls(db)
                if done >= mark:
                    r = resources(server.pid)
                    print(f"{done:>10} {r['threads']:>8.0f} {r['fds']:>5.0f} {r['sockets']:>8.0f} "
                          f"{r['rss_mb']:>8.1f}  {outcomes}", flush=True)
                    mark = (done // args.every + 1) * args.every
            reader.join()
            time.sleep(3.0)  # the last calls' records and the 32 s retransmission memory are not waited for
            done, outcomes = finished_calls(db)
            r = resources(server.pid)
            print(f"{done:>10} {r['threads']:>8.0f} {r['fds']:>5.0f} {r['sockets']:>8.0f} {r['rss_mb']:>8.1f}  "
                  f"{outcomes}  (all calls over)")
            failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", "".join(out))
            print(f"sipp: failed calls {failed[-1] if failed else '?'} of {args.calls}")
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
