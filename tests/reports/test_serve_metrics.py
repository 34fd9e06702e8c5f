"""/metrics on a real ``voicebot serve`` (its health port) scraped while a real SIP caller (sipp) is on the line:
the call shows up by phase, the SIP responses by code, and it is gone once the caller hangs up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.telephony.harness import SCENARIOS, free_udp_ports
from tests.telephony.test_serve import options_ok
from tests.test_cli import ROOT, VOICEBOT

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> Samples:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        body = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_serve_exposes_metrics_while_a_sip_call_is_on_the_line(tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    port, rtp, health = free_udp_ports(1), free_udp_ports(10), free_tcp_port()
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "VOICEBOT_SIP_PORT": str(port),
           "VOICEBOT_RTP_PORTS": f"{rtp}-{rtp + 9}", "VOICEBOT_ASR_ENGINE": "pocketsphinx",
           "VOICEBOT_HEALTH_PORT": str(health)}
    for name in ("DATABASE_URL", "VOICEBOT_CONFIG"):
        env.pop(name, None)
    server = subprocess.Popen([*VOICEBOT, "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    caller: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 90
        while not options_ok(port):
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        while True:  # the health port opens right after SIP
            try:
                before = scrape(health)
                break
            except OSError:
                assert time.monotonic() < deadline, "no /metrics"
                time.sleep(0.1)
        assert sample(before, "voicebot_calls_active", phase="ivr") == 0
        caller = subprocess.Popen(
            [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "long_call.xml"), "-s", "1000", "-i", "127.0.0.1",
             "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-nostdin",
             "-timeout", "30s", "-timeout_error"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        during: Samples = {}
        deadline = time.monotonic() + 20
        while sample(during, "voicebot_calls_active", phase="ivr") != 1:
            assert time.monotonic() < deadline and caller.poll() is None, "the call never showed up"
            time.sleep(0.1)
            during = scrape(health)
        assert sample(during, "voicebot_sip_responses_total", code="200", direction="sent") >= 1  # OK to the INVITE
        out, _ = caller.communicate(timeout=60)
        assert caller.returncode == 0, out
        deadline = time.monotonic() + 10
        after = scrape(health)
        while sample(after, "voicebot_calls_active", phase="ivr") != 0:
            assert time.monotonic() < deadline, "the call never ended"
            time.sleep(0.1)
            after = scrape(health)
        assert sum(v for (name, _labels), v in after.items() if name == "voicebot_calls_ended_total") == 1
        assert sample(after, "voicebot_sip_responses_total", code="200", direction="sent") >= 2  # and to the BYE
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
        assert server.returncode == 0, err
    finally:
        for process in (caller, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
