"""The SIP user agent: every datagram is parsed here first (no third-party parser drops anything unseen), requests
are checked (:func:`sip_message.check_request`) and answered, and calls are kept in :attr:`UserAgent.calls`.

What is answered with what (docs/operators-guide.md, "SIP behaviour", is the operator's version):

* INVITE: 180 and a call thread at once; 486 beyond ``max_calls`` or while shutting down; 415 (with ``Accept``)
  for a body that is not ``application/sdp``; 488 for no offer or an offer we cannot take (port 0, not IP4, no
  G.711); 420 (with ``Unsupported``) for a ``Require``; 400 without ``Contact``. In-dialog: 200 with the session
  unchanged. The 200 is retransmitted (T1 doubling to T2) until the ACK; no ACK within 64*T1: BYE.
* CANCEL: 200, then 487 to the INVITE if it still rings (one final response per INVITE, under the call's lock);
  BYE: 200 and the call ends in any state; both 481 for an unknown dialog.
* INFO: 200, DTMF in ``application/dtmf-relay`` or ``application/dtmf`` becomes keys; UPDATE: 200 (with our
  unchanged SDP if it carried an offer); OPTIONS: 200 with Allow, Accept, Supported once the request parsed.
* REGISTER: 405 with Allow; every other method: 501 with Allow. Bad requests: 400 naming what was wrong, 505 for
  another SIP version, 416 for a Request-URI scheme other than sip/sips/tel. Unparseable datagrams are dropped
  with a rate-limited warning. Responses go where the request came from (RFC 3581: ``received``/``rport``).
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicebot.telephony import sdp
from voicebot.telephony import sip_message as sm
from voicebot.telephony.outbound import Dialer
from voicebot.telephony.ratelimit import RateLimitedLog
from voicebot.telephony.register import Registration
from voicebot.telephony.rtp import NoPortsAvailable, PortPool, RtpStream
from voicebot.telephony.sip_call import CallEnded, CallState, Dialog, SipCall
from voicebot.telephony.sip_info import dtmf_from_info
from voicebot.telephony.sip_transport import UdpTransport
from voicebot.telephony.timers import Scheduler

log = logging.getLogger("voicebot.sip")

IMPLEMENTED = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
ALLOW = ", ".join(IMPLEMENTED)
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


def new_tag() -> str:
    return secrets.token_hex(6)


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
            call = self.calls.get(msg.call_id) or self._recent(msg.call_id)
        if call is not None:
            call.responded.add(msg.branch)  # answers our BYE (or CANCEL): stop retransmitting it
            return
        log.debug("a response to no transaction of ours: %s", msg.summary())

    def on_request(self, msg: sm.Message, source: tuple[str, int]) -> None:
        if msg.method == "ACK":
            self._ack(msg)
            return
        missing = [name for name in sm.REQUIRED if not msg.get(name)]
        if missing:
            # Without these headers no response can be built: a silent drop (RFC 4475 allows it).
            self.warn.warning("sip-missing", "dropped a SIP message without %s from %s:%d",
                              ", ".join(h.title() for h in missing), source[0], source[1])
            return
        refusal = sm.check_request(msg, methods=IMPLEMENTED)
        if refusal is None and msg.method == "INVITE" and not msg.get("contact"):
            refusal = (400, "Missing Contact")
        if refusal is not None:
            self.invalid_requests += 1
            self.warn.warning("sip-refused", "refused %s from %s:%d: %d %s", msg.method[:20], source[0],
                              source[1], *refusal)
            self.respond(msg, source, *refusal)
            return
        handler = {"INVITE": self._invite, "BYE": self._bye, "CANCEL": self._cancel, "OPTIONS": self._options,
                   "INFO": self._info, "UPDATE": self._update}.get(msg.method)
        if handler is not None:
            handler(msg, source)
        elif msg.method == "REGISTER":
            self.respond(msg, source, 405, "Method Not Allowed")
        else:
            self.respond(msg, source, 501, "Not Implemented")

    def _recent(self, call_id: str) -> SipCall | None:
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

    # ----- INVITE -----------------------------------------------------------------------------------------

    def _invite(self, msg: sm.Message, source: tuple[str, int]) -> None:
        with self.lock:
            call = self.calls.get(msg.call_id) or self._recent(msg.call_id)
        if call is not None:
            if msg.to_tag and msg.to_tag == call.dialog.local_tag:
                self._reinvite(call, msg, source)
            elif call.invite is not None and call.direction == "in" and msg.branch == call.invite.branch:
                self._resend_invite_response(call, source)  # a retransmission of the INVITE
            else:
                self.respond(msg, source, 482, "Loop Detected")
            return
        if msg.to_tag:
            self.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        if msg.all("require"):
            self.respond(msg, source, 420, "Bad Extension", headers=[("Unsupported", ", ".join(msg.all("require")))])
            return
        if msg.body and msg.content_type != "application/sdp":
            log.warning("call %s: INVITE body is %r: 415", msg.call_id[:40], msg.content_type)
            self.respond(msg, source, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        try:
            offer = sdp.parse(msg.body) if msg.body else None
        except sdp.SdpError as exc:
            log.warning("call %s: offer refused (%s): 488", msg.call_id[:40], exc)
            self.respond(msg, source, 488, "Not Acceptable Here", headers=[("Warning", f'304 voicebot "{exc}"')])
            return
        if offer is None:
            log.warning("call %s: INVITE without an SDP offer: 488", msg.call_id[:40])
            self.respond(msg, source, 488, "Not Acceptable Here", headers=[("Warning", '304 voicebot "no offer"')])
            return
        with self.lock:
            if not self.accepting or self.active_calls() >= self.max_calls:
                log.warning("call %s: %d calls in progress (max %d): 486 Busy Here", msg.call_id[:40],
                            self.active_calls(), self.max_calls)
                self.respond(msg, source, 486, "Busy Here")
                return
            try:
                sock = self.ports.open()
            except NoPortsAvailable:
                log.warning("call %s: no free RTP port: 486 Busy Here", msg.call_id[:40])
                self.respond(msg, source, 486, "Busy Here")
                return
            call = self._new_inbound(msg, source, offer, sock)
        call.ringing = self.respond(msg, source, 180, "Ringing", to_tag=call.dialog.local_tag,
                                    headers=[("Contact", self.contact())])
        thread = threading.Thread(target=self._run_call, args=(call,), name=f"call-{call.call_id[:24]}", daemon=True)
        self.call_threads[call.call_id] = thread
        thread.start()

    def _new_inbound(self, msg: sm.Message, source: tuple[str, int], offer: sdp.MediaOffer,
                     sock: socket.socket) -> SipCall:
        local_tag = new_tag()
        dialog = Dialog(msg.call_id, local_tag, remote_tag=msg.from_tag,
                        local_header=f"{msg.get('to')};tag={local_tag}", remote_header=msg.get("from"),
                        remote_target=sm.uri_of(msg.get("contact")),
                        route_set=msg.all("record-route"), remote_cseq=msg.cseq[0])
        call = SipCall(self, dialog, direction="in", state=CallState.RINGING)
        call.invite, call.invite_source = msg, source
        call.caller_id = sm.user_of(sm.uri_of(msg.get("from")))
        call.dialled = sm.user_of(sm.uri_of(msg.get("to"))) or sm.user_of(msg.uri)
        pt, codec = offer.codec
        call.rtp = RtpStream(sock, remote=(offer.address, offer.port), payload_type=pt,
                             codec=codec, dtmf_pt=offer.dtmf_pt, receive=offer.payloads, on_key=call.add_key,
                             warn=self.warn,
                             on_close=self.ports.release)
        call.local_sdp = sdp.answer(offer, address=self.host, port=call.rtp.port, session_id=call.session_id)
        call.on_end.append(self._forget)
        self.calls[call.call_id] = call
        return call

    def _resend_invite_response(self, call: SipCall, source: tuple[str, int]) -> None:
        data = call.final_response or call.ringing
        if data:
            self.transport.send(data, source)

    def _reinvite(self, call: SipCall, msg: sm.Message, source: tuple[str, int]) -> None:
        """A session refresh (RFC 4028) or a changed offer: 200 with our session unchanged (media goes on where it
        was). Stock pyVoIP ignored it and PBXs with session timers dropped calls after a few minutes."""
        with call.lock:
            if call.state != CallState.ANSWERED:
                self.respond(msg, source, 491, "Request Pending", to_tag=call.dialog.local_tag)
                return
        self.respond(msg, source, 200, "OK", to_tag=call.dialog.local_tag, body=call.local_sdp,
                     headers=[("Contact", self.contact()), ("Allow", ALLOW)])
        log.info("call %s: re-INVITE answered with the session unchanged", call.call_id)

    def answer(self, call: SipCall) -> None:
        assert call.invite is not None
        with call.lock:
            if call.state != CallState.RINGING:
                raise CallEnded(f"call {call.call_id} is {call.state.value}")
            call.state = CallState.ANSWERED  # before the 200 leaves: a CANCEL from now on finds it answered
            call.final_response = self.respond(call.invite, call.invite_source, 200, "OK",
                                               to_tag=call.dialog.local_tag, body=call.local_sdp,
                                               headers=[("Contact", self.contact()), ("Allow", ALLOW)])
            started = time.monotonic()
            call.timers.append(self.scheduler.after(self.t1, lambda: self._retransmit_200(call, self.t1, started)))

    def _retransmit_200(self, call: SipCall, interval: float, started: float) -> None:
        """RFC 3261 13.3.1.4: the 2xx is resent T1, 2*T1 ... T2 apart until the ACK; none within 64*T1: BYE."""
        with call.lock:
            if call.acked or call.state != CallState.ANSWERED:
                return
            if time.monotonic() - started >= 64 * self.t1:
                log.warning("call %s: no ACK for the 200 OK within %.1f s: ending it", call.call_id, 64 * self.t1)
                self.hang_up(call, reason="no ACK")
                return
            self.transport.send(call.final_response, call.invite_source)
            interval = min(interval * 2, self.config.t2)
            call.timers.append(self.scheduler.after(interval, lambda: self._retransmit_200(call, interval, started)))

    def reject(self, call: SipCall, status: int, reason: str) -> None:
        assert call.invite is not None
        with call.lock:
            if call.state != CallState.RINGING:
                return
            call.final_response = self.respond(call.invite, call.invite_source, status, reason,
                                               to_tag=call.dialog.local_tag, send=False)
            call.finish(f"{status} {reason}")
        self.transport.send(call.final_response, call.invite_source)

    def _ack(self, msg: sm.Message) -> None:
        with self.lock:
            call = self.calls.get(msg.call_id)
        if call is not None and call.direction == "in":
            with call.lock:
                call.acked = True

    # ----- the end of a call ------------------------------------------------------------------------------

    def hang_up(self, call: SipCall, reason: str = "hung up") -> None:
        with call.lock:
            state = call.state
            if state == CallState.ENDED:
                return
            if state == CallState.ANSWERED:
                data, dest, _ = self.dialog_request(call, "BYE")
                call.finish(reason)
                self.send_reliably(call, data, dest)
                return
        if call.direction == "in":
            self.reject(call, 480, "Temporarily Unavailable")
        else:
            self.dialer.cancel(call, outcome="cancelled")

    def _bye(self, msg: sm.Message, source: tuple[str, int]) -> None:
        call = self._dialog_call(msg)
        if call is None:
            with self.lock:
                old = self._recent(msg.call_id)
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

    def _cancel(self, msg: sm.Message, source: tuple[str, int]) -> None:
        with self.lock:
            call = self.calls.get(msg.call_id) or self._recent(msg.call_id)
        if call is None or call.direction != "in" or call.invite is None or msg.branch != call.invite.branch:
            self.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        self.respond(msg, source, 200, "OK", to_tag=call.dialog.local_tag)
        with call.lock:
            if call.state != CallState.RINGING:
                return  # already answered (the caller ends it with BYE) or already ended
            call.final_response = self.respond(call.invite, call.invite_source, 487, "Request Terminated",
                                               to_tag=call.dialog.local_tag, send=False)
            call.finish("cancelled")  # first: the slot is free when the 487 arrives
            self.transport.send(call.final_response, call.invite_source)
        log.info("call %s cancelled before answer", call.call_id)

    def _forget(self, call: SipCall) -> None:
        """An ended call frees its ``max_calls`` slot at once (its thread may still be finishing)."""
        with self.lock:
            if self.calls.get(call.call_id) is call:
                del self.calls[call.call_id]
            self.recent[call.call_id] = (time.monotonic(), call)

    def _run_call(self, call: SipCall) -> None:
        try:
            self.on_call(call)
        except Exception:
            log.exception("call %s failed", call.call_id)
        finally:
            try:
                self.hang_up(call)
            finally:
                self.call_threads.pop(call.call_id, None)

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
