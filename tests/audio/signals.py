"""Synthetic test signals: tones, a voice-like vowel and noise, all deterministic (seeded)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voicebot.audio.pcm import Pcm

FULL_SCALE = 32768.0


def to_pcm(samples: npt.NDArray[np.float64]) -> Pcm:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def amplitude_for_dbfs(level_dbfs: float) -> float:
    """Peak amplitude of a sine whose RMS is ``level_dbfs`` (full-scale square wave = 0 dBFS)."""
    return float(FULL_SCALE * 10 ** (level_dbfs / 20) * np.sqrt(2))


def sine(freq_hz: float, seconds: float, rate: int, level_dbfs: float = -10.0) -> Pcm:
    t = np.arange(round(seconds * rate)) / rate
    return to_pcm(amplitude_for_dbfs(level_dbfs) * np.sin(2 * np.pi * freq_hz * t))


def noise(seconds: float, rate: int, level_dbfs: float = -60.0, seed: int = 1) -> Pcm:
    rng = np.random.default_rng(seed)
    return to_pcm(rng.standard_normal(round(seconds * rate)) * FULL_SCALE * 10 ** (level_dbfs / 20))


def vowel(seconds: float, rate: int, f0_hz: float = 150.0, level_dbfs: float = -20.0) -> Pcm:
    """A sustained vowel-like sound: a sawtooth glottal source with a little vibrato, shaped by three formants.

    A bare tone or white noise is not speech to the WebRTC VAD; harmonics of a ~150 Hz pitch under
    formant peaks (here roughly /a/: 700, 1200, 2600 Hz) are.
    """
    n = round(seconds * rate)
    t = np.arange(n) / rate
    phase = np.cumsum(f0_hz * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / rate
    source = 2 * (phase % 1.0) - 1
    freqs = np.fft.rfftfreq(n, 1 / rate)
    envelope = np.zeros_like(freqs)
    for centre, bandwidth, gain in ((700, 130, 1.0), (1200, 150, 0.6), (2600, 250, 0.3)):
        envelope += gain / (1 + ((freqs - centre) / (bandwidth / 2)) ** 2)
    shaped = np.fft.irfft(np.fft.rfft(source) * envelope, n)
    shaped *= FULL_SCALE * 10 ** (level_dbfs / 20) / np.sqrt(np.mean(shaped**2))
    return to_pcm(shaped)


def peak_frequency(pcm: Pcm, rate: int) -> float:
    """Frequency of the strongest FFT bin (Hann-windowed, so leakage does not move the peak)."""
    samples = pcm.astype(np.float64) * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def snr_db(reference: Pcm, test: Pcm) -> float:
    ref = reference.astype(np.float64)
    err = test.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / np.sum(err**2)))
