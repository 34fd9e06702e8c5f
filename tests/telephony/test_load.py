"""Ten simultaneous real SIP calls (one sipp process, ``-l 10 -m 10 -r 10``) against one in-process server.

Each caller keys the balance like ``balance_by_keypad.xml`` (key 1, PIN 1234, listens, hangs up); every call
must complete with outcome self_served and sipp must report zero failed calls.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.telephony.harness import ROOT, SCENARIOS, SIPP, free_udp_ports, voicebot_server

pytestmark = pytest.mark.integration

SCENARIO = SCENARIOS / "balance_by_keypad.xml"
CALLS = 10


def test_ten_simultaneous_callers_are_all_served(tmp_path: Path) -> None:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    flows = {"1000": ROOT / "flows/banking.yaml"}
    with voicebot_server(tmp_path / "data", rtp_ports=4 * CALLS, max_calls=CALLS, flows=flows) as (srv, services):
        started = time.monotonic()
        done = subprocess.run(
            [SIPP, f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIO), "-s", "1000", "-i", "127.0.0.1", "-p", "0",
             "-mi", "127.0.0.1", "-mp", str(free_udp_ports(4 * CALLS)), "-m", str(CALLS), "-l", str(CALLS),
             "-r", str(CALLS), "-nostdin", "-timeout", "50s", "-timeout_error", "-trace_err"],
            cwd=tmp_path, capture_output=True, text=True, timeout=65,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", done.stdout)
        assert not failed or int(failed[-1]) == 0, done.stdout[-3000:]
        deadline = time.monotonic() + 10
        while len(srv.results) < CALLS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(srv.results) == CALLS, [r.call_id for r in srv.results]
        for result in srv.results:
            record = services.store.get_call(result.call_id)
            assert record is not None and record.ended_at is not None, result.call_id
            assert record.outcome == "self_served", (result.call_id, record.outcome, record.nodes)
            assert record.authenticated is True
            assert result.ended_by == "caller"
            assert result.stats.get("tx_packets", 0) >= result.ticks - 5 > 400
        assert time.monotonic() - started < 60
