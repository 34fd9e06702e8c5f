"""A PIN said at a secure node never reaches a log line, at any level (issue 8 item 5).

A whole simulated call runs at DEBUG (`voicebot -vv simulate`) with a caller who says the PIN; the
captured log and the call record are searched for it in every spelling. (The simulator's console and JSON
transcript show the media events, whose "recognized" text is the developer's view of the call.)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.asr.speech import synthesize
from voicebot.asr.base import GrammarSpec, Recognizer

ROOT = Path(__file__).resolve().parents[2]
PIN_WORDS = "seven three nine five"
SPELLINGS = ("7395", "7 3 9 5", "7-3-9-5", "seven three nine five", "Seven three nine five")

pytestmark = pytest.mark.integration


def engines() -> list[str]:
    found = ["pocketsphinx"] if importlib.util.find_spec("pocketsphinx") else []
    return found + (["whisper"] if importlib.util.find_spec("faster_whisper") else [])


def make(engine: str) -> Recognizer:
    if engine == "whisper":
        from voicebot.asr.whisper_engine import WhisperRecognizer

        return WhisperRecognizer()
    from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

    return PocketSphinxRecognizer()


def leaks(text: str) -> list[str]:
    return [s for s in SPELLINGS if s.lower() in text.lower()]


@pytest.mark.parametrize("engine", engines())
def test_recognizers_do_not_log_what_they_heard(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    recognizer = make(engine)
    with caplog.at_level(logging.DEBUG):
        stream = recognizer.open(GrammarSpec("digits", (), 4, 4))
        stream.accept(synthesize(PIN_WORDS))
        result = stream.finish()
        stream.close()
    assert result.text, "the PIN was not heard at all: the test would prove nothing"
    assert leaks(caplog.text) == [], caplog.text


@pytest.mark.skipif(shutil.which("flite") is None, reason="the caller voice needs flite")
@pytest.mark.skipif(importlib.util.find_spec("faster_whisper") is None, reason="faster-whisper is not installed")
def test_a_spoken_pin_is_in_no_log_of_a_call_at_debug(tmp_path: Path) -> None:
    script = tmp_path / "pin.yaml"
    script.write_text(f"""
caller: "+15550100001"
voice: flite:slt
turns:
  - dtmf: "1"          # balance, at the main menu
  - speak: "{PIN_WORDS}"
  - dtmf: "2"
""")
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    voicebot = [sys.executable, "-m", "voicebot.cli"]
    subprocess.run([*voicebot, "db", "init", "--demo"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    out = tmp_path / "call.wav"
    done = subprocess.run([*voicebot, "-vv", "simulate", "flows/banking.yaml", "--script", str(script), "--out",
                           str(out), "--engine", "whisper"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert " DEBUG " in done.stderr, "the call was not logged at DEBUG"
    transcript = json.loads(out.with_suffix(".json").read_text())
    heard = [e["text"] for e in transcript["events"] if e["kind"] == "recognized"]
    assert len(heard) == 1 and heard[0], "the PIN was not recognized: the test would prove nothing"
    assert leaks(done.stderr) == [], done.stderr  # the log, at DEBUG
    # The call record never holds the PIN either (the session masks secure slots and words).
    assert leaks(json.dumps(transcript["record"])) == []
