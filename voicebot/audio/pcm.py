"""PCM basics: the in-memory audio format of voicebot, framing, WAV files and levels.

PCM inside voicebot is a 1-D ``numpy.ndarray`` of dtype int16, mono. Every function here takes and returns
that shape (:data:`Pcm`), so the codecs, the resampler and the VAD can be chained without conversions.
WAV files go through the stdlib :mod:`wave` module: only 16-bit integer PCM is supported, which is what
telephony tools, espeak-ng and most TTS engines write.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Pcm: TypeAlias = npt.NDArray[np.int16]
"""Mono 16-bit PCM samples."""

PHONE_RATE = 8000
"""G.711 (PCMU/PCMA) sample rate: the rate of everything on the phone line."""

ASR_RATE = 16000
"""Sample rate speech recognisers expect."""

FRAME_MS = 20
"""Frame length: one RTP packet of G.711 and a frame size webrtcvad accepts."""

_INT16_MIN = -32768
_INT16_MAX = 32767
# dBFS is relative to the RMS of a full-scale square wave, so a full-scale sine reads -3.01 dBFS.
_FULL_SCALE = 32768.0

PathLike: TypeAlias = str | Path


def as_pcm(pcm: npt.ArrayLike) -> Pcm:
    """Check that ``pcm`` is mono int16 PCM and return it as a contiguous array (no copy when it already is).

    Raises ``TypeError`` for another dtype rather than converting silently: a float array scaled to +/-1.0
    would otherwise turn into silence without anyone noticing.
    """
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"PCM must be int16, got {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"PCM must be 1-D (mono), got shape {array.shape}")
    return np.ascontiguousarray(array)


def frame_samples(rate: int, ms: int = FRAME_MS) -> int:
    """Samples in one frame of ``ms`` milliseconds at ``rate`` Hz (160 for 20 ms at 8 kHz)."""
    if rate <= 0 or ms <= 0:
        raise ValueError(f"rate and frame length must be positive, got rate={rate} ms={ms}")
    if (rate * ms) % 1000:
        raise ValueError(f"{ms} ms at {rate} Hz is not a whole number of samples")
    return rate * ms // 1000


def split_frames(pcm: Pcm, rate: int, ms: int = FRAME_MS) -> list[Pcm]:
    """Cut ``pcm`` into consecutive frames of ``ms`` milliseconds.

    A last partial frame is zero-padded to full length rather than dropped, so the end of an utterance is
    still seen by the VAD; the padding is digital silence and adds at most one frame of non-speech.
    Empty input gives no frames.
    """
    samples = as_pcm(pcm)
    size = frame_samples(rate, ms)
    remainder = len(samples) % size
    if remainder:
        samples = np.concatenate([samples, np.zeros(size - remainder, dtype=np.int16)])
    return [samples[start : start + size] for start in range(0, len(samples), size)]


def duration_ms(pcm: Pcm, rate: int) -> float:
    """Length of ``pcm`` in milliseconds."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return len(pcm) * 1000.0 / rate


def silence(ms: float, rate: int) -> Pcm:
    """``ms`` milliseconds of digital silence at ``rate`` Hz (rounded to the nearest sample)."""
    if ms < 0 or rate <= 0:
        raise ValueError(f"need ms >= 0 and rate > 0, got ms={ms} rate={rate}")
    return np.zeros(round(ms * rate / 1000), dtype=np.int16)


def mix(a: Pcm, b: Pcm) -> Pcm:
    """Sum two signals sample by sample, clipping to int16 instead of wrapping around.

    The result is as long as the longer input; the shorter one is treated as followed by silence, so a
    prompt and a shorter beep can be mixed without trimming either.
    """
    first, second = as_pcm(a), as_pcm(b)
    total = np.zeros(max(len(first), len(second)), dtype=np.int32)
    total[: len(first)] += first
    total[: len(second)] += second
    return np.clip(total, _INT16_MIN, _INT16_MAX).astype(np.int16)


def rms_dbfs(pcm: Pcm) -> float:
    """RMS level in dB relative to full scale (full-scale square wave = 0 dBFS); ``-inf`` for silence."""
    samples = as_pcm(pcm)
    if len(samples) == 0:
        return -math.inf
    # float64 because squaring int16 samples overflows int16 and int32 sums.
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    if rms == 0.0:
        return -math.inf
    return 20.0 * math.log10(rms / _FULL_SCALE)


def read_wav(path: PathLike) -> tuple[Pcm, int]:
    """Read a 16-bit PCM WAV file; stereo is mixed down to mono. Returns ``(pcm, rate)``.

    Any other format (8-bit, 24-bit, float, compressed, more than two channels) raises ``ValueError``
    naming the file and what was found, instead of producing noise.
    """
    try:
        with wave.open(str(path), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            raw = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        # wave.Error covers float and compressed WAVs ("unknown format: 3"); EOFError a truncated header.
        raise ValueError(f"{path}: not a 16-bit PCM WAV file ({exc})") from exc
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported")
    if channels not in (1, 2):
        raise ValueError(f"{path}: {channels} channels; only mono or stereo WAV is supported")
    # WAV is little-endian whatever the host is.
    samples = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if channels == 2:
        pairs = samples.reshape(-1, 2).astype(np.int32)
        # Average rather than sum: the mix of two full-scale channels must not clip.
        samples = (pairs.sum(axis=1) // 2).astype(np.int16)
    return samples, rate


def write_wav(path: PathLike, pcm: Pcm, rate: int) -> None:
    """Write mono 16-bit PCM to a WAV file."""
    _write(path, as_pcm(pcm), rate, channels=1)


def write_stereo_wav(path: PathLike, left: Pcm, right: Pcm, rate: int) -> None:
    """Write two mono signals as the left and right channels of one WAV file (e.g. caller and bot legs).

    The shorter channel is padded with silence so both legs stay time-aligned from the start.
    """
    first, second = as_pcm(left), as_pcm(right)
    length = max(len(first), len(second))
    interleaved = np.zeros((length, 2), dtype=np.int16)
    interleaved[: len(first), 0] = first
    interleaved[: len(second), 1] = second
    _write(path, interleaved.reshape(-1), rate, channels=2)


def _write(path: PathLike, interleaved: Pcm, rate: int, channels: int) -> None:
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    # The file is opened first: wave.open(name) failing to create it (a missing folder) leaves a half-made
    # Wave_write whose __del__ prints a traceback after the error has been reported.
    with open(path, "wb") as file, wave.open(file, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(interleaved.astype("<i2").tobytes())
