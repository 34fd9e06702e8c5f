"""The call recording: caller left, IVR right, 8 kHz 16-bit, written as the call goes."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from voicebot.audio.pcm import PHONE_RATE, frame_samples

FRAME = frame_samples(PHONE_RATE)


class StereoRecorder:
    """A :class:`~voicebot.runtime.ports.Recorder` writing one WAV file per call."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115  (closed by close())
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(PHONE_RATE)

    def write(self, caller: np.ndarray, ivr: np.ndarray) -> None:
        frames = np.empty((FRAME, 2), dtype="<i2")
        frames[:, 0] = caller
        frames[:, 1] = ivr
        # writeframesraw: writeframes would seek back and patch the header on every 20 ms frame (close() does it)
        self._wav.writeframesraw(frames.tobytes())

    def close(self) -> None:
        self._wav.close()
