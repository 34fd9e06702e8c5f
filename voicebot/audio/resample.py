"""Sample-rate conversion: the only module that imports soxr.

Used for 8 kHz phone audio -> 16 kHz for ASR and for TTS output (e.g. 22050 Hz) -> 8 kHz for G.711.
soxr's HQ quality includes a steep anti-aliasing low-pass, so downsampling to 8 kHz removes content above
4 kHz instead of folding it back into the speech band.

soxr is driven in float32 and the result is rounded and clipped here: the filter's ringing can overshoot
full scale on loud input, and clipping explicitly (rather than relying on soxr's int16 path, which also
dithers) keeps the output deterministic and the one-shot and streaming paths identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped]  # ships no type information

from voicebot.audio.pcm import Pcm, as_pcm

_QUALITY = "HQ"


def _to_float(pcm: Pcm) -> npt.NDArray[np.float32]:
    return as_pcm(pcm).astype(np.float32)


def _to_pcm(samples: npt.ArrayLike) -> Pcm:
    rounded = np.rint(np.asarray(samples, dtype=np.float32))
    return np.clip(rounded, -32768, 32767).astype(np.int16)


def _check_rates(from_rate: int, to_rate: int) -> None:
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    """Resample a whole signal; the result has ``round(len(pcm) * to_rate / from_rate)`` samples."""
    _check_rates(from_rate, to_rate)
    if from_rate == to_rate:
        return as_pcm(pcm).copy()
    samples = _to_float(pcm)
    if len(samples) == 0:
        return np.zeros(0, dtype=np.int16)
    return _to_pcm(soxr.resample(samples, from_rate, to_rate, quality=_QUALITY))


class StreamResampler:
    """Resample a stream chunk by chunk (RTP packets in, TTS chunks out) with filter state kept between chunks.

    Output is delayed by the filter: the first chunks may return fewer samples (even none) than their
    duration suggests, and :meth:`flush` returns the tail at the end of the stream. Concatenated, the
    outputs equal :func:`resample` of the concatenated input.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        _check_rates(from_rate, to_rate)
        self.from_rate = from_rate
        self.to_rate = to_rate
        # Same rate: pass through rather than paying for (and delaying through) an identity filter.
        self._stream: Any = None  # soxr.ResampleStream; soxr is untyped
        if from_rate != to_rate:
            self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=_QUALITY)

    def process(self, chunk: Pcm) -> Pcm:
        """Feed one chunk of input; returns whatever output is ready (possibly empty)."""
        if self._stream is None:
            return as_pcm(chunk).copy()
        return _to_pcm(self._stream.resample_chunk(_to_float(chunk)))

    def flush(self) -> Pcm:
        """End the stream and return the remaining output; the resampler is then ready for a new stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail = _to_pcm(self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self._stream.clear()
        return tail
