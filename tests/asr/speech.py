"""Real speech for the recognizer tests: espeak-ng or flite synthesis, resampled to 16 kHz int16.

Audio is cached per session in a temporary folder. The resampler is voicebot.audio's (soxr) when it
imports, else ``sox``; mu-law uses voicebot.audio.g711 when present, else a plain numpy G.711 codec.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

Pcm = npt.NDArray[np.int16]
_CACHE = Path(tempfile.gettempdir()) / "voicebot-asr-test-audio"

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def _read(path: Path) -> tuple[Pcm, int]:
    with wave.open(str(path), "rb") as reader:
        assert reader.getsampwidth() == 2 and reader.getnchannels() == 1
        rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.int16)
    return pcm, rate


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    if from_rate == to_rate:
        return pcm
    try:
        from voicebot.audio.resample import resample as soxr_resample
    except ImportError:
        pass
    else:
        return soxr_resample(pcm, from_rate, to_rate)
    if shutil.which("sox") is None:
        pytest.skip("neither voicebot.audio.resample nor sox is available")
    out = subprocess.run(
        ["sox", "-t", "raw", "-r", str(from_rate), "-e", "signed-integer", "-b", "16", "-c", "1", "-",
         "-t", "raw", "-r", str(to_rate), "-e", "signed-integer", "-b", "16", "-c", "1", "-"],
        input=pcm.astype("<i2").tobytes(), capture_output=True, check=True,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.int16)


def synthesize(text: str, *, engine: str = "espeak", voice: str | None = None, rate: int = 16000,
               speed: int = 150) -> Pcm:
    """``text`` spoken by espeak-ng (``voice`` default en-us) or flite (default kal16), at ``rate`` Hz."""
    voice = voice or ("en-us" if engine == "espeak" else "kal16")
    key = hashlib.sha1(f"{engine}|{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    path = _CACHE / f"{key}.wav"
    if not path.exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        if engine == "espeak":
            if shutil.which("espeak-ng") is None:
                pytest.skip("espeak-ng is not installed")
            command = ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(tmp), text]
        else:
            if shutil.which("flite") is None:
                pytest.skip("flite is not installed")
            command = ["flite", "-voice", voice, "-t", text, "-o", str(tmp)]
        subprocess.run(command, check=True, capture_output=True)
        tmp.replace(path)
    pcm, source_rate = _read(path)
    return resample(pcm, source_rate, rate)


def _mulaw_encode(pcm: Pcm) -> bytes:
    """ITU-T G.711 mu-law (the reference's 14-bit arithmetic)."""
    value = pcm.astype(np.int32) >> 2
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), 8159) + 33
    segment = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), magnitude)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    codes: bytes = (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8).tobytes()
    return codes


def _mulaw_decode(data: bytes) -> Pcm:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def telephone(pcm16k: Pcm) -> Pcm:
    """A G.711 mu-law round trip at 8 kHz, back at 16 kHz: what the recognizer gets from a phone call."""
    narrow = resample(pcm16k, 16000, 8000)
    encode: Callable[[Pcm], bytes] = _mulaw_encode
    decode: Callable[[Any], Pcm] = _mulaw_decode
    try:
        from voicebot.audio.g711 import mulaw_decode, mulaw_encode
    except ImportError:
        pass
    else:
        encode, decode = mulaw_encode, mulaw_decode
    return resample(decode(encode(narrow)), 8000, 16000)


def silence(ms: int, rate: int = 16000) -> Pcm:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def frames(pcm: Pcm, ms: int = 20, rate: int = 16000) -> list[Pcm]:
    step = rate * ms // 1000
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]
