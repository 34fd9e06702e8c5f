"""One call's audio, 20 ms at a time: caller frames in, IVR frames out.

``CallMedia.tick`` is the whole contract: the simulator calls it on virtual time, the SIP endpoint on
the RTP clock. Inside one tick: keys and caller audio go through barge-in, voice activity detection and
the endpointer; finished utterances go through the recognizer to the call session (and so the engine);
the session's actions become queued prompt audio, listen steps and timers; and one frame of prompt
audio (or silence) comes out.

Prompt audio that is not already cached is synthesized off the tick: on the SIP endpoint (a real-time clock)
a small shared worker pool renders each dynamic prompt sentence by sentence into a per-call queue, and the
tick only takes what is ready (silence until the first sentence arrives). Order is kept across sentences
and prompts; barge-in clears the queue and cancels synthesis not yet started. On virtual time (the
simulator) synthesis stays inline, so simulated calls are deterministic.

Recognition is kept off the tick the same way. When the endpointer ends an utterance, the recognizer stream is
detached and finished on a shared recognition pool; the tick goes on sending audio (or silence) and hands the
result to the session on the first tick after it is ready (keys pressed meanwhile wait for it, and so do the
flow's timers, so events reach the engine in the order they happened). For engines without partial results
(Whisper) a *preview* of the utterance is decoded once the caller has been silent ``PREVIEW_AFTER_MS``: if it
already completes the grammar the utterance ends on the short complete-silence timeout, and if no speech came
after it, it stands as the final result, so nothing is left to decode when the silence timeout ends the
turn. On virtual time these jobs run inline, at the same points, so simulated calls see the same behaviour.

The session (engine steps, call-record writes, data actions such as the bank lookup) runs off the tick too, on
a per-call ordered lane of a shared pool (:class:`~voicebot.runtime.serial_work.SerialWork`): a database busy
with another call's write stalls that call's next prompt, never its audio. The tick applies each step's
actions in order as they come back; while a step is in flight the call does not listen (the listen may be
about to change) but keeps the last 300 ms of audio, so speech that starts meanwhile is not lost.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicebot.actions import Action, Handoff, Hangup, Listen, Play, Say
from voicebot.asr.base import GrammarSpec, PreviewingStream, RecognitionResult, Recognizer, RecognizerStream
from voicebot.audio.endpointer import (
    Endpointer,
    EndpointerConfig,
    EndpointerState,
    NoInputTimeout,
    SpeechEnded,
    SpeechStarted,
)
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE, frame_samples, rms_dbfs
from voicebot.audio.resample import StreamResampler
from voicebot.audio.vad import VadAnalyzer
from voicebot.events import Dtmf, Hypothesis, NoInput, Utterance
from voicebot.nlu.numbers import parse_digits
from voicebot.runtime.clock import SystemClock
from voicebot.runtime.serial_work import SerialWork, run_now
from voicebot.runtime.session import CallSession
from voicebot.tts.cache import PromptCache
from voicebot.tts.prompts import load_recorded

log = logging.getLogger("voicebot.media")

FRAME = frame_samples(PHONE_RATE)
PREROLL_FRAMES = 15  # 300 ms of audio kept before speech onset so the recognizer hears the first syllable
SYNTH_WORKERS = 2  # one per core: synthesis is CPU-bound, more threads would only add contention
RECOGNITION_WORKERS = 2  # likewise for decoding utterances (the engines release the GIL while they decode)
SESSION_WORKERS = 6  # engine steps and database writes: mostly waiting on I/O, shared by every call
PREVIEW_AFTER_MS = 150  # silence after speech before an engine without partials previews the utterance
#: A frame the VAD calls speech but this far (dB) below the utterance's loudest frame is the decay of the last
#: word (or breath, line noise): counted as silence, so the end-of-speech timer starts where the words end.
#: webrtcvad heard such tails of synthetic voices for 140-180 ms (-50 to -60 dBFS after words at -15 to -20).
TAIL_FLOOR_DB = 35.0

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _shared_pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        return pool


def synthesis_pool() -> ThreadPoolExecutor:
    """The process-wide pool that renders dynamic prompts for every call (created on first use)."""
    return _shared_pool("prompt-synth", SYNTH_WORKERS)


def session_pool() -> ThreadPoolExecutor:
    """The process-wide pool that runs every call's session work, each call in order (created on first use)."""
    return _shared_pool("session", SESSION_WORKERS)


def recognition_pool() -> ThreadPoolExecutor:
    """The process-wide pool that finishes (and previews) every call's utterances (created on first use)."""
    return _shared_pool("recognize", RECOGNITION_WORKERS)


def _finish_and_close(stream: RecognizerStream) -> RecognitionResult:
    try:
        return stream.finish()
    finally:
        stream.close()


class PromptQueue:
    """One call's prompt audio in order: texts waiting to be synthesized, audio made ready by a worker.

    Items are texts (synthesized on the pool, one sentence at a time) or ready arrays (recorded or cached
    audio queued behind a prompt still being made). They are rendered on the call's ordered lane of the pool
    (:class:`SerialWork`), so order holds. ``cancel`` (barge-in, hang-up) drops everything queued; a sentence
    already being synthesized is finished by its worker but discarded.
    """

    def __init__(self, prompts: PromptCache, executor: ThreadPoolExecutor | None = None) -> None:
        self.prompts = prompts
        self._lane = SerialWork(executor or synthesis_pool())
        self._lock = threading.Lock()
        self._ready: deque[np.ndarray] = deque()
        self._generation = 0  # items put before the last cancel() belong to an older one and are dropped
        self.failed = 0

    def put(self, item: str | np.ndarray) -> None:
        with self._lock:
            generation = self._generation
        self._lane.submit(lambda: self._render(item, generation))

    @property
    def pending(self) -> bool:
        with self._lock:
            ready = bool(self._ready)
        return ready or not self._lane.idle

    def take(self) -> np.ndarray | None:
        with self._lock:
            return self._ready.popleft() if self._ready else None

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1
            self._ready.clear()

    def _render(self, item: str | np.ndarray, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
        chunks: Any = (item,) if isinstance(item, np.ndarray) else self.prompts.stream(item)
        try:
            for chunk in chunks:
                with self._lock:
                    if generation != self._generation:
                        break
                    self._ready.append(chunk)
        except Exception:
            log.exception("prompt synthesis failed: %r", item)
            self.failed += 1


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


@dataclass
class MediaEvent:
    at_ms: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class CallMedia:
    def __init__(
        self,
        session: CallSession,
        prompts: PromptCache,
        recognizer: Recognizer,
        vad: VadAnalyzer,
        phrases_by_intent: Mapping[str, Sequence[str]],
        *,
        on_event: Callable[[MediaEvent], None] | None = None,
        min_speech_ms: int = 120,
        background_synthesis: bool | None = None,
        executor: ThreadPoolExecutor | None = None,
        background_recognition: bool | None = None,
        recognition_executor: ThreadPoolExecutor | None = None,
        background_session: bool | None = None,
        session_executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.session = session
        self.prompts = prompts
        self.recognizer = recognizer
        self.vad = vad
        self.phrases_by_intent = phrases_by_intent
        self.on_event = on_event
        self.min_speech_ms = min_speech_ms
        self.now_ms = 0
        self.playback: deque[np.ndarray] = deque()
        self.playing: np.ndarray | None = None
        self.play_pos = 0
        self.prompt_barge_in = True
        self.listen: Listen | None = None
        self.endpointer: Endpointer | None = None
        self.stream: RecognizerStream | None = None
        self.upsampler: StreamResampler | None = None
        self.preroll: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES)
        self.in_speech = False
        self._armed = False  # the no-input timer runs (the prompt before this listen has finished)
        self.listen_seq = 0
        self.ending = False  # a handoff or hang-up waits for its prompt to finish
        self.finished = False
        self.turns: list[TurnTiming] = []
        self.events: list[MediaEvent] = []
        if background_synthesis is None:
            # Real time (the SIP endpoint): never synthesize inside the tick. Virtual time: inline.
            background_synthesis = isinstance(session.clock, SystemClock)
        self.synthesis: PromptQueue | None = PromptQueue(prompts, executor) if background_synthesis else None
        if background_recognition is None:
            background_recognition = isinstance(session.clock, SystemClock)
        self._recognition_executor = (recognition_executor or recognition_pool()) if background_recognition else None
        self._finishing: _Finishing | None = None
        self._preview: _Preview | None = None  # being decoded
        self._previewed: tuple[RecognitionResult, int] | None = None  # decoded: result, call time of its audio
        self._held_keys = ""  # keys pressed while an utterance is being recognized
        self._previewing = False  # the open stream can preview (its engine has no partial results)
        self._previews = 0  # previews started for the utterance in progress
        self._peak_db = float("-inf")  # the loudest voiced frame of the utterance in progress (dBFS)
        self._first_audio: tuple[TurnTiming, float] | None = None  # a turn waiting for its answer's audio
        if background_session is None:
            background_session = isinstance(session.clock, SystemClock)
        self._control = SerialWork((session_executor or session_pool()) if background_session else None)
        #: Session steps in flight, in order, each with what to do after its actions are applied.
        self._steps: deque[tuple[Future[list[Action]], Callable[[], None] | None]] = deque()

    # ----- lifecycle ------------------------------------------------------------------------------

    def start(self, caller_id: str, dialled: str = "") -> None:
        self._emit("call_started", caller_id=caller_id, dialled=dialled)
        self._step(lambda: self.session.start(caller_id, dialled))

    def hang_up(self) -> None:
        """The caller hung up: stop everything and complete the record."""
        if self.finished:
            return
        self._emit("caller_hung_up")
        if self.synthesis is not None:
            self.synthesis.cancel()
        self._finishing = None  # the job closes its stream; the result is not wanted any more
        self._close_stream()
        self._settle()
        self.session.close()
        self.finished = True

    def _settle(self, timeout: float = 30.0) -> None:
        """Wait for the session steps in flight (the call is over: nothing is left to apply)."""
        for future, _then in self._steps:
            try:
                future.result(timeout)
            except Exception:
                log.exception("call %s: session step failed", self.session.call_id)
        self._steps.clear()

    @property
    def busy(self) -> bool:
        """Session steps are in flight (their actions are not applied yet)."""
        return bool(self._steps)

    @property
    def recognizing(self) -> bool:
        """An utterance has ended and its result is not in yet."""
        return self._finishing is not None

    @property
    def speaking(self) -> bool:
        return (self.playing is not None or bool(self.playback)
                or (self.synthesis is not None and self.synthesis.pending))

    # ----- the 20 ms tick -------------------------------------------------------------------------

    def tick(self, caller_frame: np.ndarray | None, keys: str = "") -> np.ndarray:
        if self.finished:
            return np.zeros(FRAME, dtype=np.int16)
        self._apply_steps()
        self._collect()
        if keys:
            if self._finishing is not None:
                self._held_keys += keys
            else:
                self._keys(keys)
        if caller_frame is not None and not self.finished:
            self._hear(caller_frame)
            self._collect()
        if not self.finished and self._finishing is None and not self._steps and self._timer_due():
            self._step(self.session.fire_due_timers)
        out = self._next_output_frame()
        self.now_ms += 1000 * FRAME // PHONE_RATE
        return out

    def _timer_due(self) -> bool:
        # Read only while no step is in flight: steps are what change the session's timers.
        timers = self.session.timers
        return bool(timers) and min(timers.values()) <= self.session.clock.now()

    # ----- session steps --------------------------------------------------------------------------

    def _step(self, work: Callable[[], list[Action]], then: Callable[[], None] | None = None) -> None:
        """Run session work in the call's order, off the tick; its actions are applied as soon as they are back."""
        self._steps.append((self._control.submit(work), then))
        self._apply_steps()

    def _apply_steps(self) -> None:
        while self._steps and self._steps[0][0].done() and not self.finished:
            future, then = self._steps.popleft()
            self._apply(future.result())  # an engine failure is raised here, in the call's own loop
            if then is not None:
                then()

    # ----- input ----------------------------------------------------------------------------------

    def _keys(self, keys: str) -> None:
        self._emit("dtmf", keys="*" * len(keys) if self.listen is not None and self.listen.secure else keys)
        if self.speaking and self.prompt_barge_in:
            self._stop_playback("dtmf")
        self._abandon_speech()
        self._step(functools.partial(self.session.send, Dtmf(keys, at=self.session.clock.now())))

    def _hear(self, frame: np.ndarray) -> None:
        if self._steps:
            self.preroll.append(frame)  # the listen may be about to change: keep the audio for its onset
            return
        listening = self.listen is not None and (self.listen.barge_in or not self.speaking)
        if not listening or self.endpointer is None or self._finishing is not None:
            return
        if not self.speaking and not self._armed and self.endpointer.state in ("quiet", "idle"):
            # The no-input timer runs from the end of the prompt, as in VoiceXML (during a long prompt
            # the endpointer may already have timed out and gone idle: start it afresh).
            self.endpointer.reset(self.now_ms)
            self._armed = True
        voiced = self._voiced(frame)
        events = self.endpointer.feed(voiced, self.now_ms)
        if self.endpointer.state in ("starting", "speaking", "stopping") or any(
            isinstance(e, SpeechStarted | SpeechEnded) for e in events
        ):
            if not self.in_speech:
                self.in_speech = True
                for early in self.preroll:
                    self._recognize(early)
                self.preroll.clear()
            self._recognize(frame)
        else:
            self.preroll.append(frame)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._emit("speech_started", speech_start_ms=event.speech_start_ms)
                if self.speaking and self.listen is not None and self.listen.barge_in:
                    self._stop_playback("speech")
            elif isinstance(event, SpeechEnded):
                self._utterance_ended(event)
            elif isinstance(event, NoInputTimeout):
                if not self._armed:
                    # Still inside the prompt: keep listening for barge-in (the endpointer went idle on
                    # its timer); the no-input timer proper starts when the prompt ends.
                    self.endpointer.reset(self.now_ms)
                    continue
                self._emit("no_input")
                self._close_stream()
                self._step(functools.partial(self.session.send, NoInput(at=self.session.clock.now())))
        self._maybe_preview()

    def _voiced(self, frame: np.ndarray) -> bool:
        if not self.vad.is_speech(frame, PHONE_RATE):
            return False
        level = rms_dbfs(frame)
        if level < self._peak_db - TAIL_FLOOR_DB:
            return False  # the tail of the last word, not more words
        self._peak_db = max(self._peak_db, level)
        return True

    def _maybe_preview(self) -> None:
        """Engines without partials: decode the utterance so far once the caller has paused a moment."""
        endpointer, stream = self.endpointer, self.stream
        if (endpointer is None or not self._previewing or stream is None or self._preview is not None
                or endpointer.state is not EndpointerState.STOPPING
                or self.now_ms + 20 - endpointer.speech_end_ms < PREVIEW_AFTER_MS):
            return
        if self._previewed is not None and self._previewed[1] >= endpointer.speech_end_ms:
            return  # this pause has its preview already
        assert isinstance(stream, PreviewingStream)
        job = stream.preview()
        self._previews += 1
        self._preview = _Preview(self._submit(job), self.now_ms)

    def _submit(self, job: Callable[[], RecognitionResult]) -> Future[RecognitionResult]:
        """Run ``job`` on the recognition pool, or now on virtual time (a future that is already done)."""
        if self._recognition_executor is not None:
            try:
                return self._recognition_executor.submit(job)
            except RuntimeError:  # the pool is shut down (interpreter exit): run it here rather than drop it
                pass
        return run_now(job)

    def _collect(self) -> None:
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
                if (endpointer is not None and self.stream is not None
                        and endpointer.state is EndpointerState.STOPPING
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
                result = RecognitionResult.empty(self.recognizer.name)
            if not self.finished:
                self._recognized(result, finishing)
            if self._held_keys and not self.finished:
                keys, self._held_keys = self._held_keys, ""
                self._keys(keys)

    def _recognize(self, frame: np.ndarray) -> None:
        if self.stream is None or self.upsampler is None:
            return
        partial = self.stream.accept(self.upsampler.process(frame))
        if partial is not None and partial.text and self.endpointer is not None:
            self.endpointer.set_complete(self._complete(partial.text))

    def _complete(self, text: str) -> bool:
        """Input that already satisfies the grammar ends on the shorter complete-silence timeout."""
        if self.listen is None:
            return False
        if self.listen.slot_type == "digits":
            digits = parse_digits(text) or ""
            return self.listen.min_digits <= len(digits) <= self.listen.max_digits
        return True

    def _utterance_ended(self, event: SpeechEnded) -> None:
        """Hand the utterance to the recognizer (off the tick); the result is taken in by :meth:`_collect`."""
        assert self.stream is not None and self.upsampler is not None
        started = time.perf_counter()
        stream = self.stream
        stream.accept(self.upsampler.flush())
        previewed, preview, previews = self._previewed, self._preview, self._previews
        self._previews = 0
        self._peak_db = float("-inf")
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
            self._finishing = _Finishing(self._submit(lambda: _finish_and_close(stream)), event, started, False,
                                         previews)
        self._collect()

    def _recognized(self, result: RecognitionResult, finishing: _Finishing) -> None:
        event = finishing.event
        recognized = time.perf_counter()
        timing = TurnTiming(event.speech_start_ms, event.speech_end_ms, event.at_ms,
                            (recognized - finishing.started) * 1000, 0.0, result.text, result.confidence,
                            finishing.previewed, finishing.previews)
        self._emit("recognized", text=result.text, confidence=round(result.confidence, 3),
                   engine=result.engine, speech_start_ms=event.speech_start_ms,
                   speech_end_ms=event.speech_end_ms, reason=event.reason, previewed=finishing.previewed,
                   previews=finishing.previews)
        nbest = tuple(Hypothesis(h.text, h.confidence) for h in result.nbest)
        utterance = Utterance(result.text, result.confidence, nbest, self.session.clock.now())

        def answered() -> None:
            timing.step_wall_ms = timing.first_audio_wall_ms = (time.perf_counter() - recognized) * 1000
            self.turns.append(timing)
            if self.speaking:
                # Measured again when the answer's first audio is taken for output (after background synthesis).
                self._first_audio = (timing, recognized)
            else:
                self._answered(timing)

        self._step(functools.partial(self.session.send, utterance), answered)

    def _answered(self, timing: TurnTiming) -> None:
        """Where the time of a spoken turn went after its end (wall-clock ms), for logs and benchmarks."""
        self._emit("answered", recognize_ms=round(timing.recognize_wall_ms, 1), step_ms=round(timing.step_wall_ms, 1),
                   first_audio_ms=round(timing.first_audio_wall_ms, 1))

    def _abandon_speech(self) -> None:
        self.in_speech = False
        self.preroll.clear()

    # ----- actions --------------------------------------------------------------------------------

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                self._emit("prompt", text=action.text, node=action.node)
                self.prompt_barge_in = action.barge_in
                if self.synthesis is None:
                    for chunk in self.prompts.stream(action.text):
                        self.playback.append(chunk)
                else:
                    cached = self.prompts.get(action.text)
                    if cached is not None:
                        self._queue(cached)
                    else:
                        self.synthesis.put(action.text)
            elif isinstance(action, Play):
                self._emit("play", path=action.path, node=action.node)
                self.prompt_barge_in = action.barge_in
                self._queue(load_recorded(self._prompt_path(action.path), PHONE_RATE))
            elif isinstance(action, Listen):
                self._start_listening(action)
            elif isinstance(action, Handoff):
                self._emit("handoff", queue=action.queue, priority=action.priority, reason=action.reason)
                self.ending = True
            elif isinstance(action, Hangup):
                self._emit("hangup", outcome=action.outcome)
                self.ending = True
        if self.session.ended:
            self.listen = None
            self._close_stream()
            self.ending = True

    def _queue(self, audio: np.ndarray) -> None:
        """Ready audio: straight to playback, unless earlier prompts are still being synthesized."""
        if self.synthesis is not None and self.synthesis.pending:
            self.synthesis.put(audio)
        else:
            self.playback.append(audio)

    def _prompt_path(self, path: str) -> Any:
        flow_file = self.session.flow.paths[self.session.state.flow]
        return flow_file.parent / path

    def _start_listening(self, listen: Listen) -> None:
        self._close_stream()
        self.listen = listen
        self.endpointer = Endpointer(EndpointerConfig(
            no_input_ms=listen.no_input_ms,
            complete_silence_ms=listen.complete_silence_ms,
            incomplete_silence_ms=listen.incomplete_silence_ms,
            max_speech_ms=listen.max_speech_ms,
            min_speech_ms=self.min_speech_ms,
        ))
        self.endpointer.reset(self.now_ms)
        self._armed = not self.speaking
        grammar = GrammarSpec.for_listen(listen, self.phrases_by_intent)
        self.stream = self.recognizer.open(grammar)
        # Checked once per listen: a runtime protocol check is too slow for every 20 ms tick.
        self._previewing = isinstance(self.stream, PreviewingStream)
        self.upsampler = StreamResampler(PHONE_RATE, ASR_RATE)
        self.in_speech = False
        self.preroll.clear()
        self.listen_seq += 1

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        self.upsampler = None
        self.in_speech = False
        self._preview = None  # a preview still running is for this stream: its result is not wanted
        self._previewed = None
        self._previews = 0
        self._peak_db = float("-inf")

    # ----- output ---------------------------------------------------------------------------------

    def _stop_playback(self, why: str) -> None:
        self._emit("barge_in", by=why)
        self.playback.clear()
        if self.synthesis is not None:
            self.synthesis.cancel()
        self._first_audio = None
        self.playing = None
        self.play_pos = 0

    def _next_output_frame(self) -> np.ndarray:
        out = np.zeros(FRAME, dtype=np.int16)
        filled = 0
        while filled < FRAME:
            if self.playing is None:
                if self.playback:
                    self.playing = self.playback.popleft()
                elif self.synthesis is not None and (ready := self.synthesis.take()) is not None:
                    self.playing = ready
                else:
                    break
                self.play_pos = 0
                if self._first_audio is not None:
                    timing, recognized = self._first_audio
                    timing.first_audio_wall_ms = (time.perf_counter() - recognized) * 1000
                    self._first_audio = None
                    self._answered(timing)
            take = min(FRAME - filled, len(self.playing) - self.play_pos)
            out[filled:filled + take] = self.playing[self.play_pos:self.play_pos + take]
            filled += take
            self.play_pos += take
            if self.play_pos >= len(self.playing):
                self.playing = None
        if not self.speaking and self.ending and not self.finished and not self._steps:
            self._emit("call_ended", outcome=self.session.state.outcome)
            self.session.close()
            self.finished = True
        return out

    def _emit(self, kind: str, **data: Any) -> None:
        event = MediaEvent(self.now_ms, kind, data)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
