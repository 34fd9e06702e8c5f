"""One SIP call (a dialog and its media), in either direction, as the user agent keeps it.

States: ``CALLING`` (our INVITE sent) -> ``RINGING`` (an INVITE received, or a 1xx to ours) -> ``ANSWERED`` ->
``ENDED``. Every change of state happens under the call's lock, and a state is set *before* the message that
announces it leaves: a CANCEL racing the answer sees either RINGING (it wins: 487, and :meth:`answer` refuses) or
ANSWERED (it loses: 200 to the CANCEL only). One final response per INVITE, whatever the timing.
"""

from __future__ import annotations

import enum
import logging
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from voicebot.telephony import sip_message as sm
from voicebot.telephony.rtp import RtpStream
from voicebot.telephony.timers import Timer

if TYPE_CHECKING:
    from voicebot.telephony.sip_ua import UserAgent

log = logging.getLogger("voicebot.sip")

#: The methods the user agent implements (everything else gets 501, REGISTER 405, with this in Allow).
IMPLEMENTED = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
ALLOW = ", ".join(IMPLEMENTED)


def new_tag() -> str:
    return secrets.token_hex(6)


class CallState(enum.Enum):
    CALLING = "calling"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class CallEnded(RuntimeError):
    """The call ended (cancelled, hung up) before the operation could take place."""


@dataclass
class Dialog:
    """What in-dialog requests need (RFC 3261 12)."""

    call_id: str
    local_tag: str
    remote_tag: str = ""
    local_header: str = ""  # our side's From (outbound) / To (inbound) header value, with our tag
    remote_header: str = ""  # the peer's, with its tag once known
    remote_target: str = ""  # the peer's Contact URI
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = field(default_factory=lambda: random.randint(1, 10000))
    remote_cseq: int = -1


class SipCall:
    def __init__(self, ua: UserAgent, dialog: Dialog, *, direction: str, state: CallState) -> None:
        self.ua = ua
        self.dialog = dialog
        self.direction = direction  # "in" or "out"
        self.state = state
        self.lock = threading.RLock()
        self.rtp: RtpStream | None = None
        self.session_id = random.randint(1, 2**31)
        self.local_sdp = b""
        self.invite: sm.Message | None = None  # the INVITE that made the call (theirs, or ours)
        self.invite_source: tuple[str, int] = ("", 0)
        self.final_response = b""  # our final response to their INVITE (resent on its retransmissions)
        self.ringing = b""  # our 180 (resent on retransmissions of their INVITE until the final response)
        self.acked = False
        #: branches of our requests (BYE, CANCEL) that got a response: their retransmission stops.
        self.responded: set[str] = set()
        #: outbound calls: answered, busy, declined, no_answer, cancelled or failed (with ``outcome_reason``).
        self.outcome = ""
        self.outcome_reason = ""
        self.settled = threading.Event()  # the outcome is known
        self.end_reason = ""
        self.ended = threading.Event()
        self.on_end: list[Callable[[SipCall], None]] = []
        self._keys: list[str] = []
        self._keys_lock = threading.Lock()
        self.timers: list[Timer] = []
        self.caller_id = ""
        self.dialled = ""

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    # ----- keys (RFC 4733 from the RTP stream, SIP INFO from the UA) -------------------------------------

    def add_key(self, key: str) -> None:
        with self._keys_lock:
            self._keys.append(key)

    def keys_pending(self) -> str:
        with self._keys_lock:
            return "".join(self._keys)

    def take_keys(self) -> str:
        with self._keys_lock:
            keys, self._keys = "".join(self._keys), []
        return keys

    # ----- media ------------------------------------------------------------------------------------------

    def read_frame(self) -> np.ndarray | None:
        rtp = self.rtp
        return rtp.read_frame() if rtp is not None and self.state != CallState.ENDED else None

    def write_frame(self, frame: np.ndarray) -> None:
        rtp = self.rtp
        if rtp is not None and self.state == CallState.ANSWERED:
            rtp.send_frame(frame)

    # ----- answering (inbound) ----------------------------------------------------------------------------

    def answer(self) -> None:
        """Send 200 OK with our SDP; raises :class:`CallEnded` if the call was cancelled or ended first."""
        self.ua.answer(self)

    def reject(self, status: int, reason: str) -> None:
        """A final non-2xx response to a ringing inbound call (e.g. 486 while shutting down)."""
        self.ua.reject(self, status, reason)

    def hang_up(self) -> None:
        """BYE if answered, CANCEL or a final response if still ringing; the call ends at once either way."""
        self.ua.hang_up(self)

    # ----- the end ----------------------------------------------------------------------------------------

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def finish(self, reason: str) -> bool:
        """Mark the call ended (under its lock), stop its timers and media; False if it had already ended."""
        with self.lock:
            if self.state == CallState.ENDED:
                return False
            self.state = CallState.ENDED
            self.end_reason = reason
            self.cancel_timers()
        for callback in list(self.on_end):  # first: the call's max_calls slot is free at once
            try:
                callback(self)
            except Exception:
                log.exception("call %s: end callback failed", self.call_id)
        if self.rtp is not None:
            self.rtp.close()
        self.ended.set()
        return True
