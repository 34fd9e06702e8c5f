"""voicebot.audio.pcm: framing, WAV files, levels and mixing."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.audio.signals import sine
from voicebot.audio.pcm import (
    ASR_RATE,
    FRAME_MS,
    PHONE_RATE,
    as_pcm,
    duration_ms,
    frame_samples,
    mix,
    read_wav,
    rms_dbfs,
    silence,
    split_frames,
    write_stereo_wav,
    write_wav,
)


def test_constants() -> None:
    assert (PHONE_RATE, ASR_RATE, FRAME_MS) == (8000, 16000, 20)


@pytest.mark.parametrize(
    ("rate", "ms", "expected"),
    [(8000, 20, 160), (16000, 20, 320), (8000, 10, 80), (16000, 30, 480), (22050, 20, 441)],
)
def test_frame_samples(rate: int, ms: int, expected: int) -> None:
    assert frame_samples(rate, ms) == expected


@pytest.mark.parametrize(("rate", "ms"), [(22050, 1), (0, 20), (8000, 0)])
def test_frame_samples_rejects_impossible_frames(rate: int, ms: int) -> None:
    with pytest.raises(ValueError):
        frame_samples(rate, ms)


def test_split_frames_exact_multiple() -> None:
    pcm = np.arange(320, dtype=np.int16)
    frames = split_frames(pcm, 8000)
    assert [len(f) for f in frames] == [160, 160]
    assert np.array_equal(np.concatenate(frames), pcm)


def test_split_frames_zero_pads_the_last_partial_frame() -> None:
    pcm = np.ones(170, dtype=np.int16)
    frames = split_frames(pcm, 8000)
    assert [len(f) for f in frames] == [160, 160]
    assert frames[1][:10].tolist() == [1] * 10
    assert not frames[1][10:].any()


def test_split_frames_empty() -> None:
    assert split_frames(np.zeros(0, dtype=np.int16), 8000) == []


def test_as_pcm_rejects_other_dtypes_and_shapes() -> None:
    with pytest.raises(TypeError, match="int16"):
        as_pcm(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="1-D"):
        as_pcm(np.zeros((4, 2), dtype=np.int16))


def test_duration_and_silence() -> None:
    assert duration_ms(np.zeros(8000, dtype=np.int16), 8000) == 1000.0
    quiet = silence(250, 16000)
    assert quiet.dtype == np.int16
    assert len(quiet) == 4000
    assert not quiet.any()
    assert duration_ms(silence(20, 8000), 8000) == 20.0


def test_mix_clips_and_pads_the_shorter_signal() -> None:
    a = np.array([30000, -30000, 100, 5], dtype=np.int16)
    b = np.array([10000, -10000, 200], dtype=np.int16)
    mixed = mix(a, b)
    assert mixed.dtype == np.int16
    assert mixed.tolist() == [32767, -32768, 300, 5]
    assert mix(b, a).tolist() == mixed.tolist()


def test_rms_dbfs() -> None:
    assert rms_dbfs(np.full(160, 32767, dtype=np.int16)) == pytest.approx(0.0, abs=0.01)
    # Full-scale square = 0 dBFS, so a full-scale sine is 3 dB lower.
    assert rms_dbfs(sine(1000, 1.0, 8000, level_dbfs=-3.0103)) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(sine(1000, 1.0, 8000, level_dbfs=-10.0)) == pytest.approx(-10.0, abs=0.05)
    assert rms_dbfs(silence(20, 8000)) == -math.inf
    assert rms_dbfs(np.zeros(0, dtype=np.int16)) == -math.inf


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = sine(440, 0.5, 8000)
    path = tmp_path / "tone.wav"
    write_wav(path, pcm, 8000)
    back, rate = read_wav(path)
    assert rate == 8000
    assert back.dtype == np.int16
    assert np.array_equal(back, pcm)


def test_stereo_wav_keeps_legs_aligned_and_reads_back_as_mono_mix(tmp_path: Path) -> None:
    left = np.array([1000, 2000, 3000, -4000], dtype=np.int16)
    right = np.array([3000, -2000], dtype=np.int16)
    path = tmp_path / "call.wav"
    write_stereo_wav(path, left, right, 8000)
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 2
        assert reader.getnframes() == 4
        raw = np.frombuffer(reader.readframes(4), dtype="<i2").reshape(-1, 2)
    assert raw[:, 0].tolist() == left.tolist()
    assert raw[:, 1].tolist() == [3000, -2000, 0, 0]
    mono, rate = read_wav(path)
    assert rate == 8000
    assert mono.tolist() == [2000, 0, 1500, -2000]


def test_stereo_mix_of_full_scale_channels_does_not_clip(tmp_path: Path) -> None:
    loud = np.full(10, 32767, dtype=np.int16)
    path = tmp_path / "loud.wav"
    write_stereo_wav(path, loud, loud, 8000)
    assert read_wav(path)[0].tolist() == [32767] * 10


def _write_raw_wav(path: Path, *, fmt: int, channels: int, width: int, rate: int = 8000) -> None:
    data = b"\x00" * (channels * width * 8)
    block = channels * width
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, 8 * width)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)


@pytest.mark.parametrize(
    ("fmt", "channels", "width", "message"),
    [
        (1, 1, 1, "8-bit"),
        (1, 1, 3, "24-bit"),
        (1, 3, 2, "3 channels"),
        (3, 1, 4, "not a 16-bit PCM WAV"),  # IEEE float
        (6, 1, 1, "not a 16-bit PCM WAV"),  # A-law in a WAV container
    ],
)
def test_read_wav_rejects_other_formats(tmp_path: Path, fmt: int, channels: int, width: int, message: str) -> None:
    path = tmp_path / "odd.wav"
    _write_raw_wav(path, fmt=fmt, channels=channels, width=width)
    with pytest.raises(ValueError, match=message):
        read_wav(path)


def test_read_wav_rejects_non_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    with pytest.raises(ValueError, match=r"notes\.wav"):
        read_wav(path)


def test_writing_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    """The OS error alone: no half-made wave writer left to print a traceback from its __del__ (pytest turns
    that unraisable exception into a failure)."""
    import gc

    with pytest.raises(FileNotFoundError):
        write_wav(tmp_path / "missing" / "x.wav", np.zeros(80, dtype=np.int16), 8000)
    gc.collect()
