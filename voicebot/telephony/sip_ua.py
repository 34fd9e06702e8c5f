"""The SIP user agent: every datagram is parsed here first (no third-party parser drops anything unseen), requests
are checked (:func:`sip_message.check_request`) and answered, and calls are kept in :attr:`UserAgent.calls`.

What is answered with what (docs/operators-guide.md, "SIP behaviour", is the operator's version):

* INVITE: 180 and a call thread at once; 486 beyond ``max_calls`` or while shutting down; 415 (with ``Accept``)
  for a body that is not ``application/sdp``; 488 for no offer or an offer we cannot take (port 0, not IP4, no
  G.711); 406 when its ``Accept`` excludes SDP. In-dialog: 200 with the session
  unchanged. The 200 is retransmitted (T1 doubling to T2) until the ACK; no ACK within 64*T1: BYE.
* CANCEL: 200, then 487 to the INVITE if it still rings (one final response per INVITE, under the call's lock);
  BYE: 200 and the call ends in any state; both 481 for an unknown dialog.
* INFO: 200, DTMF in ``application/dtmf-relay`` or ``application/dtmf`` becomes keys; UPDATE: 200 (with our
  unchanged SDP if it carried an offer); OPTIONS: 200 with Allow, Accept, Supported once the request parsed.
* REGISTER: 405 with Allow; every other method: 501 with Allow; any ``Require``: 420 with ``Unsupported`` (we
  support no extension). Bad requests: 400 naming what was wrong, 505 for
  another SIP version, 416 for a Request-URI scheme other than sip/sips/tel. Unparseable datagrams are dropped
  with a rate-limited warning. Responses go where the request came from (RFC 3581: ``received``/``rport``).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicebot.logs import call_log_context
from voicebot.telephony import sip_message as sm
from voicebot.telephony.inbound import Answerer
from voicebot.telephony.outbound import Dialer
from voicebot.telephony.ratelimit import RateLimitedLog
from voicebot.telephony.register import Registration
from voicebot.telephony.rtp import PortPool
from voicebot.telephony.sip_call import ALLOW, IMPLEMENTED, CallState, SipCall, new_tag
from voicebot.telephony.sip_info import dtmf_from_info
from voicebot.telephony.sip_transport import UdpTransport
from voicebot.telephony.timers import Scheduler

log = logging.getLogger("voicebot.sip")

USER_AGENT = "voicebot"
RECENT_S = 32.0  # an ended call is remembered this long, for retransmissions of its last requests


@dataclass
class UaConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    rtp_low: int = 30000
    rtp_high: int = 30999
    trunk: bool = True
    registrar: tuple[str, int] | None = None
    username: str = "voicebot"
    password: str = ""
    max_calls: int = 20
    #: RFC 3261 timers (T1 is configurable so that tests of the 32 s ACK timeout run fast).
    t1: float = 0.5
    t2: float = 4.0
    register_expires: int = 300
    #: Networks whose INVITEs start calls (a trunk's PBX or SBC); empty: any source. Others get 403.
    allowed_sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


class UserAgent:
    def __init__(self, config: UaConfig, on_call: Callable[[SipCall], None]) -> None:
        self.config = config
        self.on_call = on_call
        self.max_calls = config.max_calls
        self.accepting = True
        self.warn = RateLimitedLog(log)
        self.transport = UdpTransport(config.host, config.port, self.on_datagram)
        self.scheduler = Scheduler()
        self.ports = PortPool(config.host, config.rtp_low, config.rtp_high)
        self.lock = threading.RLock()
        self.calls: dict[str, SipCall] = {}
        self.call_threads: dict[str, threading.Thread] = {}
        self.recent: dict[str, tuple[float, SipCall]] = {}  # ended calls, for retransmissions
        self.dialer = Dialer(self)
        self.inbound = Answerer(self)
        self.registration = None if config.trunk else Registration(self)
        self.invalid_requests = 0  # requests refused by check_request (the fuzz test reads it)

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.transport.port

    @property
    def t1(self) -> float:
        return self.config.t1

    def start(self) -> None:
        self.transport.start()
        if self.registration is not None:
            self.registration.start()
        self.scheduler.after(self.warn.interval, self._flush_warnings)

    def _flush_warnings(self) -> None:
        """Every interval: the counts of suppressed warnings reach the log even when the flood has stopped."""
        self.warn.flush()
        self.scheduler.after(self.warn.interval, self._flush_warnings)

    def stop(self) -> None:
        """BYE (or a final response / CANCEL) to every call still up, de-register, close the socket."""
        self.accepting = False
        for call in list(self.calls.values()):
            self.hang_up(call)
        if self.registration is not None:
            self.registration.stop()
        self.scheduler.stop()
        self.transport.stop()

    def active_calls(self) -> int:
        """Calls holding a ``max_calls`` slot: every call not ended (an ended call frees its slot at once)."""
        with self.lock:
            return sum(1 for call in self.calls.values() if call.direction == "in")

    # ----- sending ----------------------------------------------------------------------------------------

    def respond(self, request: sm.Message, source: tuple[str, int], status: int, reason: str, *, to_tag: str = "",
                headers: list[tuple[str, str]] | None = None, body: bytes = b"", send: bool = True) -> bytes:
        """Build a response and (unless ``send`` is False) send it where the request came from (RFC 3581)."""
        extra = [("User-Agent", USER_AGENT), *(headers or [])]
        if status in (405, 501) or (request.method == "OPTIONS" and status == 200):
            extra.append(("Allow", ALLOW))
        data = sm.response(request, status, reason, to_tag=to_tag or (new_tag() if status > 100 else ""),
                           source=source, headers=extra, body=body)
        if send:
            self.transport.send(data, source)
        return data

    def contact(self) -> str:
        return f"<sip:{self.config.username}@{self.host}:{self.port}>"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport"

    def request_target(self, uri: str, route_set: list[str] | None = None) -> tuple[str, int]:
        """Where a request we send goes: the registrar/proxy in register mode, else the first route or the URI."""
        if self.config.registrar is not None and not self.config.trunk:
            return self.config.registrar
        if route_set:
            return sm.hostport(sm.uri_of(route_set[0]))
        return sm.hostport(uri)

    def dialog_request(self, call: SipCall, method: str, *, cseq: int | None = None,
                       branch: str | None = None) -> tuple[bytes, tuple[str, int], str]:
        d = call.dialog
        if cseq is None:
            d.local_cseq += 1
            cseq = d.local_cseq
        branch = branch or "z9hG4bK" + secrets.token_hex(8)
        uri = d.remote_target or sm.uri_of(d.remote_header)
        headers = [("Via", self.via(branch)), ("Max-Forwards", "70"), ("From", d.local_header),
                   ("To", d.remote_header), ("Call-ID", d.call_id), ("CSeq", f"{cseq} {method}")]
        headers += [("Route", route) for route in d.route_set]
        headers.append(("User-Agent", USER_AGENT))
        return sm.request_bytes(method, uri, headers), self.request_target(uri, d.route_set), branch

    def send_reliably(self, call: SipCall, data: bytes, dest: tuple[str, int], *, interval: float | None = None,
                      started: float | None = None) -> None:
        """A non-INVITE request: retransmitted T1 doubling to T2 until ``call.responded`` has its branch, at most
        64*T1 (RFC 3261 17.1.2)."""
        branch = sm.param(sm.parse(data).get("via"), "branch")
        interval = interval or self.t1
        started = started if started is not None else time.monotonic()
        if branch in call.responded or time.monotonic() - started >= 64 * self.t1:
            return
        self.transport.send(data, dest)
        self.scheduler.after(interval, lambda: self.send_reliably(call, data, dest,
                                                                  interval=min(interval * 2, self.config.t2),
                                                                  started=started))

    # ----- receiving --------------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive (RFC 5626 CRLF)
        try:
            msg = sm.parse(data)
        except sm.Unparseable as exc:
            self.warn.warning("sip-unparseable", "dropped a malformed SIP datagram from %s:%d (%s)",
                              source[0], source[1], exc)
            return
        # What handling it logs carries its Call-ID (a call's SIP lines in JSON logs: BYE, re-INVITE, CANCEL...).
        with call_log_context(sip_call_id=msg.call_id):
            if msg.is_request:
                self.on_request(msg, source)
            else:
                self.on_response(msg, source)

    def on_response(self, msg: sm.Message, source: tuple[str, int]) -> None:
        if not msg.call_id or msg.cseq[0] < 0 or not msg.get("via"):
            self.warn.warning("sip-bad-response", "dropped a malformed SIP response from %s:%d", *source)
            return
        if self.dialer.on_response(msg, source):
            return
        if self.registration is not None and self.registration.on_response(msg):
            return
        with self.lock:
            call = self.calls.get(msg.call_id) or self.recent_call(msg.call_id)
        if call is not None:
            call.responded.add(msg.branch)  # answers our BYE (or CANCEL): stop retransmitting it
            return
        log.debug("a response to no transaction of ours: %s", msg.summary())

    def on_request(self, msg: sm.Message, source: tuple[str, int]) -> None:
        if msg.method == "ACK":
            self.inbound.ack(msg)
            return
        if not msg.get("via") or not msg.get("cseq"):
            # Without a Via and a CSeq no response can be matched by the sender: a silent drop.
            missing = [name.title() for name in ("via", "cseq") if not msg.get(name)]
            self.warn.warning("sip-missing", "dropped a SIP message without %s from %s:%d",
                              ", ".join(missing), source[0], source[1])
            return
        refusal = sm.check_request(msg, methods=IMPLEMENTED)
        if refusal is None and msg.method != "CANCEL" and msg.all("require"):
            # RFC 3261 8.2.2.3: we support no extension, so any Require is refused (RFC 4475 3.3.1)
            refusal = (420, "Bad Extension")
        if refusal is not None:
            self.invalid_requests += 1
            self.warn.warning("sip-refused", "refused %s from %s:%d: %d %s", msg.method[:20], source[0],
                              source[1], *refusal)
            extra = [("Unsupported", ", ".join(msg.all("require")))] if refusal[0] == 420 else []
            self.respond(msg, source, *refusal, headers=extra)
            return
        if msg.method == "INVITE" and not self.allowed(source[0]):
            # Only the trunk's own peers start calls: an INVITE from anywhere else would have voicebot send a
            # call's audio wherever its SDP points until the caller's media latches (issue 8, item 6).
            self.warn.warning("sip-forbidden", "refused an INVITE from %s:%d: not in sip.allowed_sources",
                              source[0], source[1])
            self.respond(msg, source, 403, "Forbidden")
            return
        handler = {"INVITE": self.inbound.invite, "BYE": self._bye, "CANCEL": self.inbound.cancel,
                   "OPTIONS": self._options,
                   "INFO": self._info, "UPDATE": self._update}.get(msg.method)
        if handler is not None:
            handler(msg, source)
        elif msg.method == "REGISTER":
            self.respond(msg, source, 405, "Method Not Allowed")
        else:
            self.respond(msg, source, 501, "Not Implemented")

    def allowed(self, host: str) -> bool:
        """Whether an INVITE from ``host`` may start a call (``UaConfig.allowed_sources``; empty: any)."""
        networks = self.config.allowed_sources
        if not networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in networks)

    def recent_call(self, call_id: str) -> SipCall | None:
        now = time.monotonic()
        self.recent = {k: v for k, v in self.recent.items() if now - v[0] < RECENT_S}
        found = self.recent.get(call_id)
        return found[1] if found else None

    def _dialog_call(self, msg: sm.Message) -> SipCall | None:
        """The call an in-dialog request belongs to: its Call-ID, and our tag in its To."""
        with self.lock:
            call = self.calls.get(msg.call_id)
        if call is None or msg.to_tag != call.dialog.local_tag:
            return None
        return call

    def answer(self, call: SipCall) -> None:
        self.inbound.answer(call)

    def reject(self, call: SipCall, status: int, reason: str) -> None:
        self.inbound.reject(call, status, reason)

    def hang_up(self, call: SipCall, reason: str = "hung up") -> None:
        with call.lock:
            state = call.state
            if state == CallState.ENDED:
                return
            if state == CallState.ANSWERED:
                data, dest, _ = self.dialog_request(call, "BYE")
                call.finish(reason)
        if state == CallState.ANSWERED:
            self.send_reliably(call, data, dest)  # (outside the call's lock)
            return
        if call.direction == "in":
            self.reject(call, 480, "Temporarily Unavailable")
        else:
            self.dialer.cancel(call, outcome="cancelled")

    def _bye(self, msg: sm.Message, source: tuple[str, int]) -> None:
        call = self._dialog_call(msg)
        if call is None:
            with self.lock:
                old = self.recent_call(msg.call_id)
            if old is not None and msg.to_tag == old.dialog.local_tag:
                self.respond(msg, source, 200, "OK")  # a retransmission of the BYE that ended it
            else:
                self.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        with call.lock:
            if call.state == CallState.RINGING and call.direction == "in" and call.invite is not None:
                call.final_response = self.respond(call.invite, call.invite_source, 487, "Request Terminated",
                                                   to_tag=call.dialog.local_tag, send=False)
                call.finish("caller hung up")
                self.transport.send(call.final_response, call.invite_source)
            call.finish("caller hung up" if call.direction == "in" else "callee hung up")
        self.respond(msg, source, 200, "OK")  # after the call ended: its slot is already free
        log.info("call %s: BYE received", call.call_id)

    def forget(self, call: SipCall) -> None:
        """An ended call frees its ``max_calls`` slot at once (its thread may still be finishing)."""
        with self.lock:
            if self.calls.get(call.call_id) is call:
                del self.calls[call.call_id]
            self.recent[call.call_id] = (time.monotonic(), call)

    # ----- OPTIONS, INFO, UPDATE --------------------------------------------------------------------------

    def _options(self, msg: sm.Message, source: tuple[str, int]) -> None:
        self.respond(msg, source, 200, "OK", headers=[("Accept", "application/sdp"), ("Supported", "")])

    def _info(self, msg: sm.Message, source: tuple[str, int]) -> None:
        call = self._dialog_call(msg)
        if call is None:
            self.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        if not msg.body:
            self.respond(msg, source, 200, "OK")
            return
        keys = dtmf_from_info(msg.content_type, msg.body)
        if keys is None:
            self.respond(msg, source, 415, "Unsupported Media Type",
                         headers=[("Accept", "application/dtmf-relay, application/dtmf")])
            return
        for key in keys:
            call.add_key(key)
        self.respond(msg, source, 200, "OK")

    def _update(self, msg: sm.Message, source: tuple[str, int]) -> None:
        call = self._dialog_call(msg)
        if call is None:
            self.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        body = call.local_sdp if msg.body and msg.content_type == "application/sdp" else b""
        self.respond(msg, source, 200, "OK", body=body)
