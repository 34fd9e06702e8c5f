"""The SIP endpoint: configuration, and one :class:`CallChannel` per answered call.

Nothing here imports pyVoIP: :mod:`voicebot.telephony.pyvoip_adapter` does.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from voicebot.telephony.pyvoip_adapter import AdapterCall, AdapterPhone, CallState, InvalidStateError

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
    #: dialled number (the user part of the To URI) -> flow file; ``default_flow`` answers every other number.
    flows: dict[str, Path] = field(default_factory=dict)
    default_flow: Path = Path("flows/banking.yaml")

    def __post_init__(self) -> None:
        if self.mode not in ("trunk", "register"):
            raise ValueError(f"mode must be trunk or register, not {self.mode!r}")
        if not 0 < self.rtp_port_low <= self.rtp_port_high < 65536:
            raise ValueError(f"bad RTP port range {self.rtp_port_low}-{self.rtp_port_high}")
        if self.max_calls < 1:
            raise ValueError("max_calls must be at least 1")

    def flow_for(self, dialled: str) -> Path:
        return self.flows.get(dialled, self.default_flow)


_USER = re.compile(r"sips?:([^@;>]+)@")


def _number(header: object) -> str:
    """The user part of a From/To header as pyVoIP parsed it (``number``), else from its raw text."""
    if isinstance(header, dict):
        number = header.get("number")
        if number:
            return str(number)
        found = _USER.search(str(header.get("raw", "")))
        return found.group(1) if found else ""
    return ""


class CallChannel:
    """One answered SIP call as the call loop sees it: 20 ms frames of int16 PCM in and out, and keys."""

    def __init__(self, call: AdapterCall) -> None:
        self._call = call
        headers = call.request.headers
        self.sip_call_id: str = str(call.call_id)
        self.caller_id: str = _number(headers.get("From"))
        self.dialled: str = _number(headers.get("To"))
        self._keys_lock = threading.Lock()

    def answer(self) -> None:
        self._call.answer()

    @property
    def codec(self) -> str:
        rtp = self._call.rtp
        return rtp.codec if rtp is not None else ""

    @property
    def ended(self) -> bool:
        return bool(self._call.state == CallState.ENDED)

    def read_frame(self) -> np.ndarray | None:
        rtp = self._call.rtp
        return rtp.read_frame() if rtp is not None and not self.ended else None

    def write_frame(self, frame: np.ndarray) -> None:
        rtp = self._call.rtp
        if rtp is not None and not self.ended:
            rtp.send_frame(frame)

    def keys(self) -> str:
        """DTMF keys received since the last call."""
        with self._keys_lock:
            return str(self._call.get_dtmf(1024))

    def hang_up(self) -> None:
        """Send BYE (if the call is still up)."""
        if self._call.state == CallState.ANSWERED:
            with contextlib.suppress(InvalidStateError):
                self._call.hangup()

    @property
    def stats(self) -> dict[str, int]:
        rtp = self._call.rtp
        if rtp is None:
            return {}
        return {"rx_packets": rtp.rx_packets, "tx_packets": rtp.tx_packets, "dropped": rtp.dropped,
                "rtp_port": int(rtp.inPort)}


class SipEndpoint:
    """Listens for SIP calls; each answered call runs ``on_call(channel)`` in its own thread.

    ``on_call`` runs while the call lasts; when it returns the call is hung up (BYE) if still up, and its
    RTP socket, thread and port are released.
    """

    def __init__(self, config: SipConfig, on_call: Callable[[CallChannel], None]) -> None:
        self.config = config
        self.on_call = on_call
        self.accepting = True
        registrar = (config.registrar_host, config.registrar_port) if config.mode == "register" else None
        self.phone = AdapterPhone(
            host=config.host, sip_port=config.sip_port, rtp_low=config.rtp_port_low, rtp_high=config.rtp_port_high,
            on_call=self._handle, trunk=config.mode == "trunk", registrar=registrar,
            username=config.username, password=config.password, max_calls=config.max_calls,
        )
        self._started = False

    @property
    def sip_port(self) -> int:
        return self.phone.sip_port

    def start(self) -> None:
        self.phone.start()
        self._started = True
        log.info("SIP endpoint (%s) listening on %s:%d, RTP %d-%d", self.config.mode, self.config.host,
                 self.sip_port, self.config.rtp_port_low, self.config.rtp_port_high)

    def stop_accepting(self) -> None:
        """New INVITEs get 486 Busy Here from now on; calls in progress continue."""
        self.accepting = False
        self.phone.max_calls = 0

    def active_calls(self) -> int:
        return self.phone.active_calls()

    def wait_calls(self, timeout: float) -> bool:
        """Wait for the calls in progress to end; True if all did."""
        for thread in list(self.phone.call_threads.values()):
            thread.join(timeout)
        return self.active_calls() == 0

    def stop(self) -> None:
        """Stop at once: calls still up get BYE, the SIP socket closes."""
        self.accepting = False
        if self._started:
            self.phone.stop()
            self._started = False
        for thread in list(self.phone.call_threads.values()):
            thread.join(2.0)

    def _handle(self, call: AdapterCall) -> None:
        channel = CallChannel(call)
        if not self.accepting:  # shutting down: an INVITE that slipped in gets 486 Busy Here
            with contextlib.suppress(InvalidStateError):
                call.deny()
            return
        try:
            channel.answer()
        except InvalidStateError:
            log.info("call %s ended before it was answered", channel.sip_call_id)
            return
        log.info("call %s from %r to %r answered (%s)", channel.sip_call_id, channel.caller_id, channel.dialled,
                 channel.codec)
        self.on_call(channel)
