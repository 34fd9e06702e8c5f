"""The answering side (UAS) of inbound calls: INVITE, its 180/200 and their retransmissions, ACK, CANCEL.

One final response per INVITE: every answer, rejection and cancellation changes the call's state under its lock
*before* the response leaves, so a CANCEL racing the answer finds the call either ringing (487, and the answer
is refused) or answered (200 to the CANCEL only). The 200 is retransmitted T1, 2*T1 ... T2 apart until the ACK;
no ACK within 64*T1 ends the call with BYE (RFC 3261 13.3.1.4).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from voicebot.telephony import sdp
from voicebot.telephony import sip_message as sm
from voicebot.telephony.rtp import NoPortsAvailable, RtpStream
from voicebot.telephony.sip_call import ALLOW, CallEnded, CallState, Dialog, SipCall, new_tag

if TYPE_CHECKING:
    from voicebot.telephony.sip_ua import UserAgent

log = logging.getLogger("voicebot.sip")


class Answerer:
    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua

    def invite(self, msg: sm.Message, source: tuple[str, int]) -> None:
        with self.ua.lock:
            call = self.ua.calls.get(msg.call_id) or self.ua.recent_call(msg.call_id)
        if call is not None:
            if msg.to_tag and msg.to_tag == call.dialog.local_tag:
                self._reinvite(call, msg, source)
            elif call.invite is not None and call.direction == "in" and msg.branch == call.invite.branch:
                self._resend_invite_response(call, source)  # a retransmission of the INVITE
            else:
                self.ua.respond(msg, source, 482, "Loop Detected")
            return
        if msg.to_tag:
            self.ua.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        accept = msg.text("accept").lower()
        if accept and not any(t in accept for t in ("application/sdp", "application/*", "*/*")):
            # we can only answer with SDP (RFC 4475 3.3.11)
            self.ua.respond(msg, source, 406, "Not Acceptable", headers=[("Accept", "application/sdp")])
            return
        if msg.body and msg.content_type != "application/sdp":
            self.ua.warn.warning("invite-415", "call %s: INVITE body is %r: 415", msg.call_id[:40], msg.content_type)
            self.ua.respond(msg, source, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        try:
            offer = sdp.parse(msg.body) if msg.body else None
        except sdp.SdpError as exc:
            self.ua.warn.warning("invite-488", "call %s: offer refused (%s): 488", msg.call_id[:40], exc)
            self.ua.respond(msg, source, 488, "Not Acceptable Here", headers=[("Warning", f'304 voicebot "{exc}"')])
            return
        if offer is None:
            self.ua.warn.warning("invite-488", "call %s: INVITE without an SDP offer: 488", msg.call_id[:40])
            self.ua.respond(msg, source, 488, "Not Acceptable Here", headers=[("Warning", '304 voicebot "no offer"')])
            return
        with self.ua.lock:
            if not self.ua.accepting or self.ua.active_calls() >= self.ua.max_calls:
                self.ua.warn.warning("invite-486", "call %s: %d calls in progress (max %d): 486 Busy Here",
                                     msg.call_id[:40], self.ua.active_calls(), self.ua.max_calls)
                self.ua.respond(msg, source, 486, "Busy Here")
                return
            try:
                sock = self.ua.ports.open()
            except NoPortsAvailable:
                self.ua.warn.warning("invite-no-port", "call %s: no free RTP port: 486 Busy Here", msg.call_id[:40])
                self.ua.respond(msg, source, 486, "Busy Here")
                return
            call = self._new_inbound(msg, source, offer, sock)
        call.ringing = self.ua.respond(msg, source, 180, "Ringing", to_tag=call.dialog.local_tag,
                                    headers=[("Contact", self.ua.contact())])
        thread = threading.Thread(target=self._run_call, args=(call,), name=f"call-{call.call_id[:24]}", daemon=True)
        self.ua.call_threads[call.call_id] = thread
        thread.start()

    def _new_inbound(self, msg: sm.Message, source: tuple[str, int], offer: sdp.MediaOffer,
                     sock: socket.socket) -> SipCall:
        local_tag = new_tag()
        dialog = Dialog(msg.call_id, local_tag, remote_tag=msg.from_tag,
                        local_header=f"{msg.get('to')};tag={local_tag}", remote_header=msg.get("from"),
                        remote_target=sm.uri_of(msg.get("contact") or msg.get("from")),
                        route_set=msg.all("record-route"), remote_cseq=msg.cseq[0])
        call = SipCall(self.ua, dialog, direction="in", state=CallState.RINGING)
        call.invite, call.invite_source = msg, source
        call.caller_id = sm.user_of(sm.uri_of(msg.get("from")))
        call.dialled = sm.user_of(sm.uri_of(msg.get("to"))) or sm.user_of(msg.uri)
        pt, codec = offer.codec
        call.rtp = RtpStream(sock, remote=(offer.address, offer.port), payload_type=pt,
                             codec=codec, dtmf_pt=offer.dtmf_pt, receive=offer.payloads, on_key=call.add_key,
                             warn=self.ua.warn,
                             on_close=self.ua.ports.release)
        call.local_sdp = sdp.answer(offer, address=self.ua.host, port=call.rtp.port, session_id=call.session_id)
        call.on_end.append(self.ua.forget)
        self.ua.calls[call.call_id] = call
        return call

    def _resend_invite_response(self, call: SipCall, source: tuple[str, int]) -> None:
        data = call.final_response or call.ringing
        if data:
            self.ua.transport.send(data, source)

    def _reinvite(self, call: SipCall, msg: sm.Message, source: tuple[str, int]) -> None:
        """A session refresh (RFC 4028) or a changed offer: 200 with our session unchanged (media goes on where it
        was). Stock pyVoIP ignored it and PBXs with session timers dropped calls after a few minutes."""
        with call.lock:
            if call.state != CallState.ANSWERED:
                self.ua.respond(msg, source, 491, "Request Pending", to_tag=call.dialog.local_tag)
                return
        self.ua.respond(msg, source, 200, "OK", to_tag=call.dialog.local_tag, body=call.local_sdp,
                     headers=[("Contact", self.ua.contact()), ("Allow", ALLOW)])
        log.info("call %s: re-INVITE answered with the session unchanged", call.call_id)

    def answer(self, call: SipCall) -> None:
        assert call.invite is not None
        with call.lock:
            if call.state != CallState.RINGING:
                raise CallEnded(f"call {call.call_id} is {call.state.value}")
            call.state = CallState.ANSWERED  # before the 200 leaves: a CANCEL from now on finds it answered
            call.final_response = self.ua.respond(call.invite, call.invite_source, 200, "OK",
                                               to_tag=call.dialog.local_tag, body=call.local_sdp,
                                               headers=[("Contact", self.ua.contact()), ("Allow", ALLOW)])
            t1 = self.ua.t1
            call.timers.append(self.ua.scheduler.after(t1, lambda: self._retransmit_200(call, t1)))
            # The ACK wait has its own timer, so the call ends 64*T1 after the 200 (32 s), not at the next
            # retransmission after that (up to T2 = 4 s later, as it did when the retransmissions checked it).
            call.timers.append(self.ua.scheduler.after(64 * t1, lambda: self._no_ack(call)))

    def _retransmit_200(self, call: SipCall, interval: float) -> None:
        """RFC 3261 13.3.1.4: the 2xx is resent T1, 2*T1 ... T2 apart until the ACK (or the call's end)."""
        with call.lock:
            if call.acked or call.state != CallState.ANSWERED:
                return
            self.ua.transport.send(call.final_response, call.invite_source)
            interval = min(interval * 2, self.ua.config.t2)
            call.timers.append(self.ua.scheduler.after(interval, lambda: self._retransmit_200(call, interval)))

    def _no_ack(self, call: SipCall) -> None:
        """No ACK within 64*T1 of the 200 OK: the caller is gone (RFC 3261 13.3.1.4), the session ends with BYE."""
        with call.lock:
            if call.acked or call.state != CallState.ANSWERED:
                return
            log.warning("call %s: no ACK for the 200 OK within %.1f s: ending it", call.call_id, 64 * self.ua.t1)
            self.ua.hang_up(call, reason="no ACK")

    def reject(self, call: SipCall, status: int, reason: str) -> None:
        assert call.invite is not None
        with call.lock:
            if call.state != CallState.RINGING:
                return
            call.final_response = self.ua.respond(call.invite, call.invite_source, status, reason,
                                               to_tag=call.dialog.local_tag, send=False)
            call.finish(f"{status} {reason}")
        self.ua.transport.send(call.final_response, call.invite_source)

    def ack(self, msg: sm.Message) -> None:
        with self.ua.lock:
            call = self.ua.calls.get(msg.call_id)
        if call is not None and call.direction == "in":
            with call.lock:
                call.acked = True

    # ----- the end of a call ------------------------------------------------------------------------------

    def cancel(self, msg: sm.Message, source: tuple[str, int]) -> None:
        with self.ua.lock:
            call = self.ua.calls.get(msg.call_id) or self.ua.recent_call(msg.call_id)
        if call is None or call.direction != "in" or call.invite is None or msg.branch != call.invite.branch:
            self.ua.respond(msg, source, 481, "Call/Transaction Does Not Exist")
            return
        self.ua.respond(msg, source, 200, "OK", to_tag=call.dialog.local_tag)
        with call.lock:
            if call.state != CallState.RINGING:
                return  # already answered (the caller ends it with BYE) or already ended
            call.final_response = self.ua.respond(call.invite, call.invite_source, 487, "Request Terminated",
                                               to_tag=call.dialog.local_tag, send=False)
            call.finish("cancelled")  # first: the slot is free when the 487 arrives
            self.ua.transport.send(call.final_response, call.invite_source)
        log.info("call %s cancelled before answer", call.call_id)

    def _run_call(self, call: SipCall) -> None:
        try:
            self.ua.on_call(call)
        except Exception:
            log.exception("call %s failed", call.call_id)
        finally:
            try:
                self.ua.hang_up(call)
            finally:
                self.ua.call_threads.pop(call.call_id, None)
