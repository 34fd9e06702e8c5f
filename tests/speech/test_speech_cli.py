"""Speech end to end with the real components: Piper prompts, webrtcvad, PocketSphinx, caller voices.

These run the real `voicebot` command in a temporary data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.audio.pcm import read_wav

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VOICEBOT = [sys.executable, "-m", "voicebot.cli"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("flite") is None or shutil.which("espeak-ng") is None,
                       reason="caller voices need flite and espeak-ng (scripts/setup.sh installs them)"),
]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    return subprocess.run([*VOICEBOT, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
                          check=False)


def test_say_writes_phone_audio(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    done = run(tmp_path, "say", "Welcome to Open Bank.", "-o", str(out), "--rate", "8000")
    assert done.returncode == 0, done.stderr
    audio, rate = read_wav(out)
    assert rate == 8000 and 0.6 < len(audio) / rate < 3.0 and abs(audio).max() > 3000


def test_simulated_call_by_voice_and_keypad(tmp_path: Path) -> None:
    run(tmp_path, "db", "init", "--demo")
    script = tmp_path / "call.yaml"
    script.write_text("""
caller: "+15550100001"
voice: flite:slt
turns:
  - speak: "balance"
  - dtmf: "1"        # yes to "I heard check balance. Is that right?"
  - dtmf: "1234"
    barge_in_ms: 500 # keyed over the PIN prompt
  - dtmf: "2"
""")
    out = tmp_path / "out" / "call.wav"
    done = run(tmp_path, "simulate", "flows/banking.yaml", "--script", str(script), "--out", str(out),
               "--engine", "pocketsphinx")
    assert done.returncode == 0, done.stderr
    transcript = json.loads(out.with_suffix(".json").read_text())
    kinds = [e["kind"] for e in transcript["events"]]
    recognized = [e for e in transcript["events"] if e["kind"] == "recognized"]
    assert recognized and recognized[0]["text"] == "balance", transcript["events"]
    prompts = " ".join(e["text"] for e in transcript["events"] if e["kind"] == "prompt")
    # PocketSphinx screens closed-list results against filler words and caps their confidence below
    # the flow's confirmation threshold, so the flow confirms what it heard before acting on it.
    assert "I heard check balance. Is that right?" in prompts
    assert "two thousand three hundred forty-five dollars and sixty-seven cents" in prompts
    assert "barge_in" in kinds  # the keys interrupted a prompt
    dtmf = [e["keys"] for e in transcript["events"] if e["kind"] == "dtmf"]
    assert dtmf[:5] == ["1", "*", "*", "*", "*"]  # the PIN is masked
    record = transcript["record"]
    assert record["outcome"] == "self_served" and record["authenticated"] is True
    ivr, rate = read_wav(out)
    stereo_duration = len(read_wav(out.with_suffix(".stereo.wav"))[0]) / rate
    assert rate == 8000 and abs(len(ivr) / rate - stereo_duration) < 0.05
    assert transcript["turns"][0]["recognize_wall_ms"] < 2000


def test_recognize_prints_one_json_line_per_file(tmp_path: Path) -> None:
    wav = tmp_path / "pin.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "four four one seven", "-o", str(wav)], check=True)
    missing = tmp_path / "missing.wav"
    done = run(tmp_path, "recognize", str(missing), str(wav), "--flow", "flows/banking.yaml", "--node",
               "authenticate.ask_pin", "--engine", "pocketsphinx")
    assert done.returncode == 0, done.stderr
    bad, line = (json.loads(x) for x in done.stdout.strip().splitlines())
    # A file that cannot be read is reported in its own line and the batch goes on.
    assert bad["file"] == str(missing) and "no such file" in bad["error"].lower() and "text" not in bad, bad
    assert set(line) >= {"file", "engine", "text", "confidence", "intent", "slots", "nbest", "latency_ms",
                         "intent_scores", "intent_threshold", "confirm_threshold", "decision"}
    assert line["engine"] == "pocketsphinx" and line["slots"] == {"pin": "4417"}
    builtin = run(tmp_path, "recognize", str(wav), "--grammar", "builtin:digits", "--min", "4", "--max", "4",
                  "--engine", "pocketsphinx")
    assert json.loads(builtin.stdout.strip())["slots"] == {"value": "4417"}


def test_prompts_build_renders_every_static_prompt_once(tmp_path: Path) -> None:
    first = run(tmp_path, "prompts", "build", "flows/banking.yaml")
    assert first.returncode == 0, first.stderr
    assert " 0 already cached" in first.stdout
    again = run(tmp_path, "prompts", "build", "flows/banking.yaml")
    assert "0 rendered" in again.stdout


def test_models_fetch_fails_clearly_offline(tmp_path: Path) -> None:
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(tmp_path / "data"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([*VOICEBOT, "models", "fetch", "vosk-en", "--dest", str(tmp_path / "models")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert done.returncode == 1
    assert "cannot download vosk-model-small-en-us-0.15" in done.stderr
    assert not any((tmp_path / "models").glob("vosk-model-*"))


def test_the_readme_simulation_serves_the_caller_with_whisper(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    run(tmp_path, "db", "init", "--demo")
    out = tmp_path / "call.wav"
    done = run(tmp_path, "simulate", "flows/banking.yaml", "--script", "tests/speech/call_balance.yaml",
               "--out", str(out), "--engine", "whisper", "--quiet")
    assert done.returncode == 0, done.stderr
    transcript = json.loads(out.with_suffix(".json").read_text())
    heard = [e["text"] for e in transcript["events"] if e["kind"] == "recognized"]
    # "no thanks" ends the call whether the preview's cut-short audio came out as "no thanks" or "no think":
    # what is checked is what the flow understood, without a confirmation question.
    assert heard[0] == "what is my balance" and heard[1].split()[0] == "no" and len(heard) == 2, heard
    prompts = [e["text"] for e in transcript["events"] if e["kind"] == "prompt"]
    assert not any(p.startswith("I heard") for p in prompts), prompts
    assert transcript["record"]["intents"] == ["check_balance", "no"]
    assert transcript["record"]["outcome"] == "self_served" and transcript["record"]["authenticated"]


def test_recognize_scores_a_labels_file_and_goes_on_after_a_bad_file(tmp_path: Path) -> None:
    for name, text in (("pin.wav", "four four one seven"), ("yes.wav", "yes please"), ("menu.wav", "balance")):
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(tmp_path / name)], check=True)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    labels = tmp_path / "labels.tsv"
    labels.write_text("pin.wav\t4417\t4-digit\nbroken.wav\t1234\t4-digit\nyes.wav\tyes\tyes_no\n"
                      "menu.wav\tcheck_balance\tintent\n")
    done = run(tmp_path, "recognize", "--expected", str(labels), "--engine", "pocketsphinx")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    by_file = {Path(line["file"]).name: line for line in lines if "file" in line}
    assert "not a 16-bit PCM WAV" in by_file["broken.wav"]["error"] and by_file["broken.wav"]["kind"] == "4-digit"
    assert by_file["pin.wav"]["correct"] is True and by_file["yes.wav"]["correct"] is True
    assert "give --flow and --node" in by_file["menu.wav"]["error"]  # an intent needs the node's NLU
    summary = lines[-1]["summary"]
    assert summary["kinds"]["4-digit"] == {"total": 2, "correct": 1, "exact_match": 0.5, "rejected": 0,
                                           "false_accepts": 0, "errors": 1}
    assert summary["files"] == 4 and "word_error_rate" in summary
    assert "exact match" in done.stderr and "false accepts 0/4" in done.stderr
    # The same intent row at the menu node of the demo bank.
    at_menu = run(tmp_path, "recognize", "--expected", str(labels), "--flow", "flows/banking.yaml", "--node",
                  "main_menu", "--engine", "pocketsphinx")
    menu_line = next(json.loads(x) for x in at_menu.stdout.splitlines() if '"menu.wav' in x or "menu.wav\"" in x)
    assert menu_line["intent"] == "check_balance" and menu_line["correct"] is True
