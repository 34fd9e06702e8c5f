"""Flow reload under live SIP calls (a call in progress finishes on the old flow, the next gets the new one,
a flow with errors is refused), and /healthz and /readyz probed, on a real `voicebot serve` with sipp."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.telephony.harness import SCENARIOS, free_udp_ports
from tests.telephony.test_serve import options_ok
from tests.test_cli import ROOT, VOICEBOT, run

pytestmark = pytest.mark.integration

FLOW = """flow: line
version: {n}
start: hello
nodes:
  hello: {{kind: say, prompt: "Version {word}.", next: wait}}
  wait:
    kind: ask
    slot: anything
    type: digits
    prompt: "Key a number."
    no_input: ["Still version {word}."]
    no_match: ["Still version {word}."]
    timeouts: {{no_input_ms: 1000}}
    max_attempts: 3
    next: bye
    on_fail: bye
  bye: {{kind: hangup, prompt: "Goodbye."}}
"""


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_reload_under_live_calls_and_health_endpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    flow = tmp_path / "line.yaml"
    flow.write_text(FLOW.format(n=1, word="one"))
    config = tmp_path / "voicebot.yaml"
    config.write_text(f"sip:\n  default_flow: {flow}\n")
    port, rtp, health = free_udp_ports(1), free_udp_ports(10), _free_tcp_port()
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "VOICEBOT_SIP_PORT": str(port),
           "VOICEBOT_RTP_PORTS": f"{rtp}-{rtp + 9}", "VOICEBOT_ASR_ENGINE": "pocketsphinx",
           "VOICEBOT_HEALTH_PORT": str(health)}
    for name in ("DATABASE_URL", "VOICEBOT_CONFIG", "http_proxy", "HTTP_PROXY"):
        env.pop(name, None)
    server = subprocess.Popen([*VOICEBOT, "serve", "--config", str(config)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 60
        while sum(text in line for line in list(log)) < count:
            assert server.poll() is None and time.monotonic() < deadline, "".join(log)
            time.sleep(0.1)

    def call(scenario: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-s", "1000", "-i", "127.0.0.1",
             "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-nostdin",
             "-timeout", "30s", "-timeout_error"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    data_env = {"VOICEBOT_DATA_DIR": str(tmp_path / "data")}
    try:
        deadline = time.monotonic() + 90
        while not options_ok(port):
            assert server.poll() is None and time.monotonic() < deadline, "".join(log)
            time.sleep(0.2)
        wait_for("health: http://")
        assert _get(f"http://127.0.0.1:{health}/healthz")[0] == 200
        status, ready = _get(f"http://127.0.0.1:{health}/readyz")
        assert status == 200 and ready["checks"] == {"sip": "ok", "database": "ok", "flows": "ok"}

        first = call("wait_for_ivr_bye.xml")  # silent: no-input prompts until the IVR hangs up (~8 s)
        wait_for(" answered (")  # the first call has started on version 1 (a log line, not a guessed pause)
        flow.write_text(FLOW.format(n=2, word="two"))
        reloaded = run(tmp_path, "reload", env=data_env)
        assert reloaded.returncode == 0, reloaded.stderr
        wait_for("flows reloaded")
        second = call("wait_for_ivr_bye.xml")
        for caller in (first, second):
            out, _ = caller.communicate(timeout=60)
            assert caller.returncode == 0, out

        flow.write_text(FLOW.format(n=3, word="three").replace("next: wait", "next: wiat"))
        assert run(tmp_path, "reload", env=data_env).returncode == 0
        wait_for("reload refused, flows unchanged")
        third = call("hangup_mid_prompt.xml")
        out, _ = third.communicate(timeout=60)
        assert third.returncode == 0, out
        wait_for(" ended: outcome ", 3)  # the third call's record is complete (its line is logged once it is)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        reader.join(5)
        assert server.stderr is not None
        server.stderr.close()
    assert server.returncode == 0, "".join(log)
    assert any("next target 'wiat' does not exist" in line for line in log)
    assert not (tmp_path / "data" / "voicebot.pid").exists()

    from sqlmodel import Session, create_engine, select

    from voicebot.storage.call_models import CallEvent, CallRecord

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'voicebot.db'}")
    try:
        with Session(engine) as db:
            records = db.exec(select(CallRecord).order_by(CallRecord.started_at)).all()
            said = [" ".join(a.get("text", "") for e in db.exec(select(CallEvent).where(CallEvent.call_id == r.id))
                             for a in e.actions) for r in records]
    finally:
        engine.dispose()
    assert len(records) == 3
    assert "Version one." in said[0] and "Still version one." in said[0] and "two" not in said[0]
    assert "Version two." in said[1] and "one" not in said[1]
    assert "Version two." in said[2]  # the broken version 3 was refused
