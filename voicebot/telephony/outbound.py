"""Outbound calls (the agent leg of the ACD, issue 9 item 5): our INVITE, its responses, ACK, CANCEL.

Trunk mode sends the INVITE to the target URI's host:port; register mode sends it through the registrar/proxy.
The INVITE is retransmitted (T1 doubling, RFC 3261 17.1.1.2) until a response; no response within 64*T1 is
``failed`` ("no response"); ringing past ``ring_timeout`` is CANCELled and ``no_answer``. A 200 is ACKed (again for
each retransmission of it) and media starts; a 200 that crosses our CANCEL is ACKed and then ended with BYE.
Outcomes: 486/600 ``busy``, 603 ``declined``, 408/480/487 ``no_answer``, other failures ``failed`` with the status.
A 401/407 challenge is answered once with digest credentials (the registrar's username and password).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING

from voicebot.telephony import sdp
from voicebot.telephony import sip_message as sm
from voicebot.telephony.register import digest_authorization, digest_params
from voicebot.telephony.rtp import RtpStream
from voicebot.telephony.sip_call import ALLOW, CallState, Dialog, SipCall

if TYPE_CHECKING:
    from voicebot.telephony.sip_ua import UserAgent

log = logging.getLogger("voicebot.sip")

BUSY = (486, 600)
DECLINED = (603,)
NO_ANSWER = (408, 480, 487)


class OutboundCall:
    """What the dialer keeps for one of our INVITEs besides the call itself."""

    def __init__(self, call: SipCall, dest: tuple[str, int], uri: str, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        self.call = call
        self.dest = dest
        self.uri = uri
        self.headers = headers  # the INVITE's headers but Via and CSeq
        self.body = body
        self.branch = ""
        self.invite = b""
        self.provisional = False
        self.cancelled = False
        self.authenticated = False
        self.ring_deadline = 0.0

    def build(self, ua: UserAgent, auth: tuple[str, str] | None = None) -> bytes:
        """The INVITE with a new branch and the dialog's current CSeq (and credentials when challenged)."""
        self.branch = "z9hG4bK" + secrets.token_hex(8)
        headers = [("Via", ua.via(self.branch)), *self.headers,
                   ("CSeq", f"{self.call.dialog.local_cseq} INVITE"), *([auth] if auth else [])]
        self.invite = sm.request_bytes("INVITE", self.uri, headers, self.body)
        self.call.invite = sm.parse(self.invite)
        return self.invite


class Dialer:
    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.lock = threading.Lock()
        self.pending: dict[str, OutboundCall] = {}  # by Call-ID, kept RECENT_S after the end for late responses

    def dial(self, target: str, *, caller: str = "", headers: list[tuple[str, str]] | None = None,
             ring_timeout: float = 30.0) -> SipCall:
        """Send an INVITE to ``target`` (a SIP URI) and return the call at once (state CALLING).

        ``call.settled`` is set when the outcome is known (``call.outcome``: answered, busy, declined, no_answer,
        cancelled or failed with ``call.outcome_reason``).
        """
        ua = self.ua
        if not target.startswith(("sip:", "sips:")):
            target = f"sip:{target}"
        sock = ua.ports.open()
        local_tag = "vb" + secrets.token_hex(5)
        user = caller or ua.config.username
        local = f"<sip:{user}@{ua.host}:{ua.port}>;tag={local_tag}"
        dialog = Dialog(f"{secrets.token_hex(12)}@{ua.host}", local_tag, local_header=local,
                        remote_header=f"<{target}>", remote_target=target)
        call = SipCall(ua, dialog, direction="out", state=CallState.CALLING)
        call.caller_id, call.dialled = user, sm.user_of(target)
        dest = ua.request_target(target)
        # no media is taken before the answer (remote "none" matches no source); the answer sets it
        call.rtp = RtpStream(sock, remote=("none", 0), payload_type=0, codec="PCMU", dtmf_pt=101,
                             on_key=call.add_key, warn=ua.warn, on_close=ua.ports.release)
        body = sdp.offer(address=ua.host, port=call.rtp.port, session_id=call.session_id)
        request = [("Max-Forwards", "70"), ("From", local), ("To", f"<{target}>"), ("Call-ID", dialog.call_id),
                   ("Contact", ua.contact()), ("Allow", ALLOW), ("User-Agent", "voicebot"), *(headers or [])]
        pending = OutboundCall(call, dest, target, request, body)
        pending.build(ua)
        with self.lock:
            self.pending[dialog.call_id] = pending
        with ua.lock:
            ua.calls[dialog.call_id] = call  # in-dialog requests from the agent (BYE, INFO) find it there
        call.on_end.append(self._ended)
        self._send_invite(pending)
        pending.ring_deadline = time.monotonic() + ring_timeout
        call.timers.append(ua.scheduler.after(ring_timeout, lambda: self._ring_timeout(pending)))
        log.info("call %s: INVITE to %s (via %s:%d)", dialog.call_id, target, *dest)
        return call

    def _send_invite(self, pending: OutboundCall) -> None:
        ua = self.ua
        ua.transport.send(pending.invite, pending.dest)
        started = time.monotonic()
        pending.call.timers.append(ua.scheduler.after(ua.t1, lambda: self._retransmit(pending, ua.t1, started)))

    def _retransmit(self, pending: OutboundCall, interval: float, started: float) -> None:
        call = pending.call
        with call.lock:
            if pending.provisional or call.state != CallState.CALLING:
                return
            if time.monotonic() - started >= 64 * self.ua.t1:
                self._settle(call, "failed", "no response")
                call.finish("no response")
                return
            self.ua.transport.send(pending.invite, pending.dest)
            interval *= 2  # Timer A doubles without the T2 cap (RFC 3261 17.1.1.2)
            call.timers.append(self.ua.scheduler.after(interval, lambda: self._retransmit(pending, interval, started)))

    def _ring_timeout(self, pending: OutboundCall) -> None:
        if pending.call.state in (CallState.CALLING, CallState.RINGING):
            log.info("call %s: no answer within the ring timeout: CANCEL", pending.call.call_id)
            self.cancel(pending.call, outcome="no_answer")

    def cancel(self, call: SipCall, *, outcome: str) -> None:
        with self.lock:
            pending = self.pending.get(call.call_id)
        with call.lock:
            if pending is None or call.state not in (CallState.CALLING, CallState.RINGING):
                return
            pending.cancelled = True
            self._settle(call, outcome, "cancelled")
            call.finish(outcome)
        # CANCEL: the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via branch (RFC 3261 9.1).
        headers = [("Via", self.ua.via(pending.branch)), ("Max-Forwards", "70"), ("From", call.dialog.local_header),
                   ("To", f"<{pending.uri}>"), ("Call-ID", call.call_id),
                   ("CSeq", f"{call.dialog.local_cseq} CANCEL"), ("User-Agent", "voicebot")]
        self.ua.send_reliably(call, sm.request_bytes("CANCEL", pending.uri, headers), pending.dest)

    def _settle(self, call: SipCall, outcome: str, reason: str) -> None:
        if not call.settled.is_set():
            call.outcome, call.outcome_reason = outcome, reason
            call.settled.set()

    def _ended(self, call: SipCall) -> None:
        self._settle(call, "failed", call.end_reason)
        self.ua.scheduler.after(32.0, lambda: self._drop(call.call_id))
        with self.ua.lock:
            if self.ua.calls.get(call.call_id) is call:
                del self.ua.calls[call.call_id]
            self.ua.recent[call.call_id] = (time.monotonic(), call)

    def _drop(self, call_id: str) -> None:
        with self.lock:
            self.pending.pop(call_id, None)

    # ----- responses --------------------------------------------------------------------------------------

    def on_response(self, msg: sm.Message, source: tuple[str, int]) -> bool:
        """Handle a response to one of our outbound calls; False if it is not one."""
        with self.lock:
            pending = self.pending.get(msg.call_id)
        if pending is None:
            return False
        call = pending.call
        _, method = msg.cseq
        if method != "INVITE":
            call.responded.add(msg.branch)  # our CANCEL or BYE was answered
            return True
        if msg.branch != pending.branch:
            return True
        if msg.status < 200:
            with call.lock:
                pending.provisional = True
                if call.state == CallState.CALLING and msg.status in (180, 183):
                    call.state = CallState.RINGING
            return True
        if msg.status < 300:
            self._answered(pending, msg)
        else:
            self._failed(pending, msg)
        return True

    def _ack_2xx(self, pending: OutboundCall, msg: sm.Message) -> None:
        call = pending.call
        data, dest, _ = self.ua.dialog_request(call, "ACK", cseq=call.dialog.local_cseq)
        self.ua.transport.send(data, dest)

    def _answered(self, pending: OutboundCall, msg: sm.Message) -> None:
        call = pending.call
        with call.lock:
            if call.state == CallState.ANSWERED or (call.state == CallState.ENDED and call.dialog.remote_tag):
                self._ack_2xx(pending, msg)  # a retransmission of the 200: ACK it again
                return
            call.dialog.remote_tag = msg.to_tag
            call.dialog.remote_header = msg.get("to")
            call.dialog.remote_target = sm.uri_of(msg.get("contact")) or pending.uri
            call.dialog.route_set = list(reversed(msg.all("record-route")))
            self._ack_2xx(pending, msg)
            if call.state == CallState.ENDED:
                # the 200 crossed our CANCEL: the dialog exists, end it (RFC 3261 15)
                data, dest, _ = self.ua.dialog_request(call, "BYE")
                self.ua.send_reliably(call, data, dest)
                return
            try:
                answer = sdp.parse(msg.body) if msg.content_type == "application/sdp" else None
            except sdp.SdpError as exc:
                answer = None
                log.warning("call %s: unusable SDP answer (%s)", call.call_id, exc)
            if answer is None:
                data, dest, _ = self.ua.dialog_request(call, "BYE")
                self._settle(call, "failed", "no usable SDP answer")
                call.finish("no usable SDP answer")
                self.ua.send_reliably(call, data, dest)
                return
            rtp = call.rtp
            assert rtp is not None
            rtp.payload_type, rtp.codec = answer.codec
            rtp.dtmf_pt = answer.dtmf_pt
            rtp.receive = {**answer.payloads, rtp.payload_type: rtp.codec}
            rtp.remote = (answer.address, answer.port)
            call.state = CallState.ANSWERED
            self._settle(call, "answered", f"{msg.status} {msg.reason}")
        log.info("call %s: answered by %s (%s)", call.call_id, pending.uri, rtp.codec)

    def _failed(self, pending: OutboundCall, msg: sm.Message) -> None:
        call = pending.call
        # ACK for a non-2xx final response: same branch, the response's To (RFC 3261 17.1.1.3)
        headers = [("Via", self.ua.via(pending.branch)), ("Max-Forwards", "70"), ("From", call.dialog.local_header),
                   ("To", msg.get("to")), ("Call-ID", call.call_id), ("CSeq", f"{call.dialog.local_cseq} ACK")]
        self.ua.transport.send(sm.request_bytes("ACK", pending.uri, headers), pending.dest)
        if msg.status in (401, 407) and not pending.authenticated and self._authenticate(pending, msg):
            return
        if msg.status in BUSY:
            outcome = "busy"
        elif msg.status in DECLINED:
            outcome = "declined"
        elif msg.status in NO_ANSWER:
            outcome = "no_answer"
        else:
            outcome = "failed"
        with call.lock:
            self._settle(call, outcome, f"{msg.status} {msg.reason}")
            call.finish(f"{msg.status} {msg.reason}")
        log.info("call %s: %s (%d %s)", call.call_id, call.outcome, msg.status, msg.reason)

    def _authenticate(self, pending: OutboundCall, challenge: sm.Message) -> bool:
        """A PBX challenging our INVITE (401/407, usual in register mode): the INVITE again, once, with digest
        credentials (a new branch and CSeq, RFC 3261 22.2). False when we cannot answer the challenge."""
        call = pending.call
        name = "www-authenticate" if challenge.status == 401 else "proxy-authenticate"
        params = digest_params(challenge.get(name))
        if not params.get("nonce"):
            return False
        header = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        value = digest_authorization(params, method="INVITE", uri=pending.uri, username=self.ua.config.username,
                                     password=self.ua.config.password)
        with call.lock:
            if call.state == CallState.ENDED:
                return True
            pending.authenticated = True
            pending.provisional = False
            call.cancel_timers()
            call.dialog.local_cseq += 1
            pending.build(self.ua, (header, value))
        self._send_invite(pending)
        remaining = max(0.0, pending.ring_deadline - time.monotonic())
        call.timers.append(self.ua.scheduler.after(remaining, lambda: self._ring_timeout(pending)))
        log.info("call %s: INVITE challenged (%d): sent again with credentials", call.call_id, challenge.status)
        return True

