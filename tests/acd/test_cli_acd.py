"""``voicebot agents|queues|callbacks|handoff-schema`` against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from voicebot.acd.config import load_acd_settings
from voicebot.acd.service import AcdService
from voicebot.cli import main
from voicebot.storage.db import create_tables, make_engine


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert (result.exit_code == 0) == ok, result.output
    return result


def service(data: Path) -> AcdService:
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{data / 'voicebot.db'}")
    create_tables(engine)
    return AcdService(engine, load_acd_settings(), node="cli-test")


def test_agent_lifecycle_from_the_command_line(data: Path) -> None:
    run("agents", "add", "alice", "--name", "Alice A", "--skills", "banking:5,vip:4", "--sip-uri",
        "sip:alice@127.0.0.1:5070", "--password", "pw1")
    assert "already exists" in run("agents", "add", "alice", "--password", "x", ok=False).output
    assert "proficiency" in run("agents", "add", "bob", "--skills", "banking:7", "--password", "x", ok=False).output
    assert "wrong login or password" in run("agents", "login", "alice", "--password", "nope", ok=False).output
    assert "is available" in run("agents", "login", "alice", "--password", "pw1").output
    table = run("agents", "list").output.splitlines()
    assert table[0].split()[:4] == ["login", "name", "state", "reason"] and set(table[1]) <= {"-", " "}
    assert "alice" in table[2] and "available" in table[2] and "banking:5,vip:4" in table[2]
    assert "present until" in run("agents", "heartbeat", "alice").output
    run("agents", "state", "alice", "break", "--reason", "coaching")
    (agent,) = json.loads(run("agents", "list", "--json").output)
    assert (agent["state"], agent["reason"], agent["sip_uri"]) == ("break", "coaching", "sip:alice@127.0.0.1:5070")
    assert agent["role"] == "agent"
    assert "Invalid value" in run("agents", "state", "alice", "busy", ok=False).output
    run("agents", "logout", "alice")
    assert json.loads(run("agents", "list", "--json").output)[0]["state"] == "logged_out"
    assert "no agent" in run("agents", "logout", "nobody", ok=False).output
    assert "log in again" in run("agents", "heartbeat", "alice", ok=False).output


def test_queues_status_and_show_with_the_handoff(data: Path) -> None:
    acd = service(data)
    acd.enqueue("call-1", "general", caller_id="+1555", handoff={
        "schema_version": 1, "call_id": "call-1", "reason": "caller asked for an agent",
        "customer": {"name": "Alice Smith"}, "intent": {"name": "speak_to_agent", "confidence": 0.9},
        "authentication": {"level": "verified", "method": "pin"}, "queue": {"name": "general"}})
    acd.enqueue("call-2", "general", priority=5)
    status = {row["queue"]: row for row in json.loads(run("queues", "status", "--json").output)}
    assert status["general"]["waiting"] == 2 and set(status) >= {"general", "vip", "cards", "security"}
    assert run("queues", "status").output.splitlines()[0].startswith("queue")
    shown = run("queues", "show", "general").output
    lines = shown.splitlines()
    assert lines[0].split()[:3] == ["position", "entry", "call_id"]
    assert "call-2" in lines[2] and "call-1" in lines[3]  # priority 5 first
    assert "Alice Smith" in lines[3] and "verified" in lines[3] and "speak_to_agent" in lines[3]
    rows = json.loads(run("queues", "show", "general", "--json").output)
    assert rows[1]["handoff"]["queue"]["offers"] == 0 and rows[1]["handoff"]["queue"]["wait_seconds"] >= 0
    assert "nobody is waiting in cards" in run("queues", "show", "cards").output


def test_callbacks_list_and_cancel(data: Path) -> None:
    acd = service(data)
    entry = acd.enqueue("call-1", "general")
    assert "no callbacks pending" in run("callbacks", "list").output
    acd.request_callback(entry.id or 0, "+15550100001")
    (row,) = json.loads(run("callbacks", "list", "--json").output)
    assert (row["entry"], row["number"], row["status"], row["attempts"]) == (entry.id, "+15550100001", "waiting", 0)
    assert "+15550100001" in run("callbacks", "list").output
    run("callbacks", "cancel", str(entry.id))
    assert json.loads(run("callbacks", "list", "--json").output) == []
    assert json.loads(run("callbacks", "list", "--all", "--json").output)[0]["status"] == "cancelled"
    assert "only a waiting one" in run("callbacks", "cancel", str(entry.id), ok=False).output


def test_handoff_schema_command_writes_the_committed_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    run("handoff-schema", "-o", str(out))
    committed = Path(__file__).resolve().parents[2] / "docs" / "handoff.schema.json"
    assert out.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")
