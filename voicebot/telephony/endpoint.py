"""The SIP endpoint: configuration, one :class:`CallChannel` per answered call, and outbound calls.

The SIP layer is :mod:`voicebot.telephony.sip_ua` (messages, dialogs), :mod:`voicebot.telephony.rtp` (media) and
:mod:`voicebot.telephony.outbound` (our INVITEs); this module is what the rest of voicebot sees of it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from voicebot.logs import call_log_context
from voicebot.telephony.sip_call import CallEnded, CallState, SipCall
from voicebot.telephony.sip_ua import UaConfig, UserAgent

log = logging.getLogger("voicebot.sip")

Mode = Literal["trunk", "register"]


@dataclass
class SipConfig:
    """Where and how the endpoint listens, and which flow answers which dialled number."""

    host: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_port_low: int = 30000
    rtp_port_high: int = 30999
    mode: Mode = "trunk"
    registrar_host: str = "127.0.0.1"
    registrar_port: int = 5060
    username: str = "voicebot"
    password: str = ""
    max_calls: int = 20
    #: RFC 3261 T1 in seconds (200 OK retransmission, ACK timeout 64*T1): configurable for tests only.
    t1: float = 0.5
    #: dialled number (the user part of the To URI) -> flow file; ``default_flow`` answers every other number.
    flows: dict[str, Path] = field(default_factory=dict)
    default_flow: Path = Path("flows/banking.yaml")
    #: Networks (CIDR or single addresses) whose INVITEs are answered; empty: any source.
    allowed_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("trunk", "register"):
            raise ValueError(f"mode must be trunk or register, not {self.mode!r}")
        if not 0 < self.rtp_port_low <= self.rtp_port_high < 65536:
            raise ValueError(f"bad RTP port range {self.rtp_port_low}-{self.rtp_port_high}")
        if self.max_calls < 1:
            raise ValueError("max_calls must be at least 1")

    def flow_for(self, dialled: str) -> Path:
        return self.flows.get(dialled, self.default_flow)


class CallChannel:
    """One SIP call as the call loop sees it: 20 ms frames of int16 PCM in and out, keys, hang-up.

    ``end_requested`` is the shutdown hook: :meth:`SipEndpoint.request_end` sets it on every live call, and the
    call's owner may play a goodbye before it calls :meth:`hang_up` (the endpoint sends BYE itself when the
    shutdown deadline passes).
    """

    def __init__(self, call: SipCall) -> None:
        self._call = call
        self.sip_call_id: str = call.call_id
        self.caller_id: str = call.caller_id
        self.dialled: str = call.dialled
        self.end_requested = threading.Event()

    @property
    def call(self) -> SipCall:
        return self._call

    def answer(self) -> None:
        self._call.answer()

    @property
    def codec(self) -> str:
        rtp = self._call.rtp
        return rtp.codec if rtp is not None else ""

    @property
    def ended(self) -> bool:
        return self._call.state == CallState.ENDED

    def read_frame(self) -> np.ndarray | None:
        return self._call.read_frame()

    def write_frame(self, frame: np.ndarray) -> None:
        self._call.write_frame(frame)

    def keys(self) -> str:
        """DTMF keys received (RFC 4733 and SIP INFO) since the last call."""
        return self._call.take_keys()

    def hang_up(self) -> None:
        """End the call: BYE if answered (CANCEL or a final response before that); no-op once ended."""
        self._call.hang_up()

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._call.ended.wait(timeout)

    @property
    def buffered_frames(self) -> int:
        """Whole 20 ms frames received and not read yet."""
        rtp = self._call.rtp
        return rtp.buffered_samples // 160 if rtp is not None else 0

    @property
    def stats(self) -> dict[str, int]:
        rtp = self._call.rtp
        return rtp.stats if rtp is not None else {}


class OutboundChannel(CallChannel):
    """An outbound call (:meth:`SipEndpoint.dial`): the channel surface plus its outcome.

    ``outcome``: "" while ringing, then answered, busy, declined, no_answer, cancelled or failed
    (``outcome_reason`` says why: the status line, "no response", ...).
    """

    def wait_outcome(self, timeout: float | None = None) -> str:
        """Wait until the call is answered or has failed; the outcome ("" if still undecided at the timeout)."""
        self._call.settled.wait(timeout)
        return self.outcome

    @property
    def outcome(self) -> str:
        return self._call.outcome

    @property
    def outcome_reason(self) -> str:
        return self._call.outcome_reason

    @property
    def ringing(self) -> bool:
        """The far end sent 180/183 and has not answered yet."""
        return self._call.state == CallState.RINGING


class SipEndpoint:
    """Listens for SIP calls; each answered call runs ``on_call(channel)`` in its own thread.

    ``on_call`` runs while the call lasts; when it returns the call is hung up (BYE) if still up, and its
    RTP socket, thread and port are released. An ended call frees its ``max_calls`` slot at once.
    """

    def __init__(self, config: SipConfig, on_call: Callable[[CallChannel], None]) -> None:
        self.config = config
        self.on_call = on_call
        self.accepting = True
        registrar = (config.registrar_host, config.registrar_port) if config.mode == "register" else None
        self.ua = UserAgent(UaConfig(
            host=config.host, port=config.sip_port, rtp_low=config.rtp_port_low, rtp_high=config.rtp_port_high,
            trunk=config.mode == "trunk", registrar=registrar, username=config.username, password=config.password,
            max_calls=config.max_calls, t1=config.t1,
            allowed_sources=tuple(ipaddress.ip_network(n, strict=False) for n in config.allowed_sources),
        ), self._handle)
        self.channels: dict[str, CallChannel] = {}
        self._ending = False
        self._started = False

    @property
    def sip_port(self) -> int:
        return self.ua.port

    def start(self) -> None:
        self.ua.start()
        self._started = True
        log.info("SIP endpoint (%s) listening on %s:%d, RTP %d-%d", self.config.mode, self.config.host,
                 self.sip_port, self.config.rtp_port_low, self.config.rtp_port_high)

    def stop_accepting(self) -> None:
        """New INVITEs get 486 Busy Here from now on; calls in progress continue."""
        self.accepting = False
        self.ua.accepting = False

    def active_calls(self) -> int:
        return self.ua.active_calls()

    def request_end(self) -> None:
        """Shutdown hook: ask every live call's owner to finish (``channel.end_requested``), e.g. with a goodbye."""
        self._ending = True
        for channel in list(self.channels.values()):
            channel.end_requested.set()

    def wait_calls(self, timeout: float) -> bool:
        """Wait, ``timeout`` seconds in total for all of them, for the calls in progress to end; True if all did."""
        deadline = time.monotonic() + timeout
        for thread in list(self.ua.call_threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in list(self.ua.call_threads.values()))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop now: calls still up get BYE, the SIP socket closes; call threads get ``timeout`` s in total."""
        self.accepting = False
        if self._started:
            self.ua.stop()
            self._started = False
        self.wait_calls(timeout)

    def dial(self, target: str, *, caller: str = "", headers: dict[str, str] | None = None,
             ring_timeout: float = 15.0) -> OutboundChannel:
        """Place an outbound call to a SIP URI (``sip:agent@host:port``): trunk mode sends the INVITE there,
        register mode through the registrar/proxy. ``headers``: extra headers (``X-Voicebot-Handoff``).
        Returns at once; :meth:`OutboundChannel.wait_outcome` waits for the answer or the failure."""
        call = self.ua.dialer.dial(target, caller=caller, headers=list((headers or {}).items()),
                                   ring_timeout=ring_timeout)
        return OutboundChannel(call)

    def _handle(self, call: SipCall) -> None:
        channel = CallChannel(call)
        if not self.accepting:  # shutting down: an INVITE that slipped in gets 486 Busy Here
            call.reject(486, "Busy Here")
            return
        self.channels[call.call_id] = channel  # before the answer: request_end() must not miss it
        if self._ending:
            channel.end_requested.set()
        try:
            with call_log_context(sip_call_id=channel.sip_call_id):  # the call's lines carry it (JSON logs)
                try:
                    channel.answer()
                except CallEnded:
                    log.info("call %s ended before it was answered", channel.sip_call_id)
                    return
                log.info("call %s from %r to %r answered (%s)", channel.sip_call_id, channel.caller_id,
                         channel.dialled, channel.codec)
                self.on_call(channel)
        finally:
            self.channels.pop(call.call_id, None)
