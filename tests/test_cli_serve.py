"""``voicebot serve`` as an operator runs it: start-up lines, one JSON line per call end carrying the call id,
the SIP Call-ID stored in the record, and ``calls list``/``calls show`` on the result (real sipp call)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.telephony.harness import SCENARIOS, free_udp_ports
from tests.telephony.test_serve import options_ok
from tests.test_cli import ROOT, VOICEBOT, run

#: Where Debian's libjemalloc2 puts the library deploy/voicebot.service preloads.
JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")

pytestmark = pytest.mark.integration


def _wait_for_a_finished_record(database: Path, timeout: float = 30.0) -> None:
    from sqlmodel import Session, col, create_engine, select

    from voicebot.storage.call_models import CallRecord

    engine = create_engine(f"sqlite:///{database}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            with Session(engine) as db:
                if db.exec(select(CallRecord).where(col(CallRecord.outcome).is_not(None))).first():
                    return
            assert time.monotonic() < deadline, "no call record was completed"
            time.sleep(0.1)
    finally:
        engine.dispose()


def test_serve_logs_in_json_and_stores_the_sip_call_id(tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    port, rtp = free_udp_ports(1), free_udp_ports(10)
    # The web console's port is taken: serve says so (in JSON, uvicorn's own line too) and answers calls.
    web_taken = socket.socket()
    web_taken.bind(("127.0.0.1", 0))
    web_taken.listen()
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "VOICEBOT_SIP_PORT": str(port),
           "VOICEBOT_RTP_PORTS": f"{rtp}-{rtp + 9}", "VOICEBOT_ASR_ENGINE": "pocketsphinx",
           "VOICEBOT_WEB_PORT": str(web_taken.getsockname()[1])}
    env.pop("DATABASE_URL", None)
    env.pop("VOICEBOT_CONFIG", None)
    # As deploy/voicebot.service runs it (scripts/setup.sh installs libjemalloc2), when the library is here.
    jemalloc = JEMALLOC.exists()
    if jemalloc:
        env["LD_PRELOAD"] = str(JEMALLOC)
    server = subprocess.Popen([*VOICEBOT, "--log-format", "json", "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not options_ok(port):
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        caller = subprocess.run(
            [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "hangup_mid_prompt.xml"), "-s", "1000",
             "-i", "127.0.0.1", "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1",
             "-nostdin", "-timeout", "30s", "-timeout_error"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert caller.returncode == 0, caller.stdout + caller.stderr
        _wait_for_a_finished_record(tmp_path / "data" / "voicebot.db")  # completed once the hang-up is seen
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
    finally:
        web_taken.close()
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert len(lines) == len(err.splitlines()), err  # every line is JSON
    messages = [line["message"] for line in lines]
    assert any(m.startswith("web console on 127.0.0.1:") and "not started" in m for m in messages), messages
    assert any(m.startswith("voicebot ") and f"SIP 127.0.0.1:{port}/udp" in m for m in messages), messages
    assert any(m.startswith("flows: default flows/banking.yaml") for m in messages)
    assert any(m.startswith("speech: recognizer pocketsphinx") for m in messages)
    assert any(m.startswith("memory allocator: jemalloc" if jemalloc else "memory allocator: system")
               for m in messages), messages
    assert any(m.startswith("database: sqlite:///") for m in messages)
    [end] = [line for line in lines if " ended: outcome " in line["message"]]
    sip_call_id = end["sip_call_id"]
    assert end["call_id"] and end["message"].startswith(f"call {end['call_id']} ended: outcome ")
    assert "caller +15550100001, flow banking" in end["message"] and f"SIP Call-ID {sip_call_id}" in end["message"]
    # Every line logged while the call ran carries its id (the SIP layer's lines, answered and BYE received, its
    # SIP Call-ID: the SIP layer knows no call id); every line about the call carries its SIP Call-ID.
    during = [line for line in lines if line.get("sip_call_id") == sip_call_id]
    assert len(during) >= 4
    assert all(line.get("call_id") == end["call_id"] for line in during if line["logger"] != "voicebot.sip")
    about = [line for line in lines if sip_call_id in line["message"]]
    assert any("BYE received" in line["message"] for line in about), about
    assert all(line.get("sip_call_id") == sip_call_id for line in about), about

    shown = run(tmp_path, "calls", "show", "--last", "--json")
    record = json.loads(shown.stdout)
    assert record["sip_call_id"] == sip_call_id and record["id"] == end["call_id"]
    listed = run(tmp_path, "calls", "list", "--caller", "0100001", "--outcome", record["outcome"])
    assert listed.stdout.splitlines()[0].split()[:3] == ["CALL", "ID", "STARTED"]
    assert end["call_id"] in listed.stdout
