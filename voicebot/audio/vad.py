"""Voice activity detection: per-frame speech / non-speech decisions.

:class:`VadAnalyzer` is what the endpointer consumes. :class:`WebRtcVad` is the production adapter and the
only module that imports webrtcvad; :class:`EnergyVad` is a deterministic level threshold, fast and
predictable enough for unit tests (and usable on very clean lines), but it cannot tell speech from noise.
"""

from __future__ import annotations

from typing import Protocol

import webrtcvad  # type: ignore[import-untyped]  # ships no type information

from voicebot.audio.pcm import Pcm, as_pcm, rms_dbfs

WEBRTC_RATES = (8000, 16000, 32000, 48000)
"""Sample rates the WebRTC VAD accepts (voicebot uses 8000 and 16000)."""

WEBRTC_FRAME_MS = (10, 20, 30)
"""Frame lengths the WebRTC VAD accepts."""


class VadAnalyzer(Protocol):
    """Decides whether one frame of PCM contains speech."""

    def is_speech(self, frame: Pcm, rate: int) -> bool: ...

    def fresh(self) -> VadAnalyzer:
        """An analyzer with the same settings and no history, for another audio stream (one per call)."""
        ...


class WebRtcVad:
    """The WebRTC VAD (GMM on sub-band energies), via the ``webrtcvad`` package.

    ``aggressiveness`` 0..3: higher rejects more non-speech (fewer false alarms on line noise) at the cost
    of missing quiet speech; 2 suits telephone audio. The detector keeps adaptive state across frames, so
    use one instance per audio stream.
    """

    def __init__(self, aggressiveness: int = 2) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0, 1, 2 or 3, got {aggressiveness}")
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def fresh(self) -> WebRtcVad:
        return WebRtcVad(self.aggressiveness)

    def is_speech(self, frame: Pcm, rate: int) -> bool:
        samples = as_pcm(frame)
        if rate not in WEBRTC_RATES:
            raise ValueError(f"WebRTC VAD supports {', '.join(map(str, WEBRTC_RATES))} Hz, got {rate} Hz")
        # Checked here because the C library only answers "Error while processing frame" for a bad length.
        if len(samples) * 1000 not in {ms * rate for ms in WEBRTC_FRAME_MS}:
            raise ValueError(
                f"WebRTC VAD needs 10, 20 or 30 ms frames; got {len(samples)} samples at {rate} Hz "
                f"({len(samples) * 1000 / rate:g} ms)"
            )
        # webrtcvad reads native-endian 16-bit samples, which is what an int16 array's buffer holds.
        return bool(self._vad.is_speech(samples.tobytes(), rate))


class EnergyVad:
    """Speech when the frame's RMS level is at or above ``threshold_dbfs``: a fake for tests, not for calls."""

    def __init__(self, threshold_dbfs: float = -40.0) -> None:
        self.threshold_dbfs = threshold_dbfs

    def fresh(self) -> EnergyVad:
        return self  # no state between frames: one instance can serve every stream

    def is_speech(self, frame: Pcm, rate: int) -> bool:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        return rms_dbfs(frame) >= self.threshold_dbfs
