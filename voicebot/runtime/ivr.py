"""The IVR phase of a call: the flow's turns, 20 ms at a time.

Inside one tick: session steps that are back have their actions applied (prompts to the :class:`Playout`,
a ``Listen`` opens a :class:`ListenTurn`); keys and caller audio go to the turn (barge-in stops the prompt);
a turn's resolution goes to the session (and so the engine); due flow timers fire; one frame of prompt audio
comes out. Between ticks, :meth:`IvrPhase.hear` takes caller audio the call loop is catching up (it fell
behind its caller): heard the same way, with nothing played for it.

The session (engine steps, call-record writes, data actions such as the bank lookup) runs off the tick on a
per-call ordered lane of the injected session executor (:class:`SerialWork`): a database busy with another
call's write stalls that call's next prompt, never its audio. While a step is in flight the call does not
listen (the listen may be about to change) but keeps the last 300 ms of audio, so speech that starts
meanwhile is not lost. Keys pressed while an utterance is being recognized wait for its result, and so do the
flow's timers, so events reach the engine in the order they happened.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from voicebot.actions import Action, Handoff, Hangup, Listen, Play, Say
from voicebot.audio.pcm import PHONE_RATE
from voicebot.events import Dtmf
from voicebot.runtime.call_events import (
    Answered,
    BargeIn,
    CallEvent,
    FlowHungUp,
    HandoffRequested,
    KeysPressed,
    PromptPlayed,
    PromptQueued,
    RecordingQueued,
)
from voicebot.runtime.listen_turn import ListenTurn, Resolution, TurnInputs, TurnTiming
from voicebot.runtime.playout import Playout
from voicebot.runtime.pools import Executors
from voicebot.runtime.serial_work import SerialWork
from voicebot.runtime.session import CallSession
from voicebot.tts.prompts import load_recorded

log = logging.getLogger("voicebot.ivr")

SERVED = "self_served"


class IvrPhase:
    def __init__(self, session: CallSession, playout: Playout, inputs: TurnInputs, executors: Executors,
                 publish: Callable[[CallEvent], None]) -> None:
        self.session = session
        self.playout = playout
        self.inputs = inputs
        self.executors = executors
        self._publish = publish
        self.now_ms = 0
        self.turn: ListenTurn | None = None
        self.listen_seq = 0
        self.ending = False  # a handoff or hang-up waits for its prompt to finish
        self.done = False  # the flow is over and its last prompt has played
        self.leaving = False  # the call is leaving the IVR (shutdown): step results are not applied any more
        self.handoff: Handoff | None = None
        self.turns: list[TurnTiming] = []
        self._held_keys = ""  # keys pressed while an utterance is being recognized
        self._first_audio: tuple[TurnTiming, float] | None = None  # a turn waiting for its answer's audio
        self._control = SerialWork(executors.session)
        #: Session steps in flight, in order, each with what to do after its actions are applied.
        self._steps: deque[tuple[Future[list[Action]], Callable[[], None] | None]] = deque()
        #: The prompt that carries the caller's answer (set with the outcome self_served), and whether it was
        #: heard to its end: a caller who hangs up before that was not served.
        self._answer_seq: int | None = None
        self.answer_heard = False

    # ----- state ---------------------------------------------------------------------------------

    @property
    def listen(self) -> Listen | None:
        return self.turn.listen if self.turn is not None else None

    @property
    def busy(self) -> bool:
        """Session steps are in flight (their actions are not applied yet)."""
        return bool(self._steps)

    @property
    def recognizing(self) -> bool:
        return self.turn is not None and self.turn.recognizing

    def start(self, caller_id: str, dialled: str) -> None:
        self._step(lambda: self.session.start(caller_id, dialled))

    # ----- the tick ------------------------------------------------------------------------------

    def tick(self, caller_frame: np.ndarray | None, keys: str, now_ms: int) -> np.ndarray:
        self.now_ms = now_ms
        self._apply_steps()
        self._collect()
        if keys:
            if self.recognizing:
                self._held_keys += keys
            else:
                self._keys(keys)
        if caller_frame is not None and not self.done:
            self._hear(caller_frame)
            self._collect()
        if not self.done and not self.recognizing and not self._steps and not self.leaving and self._timer_due():
            self._step(self.session.fire_due_timers)
        return self._output()

    def hear(self, caller_frame: np.ndarray, now_ms: int) -> None:
        """Caller audio between ticks (a backlog being caught up): heard as a tick hears it, nothing played."""
        self.now_ms = now_ms
        self._apply_steps()
        self._collect()
        if not self.done:
            self._hear(caller_frame)
            self._collect()

    def _timer_due(self) -> bool:
        # Read only while no step is in flight: steps are what change the session's timers.
        timers = self.session.timers
        return bool(timers) and min(timers.values()) <= self.session.clock.now()

    # ----- session steps -------------------------------------------------------------------------

    def _step(self, work: Callable[[], list[Action]], then: Callable[[], None] | None = None) -> None:
        """Run session work in the call's order, off the tick; its actions are applied as soon as they are back."""
        self._steps.append((self._control.submit(work), then))
        self._apply_steps()

    def _apply_steps(self) -> None:
        while self._steps and self._steps[0][0].done() and not self.done and not self.leaving:
            future, then = self._steps.popleft()
            actions = future.result()  # an engine failure is raised here, in the call's own loop
            self._apply(actions)
            self._note_answer(actions)
            if then is not None:
                then()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the session steps in flight (the call is over: nothing is left to apply)."""
        for future, _then in self._steps:
            try:
                future.result(timeout)
            except Exception:
                log.exception("call %s: session step failed", self.session.call_id)
        self._steps.clear()

    # ----- input ---------------------------------------------------------------------------------

    def _keys(self, keys: str) -> None:
        secure = self.listen is not None and self.listen.secure
        self._publish(KeysPressed(call_id=self.session.call_id, at_ms=self.now_ms,
                                  keys="*" * len(keys) if secure else keys))
        if self.playout.speaking and self.playout.barge_in:
            self._stop_playback("dtmf")
        if self.turn is not None:
            self.turn.keys(self.now_ms)
        self._step(functools.partial(self.session.send, Dtmf(keys, at=self.session.clock.now())))

    def _hear(self, frame: np.ndarray) -> None:
        turn = self.turn
        if turn is None:
            return
        if self._steps:
            turn.hold(frame)  # the listen may be about to change: keep the audio for its onset
            return
        if turn.hear(frame, self.now_ms, self.playout.speaking):
            self._stop_playback("speech")
        self._deliver(turn)

    def _collect(self) -> None:
        turn = self.turn
        if turn is None:
            return
        turn.collect(self.now_ms)
        self._deliver(turn)
        if self._held_keys and not turn.recognizing and not self.done:
            keys, self._held_keys = self._held_keys, ""
            self._keys(keys)

    def _deliver(self, turn: ListenTurn) -> None:
        """A turn that resolved: what the caller said (or did not) goes to the flow."""
        resolution = turn.take()
        if resolution is None or resolution.event is None or self.done or self.leaving:
            return
        if resolution.timing is None:
            self._step(functools.partial(self.session.send, resolution.event))
            return
        self._step(functools.partial(self.session.send, resolution.event),
                   functools.partial(self._answered, resolution))

    def _answered(self, resolution: Resolution) -> None:
        timing = resolution.timing
        assert timing is not None
        timing.step_wall_ms = timing.first_audio_wall_ms = (time.perf_counter() - resolution.recognized_at) * 1000
        self.turns.append(timing)
        if self.playout.speaking:
            # Measured again when the answer's first audio is taken for output (after background synthesis).
            self._first_audio = (timing, resolution.recognized_at)
        else:
            self._report(timing)

    def _report(self, timing: TurnTiming) -> None:
        """Where the time of a spoken turn went after its end (wall-clock ms), for logs and benchmarks."""
        self._publish(Answered(call_id=self.session.call_id, at_ms=self.now_ms,
                               recognize_ms=round(timing.recognize_wall_ms, 1), step_ms=round(timing.step_wall_ms, 1),
                               first_audio_ms=round(timing.first_audio_wall_ms, 1)))

    # ----- actions -------------------------------------------------------------------------------

    def _apply(self, actions: list[Action]) -> None:
        call_id = self.session.call_id
        for action in actions:
            if isinstance(action, Say):
                self._publish(PromptQueued(call_id=call_id, at_ms=self.now_ms, text=action.text, node=action.node))
                self.playout.say(action.text, action.node, action.barge_in)
            elif isinstance(action, Play):
                self._publish(RecordingQueued(call_id=call_id, at_ms=self.now_ms, path=action.path, node=action.node))
                self.playout.play(load_recorded(self._prompt_path(action.path), PHONE_RATE), action.node,
                                  action.barge_in)
            elif isinstance(action, Listen):
                self._start_listening(action)
            elif isinstance(action, Handoff):
                self._publish(HandoffRequested(call_id=call_id, at_ms=self.now_ms, queue=action.queue,
                                               priority=action.priority, reason=action.reason))
                self.handoff = action
                self.ending = True
            elif isinstance(action, Hangup):
                self._publish(FlowHungUp(call_id=call_id, at_ms=self.now_ms, outcome=action.outcome))
                self.ending = True
        if self.session.ended:
            self.close_turn()
            self.ending = True

    def _note_answer(self, actions: list[Action]) -> None:
        """The step that makes the call self-served: remember the prompt that tells the caller their answer
        (the last one before the next question's own prompt), to know later whether they heard it."""
        if self.answer_heard or self.session.state.vars.get("outcome") != SERVED:
            return
        listen_nodes = {a.node for a in actions if isinstance(a, Listen)}
        prompts = [a for a in actions if isinstance(a, Say | Play)]
        first = self.playout.queued_seq - len(prompts) + 1  # the numbers this step's prompts were given
        answer = None
        for index, prompt in enumerate(prompts):
            if prompt.node not in listen_nodes:
                answer = first + index
        if answer is not None:
            self._answer_seq = answer
        elif self._answer_seq is None:
            self._answer_seq = 0  # nothing was said with it: served as it stands
        self._check_answer()

    def _check_answer(self) -> None:
        seq = self._answer_seq
        if seq is not None and not self.answer_heard and (seq <= 0 or self.playout.was_played(seq)):
            self.answer_heard = True

    def _prompt_path(self, path: str) -> Path:
        flow_file = self.session.flow.paths[self.session.state.flow]
        return flow_file.parent / path

    def _start_listening(self, listen: Listen) -> None:
        self.close_turn()
        self.turn = ListenTurn(listen, self.inputs, call_id=self.session.call_id, now_ms=self.now_ms,
                               speaking=self.playout.speaking, recognition=self.executors.recognition,
                               publish=self._publish, now=self.session.clock.now)
        self.listen_seq += 1

    def close_turn(self) -> None:
        if self.turn is not None:
            self.turn.close()
        self.turn = None

    # ----- leaving -------------------------------------------------------------------------------

    def hang_up(self) -> None:
        """The caller left: the turn resolves with hangup, prompts stop; the owner completes the record."""
        if self.turn is not None:
            self.turn.hang_up(self.now_ms)
            self.turn.close()
        self.playout.cancel()
        self._first_audio = None
        self.done = True

    def leave(self) -> None:
        """Stop the IVR where it is (shutdown): no more listening, no more steps applied, prompts cut."""
        if self.turn is not None:
            self.turn.hang_up(self.now_ms)
        self.close_turn()
        self.playout.cancel()
        self._first_audio = None
        self.leaving = True

    # ----- output --------------------------------------------------------------------------------

    def _stop_playback(self, why: str) -> None:
        self._publish(BargeIn(call_id=self.session.call_id, at_ms=self.now_ms, by=why))
        cut = self.playout.cancel()
        if cut is not None and cut == self._answer_seq:
            self.answer_heard = True  # the caller heard the start of their answer and chose to go on
        self._first_audio = None

    def _output(self) -> np.ndarray:
        out, finished = self.playout.next_frame()
        if self.playout.chunk_started and self._first_audio is not None:
            timing, recognized = self._first_audio
            timing.first_audio_wall_ms = (time.perf_counter() - recognized) * 1000
            self._first_audio = None
            self._report(timing)
        for end in finished:
            self._publish(PromptPlayed(call_id=self.session.call_id, at_ms=self.now_ms, seq=end.seq, node=end.node))
        if finished:
            self._check_answer()
        if not self.playout.speaking and self.ending and not self.done and not self._steps:
            self.done = True
        return out
