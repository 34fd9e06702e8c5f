"""A real `voicebot serve` whose database file is made immutable (chattr +i, which stops root too) during a
call: the caller is served, the record is spooled, and once the file is writable again the running server
writes it back (spool.replay_seconds), without a restart or another call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.telephony.harness import SCENARIOS, free_udp_ports
from tests.telephony.test_serve import options_ok
from tests.test_cli import ROOT, VOICEBOT, run

pytestmark = pytest.mark.integration


def test_serve_writes_spooled_records_back_once_the_database_is_writable(tmp_path: Path) -> None:
    sipp, chattr = shutil.which("sipp"), shutil.which("chattr")
    if sipp is None or chattr is None:
        pytest.skip("needs sipp (sip-tester) and chattr (e2fsprogs)")
    data = tmp_path / "data"
    assert run(tmp_path, "db", "init", "--demo").returncode == 0
    db_file = data / "voicebot.db"
    if subprocess.run([chattr, "+i", str(db_file)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not possible here")
    subprocess.run([chattr, "-i", str(db_file)], check=True)
    config = tmp_path / "voicebot.yaml"
    config.write_text("spool:\n  replay_seconds: 0.5\n")
    port, rtp = free_udp_ports(1), free_udp_ports(10)
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(data), "VOICEBOT_SIP_PORT": str(port),
           "VOICEBOT_RTP_PORTS": f"{rtp}-{rtp + 9}", "VOICEBOT_ASR_ENGINE": "pocketsphinx"}
    for name in ("DATABASE_URL", "VOICEBOT_CONFIG"):
        env.pop(name, None)
    server = subprocess.Popen([*VOICEBOT, "serve", "--config", str(config)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    immutable = False
    try:
        deadline = time.monotonic() + 90
        while not options_ok(port):
            assert server.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        subprocess.run([chattr, "+i", str(db_file)], check=True)
        immutable = True
        caller = subprocess.run(
            [sipp, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "hangup_mid_prompt.xml"), "-s", "1000",
             "-i", "127.0.0.1", "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1",
             "-nostdin", "-timeout", "30s", "-timeout_error"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert caller.returncode == 0, caller.stdout  # the caller was answered although nothing could be stored
        deadline = time.monotonic() + 20
        while not list((data / "spool").glob("*.jsonl")):
            assert time.monotonic() < deadline, "nothing was spooled"
            time.sleep(0.1)
        time.sleep(2.0)  # several replay rounds fail meanwhile: the spool stays
        [spooled] = list((data / "spool").glob("*.jsonl"))
        assert '"op":"finish_call"' in spooled.read_text()
        subprocess.run([chattr, "-i", str(db_file)], check=True)
        immutable = False
        deadline = time.monotonic() + 20
        while spooled.exists():
            assert time.monotonic() < deadline, "the running server did not write the spool back"
            time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
    finally:
        if immutable:
            subprocess.run([chattr, "-i", str(db_file)], check=False)
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    assert "spooled to" in err and "written back to the database" in err
    listed = run(tmp_path, "calls", "list")
    assert "+15550100001" in listed.stdout and "in progress" not in listed.stdout, listed.stdout
