"""``voicebot demo`` end to end: a real SIP call over loopback (sipp as the caller) to the in-process server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_demo_call_is_self_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("sipp") is None or shutil.which("flite") is None:
        pytest.skip("sipp (sip-tester) and flite are needed for the demo call")
    from voicebot.telephony.demo import run_demo

    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    lines: list[str] = []
    status = run_demo(out=lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    # Alice's checking account (seeded): 2345.67, read out in words.
    assert "the balance is two thousand three hundred forty-five dollars and sixty-seven cents" in output
    assert "key ****" not in output and "key 1" not in output  # the PIN is masked, key by key
    assert output.count("caller: key *") == 4
    assert "outcome self_served" in output
    assert "turn latency" in output


def test_demo_agent_bridges_the_caller_to_a_baresip_agent_and_both_sides_are_heard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not all(shutil.which(tool) for tool in ("sipp", "flite", "baresip")):
        pytest.skip("sipp (sip-tester), flite and baresip are needed for the agent demo")
    from voicebot.telephony.demo_agent import run_agent_demo

    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)
    monkeypatch.chdir(ROOT)
    lines: list[str] = []
    status = run_agent_demo(out=lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    assert "(waiting in queue general, on hold)" in output and "(agent alice's phone rings)" in output
    assert "agent alice answered" in output
    agent = next(line for line in lines if line.startswith("  agent:"))
    caller = next(line for line in lines if line.startswith("  caller:"))
    # The agent's phone was heard on the caller's side of the recording. Whisper hears the flite voice's "Open
    # Bank" as "openvanc" now and then, so the check is on the plainer words of the same line.
    assert "account details" in agent.lower()
    assert "card limit" in caller.lower()  # and the caller's speech reached the agent leg's channel
    assert "outcome answered, agent alice" in output
