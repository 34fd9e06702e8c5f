"""voicebot.audio.resample: lengths, frequency preservation, anti-aliasing and streaming."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio.signals import peak_frequency, sine
from voicebot.audio.pcm import Pcm, frame_samples, rms_dbfs, split_frames
from voicebot.audio.resample import StreamResampler, resample


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "n_in", "n_out"),
    [(8000, 16000, 8000, 16000), (16000, 8000, 16000, 8000), (22050, 8000, 22050, 8000), (8000, 16000, 160, 320)],
)
def test_lengths(from_rate: int, to_rate: int, n_in: int, n_out: int) -> None:
    out = resample(sine(440, n_in / from_rate, from_rate), from_rate, to_rate)
    assert out.dtype == np.int16
    assert len(out) == n_out


def test_same_rate_is_a_copy() -> None:
    tone = sine(440, 0.1, 8000)
    out = resample(tone, 8000, 8000)
    assert np.array_equal(out, tone)
    assert out is not tone


def test_empty_input() -> None:
    assert len(resample(np.zeros(0, dtype=np.int16), 8000, 16000)) == 0


def test_rejects_bad_rates_and_dtypes() -> None:
    with pytest.raises(ValueError):
        resample(sine(440, 0.1, 8000), 0, 16000)
    with pytest.raises(TypeError):
        resample(np.zeros(10, dtype=np.float32), 8000, 16000)


def test_1khz_tone_keeps_its_frequency_through_8_16_8() -> None:
    tone = sine(1000, 1.0, 8000)
    up = resample(tone, 8000, 16000)
    assert peak_frequency(up, 16000) == pytest.approx(1000, abs=2)
    down = resample(up, 16000, 8000)
    assert peak_frequency(down, 8000) == pytest.approx(1000, abs=2)
    # Level is preserved too (the middle avoids the filter's edge transients).
    assert rms_dbfs(down[800:-800]) == pytest.approx(-10.0, abs=0.2)


def test_1khz_tone_keeps_its_frequency_from_tts_rate() -> None:
    down = resample(sine(1000, 1.0, 22050), 22050, 8000)
    assert peak_frequency(down, 8000) == pytest.approx(1000, abs=2)


def test_downsampling_removes_content_above_the_new_nyquist() -> None:
    # 5 kHz would alias to 3 kHz, right in the speech band, if not filtered out first.
    mixture = sine(1000, 1.0, 22050, level_dbfs=-20.0) + sine(5000, 1.0, 22050, level_dbfs=-20.0)
    down = resample(mixture, 22050, 8000)
    spectrum = np.abs(np.fft.rfft(down.astype(np.float64) * np.hanning(len(down))))
    freqs = np.fft.rfftfreq(len(down), 1 / 8000)
    tone = spectrum[np.argmin(np.abs(freqs - 1000))]
    alias = spectrum[np.argmin(np.abs(freqs - 3000))]
    assert 20 * np.log10(alias / tone) < -60
    assert peak_frequency(down, 8000) == pytest.approx(1000, abs=2)


def test_output_clips_instead_of_wrapping() -> None:
    square = np.tile(np.array([32767] * 20 + [-32768] * 20, dtype=np.int16), 200)
    out = resample(square, 8000, 16000)  # the filter's Gibbs overshoot exceeds int16
    assert out.max() == 32767
    assert out.min() == -32768


def _stream(resampler: StreamResampler, chunks: list[Pcm]) -> Pcm:
    pieces = [resampler.process(chunk) for chunk in chunks]
    pieces.append(resampler.flush())
    return np.concatenate(pieces)


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "chunk_ms"), [(8000, 16000, 20), (22050, 8000, 20), (16000, 8000, 30)]
)
def test_streaming_matches_one_shot(from_rate: int, to_rate: int, chunk_ms: int) -> None:
    signal = sine(1000, 0.5, from_rate) + sine(300, 0.5, from_rate, level_dbfs=-20.0)
    one_shot = resample(signal, from_rate, to_rate)
    size = frame_samples(from_rate, chunk_ms)
    chunks = [signal[i : i + size] for i in range(0, len(signal), size)]
    streamed = _stream(StreamResampler(from_rate, to_rate), chunks)
    assert len(streamed) == len(one_shot)
    assert np.max(np.abs(streamed.astype(np.int32) - one_shot)) <= 2


def test_stream_is_reusable_after_flush() -> None:
    signal = sine(1000, 0.2, 8000)
    resampler = StreamResampler(8000, 16000)
    first = _stream(resampler, split_frames(signal, 8000))
    second = _stream(resampler, split_frames(signal, 8000))
    assert np.array_equal(first, second)


def test_stream_same_rate_passes_through() -> None:
    signal = sine(1000, 0.1, 8000)
    resampler = StreamResampler(8000, 8000)
    assert np.array_equal(resampler.process(signal), signal)
    assert len(resampler.flush()) == 0
