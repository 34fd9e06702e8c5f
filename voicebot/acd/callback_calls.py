"""Callbacks placed agent first: the agent's phone rings, then the caller's, then the two legs are joined.

The dispatcher (:mod:`voicebot.acd.dispatcher`) hands each callback offer to :class:`CallbackCalls` and polls it
on its own thread; the join runs on a thread of its own until either leg hangs up. Every outcome is recorded
through the ACD (``callback_result``), which retries per the queue's callback policy, the entry keeping its place.
Also the vocabulary both share for an outbound leg to a phone (:class:`AgentPhone`, :data:`Dial`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voicebot.acd.service import AcdService
from voicebot.acd.store import OfferInfo
from voicebot.acd.tx import AcdError
from voicebot.runtime.leg_bridge import relay_legs

log = logging.getLogger("voicebot.acd.live")

HANDOFF_HEADER = "X-Voicebot-Handoff"
FAILED = ("busy", "declined", "no_answer", "cancelled", "failed")


class AgentPhone(Protocol):
    """An outbound call to an agent (:class:`~voicebot.telephony.endpoint.OutboundChannel`)."""

    @property
    def outcome(self) -> str: ...

    @property
    def outcome_reason(self) -> str: ...

    @property
    def ringing(self) -> bool:
        """The phone said it rings (180/183)."""
        ...

    @property
    def ended(self) -> bool: ...

    @property
    def buffered_frames(self) -> int: ...

    def read_frame(self) -> np.ndarray | None: ...

    def write_frame(self, frame: np.ndarray) -> None: ...

    def hang_up(self) -> None: ...


#: Places a call: (SIP URI, caller user part, extra headers, ring timeout in seconds) -> the ringing leg.
Dial = Callable[[str, str, dict[str, str], float], AgentPhone]


@dataclass
class Callback:
    """A callback being placed, agent first: the agent's leg rings, then the caller's, then the two are joined."""

    offer: OfferInfo
    agent_leg: AgentPhone
    stage: str = "agent"  # agent (ringing the agent) -> caller (ringing the caller) -> joined
    caller_leg: AgentPhone | None = None
    number: str = ""


class CallbackCalls:
    def __init__(self, service: AcdService, dial: Dial, stop: threading.Event,
                 decline: Callable[[OfferInfo, str], None]) -> None:
        self.service = service
        self.dial = dial
        self.live = service.settings.live
        self._stop = stop  # the dispatcher's: a joined callback ends with it
        self._decline = decline
        self._runs: dict[int, Callback] = {}  # by offer id; only the dispatcher's thread (and a join) touch it

    def ringing_agents(self) -> set[int]:
        """Offer ids whose agent's phone is still ringing (the dispatcher stops those the ACD withdrew)."""
        return {o for o, run in list(self._runs.items()) if run.stage == "agent"}

    def withdrawn(self, offer_id: int, status: str) -> None:
        """The ACD withdrew this offer (logout, lapsed presence, expiry): the agent's phone stops ringing."""
        run = self._runs.pop(offer_id, None)
        if run is None:
            return
        log.info("callback %s: offer to %s %s: the phone stops ringing", run.offer.entry_id, run.offer.agent_login,
                 status)
        run.agent_leg.hang_up()

    def ring_agent(self, offer: OfferInfo) -> None:
        """A callback entry's offer: the agent's phone rings first (the caller is dialled once they answer)."""
        remaining = max(1.0, (offer.expires_at - self.service.now()).total_seconds())
        try:
            leg = self.dial(offer.sip_uri, self.live.agent_caller_id,
                            {HANDOFF_HEADER: str(offer.entry_id), "X-Voicebot-Callback": "1"}, remaining)
        except Exception as exc:
            log.warning("callback %s: calling agent %s failed (%s)", offer.entry_id, offer.agent_login, exc)
            self._decline(offer, f"unreachable: {exc}")
            return
        self._runs[offer.offer_id] = Callback(offer, leg)
        log.info("callback %s: ringing agent %s first", offer.entry_id, offer.agent_login)

    def poll(self) -> None:
        """One round over the callbacks being placed (the dispatcher's thread, every poll)."""
        for offer_id, run in list(self._runs.items()):
            offer = run.offer
            if run.stage == "agent":
                outcome = run.agent_leg.outcome
                if outcome in FAILED:
                    del self._runs[offer_id]
                    self._decline(offer, outcome)
                elif outcome == "answered":
                    self._call_the_caller(offer_id, run)
            elif run.stage == "caller":
                assert run.caller_leg is not None
                outcome = run.caller_leg.outcome
                if run.agent_leg.ended and not outcome:
                    run.caller_leg.hang_up()  # the agent gave up before the caller answered
                    outcome = "cancelled"
                if outcome == "answered":
                    run.stage = "joined"
                    self._callback_result(offer.entry_id, "answered", run.number)
                    threading.Thread(target=self._join, args=(offer_id, run), name=f"callback-{offer.entry_id}",
                                     daemon=True).start()
                elif outcome in FAILED:
                    del self._runs[offer_id]
                    run.agent_leg.hang_up()
                    result = {"declined": "busy", "cancelled": "no_answer"}.get(outcome, outcome)
                    self._callback_result(offer.entry_id, result, f"{run.number}: {run.caller_leg.outcome_reason}")

    def _call_the_caller(self, offer_id: int, run: Callback) -> None:
        offer = run.offer
        try:
            accepted = self.service.accept(offer.offer_id, offer.token)
        except AcdError as exc:  # StaleOffer, or a callback cancelled meanwhile
            log.info("callback %s: stale answer by %s (%s): BYE", offer.entry_id, offer.agent_login, exc)
            del self._runs[offer_id]
            run.agent_leg.hang_up()
            return
        run.number = accepted.callback_number or ""
        uri = self.live.callback_uri.format(number=run.number)
        try:
            run.caller_leg = self.dial(uri, self.live.agent_caller_id, {HANDOFF_HEADER: str(offer.entry_id)},
                                       self.live.callback_ring_seconds)
        except Exception as exc:
            del self._runs[offer_id]
            run.agent_leg.hang_up()
            self._callback_result(offer.entry_id, "failed", f"{uri}: {exc}")
            return
        run.stage = "caller"
        log.info("callback %s: agent %s answered; calling the caller at %s", offer.entry_id, offer.agent_login, uri)

    def _join(self, offer_id: int, run: Callback) -> None:
        assert run.caller_leg is not None
        frames = relay_legs(run.agent_leg, run.caller_leg, self._stop)
        try:
            self.service.complete(run.offer.entry_id, "callback call ended")
        except AcdError as exc:
            log.warning("callback %s: complete refused (%s)", run.offer.entry_id, exc)
        self._runs.pop(offer_id, None)
        log.info("callback %s: ended after %.1f s", run.offer.entry_id, frames * 0.02)

    def _callback_result(self, entry_id: int, outcome: str, detail: str) -> None:
        try:
            self.service.callback_result(entry_id, outcome, detail)
        except AcdError as exc:
            log.warning("callback %s: result %s refused (%s)", entry_id, outcome, exc)
        log.info("callback %s: %s (%s)", entry_id, outcome, detail)
