"""Endpointing: when did the caller start speaking, when did they finish, or did they say nothing?

A pure state machine in the style of VoiceXML's timeouts, driven by one speech / non-speech decision per
frame and that frame's start time in milliseconds. It never reads a clock: time is an input, so a recorded
call replays to exactly the same events.

Timing convention: ``feed(is_speech, at_ms)`` describes the frame covering ``[at_ms, at_ms + frame_ms)``.
After it, the endpointer has heard audio up to ``now = at_ms + frame_ms``, and every event it returns is
stamped with that ``now`` (``at_ms`` of the event). Timers are only evaluated when a frame is fed.

States and transitions (``idle`` is not listening; the other four are the VoiceXML-style states):

    ============  ===============================================  ==========================
    from          on                                               to (event)
    ============  ===============================================  ==========================
    any           :meth:`Endpointer.reset`                          quiet
    quiet         voiced frame                                     starting
    starting      unvoiced before ``min_speech_ms`` of speech      quiet (none)
    starting      ``min_speech_ms`` of speech                      speaking (SpeechStarted)
    quiet         ``no_input_ms`` since reset (also in starting)   idle (NoInputTimeout)
    speaking      unvoiced frame                                   stopping
    stopping      voiced frame                                     speaking
    stopping      silence timeout                                  idle (SpeechEnded silence)
    speaking      ``max_speech_ms`` since speech start (or         idle (SpeechEnded
                  stopping)                                        max_speech)
    ============  ===============================================  ==========================

* ``quiet``: listening, nothing heard. The no-input timer runs from :meth:`Endpointer.reset`.
* ``starting``: voiced frames, but less than ``min_speech_ms`` of them, so a click or cough does not barge
  in. If they stop first, back to ``quiet`` with no event and the no-input timer keeps running.
* ``speaking``: :class:`SpeechStarted` was emitted, back-dated to the first voiced frame.
* ``stopping``: silence after speech; :class:`SpeechEnded` once it lasts the silence timeout, or back to
  ``speaking`` on any voiced frame (so pauses shorter than the timeout stay inside the utterance).
* ``idle``: not listening: before the first :meth:`~Endpointer.reset` and after :class:`SpeechEnded` or
  :class:`NoInputTimeout`. Frames fed while idle are ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeAlias

from voicebot.audio.pcm import FRAME_MS, Pcm, as_pcm, frame_samples

if TYPE_CHECKING:
    # Only for typing: the protocol is structural, and importing vad.py at runtime would load webrtcvad.
    from voicebot.audio.vad import VadAnalyzer


class EndpointerState(StrEnum):
    IDLE = "idle"
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True)
class EndpointerConfig:
    """Timeouts, in milliseconds.

    ``complete_silence_ms`` applies once the recognizer reports that the words so far already match the
    grammar (:meth:`Endpointer.set_complete`), ``incomplete_silence_ms`` otherwise, so "my balance" ends
    quickly while "my account number is four four..." gets time to continue.

    ``start_window_ms`` selects how ``min_speech_ms`` is counted. ``None``: that much *contiguous* speech.
    A window: that much speech among the frames of the last ``start_window_ms`` (e.g. 120 of 200 ms), which
    tolerates the VAD dropping a frame or two at a soft onset.
    """

    no_input_ms: int = 5000
    complete_silence_ms: int = 800
    incomplete_silence_ms: int = 1200
    max_speech_ms: int = 15000
    min_speech_ms: int = 120
    start_window_ms: int | None = None
    frame_ms: int = FRAME_MS

    def __post_init__(self) -> None:
        for name in ("no_input_ms", "complete_silence_ms", "incomplete_silence_ms", "max_speech_ms", "frame_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.min_speech_ms < 0:
            raise ValueError(f"min_speech_ms must not be negative, got {self.min_speech_ms}")
        if self.max_speech_ms <= self.min_speech_ms:
            raise ValueError(f"max_speech_ms ({self.max_speech_ms}) must exceed min_speech_ms ({self.min_speech_ms})")
        if self.start_window_ms is not None and self.start_window_ms < max(self.min_speech_ms, self.frame_ms):
            raise ValueError(
                f"start_window_ms ({self.start_window_ms}) must be at least min_speech_ms ({self.min_speech_ms})"
                f" and one frame ({self.frame_ms})"
            )


@dataclass(frozen=True)
class SpeechStarted:
    """Enough speech was heard (``min_speech_ms``): the caller is talking. Use it for barge-in.

    ``speech_start_ms`` is the start of the first voiced frame, earlier than ``at_ms`` by at least
    ``min_speech_ms``, so the recognizer can be given the audio from the real onset.
    """

    at_ms: int
    speech_start_ms: int


@dataclass(frozen=True)
class SpeechEnded:
    """The utterance is over: the silence timeout elapsed (``"silence"``) or it ran too long (``"max_speech"``).

    ``speech_end_ms`` is the end of the last voiced frame, or ``at_ms`` when cut off by ``max_speech``.
    """

    at_ms: int
    reason: Literal["silence", "max_speech"]
    speech_start_ms: int
    speech_end_ms: int


@dataclass(frozen=True)
class NoInputTimeout:
    """``no_input_ms`` passed after :meth:`Endpointer.reset` without speech being started."""

    at_ms: int


EndpointerEvent: TypeAlias = SpeechStarted | SpeechEnded | NoInputTimeout


class Endpointer:
    """The endpointing state machine; see the module documentation for states and timing."""

    def __init__(self, config: EndpointerConfig | None = None) -> None:
        self.config = config or EndpointerConfig()
        self._state = EndpointerState.IDLE
        self._complete = False
        self._listen_start_ms = 0
        self._last_frame_ms: int | None = None
        # Start times of the voiced frames that count towards min_speech_ms while quiet/starting.
        self._voiced: deque[int] = deque()
        self._speech_start_ms = 0
        self._speech_end_ms = 0

    @property
    def state(self) -> EndpointerState:
        return self._state

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def speech_end_ms(self) -> int:
        """Where the last voiced frame of the utterance ended (the silence so far began here while stopping)."""
        return self._speech_end_ms

    def reset(self, at_ms: int) -> None:
        """Start listening at ``at_ms``: arms the no-input timer and forgets any previous utterance."""
        self._state = EndpointerState.QUIET
        self._complete = False
        self._listen_start_ms = at_ms
        self._last_frame_ms = None
        self._voiced.clear()

    def set_complete(self, complete: bool) -> None:
        """Tell the endpointer whether the words so far already form a complete match of the grammar.

        Takes effect from the next frame and lasts until changed or :meth:`reset`.
        """
        self._complete = complete

    def feed(self, is_speech: bool, at_ms: int) -> list[EndpointerEvent]:
        """Process one frame's VAD decision; ``at_ms`` is the frame's start time. Returns the events it caused."""
        if self._state is EndpointerState.IDLE:
            return []
        if self._last_frame_ms is not None and at_ms <= self._last_frame_ms:
            raise ValueError(f"frame times must increase: got {at_ms} ms after {self._last_frame_ms} ms")
        self._last_frame_ms = at_ms
        now = at_ms + self.config.frame_ms

        if self._state in (EndpointerState.QUIET, EndpointerState.STARTING):
            started = self._detect_start(is_speech, at_ms, now)
            if started is None:
                return self._check_no_input(now)
            events: list[EndpointerEvent] = [started]
        else:
            events = []
            self._track_speech(is_speech, at_ms)
        ended = self._check_end(now)
        if ended is not None:
            events.append(ended)
        return events

    def _detect_start(self, is_speech: bool, at_ms: int, now: int) -> SpeechStarted | None:
        cfg = self.config
        if is_speech:
            self._voiced.append(at_ms)
        elif cfg.start_window_ms is None:
            # Contiguous mode: any gap restarts the count.
            self._voiced.clear()
        if cfg.start_window_ms is not None:
            # Window mode: only voiced frames inside [now - window, now) count.
            while self._voiced and self._voiced[0] < now - cfg.start_window_ms:
                self._voiced.popleft()
        if self._voiced and len(self._voiced) * cfg.frame_ms >= cfg.min_speech_ms:
            self._speech_start_ms = self._voiced[0]
            self._speech_end_ms = now
            self._voiced.clear()
            self._state = EndpointerState.SPEAKING
            return SpeechStarted(at_ms=now, speech_start_ms=self._speech_start_ms)
        self._state = EndpointerState.STARTING if self._voiced else EndpointerState.QUIET
        return None

    def _check_no_input(self, now: int) -> list[EndpointerEvent]:
        # Fires in ``starting`` too: a candidate below min_speech_ms is not speech yet, and waiting for it
        # to resolve would let steady noise postpone the timeout indefinitely.
        if now - self._listen_start_ms >= self.config.no_input_ms:
            self._state = EndpointerState.IDLE
            return [NoInputTimeout(at_ms=now)]
        return []

    def _track_speech(self, is_speech: bool, at_ms: int) -> None:
        if is_speech:
            self._state = EndpointerState.SPEAKING
        elif self._state is EndpointerState.SPEAKING:
            # The silence starts where this frame starts, i.e. where the last voiced frame ended.
            self._speech_end_ms = at_ms
            self._state = EndpointerState.STOPPING

    def _check_end(self, now: int) -> SpeechEnded | None:
        cfg = self.config
        silence_ms = cfg.complete_silence_ms if self._complete else cfg.incomplete_silence_ms
        if self._state is EndpointerState.STOPPING and now - self._speech_end_ms >= silence_ms:
            reason: Literal["silence", "max_speech"] = "silence"
            end_ms = self._speech_end_ms
        elif now - self._speech_start_ms >= cfg.max_speech_ms:
            reason = "max_speech"
            end_ms = now if self._state is EndpointerState.SPEAKING else self._speech_end_ms
        else:
            return None
        self._state = EndpointerState.IDLE
        return SpeechEnded(at_ms=now, reason=reason, speech_start_ms=self._speech_start_ms, speech_end_ms=end_ms)


class FrameEndpointer:
    """An :class:`Endpointer` fed with raw PCM frames, classified by a :class:`~voicebot.audio.vad.VadAnalyzer`.

    Frames must be ``config.frame_ms`` long at ``rate``. While the endpointer is idle the VAD is not run,
    so no CPU is spent between listen steps.
    """

    def __init__(self, vad: VadAnalyzer, rate: int, config: EndpointerConfig | None = None) -> None:
        self.vad = vad
        self.rate = rate
        self.endpointer = Endpointer(config)
        self._frame_len = frame_samples(rate, self.endpointer.config.frame_ms)

    @property
    def state(self) -> EndpointerState:
        return self.endpointer.state

    def reset(self, at_ms: int) -> None:
        self.endpointer.reset(at_ms)

    def set_complete(self, complete: bool) -> None:
        self.endpointer.set_complete(complete)

    def feed(self, frame: Pcm, at_ms: int) -> list[EndpointerEvent]:
        """Classify one frame starting at ``at_ms`` and feed the decision to the endpointer."""
        samples = as_pcm(frame)
        if len(samples) != self._frame_len:
            raise ValueError(
                f"expected {self._frame_len} samples ({self.endpointer.config.frame_ms} ms at {self.rate} Hz), "
                f"got {len(samples)}"
            )
        if self.endpointer.state is EndpointerState.IDLE:
            return []
        return self.endpointer.feed(self.vad.is_speech(samples, self.rate), at_ms)
