"""voicebot.audio.vad: the WebRTC adapter on synthetic voice and noise, and the energy fake."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio.signals import noise, sine, vowel
from voicebot.audio.pcm import silence, split_frames
from voicebot.audio.vad import EnergyVad, VadAnalyzer, WebRtcVad

# The WebRTC VAD needs a few frames to adapt to the noise floor, and holds "speech" for a few frames
# after it ends (its built-in hangover). Frames inside these margins are not asserted on.
WARM_UP_FRAMES = 10
HANGOVER_FRAMES = 10


def _decisions(vad: VadAnalyzer, pcm: np.ndarray, rate: int) -> list[bool]:
    return [vad.is_speech(frame, rate) for frame in split_frames(pcm, rate)]


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("f0_hz", [110.0, 150.0, 220.0])
def test_webrtc_marks_vowel_frames_and_not_the_noise_around_them(rate: int, f0_hz: float) -> None:
    before, voice, after = noise(1.0, rate, seed=1), vowel(1.0, rate, f0_hz=f0_hz), noise(1.0, rate, seed=2)
    decisions = _decisions(WebRtcVad(2), np.concatenate([before, voice, after]), rate)
    assert len(decisions) == 150
    assert not any(decisions[WARM_UP_FRAMES:50]), "noise before the vowel"
    assert all(decisions[50:100]), "the vowel"
    assert not any(decisions[100 + HANGOVER_FRAMES :]), "noise after the vowel"


@pytest.mark.parametrize("rate", [8000, 16000])
def test_webrtc_digital_silence_is_not_speech(rate: int) -> None:
    assert not any(_decisions(WebRtcVad(2), silence(1000, rate), rate))


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_webrtc_accepts_10_20_30_ms_frames(frame_ms: int) -> None:
    vad = WebRtcVad(2)
    voice = vowel(1.0, 8000)
    frames = split_frames(voice, 8000, frame_ms)
    assert sum(vad.is_speech(frame, 8000) for frame in frames) >= len(frames) - WARM_UP_FRAMES


def test_webrtc_rejects_bad_frame_lengths_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"10, 20 or 30 ms frames; got 200 samples at 8000 Hz \(25 ms\)"):
        WebRtcVad().is_speech(np.zeros(200, dtype=np.int16), 8000)


def test_webrtc_rejects_unsupported_rates() -> None:
    with pytest.raises(ValueError, match="22050 Hz"):
        WebRtcVad().is_speech(np.zeros(441, dtype=np.int16), 22050)


def test_webrtc_rejects_non_int16() -> None:
    with pytest.raises(TypeError):
        WebRtcVad().is_speech(np.zeros(160, dtype=np.float64), 8000)


@pytest.mark.parametrize("aggressiveness", [-1, 4])
def test_webrtc_aggressiveness_range(aggressiveness: int) -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        WebRtcVad(aggressiveness)


def test_energy_vad_threshold() -> None:
    vad = EnergyVad(threshold_dbfs=-40.0)
    assert vad.is_speech(sine(1000, 0.02, 8000, level_dbfs=-30.0), 8000)
    assert vad.is_speech(sine(1000, 0.02, 8000, level_dbfs=-39.9), 8000)
    assert not vad.is_speech(sine(1000, 0.02, 8000, level_dbfs=-50.0), 8000)
    assert not vad.is_speech(silence(20, 8000), 8000)


def test_both_satisfy_the_protocol() -> None:
    analyzers: list[VadAnalyzer] = [WebRtcVad(), EnergyVad()]
    assert all(isinstance(a.is_speech(silence(20, 8000), 8000), bool) for a in analyzers)


def test_fresh_gives_each_stream_its_own_history() -> None:
    """One stream's speech leaves a hangover (and an adapted model) in the detector: a detector shared by two
    streams calls the other stream's line noise speech; fresh() ones keep them apart (one per call)."""
    rate = 8000
    talker = split_frames(np.concatenate([noise(0.5, rate, seed=1), vowel(2.0, rate), noise(1.0, rate, seed=3)]),
                          rate)
    hiss = split_frames(noise(3.5, rate, seed=2), rate)
    shared = WebRtcVad(2)
    own_talker, own_hiss = shared.fresh(), shared.fresh()
    heard_shared, heard_own = [], []
    for said, line in zip(talker, hiss, strict=True):
        shared.is_speech(said, rate)
        heard_shared.append(shared.is_speech(line, rate))
        own_talker.is_speech(said, rate)
        heard_own.append(own_hiss.is_speech(line, rate))
    assert sum(heard_shared) > 50  # the bug this guards against
    assert not any(heard_own[WARM_UP_FRAMES:])
