"""End to end on real synthesized speech: espeak-ng -> resample -> WebRTC VAD -> endpointer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.endpointer import FrameEndpointer, SpeechEnded, SpeechStarted
from voicebot.audio.pcm import Pcm, read_wav, rms_dbfs, silence, split_frames
from voicebot.audio.resample import resample
from voicebot.audio.vad import WebRtcVad

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]

FRAME = 20
PAD_MS = 1000
TOLERANCE_MS = 100


def synthesize(tmp_path: Path, text: str) -> tuple[Pcm, int]:
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True, timeout=60)
    return read_wav(wav)


def energy_bounds(frames: list[Pcm]) -> tuple[int, int]:
    """Start of the first and end of the last frame above -50 dBFS: ground truth for where speech is."""
    active = [i for i, frame in enumerate(frames) if rms_dbfs(frame) > -50.0]
    return active[0] * FRAME, (active[-1] + 1) * FRAME


@pytest.mark.parametrize("rate", [8000, 16000])
def test_endpointer_finds_synthesized_utterance(tmp_path: Path, rate: int) -> None:
    speech, tts_rate = synthesize(tmp_path, "hello, I would like my balance")
    audio = np.concatenate([silence(PAD_MS, rate), resample(speech, tts_rate, rate), silence(PAD_MS, rate)])
    frames = split_frames(audio, rate)
    onset_ms, end_ms = energy_bounds(frames)

    endpointer = FrameEndpointer(WebRtcVad(2), rate)
    endpointer.reset(0)
    endpointer.set_complete(True)  # "my balance" matches the grammar: the short silence timeout applies
    events = [e for i, frame in enumerate(frames) for e in endpointer.feed(frame, FRAME * i)]

    # One utterance: the pause at the comma is far shorter than the silence timeout.
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded], events
    started, ended = events
    assert isinstance(started, SpeechStarted)
    assert isinstance(ended, SpeechEnded)
    assert abs(started.speech_start_ms - onset_ms) <= TOLERANCE_MS
    assert started.at_ms - started.speech_start_ms <= 200  # barge-in reacts quickly
    assert ended.reason == "silence"
    assert end_ms - TOLERANCE_MS <= ended.speech_end_ms <= end_ms + 200
    assert ended.at_ms > end_ms
    assert ended.at_ms == ended.speech_end_ms + 800
