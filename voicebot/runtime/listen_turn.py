"""One listen step, from the flow's ``Listen`` to its single resolution.

A :class:`ListenTurn` owns what one turn of caller input needs: the endpointer (voice activity, the decay
floor, the no-input timer that starts when the prompt before it ends), the recognizer stream and its
resampler, the audio kept from before the speech onset (preroll), previews and the hand-off of the ended
utterance to the recognition executor. It resolves exactly once, through :meth:`_resolve`, with a reason:

* ``match`` / ``nomatch``: an utterance was recognized (with text / with nothing: the flow decides then
  whether the words fit its grammar), ``maxspeech`` when the endpointer cut it at ``max_speech_ms``;
* ``noinput``: the no-input timeout passed; ``dtmf``: a key came first; ``hangup``: the caller left.

Input after the resolution is not the turn's: further keys go to the flow as they are (digit collection),
speech is no longer endpointed. For engines without partial results (Whisper) a *preview* of the utterance
is decoded once the caller has been silent ``PREVIEW_AFTER_MS``: if it already completes the grammar the
utterance ends on the short complete-silence timeout, and if no speech came after it, it stands as the final
result, so nothing is left to decode when the silence timeout ends the turn. Recognition runs on the injected
executor; the result is taken in by :meth:`collect` on a later tick (inline on virtual time: at once).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace

import numpy as np

from voicebot.actions import Listen
from voicebot.asr.base import GrammarSpec, PreviewingStream, RecognitionResult, Recognizer, RecognizerStream
from voicebot.audio.endpointer import (
    Endpointer,
    EndpointerConfig,
    EndpointerState,
    NoInputTimeout,
    SpeechEnded,
    SpeechStarted,
)
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE, rms_dbfs
from voicebot.audio.resample import StreamResampler
from voicebot.audio.vad import VadAnalyzer
from voicebot.events import Hypothesis, NoInput, Utterance
from voicebot.nlu.numbers import parse_digits
from voicebot.runtime.call_events import CallEvent, NoInputHeard, Recognized, SpeechBegan, TurnEnded, TurnReason
from voicebot.runtime.pools import submit
from voicebot.runtime.session import MASK as SECURE_MASK

log = logging.getLogger("voicebot.listen")

PREROLL_FRAMES = 15  # 300 ms of audio kept before speech onset so the recognizer hears the first syllable
PREVIEW_AFTER_MS = 150  # silence after speech before an engine without partials previews the utterance
#: A frame the VAD calls speech but this far (dB) below the utterance's loudest frame is the decay of the last
#: word (or breath, line noise): counted as silence, so the end-of-speech timer starts where the words end.
#: webrtcvad heard such tails of synthetic voices for 140-180 ms (-50 to -60 dBFS after words at -15 to -20).
TAIL_FLOOR_DB = 35.0


@dataclass
class TurnTiming:
    """Measured figures of one caller turn (milliseconds; wall-clock where marked)."""

    speech_start_ms: int = 0
    speech_end_ms: int = 0
    endpoint_ms: int = 0  # when the endpointer declared the end (call time)
    recognize_wall_ms: float = 0.0  # recognizer finish() after the end (wall clock)
    first_audio_wall_ms: float = 0.0  # engine step + first prompt audio ready (wall clock)
    text: str = ""
    confidence: float = 0.0
    previewed: bool = False  # the result came from a preview decoded during the silence
    previews: int = 0  # preview decodings started for this utterance (pauses within it start more)
    step_wall_ms: float = 0.0  # the session step alone: engine, records, data actions (wall clock)


@dataclass(frozen=True)
class Resolution:
    """How a turn ended. ``event`` is what goes to the flow (an utterance, no input; keys are sent by the
    caller of :meth:`ListenTurn.keys`); ``timing`` and ``recognized_at`` (perf_counter) for spoken turns."""

    reason: TurnReason
    event: Utterance | NoInput | None = None
    timing: TurnTiming | None = None
    recognized_at: float = 0.0


@dataclass
class _Finishing:
    """An utterance the endpointer has ended, being recognized off the tick."""

    result: Future[RecognitionResult]
    event: SpeechEnded
    started: float  # perf_counter() when the utterance ended
    previewed: bool
    previews: int


@dataclass
class _Preview:
    result: Future[RecognitionResult]
    taken_ms: int  # call time when its audio was captured


def _finish_and_close(stream: RecognizerStream) -> RecognitionResult:
    try:
        return stream.finish()
    finally:
        stream.close()


@dataclass(frozen=True)
class TurnInputs:
    """What every turn of a call listens with: built once per flow, then :meth:`for_call` for each call."""

    recognizer: Recognizer
    vad: VadAnalyzer
    phrases_by_intent: Mapping[str, Sequence[str]]
    min_speech_ms: int = 120

    def for_call(self) -> TurnInputs:
        """These inputs with a VAD of the call's own. The WebRTC VAD adapts to its stream and keeps a hangover
        after speech: shared by concurrent calls, one caller's words made another's silence "speech" (a
        phantom barge-in cut greetings off at 15 simultaneous callers, bench/sip_speaking.py)."""
        return replace(self, vad=self.vad.fresh())


class ListenTurn:
    def __init__(self, listen: Listen, inputs: TurnInputs, *, call_id: str, now_ms: int, speaking: bool,
                 recognition: Executor, publish: Callable[[CallEvent], None], now: Callable[[], float]) -> None:
        self.listen = listen
        self.inputs = inputs
        self.call_id = call_id
        self.started_ms = now_ms
        self._recognition = recognition
        self._publish = publish
        self._now = now  # the call's clock (seconds), for the events that go to the flow
        self.endpointer = Endpointer(EndpointerConfig(
            no_input_ms=listen.no_input_ms,
            complete_silence_ms=listen.complete_silence_ms,
            incomplete_silence_ms=listen.incomplete_silence_ms,
            max_speech_ms=listen.max_speech_ms,
            min_speech_ms=inputs.min_speech_ms,
        ))
        self.endpointer.reset(now_ms)
        self._armed = not speaking  # the no-input timer runs (the prompt before this listen has finished)
        self.stream: RecognizerStream | None = inputs.recognizer.open(
            GrammarSpec.for_listen(listen, inputs.phrases_by_intent))
        # Checked once per listen: a runtime protocol check is too slow for every 20 ms tick.
        self._previewing = isinstance(self.stream, PreviewingStream)
        self._upsampler: StreamResampler | None = StreamResampler(PHONE_RATE, ASR_RATE)
        self.preroll: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES)
        self._in_speech = False
        self._peak_db = float("-inf")  # the loudest voiced frame of the utterance in progress (dBFS)
        self._finishing: _Finishing | None = None
        self._preview: _Preview | None = None  # being decoded
        self._previewed: tuple[RecognitionResult, int] | None = None  # decoded: result, call time of its audio
        self._previews = 0  # previews started for the utterance in progress
        self.resolution: Resolution | None = None
        self._delivered = False

    # ----- state ---------------------------------------------------------------------------------

    @property
    def resolved(self) -> bool:
        return self.resolution is not None

    @property
    def recognizing(self) -> bool:
        """An utterance has ended and its result is not in yet."""
        return self._finishing is not None

    def take(self) -> Resolution | None:
        """The resolution, the first time it is asked for after it happened (then None)."""
        if self.resolution is None or self._delivered:
            return None
        self._delivered = True
        return self.resolution

    # ----- input ---------------------------------------------------------------------------------

    def hold(self, frame: np.ndarray) -> None:
        """Keep audio heard while the flow is busy (the listen may be about to change) for a speech onset."""
        self.preroll.append(frame)

    def hear(self, frame: np.ndarray, now_ms: int, speaking: bool) -> bool:
        """One frame of caller audio; True when speech started over a prompt that may be interrupted."""
        listening = self.listen.barge_in or not speaking
        if not listening or self.resolved or self._finishing is not None or self.stream is None:
            return False
        endpointer = self.endpointer
        if not speaking and not self._armed and endpointer.state in ("quiet", "idle"):
            # The no-input timer runs from the end of the prompt, as in VoiceXML (during a long prompt
            # the endpointer may already have timed out and gone idle: start it afresh).
            endpointer.reset(now_ms)
            self._armed = True
        events = endpointer.feed(self._voiced(frame), now_ms)
        if endpointer.state in ("starting", "speaking", "stopping") or any(
            isinstance(e, SpeechStarted | SpeechEnded) for e in events
        ):
            if not self._in_speech:
                self._in_speech = True
                for early in self.preroll:
                    self._recognize(early)
                self.preroll.clear()
            self._recognize(frame)
        else:
            self.preroll.append(frame)
        barge = False
        for event in events:
            if isinstance(event, SpeechStarted):
                self._publish(SpeechBegan(call_id=self.call_id, at_ms=now_ms, speech_start_ms=event.speech_start_ms))
                barge = barge or (speaking and self.listen.barge_in)
            elif isinstance(event, SpeechEnded):
                self._utterance_ended(event, now_ms)
            elif isinstance(event, NoInputTimeout):
                if not self._armed:
                    # Still inside the prompt: keep listening for barge-in (the endpointer went idle on
                    # its timer); the no-input timer proper starts when the prompt ends.
                    endpointer.reset(now_ms)
                    continue
                self._publish(NoInputHeard(call_id=self.call_id, at_ms=now_ms))
                self._close_stream()
                self._resolve("noinput", now_ms, Resolution("noinput", NoInput(at=self._now())))
        self._maybe_preview(now_ms)
        return barge

    def keys(self, now_ms: int) -> None:
        """A key: the turn is over (keys win over speech not yet recognized); the keys go to the flow."""
        self._abandon_speech()
        self._resolve("dtmf", now_ms, Resolution("dtmf"))
        self._close_stream()

    def hang_up(self, now_ms: int) -> None:
        self._finishing = None  # the job closes its stream; the result is not wanted any more
        self._close_stream()
        self._resolve("hangup", now_ms, Resolution("hangup"))

    def close(self) -> None:
        """The turn is replaced (a new listen) or the call leaves the IVR: release the stream."""
        self._finishing = None
        self._close_stream()

    # ----- the single resolution -----------------------------------------------------------------

    def _resolve(self, reason: TurnReason, now_ms: int, resolution: Resolution,
                 speech: tuple[int, int] | None = None) -> None:
        if self.resolution is not None:
            return  # resolved once: whatever comes later is not this turn's
        self.resolution = resolution
        self._publish(TurnEnded(call_id=self.call_id, at_ms=now_ms, node=self.listen.node, reason=reason,
                                listened_ms=now_ms - self.started_ms,
                                speech_start_ms=speech[0] if speech else None,
                                speech_end_ms=speech[1] if speech else None))

    # ----- endpointing and recognition -----------------------------------------------------------

    def _voiced(self, frame: np.ndarray) -> bool:
        if not self.inputs.vad.is_speech(frame, PHONE_RATE):
            return False
        level = rms_dbfs(frame)
        if level < self._peak_db - TAIL_FLOOR_DB:
            return False  # the tail of the last word, not more words
        self._peak_db = max(self._peak_db, level)
        return True

    def _recognize(self, frame: np.ndarray) -> None:
        if self.stream is None or self._upsampler is None:
            return
        partial = self.stream.accept(self._upsampler.process(frame))
        if partial is not None and partial.text:
            self.endpointer.set_complete(self._complete(partial.text))

    def _complete(self, text: str) -> bool:
        """Input that already satisfies the grammar ends on the shorter complete-silence timeout."""
        if self.listen.slot_type == "digits":
            digits = parse_digits(text) or ""
            return self.listen.min_digits <= len(digits) <= self.listen.max_digits
        return True

    def _maybe_preview(self, now_ms: int) -> None:
        """Engines without partials: decode the utterance so far once the caller has paused a moment."""
        endpointer, stream = self.endpointer, self.stream
        if (not self._previewing or stream is None or self._preview is not None
                or endpointer.state is not EndpointerState.STOPPING
                or now_ms + 20 - endpointer.speech_end_ms < PREVIEW_AFTER_MS):
            return
        if self._previewed is not None and self._previewed[1] >= endpointer.speech_end_ms:
            return  # this pause has its preview already
        assert isinstance(stream, PreviewingStream)
        job = stream.preview()
        self._previews += 1
        self._preview = _Preview(submit(self._recognition, job), now_ms)

    def collect(self, now_ms: int) -> None:
        """Take in a preview or a final result that is ready."""
        preview = self._preview
        if preview is not None and preview.result.done() and (
                self._finishing is None or self._finishing.result is not preview.result):
            self._preview = None
            try:
                result = preview.result.result()
            except Exception:
                log.exception("preview recognition failed")
            else:
                endpointer = self.endpointer
                if (self.stream is not None and endpointer.state is EndpointerState.STOPPING
                        and endpointer.speech_end_ms <= preview.taken_ms):
                    self._previewed = (result, preview.taken_ms)
                    endpointer.set_complete(bool(result.text) and self._complete(result.text))
        finishing = self._finishing
        if finishing is not None and finishing.result.done():
            self._finishing = None
            if self._preview is not None and self._preview.result is finishing.result:
                self._preview = None
            try:
                result = finishing.result.result()
            except Exception:
                log.exception("recognition failed")
                result = RecognitionResult.empty(self.inputs.recognizer.name)
            self._recognized(result, finishing, now_ms)

    def _utterance_ended(self, event: SpeechEnded, now_ms: int) -> None:
        """Hand the utterance to the recognizer (off the tick); the result is taken in by :meth:`collect`."""
        assert self.stream is not None and self._upsampler is not None
        started = time.perf_counter()
        stream = self.stream
        stream.accept(self._upsampler.flush())
        previewed, preview, previews = self._previewed, self._preview, self._previews
        self.stream = None  # detached: the job below finishes and closes it
        self._close_stream()
        if previewed is not None and event.speech_end_ms <= previewed[1]:
            # Nothing was said after the preview's audio: it is the final result.
            stream.close()
            done: Future[RecognitionResult] = Future()
            done.set_result(previewed[0])
            self._finishing = _Finishing(done, event, started, True, previews)
        elif preview is not None and event.speech_end_ms <= preview.taken_ms:
            # A preview of all of it is still being decoded: wait for that rather than decode it twice.
            stream.close()
            self._preview = preview
            self._finishing = _Finishing(preview.result, event, started, True, previews)
        else:
            self._finishing = _Finishing(submit(self._recognition, lambda: _finish_and_close(stream)), event,
                                         started, False, previews)
        self.collect(now_ms)

    def _recognized(self, result: RecognitionResult, finishing: _Finishing, now_ms: int) -> None:
        event = finishing.event
        recognized = time.perf_counter()
        timing = TurnTiming(event.speech_start_ms, event.speech_end_ms, event.at_ms,
                            (recognized - finishing.started) * 1000, 0.0, result.text, result.confidence,
                            finishing.previewed, finishing.previews)
        # What was heard at a secure step (a PIN) is for the engine only: the event feeds logs, the simulator's
        # transcript, the console and metrics, so it carries a mask, as the call record does.
        shown = SECURE_MASK if self.listen.secure and result.text else result.text
        self._publish(Recognized(call_id=self.call_id, at_ms=now_ms, text=shown,
                                 confidence=round(result.confidence, 3), engine=result.engine,
                                 speech_start_ms=event.speech_start_ms, speech_end_ms=event.speech_end_ms,
                                 reason=event.reason, previewed=finishing.previewed, previews=finishing.previews))
        nbest = tuple(Hypothesis(h.text, h.confidence) for h in result.nbest)
        utterance = Utterance(result.text, result.confidence, nbest, self._now())
        reason: TurnReason = "maxspeech" if event.reason == "max_speech" else "match" if result.text else "nomatch"
        self._resolve(reason, now_ms, Resolution(reason, utterance, timing, recognized),
                      (event.speech_start_ms, event.speech_end_ms))

    def _abandon_speech(self) -> None:
        self._in_speech = False
        self.preroll.clear()

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        self._upsampler = None
        self._in_speech = False
        self._preview = None  # a preview still running is for this stream: its result is not wanted
        self._previewed = None
        self._previews = 0
        self._peak_db = float("-inf")
