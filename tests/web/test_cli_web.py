"""``voicebot web --host --port`` runs the console alone against the configured database; ``voicebot agents
add --role supervisor`` makes a supervisor who lands on the supervisor view."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from voicebot.cli import main

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_voicebot_web_serves_the_console_on_the_same_database(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    added = CliRunner().invoke(main, ["agents", "add", "sue", "--role", "supervisor", "--password", "pw-sue-1"])
    assert added.exit_code == 0 and "supervisor sue added" in added.output
    listed = CliRunner().invoke(main, ["agents", "list", "--json"])
    assert '"role": "supervisor"' in listed.output
    port = _free_port()
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "VOICEBOT_WEB_SECRET": "cli-test"}
    env.pop("DATABASE_URL", None)
    log = tmp_path / "web.log"  # a file: a pipe nobody reads while the server runs could fill and stall it
    with log.open("w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "voicebot.cli", "--log-format", "json", "web", "--host",
                                   "127.0.0.1", "--port", str(port)], cwd=tmp_path,
                                  env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                  stderr=log_file, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0] + log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "voicebot web did not come up"
            time.sleep(0.2)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            token = client.post("/api/token", json={"login": "sue", "password": "pw-sue-1"}).json()["token"]
            me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
            assert me == {"login": "sue", "name": "sue", "role": "supervisor"}
            assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
            scraped = client.get("/metrics/").text  # Prometheus: the queues and agents of the database
            assert 'voicebot_agents{state="logged_out"} 1.0' in scraped
    finally:
        server.terminate()
        server.communicate(timeout=20)
    # --log-format json: uvicorn's lines too (start-up, each request) are JSON objects.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["logger"] == "uvicorn.access" and "/api/me" in line["message"] for line in lines), lines


def test_voicebot_web_on_a_port_already_taken(tmp_path: Path) -> None:
    """One error line naming the address, exit status 1, nothing started (not uvicorn's log and exit)."""
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "voicebot.cli", "web", "--host", "127.0.0.1", "--port",
                               str(port)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    assert (done.returncode, done.stderr) == (1, f"error: cannot listen on 127.0.0.1:{port}: address already in use\n")
    assert done.stdout == ""
