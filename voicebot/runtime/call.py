"""One call's owner, from the first ring to the last frame: the phases a call lives through.

A call is no longer its flow's: the flow runs in the IVR phase, and the call goes on after it when the flow
hands the caller to a person::

    ivr -> queued -> ringing -> bridged -> wrap_up -> ended
      \\-> ended   (the flow hung up, or handed off with no ACD: after the transfer prompt, as before)

Queued and ringing play hold music (:mod:`voicebot.runtime.hold_music`) with the ACD's announcements over it
(:meth:`Call.announce`); the ACD port moves the call on (:meth:`Call.offer`, :meth:`Call.bridge`,
:meth:`Call.requeue`, :meth:`Call.finish`, callable from any thread: they are applied on the call's next tick).
Bridged relays 20 ms frames both ways between the caller and the agent's leg (a B2BUA: the caller's tick
writes the caller's frame to the agent and plays the agent's frame to the caller; the recording goes on with
the agent on the second channel). An agent who hangs up after talking ends the call: the caller hears the
closing prompt and gets BYE, the entry is completed. A *lost* agent leg (it ended within the queue's
``requeue_if_agent_leaves_within_seconds`` of the answer, or the agent's phone sent no audio for
``agent_media_timeout_seconds``: :class:`~voicebot.runtime.ports.BridgeRules`) sends the caller back to the
front of the queue with an apology; a caller who hangs up while bridged ends the agent's leg (BYE). Every
change is published on the event bus (:mod:`voicebot.runtime.call_events`).

``tick(caller_frame, keys) -> ivr_frame`` is the whole media contract: the simulator calls it on virtual
time, the SIP call loop on the RTP clock; ``hear(caller_frame)`` between ticks takes caller audio the loop is
catching up after falling behind (no output for it). The recording (a :class:`~voicebot.runtime.ports.Recorder`) is
written here too, paused while a secure step (a PIN) collects input.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicebot.actions import Listen
from voicebot.audio.pcm import PHONE_RATE, frame_samples
from voicebot.runtime.acd_lane import AcdLane
from voicebot.runtime.bridge_phase import BridgePhase
from voicebot.runtime.bus import EventBus
from voicebot.runtime.call_events import (
    Abandoned,
    CallBegan,
    CallEnded,
    CallerHungUp,
    CallEvent,
    Enqueued,
    Offered,
    Phase,
    PhaseChanged,
    PromptPlayed,
    PromptQueued,
)
from voicebot.runtime.callback_choice import CallbackChoice
from voicebot.runtime.hold_music import hold_music
from voicebot.runtime.ivr import IvrPhase
from voicebot.runtime.listen_turn import TurnInputs, TurnTiming
from voicebot.runtime.playout import Playout
from voicebot.runtime.pools import Executors
from voicebot.runtime.ports import AcdPort, AgentLeg, BridgeRules, Recorder
from voicebot.runtime.session import CallSession
from voicebot.tts.cache import PromptCache

log = logging.getLogger("voicebot.call")

FRAME = frame_samples(PHONE_RATE)
FRAME_MS = 1000 * FRAME // PHONE_RATE
GOODBYE = "We're sorry, this line is closing now. Please call again."
AGENT_DROPPED = "We're sorry, your agent got disconnected. We're putting you back at the front of the queue."

#: The phases a call may move to from each phase.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    "ivr": frozenset({"queued", "ended"}),
    "queued": frozenset({"ringing", "ended"}),
    "ringing": frozenset({"bridged", "queued", "ended"}),
    "bridged": frozenset({"wrap_up", "queued", "ended"}),  # queued: the agent dropped, back to the front
    "wrap_up": frozenset({"ended"}),
    "ended": frozenset(),
}


class PhaseError(RuntimeError):
    """A transition the call's phase does not allow (an ACD bug, never a caller's doing)."""


def comfort_tone(seconds: float = 4.0) -> np.ndarray:
    """Generated hold audio: a soft two-note chime, then quiet (until the project ships hold music)."""
    t = np.arange(int(0.3 * PHONE_RATE)) / PHONE_RATE
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)
    notes = [np.sin(2 * np.pi * hz * t) * fade * 3000 for hz in (523.25, 659.25)]
    clip = np.zeros(int(seconds * PHONE_RATE), dtype=np.int16)
    chime = np.concatenate(notes).astype(np.int16)
    clip[: len(chime)] = chime
    return clip


@dataclass(frozen=True)
class CallSpeech:
    """The speech side every call of a flow shares: prompt cache and what turns listen with."""

    prompts: PromptCache
    inputs: TurnInputs


class Call(BridgePhase):
    def __init__(self, session: CallSession, speech: CallSpeech, executors: Executors, *,
                 bus: EventBus | None = None, acd: AcdPort | None = None, recorder: Recorder | None = None,
                 hold_audio: np.ndarray | None = None, goodbye: str = GOODBYE) -> None:
        self.session = session
        self.bus = bus
        self.acd = acd
        self.recorder = recorder
        self.hold_audio = hold_audio if hold_audio is not None else hold_music()
        self.goodbye = goodbye
        self.playout = Playout(speech.prompts, executors.synthesis)
        self.ivr = IvrPhase(session, self.playout, speech.inputs.for_call(), executors, self._publish)
        self.phase: Phase = "ivr"
        self.now_ms = 0
        self.events: list[CallEvent] = []
        self.ended_by = ""
        # The ACD's database writes run off the tick, in order (enqueue, cancel, complete, agent_dropped).
        lane = executors.acd_writes or executors.session
        self.acd_lane = AcdLane(acd, lane, session.call_id) if acd is not None else None
        self._enqueued_queue: str | None = None  # the Enqueued event waits for the ticket
        self.caller_id = ""
        self.agent: str | None = None
        self.leg: AgentLeg | None = None  # the agent's phone while bridged
        self.rules = BridgeRules()  # what the agent's leg ending means (the queue's, given with the bridge)
        self._bridged_at_ms = 0
        self._agent_quiet_ms = 0  # how long the agent's phone has sent nothing (a lost leg past the rules' limit)
        self.on_hold = False  # bridged, on hold from the console: hold audio to the caller, silence to the agent
        self.agent_dropped = AGENT_DROPPED
        self._queued_at_ms = 0
        self._closing = False  # shutdown asked (from another thread): say goodbye on the next tick
        self._goodbye_seq: int | None = None
        self._goodbye_reason = "shutdown"  # what ends the call once the goodbye has played
        self.callback: CallbackChoice | None = None  # the keypad dialogue of a waiting caller
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._silence = np.zeros(FRAME, dtype=np.int16)
        if recorder is not None:
            session.recording_path = str(recorder.path)  # written with the record, spooled if need be

    # ----- what the channel and the tests read ---------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.session.call_id

    @property
    def finished(self) -> bool:
        return self.phase == "ended"

    @property
    def listen(self) -> Listen | None:
        return self.ivr.listen if self.phase == "ivr" else None

    @property
    def listen_seq(self) -> int:
        return self.ivr.listen_seq

    @property
    def speaking(self) -> bool:
        return self.playout.speaking

    @property
    def busy(self) -> bool:
        return self.ivr.busy

    @property
    def recognizing(self) -> bool:
        return self.ivr.recognizing

    @property
    def turns(self) -> list[TurnTiming]:
        return self.ivr.turns

    # ----- lifecycle -----------------------------------------------------------------------------

    def start(self, caller_id: str, dialled: str = "") -> None:
        self.caller_id = caller_id
        self._publish(CallBegan(call_id=self.call_id, at_ms=self.now_ms, caller_id=caller_id, dialled=dialled))
        self.ivr.start(caller_id, dialled)

    def tick(self, caller_frame: np.ndarray | None, keys: str = "") -> np.ndarray:
        if self.finished:
            return np.zeros(FRAME, dtype=np.int16)
        while not self._commands.empty():
            command = self._commands.get_nowait()
            try:
                command()
            except PhaseError:
                # A confused ACD must not cost the caller their call: refuse the move, keep the call as it is.
                log.exception("call %s: ACD command refused", self.call_id)
        self._follow_enqueue()
        if self._closing and self._goodbye_seq is None and not self.finished:
            self._say_goodbye()
        secure = self._secure()
        if self.finished:
            out = np.zeros(FRAME, dtype=np.int16)
        elif self._goodbye_seq is not None:
            out = self._play()
            if not self.playout.speaking:
                self._end(self._goodbye_reason)
        elif self.phase == "ivr":
            out = self.ivr.tick(caller_frame, keys, self.now_ms)
            if self.ivr.done or self._handed_off():
                self._ivr_over()
        elif self.phase in ("queued", "ringing"):
            self._waiting_keys(keys)
            out = self._play()  # hold audio, announcements over it
        elif self.phase == "bridged":
            out = self._relay(caller_frame)
        else:
            out = np.zeros(FRAME, dtype=np.int16)
        self._record(caller_frame, out, secure)
        self.now_ms += FRAME_MS
        return out

    def _record(self, caller_frame: np.ndarray | None, out: np.ndarray, secure: bool) -> None:
        """One frame each way into the recording; paused (silence) while a secure step (the PIN) collects input
        (``secure``: it did when the frame came in; it may have started since)."""
        if self.recorder is not None:
            heard = caller_frame if caller_frame is not None else self._silence
            secure = secure or self._secure()
            self.recorder.write(self._silence if secure else heard, self._silence if secure else out)

    def hear(self, caller_frame: np.ndarray) -> None:
        """A caller frame older than the next tick's, heard to catch up a backlog (the channel fell behind).

        The IVR hears it as it hears a tick's frame (endpointing, barge-in, recognition); no audio goes out for it,
        so the caller's pacing is untouched. The call's clock counts it (``now_ms``): timeouts measured on the
        caller's audio (the end-of-speech silence) count audio, not ticks. Bridged, it is recorded but not relayed
        (the agent hears the newest audio, as the relay treats the agent's own backlog); waiting, it is recorded.
        """
        if self.finished:
            return
        if self.phase == "ivr" and self._goodbye_seq is None:
            self.ivr.hear(caller_frame, self.now_ms)
        self._record(caller_frame, self._silence, False)
        self.now_ms += FRAME_MS

    def _waiting_keys(self, keys: str) -> None:
        """A waiting caller's keys: the callback dialogue ("press 1 for a callback, keeping your place")."""
        if not keys or self.acd is None or self.ticket is None or self._goodbye_seq is not None:
            return
        if self.callback is None:
            self.callback = CallbackChoice(self.caller_id)
        for key in keys:
            reply = self.callback.key(key)
            if reply.number is not None:
                self._callback_chosen(reply.number, reply.say or "")
                return
            if reply.say:
                self.playout.cancel()  # the caller acted: what was being said gives way to the answer
                self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=reply.say, node="callback"))
                self.playout.say(reply.say, "callback", barge_in=False)

    def _callback_chosen(self, number: str, goodbye: str) -> None:
        assert self.acd is not None and self.acd_lane is not None and self.ticket is not None
        try:
            self.acd.request_callback(self.ticket, number)
        except Exception:
            log.exception("call %s: the callback could not be recorded; the caller keeps waiting", self.call_id)
            self.callback = None
            return
        log.info("call %s: callback chosen (%s); the entry keeps its place", self.call_id, number)
        self.acd_lane.forget()  # the entry is a callback now: the caller's leaving no longer abandons it
        self.playout.stop_hold()
        self.playout.cancel()
        self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=goodbye, node="callback"))
        self._goodbye_reason = "callback"
        self._goodbye_seq = self.playout.say(goodbye, "callback", barge_in=False)

    def _play(self) -> np.ndarray:
        """A frame of the playout outside the IVR (the goodbye, hold audio), its finished prompts published."""
        out, finished = self.playout.next_frame()
        for end in finished:
            self._publish(PromptPlayed(call_id=self.call_id, at_ms=self.now_ms, seq=end.seq, node=end.node))
        return out

    def _secure(self) -> bool:
        listen = self.listen
        return listen is not None and listen.secure

    def hang_up(self) -> None:
        """The caller hung up (or the line dropped): stop everything and complete the record."""
        if self.finished:
            return
        self._publish(CallerHungUp(call_id=self.call_id, at_ms=self.now_ms, phase=self.phase))
        queued = self.acd_lane is not None and self.acd_lane.queued  # False: a callback was chosen
        if self.phase in ("queued", "ringing") and queued:
            self._withdraw()
            self._publish(Abandoned(call_id=self.call_id, at_ms=self.now_ms, phase=self.phase,
                                    waited_ms=self.now_ms - self._queued_at_ms))
        self._end("caller")  # bridged: _end releases the agent (BYE) and completes the entry

    def end_now(self, ended_by: str) -> None:
        """End the call at once (the service's hard stop, a failure): the record is completed."""
        self._end(ended_by)

    def shutdown(self) -> None:
        """The service is closing: a caller still with us hears a short goodbye, then the call ends.

        Safe from any thread; the goodbye starts on the call's next tick. The channel keeps ticking until
        :attr:`finished` (or its own deadline) and then sends BYE.
        """
        self._closing = True

    def _say_goodbye(self) -> None:
        if self.phase == "ivr":
            self.ivr.leave()
        elif self.phase in ("queued", "ringing"):
            self._withdraw()
            self.playout.stop_hold()
            self.playout.cancel()
        else:
            self._end("shutdown")
            return
        self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=self.goodbye, node="shutdown"))
        self._goodbye_seq = self.playout.say(self.goodbye, "shutdown", barge_in=False)

    def _handed_off(self) -> bool:
        """The flow handed the caller to an ACD: queue them now, while the transfer prompt still plays, so the
        agent's phone rings within a second of the request (the prompt plays on in the queued phase; an agent
        answering cuts it like any announcement)."""
        return self.ivr.handoff is not None and self.acd is not None and not self.ivr.busy and self.ivr.ending

    def _ivr_over(self) -> None:
        """The flow is over (with a handoff to an ACD: at once; else once its last prompt has played): hang up,
        or queue the caller for a person."""
        handoff = self.ivr.handoff
        if handoff is None or self.acd is None:
            self._end("ivr")  # no ACD: the call ends after the transfer prompt (the handoff row is stored)
            return
        assert self.acd_lane is not None
        self.acd_lane.enqueue(handoff, self)  # off the tick: the caller hears hold audio meanwhile
        self._move("queued")
        self._queued_at_ms = self.now_ms
        self._enqueued_queue = handoff.queue
        self.playout.hold(self.hold_audio)
        self._follow_enqueue()

    @property
    def ticket(self) -> str | None:
        """The ACD's ticket for this caller, once the enqueue has finished (None: not queued, or a callback)."""
        return self.acd_lane.ticket if self.acd_lane is not None else None

    def _follow_enqueue(self) -> None:
        """The enqueue finished: publish it; it failed: the caller cannot wait for anyone, so say goodbye."""
        if self._enqueued_queue is None or self.acd_lane is None:
            return
        ticket = self.acd_lane.ticket
        if ticket is not None:
            self._publish(Enqueued(call_id=self.call_id, at_ms=self.now_ms, queue=self._enqueued_queue,
                                   ticket=ticket))
            self._enqueued_queue = None
        elif self.acd_lane.failure is not None:
            log.error("call %s: the ACD could not queue the caller (%s); closing the call", self.call_id,
                      self.acd_lane.failure)
            self._enqueued_queue = None
            self.acd_lane.forget()
            self._goodbye_reason = "error"
            self._closing = True

    def _withdraw(self) -> None:
        if self.acd_lane is not None:
            self.acd_lane.cancel()

    def _end(self, ended_by: str) -> None:
        if self.finished:
            return
        before = self.phase
        if before == "ivr":
            self.ivr.now_ms = self.now_ms
            self.ivr.hang_up()
            self.ivr.settle()
        # A caller who leaves before their answer has played to its end was not served (the flow's own
        # ending, a hangup node, has already written the record by now).
        self.session.answer_unheard = not self.ivr.answer_heard
        self.session.close()
        if before == "bridged":
            # ended under a bridged call (the caller left, shutdown, a failure): the agent's leg too
            self._release_agent("caller hung up" if ended_by == "caller" else f"call ended ({ended_by})")
        self.playout.stop_hold()
        self.playout.cancel()
        self.ended_by = ended_by
        self._move("ended")
        self._publish(CallEnded(call_id=self.call_id, at_ms=self.now_ms, outcome=self.session.outcome,
                                phase=before, ended_by=ended_by))

    # ----- transitions (the ACD drives these through its port) ----------------------------------

    def _move(self, after: Phase) -> None:
        before = self.phase
        if after not in TRANSITIONS[before]:
            raise PhaseError(f"call {self.call_id}: {before} -> {after} is not a transition")
        self.phase = after
        self._publish(PhaseChanged(call_id=self.call_id, at_ms=self.now_ms, before=before, after=after))

    def offer(self, agent: str) -> None:
        """An agent's phone rings for this call (the caller keeps hearing hold audio)."""
        def apply() -> None:
            self._move("ringing")
            self.agent = agent
            self._publish(Offered(call_id=self.call_id, at_ms=self.now_ms, agent=agent))
        self._commands.put(apply)

    def requeue(self) -> None:
        """The offer failed (no answer, busy, declined): back to the queue, keeping the place."""
        self._commands.put(lambda: self._move("queued"))

    def finish(self) -> None:
        """The agent's side ended the conversation: the caller is released, the agent wraps up."""
        def apply() -> None:
            self._move("wrap_up")
            self._release_agent("ended by the ACD")
            self._end("acd")
        self._commands.put(apply)

    def announce(self, text: str) -> None:
        """Say ``text`` to a waiting caller over the hold music (position, wait, comfort prompts, a callback
        offer); ignored once the caller is no longer waiting (the bridge cancels it if it is still playing)."""
        def apply() -> None:
            if self.phase in ("queued", "ringing") and self._goodbye_seq is None:
                self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=text, node="queue"))
                self.playout.say(text, "queue", barge_in=False)
        self._commands.put(apply)

    # ----- events --------------------------------------------------------------------------------

    def _publish(self, event: CallEvent) -> None:
        self.events.append(event)
        if self.bus is not None:
            self.bus.publish(event)
