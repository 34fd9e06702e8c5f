"""Hold music, generated: a soft four-chord progression synthesized at 8 kHz with numpy.

Generated here rather than shipped as a recording so that its licence is beyond doubt: it is part of
voicebot's source (same licence as the project; the audio it produces is free of third-party rights).
Soft sine pads with slow attack and release, a quiet bass note, about 16 s per loop; the loop starts and
ends at silence, so it repeats without a click. Levels stay low (peak about -12 dBFS): hold audio must never
be louder than the announcements played over it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from voicebot.audio.pcm import PHONE_RATE

#: I - vi - IV - V in C major (C, Am, F, G), as frequencies in Hz: three pad notes and a bass note each.
CHORDS: tuple[tuple[float, ...], ...] = (
    (261.63, 329.63, 392.00, 130.81),
    (220.00, 261.63, 329.63, 110.00),
    (174.61, 220.00, 261.63, 87.31),
    (196.00, 246.94, 293.66, 98.00),
)
CHORD_SECONDS = 4.0
PEAK = 8000  # of 32767: about -12 dBFS


def _envelope(n: int, rate: int) -> np.ndarray:
    """Slow attack (0.6 s) and release (0.9 s): chords swell in and out instead of starting hard."""
    t = np.arange(n) / rate
    attack = np.minimum(1.0, t / 0.6)
    release = np.minimum(1.0, (n / rate - t) / 0.9)
    return np.minimum(attack, release) ** 2


@lru_cache(maxsize=2)
def hold_music(rate: int = PHONE_RATE) -> np.ndarray:
    """The loop as int16 PCM at ``rate`` (cached: every waiting call shares the same array, read-only)."""
    n = int(CHORD_SECONDS * rate)
    t = np.arange(n) / rate
    pieces = []
    for chord in CHORDS:
        *pad, bass = chord
        tone = sum(np.sin(2 * np.pi * hz * t) + 0.15 * np.sin(2 * np.pi * 2 * hz * t) for hz in pad)
        tone = tone + 0.8 * np.sin(2 * np.pi * bass * t)
        # a slow tremolo (0.5 Hz) keeps a held chord from sounding like a test tone
        tone = tone * (0.85 + 0.15 * np.sin(2 * np.pi * 0.5 * t)) * _envelope(n, rate)
        pieces.append(tone)
    music = np.concatenate(pieces)
    music = music / np.abs(music).max() * PEAK
    clip: np.ndarray = music.astype(np.int16)
    clip.flags.writeable = False
    return clip
