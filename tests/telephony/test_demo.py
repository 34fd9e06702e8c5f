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
