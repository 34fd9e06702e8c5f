"""The bridged phase of a call: the 20 ms relay between the caller and the agent's leg, and what the agent's side
does to it (hang up, get lost, hold, transfer). A mixin of :class:`voicebot.runtime.call.Call`, kept apart so
each stays small; it uses the call's playout, events and phase moves, declared below.

The relay: the caller's tick writes the caller's frame to the agent and plays the agent's frame to the caller
(the recording goes on with the agent on the second channel). An agent who hangs up after talking ends the call
(closing prompt, BYE, the entry completed); a *lost* leg (ended within the queue's
``requeue_if_agent_leaves_within_seconds`` of the answer, or no audio from the agent's phone for
``agent_media_timeout_seconds``: :class:`~voicebot.runtime.ports.BridgeRules`) sends the caller back to the
front of the queue with an apology. On hold the caller hears hold audio and the agent silence; a transfer ends
the agent's leg and the caller waits for the new queue's agent.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

import numpy as np

from voicebot.audio.pcm import PHONE_RATE, frame_samples
from voicebot.runtime.acd_lane import AcdLane
from voicebot.runtime.call_events import (
    AgentDropped,
    AgentHungUp,
    Bridged,
    CallEvent,
    HoldChanged,
    Phase,
    PromptQueued,
    Transferred,
)
from voicebot.runtime.playout import Playout
from voicebot.runtime.ports import AgentLeg, BridgeRules

log = logging.getLogger("voicebot.call")

FRAME = frame_samples(PHONE_RATE)
FRAME_MS = 1000 * FRAME // PHONE_RATE
RELAY_JITTER_FRAMES = 2  # agent audio the bridge may hold beyond the frame it plays (40 ms)
MAX_BACKLOG_FRAMES = 100  # 2 s: the most of the agent's audio dropped when the bridge starts


class BridgePhase:
    # ----- what the call provides (voicebot.runtime.call.Call) -----------------------------------
    phase: Phase
    now_ms: int
    agent: str | None
    leg: AgentLeg | None
    rules: BridgeRules
    on_hold: bool
    playout: Playout
    hold_audio: np.ndarray
    acd_lane: AcdLane | None
    agent_dropped: str
    _bridged_at_ms: int
    _agent_quiet_ms: int
    _goodbye_reason: str
    _goodbye_seq: int | None
    _silence: np.ndarray
    _commands: queue.SimpleQueue[Callable[[], None]]

    @property
    def call_id(self) -> str:
        raise NotImplementedError

    def _move(self, after: Phase) -> None:
        raise NotImplementedError

    def _publish(self, event: CallEvent) -> None:
        raise NotImplementedError

    def _play(self) -> np.ndarray:
        raise NotImplementedError

    def _end(self, ended_by: str) -> None:
        raise NotImplementedError

    # ----- the relay -----------------------------------------------------------------------------

    def _relay(self, caller_frame: np.ndarray | None) -> np.ndarray:
        """Bridged: the caller's frame to the agent, the agent's frame (silence if none arrived) to the caller."""
        leg = self.leg
        if leg is None:
            return np.zeros(FRAME, dtype=np.int16)
        if leg.ended:
            talked_ms = self.now_ms - self._bridged_at_ms
            if talked_ms < self.rules.requeue_within_ms:
                self._lost_agent(f"hung up {talked_ms / 1000:.1f} s after answering")
            else:
                self._agent_ended_the_call()
            return self._play()
        # On hold the agent hears silence (nothing of the caller), and the caller hears hold audio instead of the
        # agent; the agent's frames are still read, so nothing piles up for the resume and the phone stays watched.
        leg.write_frame(caller_frame if caller_frame is not None and not self.on_hold else self._silence)
        # A burst from the agent's side (their phone or the network catching up after a stall) would stay
        # queued ahead of everything after it: a delay that never goes away. Keep at most a small jitter
        # allowance; drop the oldest frames beyond it.
        for _ in range(max(0, leg.buffered_frames - 1 - RELAY_JITTER_FRAMES)):
            leg.read_frame()
        frame = leg.read_frame()
        if frame is None:
            self._agent_quiet_ms += FRAME_MS
            if self._agent_quiet_ms >= self.rules.media_timeout_ms:
                leg.hang_up()  # the phone vanished without a BYE: release it, in case it is still there
                self._lost_agent(f"no audio from the agent's phone for {self._agent_quiet_ms / 1000:.0f} s")
                return self._play()
        else:
            self._agent_quiet_ms = 0
        if self.on_hold:
            return self._play()
        return frame if frame is not None else np.zeros(FRAME, dtype=np.int16)

    def _agent_ended_the_call(self) -> None:
        """The agent hung up after the conversation: the caller hears the closing prompt, then BYE; the entry
        is completed (the agent to wrap-up, talk time recorded)."""
        agent = self.agent or ""
        log.info("call %s: agent %s ended the conversation; closing the call", self.call_id, agent)
        self._move("wrap_up")
        self._off_hold()
        self._publish(AgentHungUp(call_id=self.call_id, at_ms=self.now_ms, agent=agent))
        self._release_agent("agent hung up")
        closing = self.rules.closing_prompt
        self._goodbye_reason = "agent"
        if not closing:
            self._end("agent")
            return
        self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=closing, node="closing"))
        self._goodbye_seq = self.playout.say(closing, "closing", barge_in=False)

    def _lost_agent(self, why: str) -> None:
        """The agent's leg was lost under a live caller: told, and back at the front of the queue."""
        agent = self.agent or ""
        self.leg = None
        self._off_hold()
        if self.acd_lane is not None:
            self.acd_lane.agent_dropped()
        log.info("call %s: agent %s's leg lost (%s); the caller goes back to the front of the queue",
                 self.call_id, agent, why)
        self._move("queued")
        self._publish(AgentDropped(call_id=self.call_id, at_ms=self.now_ms, agent=agent))
        self.agent = None
        self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=self.agent_dropped, node="queue"))
        self.playout.say(self.agent_dropped, "queue", barge_in=False)
        self.playout.hold(self.hold_audio)

    def _release_agent(self, reason: str) -> None:
        """The conversation is over: BYE to the agent (unless they left), the entry completed."""
        leg, self.leg = self.leg, None
        if leg is not None and not leg.ended:
            leg.hang_up()
        if self.acd_lane is not None:
            self.acd_lane.complete(reason)

    # ----- what the ACD asks of a bridged call (applied on the call's next tick) -------------------

    def bridge(self, agent: str, leg: AgentLeg | None = None, rules: BridgeRules | None = None) -> None:
        """The agent answered: the caller is connected to ``leg`` (hold audio and any announcement stop at
        once: an announcement never delays the bridge); ``rules`` say when the leg ending is a lost leg."""
        def apply() -> None:
            self._move("bridged")
            self.agent = agent
            self.leg = leg
            self.rules = rules or BridgeRules()
            self.on_hold = False
            self._bridged_at_ms = self.now_ms
            self._agent_quiet_ms = 0
            if leg is not None:
                # What the agent's phone sent between its answer and now would otherwise stay queued ahead of
                # every later frame: a standing delay for the whole conversation. Start from the newest.
                for _ in range(MAX_BACKLOG_FRAMES):
                    if leg.read_frame() is None:
                        break
            self.playout.stop_hold()
            self.playout.cancel()
            self._publish(Bridged(call_id=self.call_id, at_ms=self.now_ms, agent=agent))
        self._commands.put(apply)

    def hold(self, on: bool) -> None:
        """The agent put the caller on hold (``on``) or resumed, from the console: hold audio to the caller and
        silence to the agent while on hold (ignored outside a bridged call)."""
        def apply() -> None:
            if self.phase != "bridged" or self.on_hold == on:
                return
            self.on_hold = on
            if on:
                self.playout.hold(self.hold_audio)
            else:
                self.playout.stop_hold()
            self._publish(HoldChanged(call_id=self.call_id, at_ms=self.now_ms, agent=self.agent or "", on=on))
        self._commands.put(apply)

    def _off_hold(self) -> None:
        if self.on_hold:
            self.on_hold = False
            self.playout.stop_hold()

    def transferred(self, queue: str, prompt: str) -> None:
        """The agent transferred the caller to ``queue`` (the entry already waits there): BYE to the agent's leg,
        the caller hears ``prompt`` then hold audio until the new queue's agent answers."""
        def apply() -> None:
            if self.phase != "bridged":  # the agent's leg ended first (lost: already queued; or the call is over)
                log.info("call %s: transfer to %s arrived in phase %s; nothing to move", self.call_id, queue,
                         self.phase)
                return
            agent, self.agent = self.agent or "", None
            leg, self.leg = self.leg, None
            self._off_hold()
            if leg is not None and not leg.ended:
                leg.hang_up()
            self._move("queued")
            self._publish(Transferred(call_id=self.call_id, at_ms=self.now_ms, agent=agent, queue=queue))
            log.info("call %s: transferred by %s to %s", self.call_id, agent, queue)
            if prompt:
                self._publish(PromptQueued(call_id=self.call_id, at_ms=self.now_ms, text=prompt, node="queue"))
                self.playout.say(prompt, "queue", barge_in=False)
            self.playout.hold(self.hold_audio)
        self._commands.put(apply)
