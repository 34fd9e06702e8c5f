"""``serve()``: configuration from YAML and environment; SIGTERM with a call in progress (a real process)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.telephony.harness import ROOT, SCENARIOS, free_udp_ports
from voicebot.config import ConfigError
from voicebot.telephony.server import load_sip_config


def test_sip_config_from_yaml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.yaml"
    path.write_text(
        "sip:\n  host: 127.0.0.1\n  port: 5070\n  rtp_ports: [40000, 40100]\n  mode: register\n"
        "  registrar: {host: 127.0.0.2, port: 5080, username: ivr, password: pw}\n  max_calls: 3\n"
        "  default_flow: flows/banking.yaml\n  flows: {'2000': flows/authenticate.yaml}\n"
        "  shutdown_grace_seconds: 4\n"
    )
    settings = load_sip_config(path, env={})
    sip = settings.sip
    assert (sip.sip_port, sip.rtp_port_low, sip.rtp_port_high, sip.mode) == (5070, 40000, 40100, "register")
    assert (sip.registrar_host, sip.registrar_port, sip.username, sip.password) == ("127.0.0.2", 5080, "ivr", "pw")
    assert sip.max_calls == 3 and settings.shutdown_grace_seconds == 4
    assert sip.flow_for("2000") == Path("flows/authenticate.yaml")
    assert sip.flow_for("1234") == Path("flows/banking.yaml")
    env = {"VOICEBOT_SIP_PORT": "5999", "VOICEBOT_RTP_PORTS": "41000-41010", "VOICEBOT_SIP_MODE": "trunk",
           "VOICEBOT_MAX_CALLS": "7", "VOICEBOT_SIP_REGISTRAR": "10.0.0.1:5062"}
    sip = load_sip_config(path, env=env).sip
    assert (sip.sip_port, sip.rtp_port_low, sip.rtp_port_high, sip.mode, sip.max_calls) == (
        5999, 41000, 41010, "trunk", 7)
    assert (sip.registrar_host, sip.registrar_port) == ("10.0.0.1", 5062)


def test_bad_sip_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.yaml"
    path.write_text("sip:\n  mode: carrier-pigeon\n")
    with pytest.raises(ConfigError, match="mode"):
        load_sip_config(path, env={})
    path.write_text("sip:\n  rtp_ports: [5000, 4000]\n")
    with pytest.raises(ConfigError, match="RTP port range"):
        load_sip_config(path, env={})


def free_port() -> int:
    return free_udp_ports(1)


def options_ok(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        me = s.getsockname()[1]
        s.sendto((f"OPTIONS sip:ivr@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKo\r\n"
                  f"From: <sip:probe@127.0.0.1:{me}>;tag=1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: probe\r\n"
                  "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except (TimeoutError, ConnectionRefusedError):
            return False


@pytest.mark.integration
def test_sigterm_says_goodbye_to_calls_in_progress_and_writes_records(tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    port, rtp = free_port(), free_udp_ports(20)
    with socket.socket() as probe:  # a free TCP port for the web console that serve runs beside SIP
        probe.bind(("127.0.0.1", 0))
        web_port = probe.getsockname()[1]
    config = tmp_path / "voicebot.yaml"
    config.write_text(f"sip:\n  rtp_ports: [{rtp}, {rtp + 19}]\n  shutdown_grace_seconds: 0.5\n"
                      f"  default_flow: {ROOT / 'flows/banking.yaml'}\nweb:\n  port: {web_port}\n")
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "VOICEBOT_SIP_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    code = ("import logging, sys; from pathlib import Path; logging.basicConfig(level=logging.INFO); "
            "from voicebot.telephony.server import serve; sys.exit(serve(Path(sys.argv[1]), engine='pocketsphinx'))")
    server = subprocess.Popen([sys.executable, "-W", "error", "-c", code, str(config)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    caller: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while not options_ok(port):
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        import httpx

        def get(path: str) -> httpx.Response | None:
            try:  # the console starts after SIP answers OPTIONS: refused (or slow) until then under load
                return httpx.get(f"http://127.0.0.1:{web_port}{path}", timeout=10)
            except httpx.TransportError:
                return None

        while (ready := get("/readyz")) is None or ready.json() != {"status": "ready"}:
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, f"console not ready: {ready and ready.text}"
            time.sleep(0.2)
        caller = subprocess.Popen(
            [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "wait_for_ivr_bye.xml"), "-s", "1000",
             "-i", "127.0.0.1", "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-nostdin",
             "-timeout", "60s", "-timeout_error"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Poll rather than sleep: on a slow machine the call takes longer than any fixed pause to come up
        # (CI once scraped at 2.5 s and found no call yet).
        scraped, deadline = "", time.monotonic() + 40
        while 'voicebot_calls_active{phase="ivr"} 1.0' not in scraped and time.monotonic() < deadline:
            assert caller.poll() is None, caller.communicate()[0]
            time.sleep(0.2)
            if (response := get("/metrics/")) is not None:  # this process's calls
                scraped = response.text
        assert 'voicebot_calls_active{phase="ivr"} 1.0' in scraped, scraped
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=20)
        assert server.returncode == 0, out
        caller_out, _ = caller.communicate(timeout=20)
        assert caller.returncode == 0, caller_out  # it got the IVR's BYE
        assert "ended by shutdown" in out
    finally:
        for proc in (server, caller):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    from sqlmodel import Session, create_engine, select

    from voicebot.storage.call_models import CallRecord

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'voicebot.db'}")
    try:
        with Session(engine) as db:
            records = db.exec(select(CallRecord)).all()
    finally:
        engine.dispose()
    assert len(records) == 1
    assert records[0].caller_id == "+15550100001" and records[0].ended_at is not None
    assert records[0].outcome is not None and records[0].recording_path


def test_a_long_running_server_keeps_only_the_newest_call_results() -> None:
    # `voicebot serve` runs for months: its in-process list of finished calls (each with its events) must not grow
    # with every call it ever took (the soak's RSS; the call records themselves are in the database).
    from voicebot.telephony.call_loop import CallResult
    from voicebot.telephony.endpoint import SipConfig
    from voicebot.telephony.server import RESULTS_KEPT, ServeSettings, VoicebotServer

    srv = VoicebotServer(ServeSettings(SipConfig(sip_port=0)), services=None, recognizer=None,  # type: ignore[arg-type]
                         prompts=None)  # type: ignore[arg-type]
    for n in range(RESULTS_KEPT + 50):
        srv.results.append(CallResult(f"call-{n}", "caller", 0, 0, 0, None))
    assert len(srv.results) == RESULTS_KEPT
    assert srv.results[0].call_id == "call-50" and srv.results[-1].call_id == f"call-{RESULTS_KEPT + 49}"
