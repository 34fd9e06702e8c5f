"""The voicebot command as users run it: a real process, a real database file in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VOICEBOT = [sys.executable, "-m", "voicebot.cli"]

pytestmark = pytest.mark.integration


def run(tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    for name in ("DATABASE_URL", "VOICEBOT_CONFIG", "VOICEBOT_SIP_PORT", "VOICEBOT_RTP_PORTS", "VOICEBOT_MAX_CALLS"):
        if name not in (env or {}):
            full_env.pop(name, None)
    return subprocess.run([*VOICEBOT, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=full_env,
                          timeout=120, check=False)


def test_chat_needs_the_demo_database_first(tmp_path: Path) -> None:
    done = run(tmp_path, "chat", "flows/banking.yaml", "--caller", "+15550100001")
    assert done.returncode == 1
    assert "run `voicebot db init --demo` first" in done.stderr


def test_chat_a_whole_call_from_the_terminal(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "init", "--demo").returncode == 0
    done = run(tmp_path, "chat", "flows/banking.yaml", "--caller", "+15550100001",
               stdin="balance\n#1234\nagent\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "IVR > Welcome back to Open Bank, Alice." in out
    assert "[heard \"balance\" (1.00); intent check_balance" in out
    assert "two thousand three hundred forty-five dollars and sixty-seven cents" in out
    assert "-> handoff to queue 'general' (priority 0): caller asked for an agent" in out
    assert '"authenticated": true' in out and '"account_number": "44170923"' in out

    listed = run(tmp_path, "calls", "list")
    assert "+15550100001" in listed.stdout and "handoff" in listed.stdout
    shown = run(tmp_path, "calls", "show", "--last", "--json")
    record = json.loads(shown.stdout)
    assert record["outcome"] == "handoff" and record["authenticated"] is True
    assert record["handoff"]["queue"] == "general"
    assert record["events"] and "1234" not in shown.stdout


def test_chat_end_of_input_hangs_up_and_keeps_the_record(tmp_path: Path) -> None:
    run(tmp_path, "db", "init", "--demo")
    done = run(tmp_path, "chat", "flows/banking.yaml", "--caller", "+15550100001", stdin="balance\n")
    assert done.returncode == 0
    assert "ended: outcome abandoned" in done.stdout


def test_text_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = run(tmp_path, "demo", "--text")
    assert done.returncode == 0, done.stderr
    assert "outcome self_served, authenticated yes" in done.stdout
    assert "handoff to queue 'vip' (priority 20)" in done.stdout
    assert done.stdout.count("call record: {") == 2


def test_validate_reports_success_and_failure(tmp_path: Path) -> None:
    ok = run(tmp_path, "validate", "flows/")
    assert ok.returncode == 0 and "flows/banking.yaml: ok (2 flow(s)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nstart: a\nnodes:\n  a: {kind: say, prompt: hi, next: b}\n")
    failed = run(tmp_path, "validate", str(bad))
    assert failed.returncode == 1
    assert f"error: {bad}:4: node 'a': next target 'b' does not exist" in failed.stderr


def test_schema_command_matches_the_committed_schema(tmp_path: Path) -> None:
    done = run(tmp_path, "schema")
    assert json.loads(done.stdout) == json.loads((ROOT / "flows" / "schema.json").read_text())


def test_chat_edits_the_line_with_the_arrow_keys(tmp_path: Path) -> None:
    """On a terminal, chat's input has readline's line editing: a typo mended with the left arrow is heard
    mended (without it the escape sequences would be part of the text)."""
    import pty
    import select
    import time

    assert run(tmp_path, "db", "init", "--demo").returncode == 0
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm"}
    env.pop("DATABASE_URL", None)
    env.pop("VOICEBOT_CONFIG", None)
    master, slave = pty.openpty()
    chat = subprocess.Popen([*VOICEBOT, "chat", "flows/banking.yaml", "--caller", "+15550100001"], cwd=ROOT,
                            env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(text: bytes, count: int = 1, timeout: float = 60.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(text) < count:
            assert time.monotonic() < deadline and chat.poll() is None, seen.decode(errors="replace")
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"you > ")
        left = b"\x1b[D"
        os.write(master, b"balnce" + left * 3 + b"a\r")  # "bal|nce": the missing a, typed in the middle
        read_until(b'[heard "balance"')
        read_until(b"you > ", 2)  # readline reads again (a key sent before would meet the terminal's own mode)
        os.write(master, b"\x04")  # Ctrl-D: hang up
        chat.wait(timeout=60)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
        os.close(master)
    assert b"intent check_balance" in seen and chat.returncode == 0
