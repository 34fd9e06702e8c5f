"""Real speech for the recognizer tests: espeak-ng or flite synthesis, resampled to 16 kHz int16.

Synthesis is voicebot.testing.voices' (the caller-voice adapter); audio is cached per session in a
temporary folder.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from voicebot.audio.g711 import mulaw_decode, mulaw_encode
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE, read_wav, write_wav
from voicebot.audio.resample import resample
from voicebot.testing.voices import Voice, speak

Pcm = npt.NDArray[np.int16]
_CACHE = Path(tempfile.gettempdir()) / "voicebot-asr-test-audio"

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def synthesize(text: str, *, engine: str = "espeak", voice: str | None = None, rate: int = ASR_RATE,
               speed: int = 150) -> Pcm:
    """``text`` spoken by espeak-ng (``voice`` default en-us, ``speed`` words per minute) or flite
    (default kal16), at ``rate`` Hz."""
    tool = "espeak-ng" if engine == "espeak" else "flite"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    name = voice or ("en-us" if engine == "espeak" else "kal16")
    key = hashlib.sha1(f"{engine}|{name}|{speed}|{text}".encode()).hexdigest()[:16]
    path = _CACHE / f"{key}.wav"
    if not path.exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        # voices.py speaks espeak-ng at 160 words per minute times the voice's speed.
        pcm, native = speak(Voice(engine, name, speed / 160), text)
        tmp = path.with_suffix(".tmp.wav")
        write_wav(tmp, pcm, native)
        tmp.replace(path)
    pcm, source_rate = read_wav(path)
    return resample(pcm, source_rate, rate) if source_rate != rate else pcm


def telephone(pcm16k: Pcm) -> Pcm:
    """A G.711 mu-law round trip at 8 kHz, back at 16 kHz: what the recognizer gets from a phone call."""
    narrow = resample(pcm16k, ASR_RATE, PHONE_RATE)
    return resample(mulaw_decode(mulaw_encode(narrow)), PHONE_RATE, ASR_RATE)


def silence(ms: int, rate: int = ASR_RATE) -> Pcm:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def frames(pcm: Pcm, ms: int = 20, rate: int = ASR_RATE) -> list[Pcm]:
    step = rate * ms // 1000
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]
