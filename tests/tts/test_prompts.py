"""What a flow can say ahead of any call, and recorded prompts brought to 8 kHz."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.flow.engine_harness import Call, compile_yaml
from voicebot.actions import Say
from voicebot.audio.pcm import write_stereo_wav, write_wav
from voicebot.flow.compile import CompiledFlow
from voicebot.tts.prompts import load_recorded, recorded_prompts, static_prompts

FLOW = """
flow: t
start: hello
grammars: [common, banking]
settings:
  help: "Say agent for a person."
  no_input: ["I didn't hear you.", "Still nothing, {name}?"]
  on_error: {prompt: "Something broke. Connecting you."}
commands:
  - {intent: speak_to_agent, target: agent}
variables: {name: Alice}
nodes:
  hello:
    kind: say
    play: audio/hello.wav
    prompt: "Hello from a recording."
    next: greet
  greet:
    kind: say
    prompt: ["Welcome, {name}.", "Welcome again."]
    next: menu
  menu:
    kind: menu
    prompt: "Main menu. Literal {{braces}}."
    options:
      - {intent: check_balance, label: balances, say: balance, next: sub}
      - {intent: report_lost_card, next: agent}
    no_match: "Sorry, {name}, I missed that."
  sub:
    kind: subflow
    flow: other
    next: agent
  agent:
    kind: handoff
    queue: general
    reason: "Static reason, never spoken."
    prompt: "Connecting you to an agent."
"""

OTHER = """
flow: other
start: ask
grammars: [common]
nodes:
  ask:
    kind: ask
    slot: pin
    type: digits
    prompt: "Key in your PIN."
    help: "Your PIN has four digits."
    next: clip
  clip:
    kind: say
    play: ../clips/bye.wav
    next: done
  done:
    kind: return
"""


@pytest.fixture
def flow(tmp_path: Path) -> CompiledFlow:
    return compile_yaml(tmp_path, FLOW, extra={"other.yaml": OTHER})


def test_static_prompts(flow: CompiledFlow) -> None:
    texts = static_prompts(flow)
    for expected in (
        "Hello from a recording.",  # fallback of a play node
        "Welcome again.",
        "Main menu. Literal {braces}.",  # rendered, as the engine says it
        "For balances, say balance or press 1. For report lost card, say lost card or press 3.",
        "Connecting you to an agent.",
        "Key in your PIN.",  # subflow
        "Your PIN has four digits.",
        "Say agent for a person.",
        "I didn't hear you.",
        "Something broke. Connecting you.",
        "Sorry, I didn't understand.",  # default settings message
    ):
        assert expected in texts
    for text in texts:
        assert "{name}" not in text and "Alice" not in text and "{value}" not in text
    assert "Static reason, never spoken." not in texts
    assert len(texts) == len(set(texts))


def test_menu_text_matches_what_the_engine_says(flow: CompiledFlow) -> None:
    call = Call(flow)
    said = [a.text for a in call.start() if isinstance(a, Say)]
    menu = said[-1]
    assert menu.startswith("For balances")
    assert menu in static_prompts(flow)


def test_menu_with_a_variable_label_is_not_static(tmp_path: Path) -> None:
    flow = compile_yaml(
        tmp_path, FLOW.replace("label: balances", "label: '{name}s balances'"), extra={"other.yaml": OTHER}
    )
    assert not any(text.startswith("For ") for text in static_prompts(flow))


def test_banking_flow_prompts_are_all_static() -> None:
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.services.registry import default_registry

    root = Path(__file__).resolve().parents[2]
    flow = load_flow_with(root / "flows" / "banking.yaml", load_config(), default_registry())
    texts = static_prompts(flow)
    assert "Welcome to Open Bank." in texts and len(texts) > 20
    assert not any("{" in text for text in texts)


def test_recorded_prompts_are_relative_to_their_flow_file(flow: CompiledFlow, tmp_path: Path) -> None:
    assert recorded_prompts(flow) == [tmp_path / "audio" / "hello.wav", tmp_path / ".." / "clips" / "bye.wav"]


def tone(rate: int, seconds: float, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def test_stereo_16k_prompt_loads_as_8k_mono(tmp_path: Path) -> None:
    path = tmp_path / "prompt.wav"
    left = tone(16000, 1.0)
    write_stereo_wav(path, left, left, 16000)
    audio = load_recorded(path)
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert len(audio) == 8000
    # Still a 440 Hz tone at the same level.
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    assert abs(np.argmax(spectrum) * 8000 / len(audio) - 440) < 2
    assert np.abs(audio[100:-100]).max() == pytest.approx(8000, rel=0.05)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_common_rates_load_as_8k(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "prompt.wav"
    write_wav(path, tone(rate, 0.5), rate)
    assert len(load_recorded(path)) == 4000


def test_eight_bit_wav_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "old.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(800))
    with pytest.raises(ValueError, match=r"old\.wav.*8-bit.*16-bit"):
        load_recorded(path)


def test_not_a_wav_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "prompt.wav"
    path.write_bytes(b"ID3\x03not a wav at all")
    with pytest.raises(ValueError, match=r"prompt\.wav.*16-bit PCM WAV"):
        load_recorded(path)


def test_missing_prompt_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.wav"):
        load_recorded(tmp_path / "missing.wav")
