"""Caller voices: speech synthesized to play the caller in simulations, demos and accuracy tests.

Three families, kept apart on purpose: Piper (the IVR's own voice engine), espeak-ng (formant
synthesis, many accents and variants) and flite (CMU's diphone/cluster voices). Flite voices are never
used for tuning grammars or thresholds, so accuracy on them is reported as accuracy on unseen voices.

Each tool is a Debian package run as a subprocess, so this module is the one adapter for both.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicebot.audio.g711 import mulaw_decode, mulaw_encode
from voicebot.audio.pcm import PHONE_RATE, read_wav
from voicebot.audio.resample import resample


@dataclass(frozen=True)
class Voice:
    family: str  # "espeak" | "flite" | "piper"
    name: str
    #: espeak-ng words per minute / piper length scale / flite duration stretch; varied for tempo diversity.
    speed: float = 1.0
    #: Never used for tuning grammars or thresholds, whatever its family (accuracy on it is "unseen").
    held_out: bool = False

    @property
    def label(self) -> str:
        return f"{self.family}:{self.name}@{self.speed:g}"


ESPEAK_VOICES = (
    Voice("espeak", "en-us", 1.0),
    Voice("espeak", "en-us+f3", 0.9),
    Voice("espeak", "en-gb", 1.1),
    Voice("espeak", "en-us+m7", 1.0),
)
FLITE_VOICES = (Voice("flite", "slt"), Voice("flite", "rms"), Voice("flite", "awb"), Voice("flite", "kal16"))
#: Added for issue 12 and never used for tuning: other accents and variants of espeak-ng, and flite voices
#: at other tempos (flite's duration stretch: 1.15 is slower).
HELD_OUT_VOICES = (
    Voice("espeak", "en-gb-scotland+f4", 0.9, held_out=True),
    Voice("espeak", "en-029+m3", 1.1, held_out=True),
    Voice("espeak", "en-gb-x-rp+Annie", 1.0, held_out=True),
    Voice("flite", "kal", 1.15, held_out=True),
    Voice("flite", "slt", 0.9, held_out=True),
    Voice("flite", "rms", 1.1, held_out=True),
)
PIPER_VOICES = (Voice("piper", "en_US-joe-medium", 1.0), Voice("piper", "en_US-joe-medium", 1.15))


class VoiceUnavailable(RuntimeError):
    pass


def available(voice: Voice) -> bool:
    if voice.family == "espeak":
        return shutil.which("espeak-ng") is not None
    if voice.family == "flite":
        return shutil.which("flite") is not None
    try:
        import voicebot.tts.piper_engine  # noqa: F401
    except ImportError:
        return False
    return True


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """Caller speech at 8 kHz, 16-bit, as the phone line carries it (through a mu-law round trip)."""
    return phone_line(*speak(voice, text))


def phone_line(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Audio as a G.711 mu-law phone line delivers it: 8 kHz, through the codec and back."""
    return mulaw_decode(mulaw_encode(resample(pcm, rate, PHONE_RATE)))


def add_noise(pcm: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White noise at a given signal-to-noise ratio (of the voiced part), reproducibly."""
    signal = pcm.astype(np.float64)
    voiced = signal[np.abs(signal) > 200]
    power = float(np.mean(voiced**2)) if voiced.size else 1.0
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=signal.shape)
    return np.clip(signal + noise, -32768, 32767).astype(np.int16)


_PIPER: dict[float, object] = {}


def speak(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    """Speech at the voice's own sample rate, straight from the synthesizer (no phone line)."""
    if voice.family == "piper":
        from voicebot.tts.piper_engine import PiperSynthesizer

        synth = _PIPER.get(voice.speed)
        if synth is None:
            synth = _PIPER[voice.speed] = PiperSynthesizer(length_scale=voice.speed)
        assert isinstance(synth, PiperSynthesizer)
        return synth.synthesize(text), synth.sample_rate
    with tempfile.TemporaryDirectory(prefix="voicebot-voice-") as tmp:
        out = Path(tmp) / "speech.wav"
        if voice.family == "espeak":
            if shutil.which("espeak-ng") is None:
                raise VoiceUnavailable("espeak-ng is not installed (Debian package espeak-ng)")
            wpm = str(round(160 * voice.speed))
            command = ["espeak-ng", "-v", voice.name, "-s", wpm, "-w", str(out), text]
        elif voice.family == "flite":
            if shutil.which("flite") is None:
                raise VoiceUnavailable("flite is not installed (Debian package flite)")
            command = ["flite", "-voice", voice.name, "-t", text, "-o", str(out)]
            if voice.speed != 1.0:
                command[1:1] = ["--setf", f"duration_stretch={voice.speed:g}"]
        else:
            raise VoiceUnavailable(f"unknown voice family {voice.family!r}")
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        return read_wav(out)
