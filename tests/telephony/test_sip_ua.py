"""The SIP user agent over loopback with a raw UDP peer (issue 8 items 2, 4, 6, 7): each test is the message
exchange that went wrong before, asserted on the wire."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.telephony.sipwire import Agent, Peer, ack_for, event, request, rtp, sdp, wait_until
from voicebot.telephony.sip_call import CallEnded, CallState, SipCall

pytestmark = pytest.mark.integration


@pytest.fixture
def agent() -> Iterator[Callable[..., Agent]]:
    made: list[Agent] = []

    def make(behaviour: Callable[[SipCall], None] | None = None, **config: Any) -> Agent:
        made.append(Agent(behaviour, **config))
        return made[-1]

    yield make
    for one in made:
        one.stop()


@pytest.fixture
def peer() -> Iterator[Peer]:
    one = Peer()
    yield one
    one.close()


def invite(peer: Peer, agent: Agent, call_id: str, **kw: Any) -> bytes:
    body = kw.pop("body", sdp(peer.port + 1))
    data = request("INVITE", call_id, peer.port, target_port=agent.port, body=body, **kw)
    peer.send(data, agent.port)
    return data


def answered_call(peer: Peer, agent: Agent, call_id: str) -> Any:
    invite(peer, agent, call_id)
    ok = peer.expect(lambda m: m.status == 200 and m.call_id == call_id)
    peer.send(ack_for(ok, call_id, peer.port, agent.port), agent.port)
    return ok


# ----- item 2: ghost calls -----------------------------------------------------------------------------------


def test_a_cancel_racing_the_answer_never_gets_both_487_and_200(agent: Callable[..., Agent], peer: Peer) -> None:
    import random
    import time

    def answer_soon(call: SipCall) -> None:  # 0-4 ms to answer: the CANCEL right behind the INVITE races it
        time.sleep(random.uniform(0, 0.004))
        one.answer_and_wait(call)

    one = agent(answer_soon)
    for i in range(25):
        call_id = f"race-{i}"
        data = invite(peer, one, call_id)
        cancel = data.replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
        cancel = cancel.split(b"Content-Type:")[0] + b"Content-Length: 0\r\n\r\n"
        peer.send(cancel, one.port)
        peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "CANCEL" and m.status == 200)
        peer.pump(0.1)
        finals = {m.status for m in peer.received if m.call_id == call_id and m.cseq[1] == "INVITE" and m.status >= 200}
        assert len(finals) == 1, (call_id, finals)  # one final response per INVITE: 487 or 200, never both
        cancel_oks = [m for m in peer.received if m.call_id == call_id and m.cseq[1] == "CANCEL"]
        assert len(cancel_oks) == 1  # one 200 per CANCEL
        if finals == {200}:  # the answer won: the call goes on until the caller's BYE
            ok = next(m for m in peer.received if m.call_id == call_id and m.status == 200 and m.cseq[1] == "INVITE")
            peer.send(ack_for(ok, call_id, peer.port, one.port), one.port)
            peer.send(request("BYE", call_id, peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
            peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "BYE" and m.status == 200)
    assert wait_until(lambda: one.ua.active_calls() == 0)
    assert all(call.state == CallState.ENDED for call in one.calls)


@pytest.mark.parametrize("with_ack", [True, False])
def test_a_bye_right_after_the_200_ends_the_call_every_time(agent: Callable[..., Agent], peer: Peer,
                                                             with_ack: bool) -> None:
    one = agent(max_calls=1)  # one slot: a ghost would make the next INVITE busy
    for i in range(10):
        call_id = f"bye-{with_ack}-{i}"
        invite(peer, one, call_id)
        ok = peer.expect(lambda m, c=call_id: m.status == 200 and m.call_id == c)
        if with_ack:
            peer.send(ack_for(ok, call_id, peer.port, one.port), one.port)
        peer.send(request("BYE", call_id, peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
        peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "BYE" and m.status == 200)
        assert one.ua.active_calls() == 0  # the slot is free as soon as the BYE is answered
    assert all(call.ended.wait(2) for call in one.calls) and len(one.calls) == 10


def test_the_200_is_retransmitted_until_the_ack(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent(t1=0.05, t2=0.4)
    invite(peer, one, "retrans")
    ok = peer.expect("200")
    peer.expect(lambda m: m.status == 200 and m.call_id == "retrans")  # a retransmission (T1 later)
    peer.expect(lambda m: m.status == 200 and m.call_id == "retrans")
    peer.send(ack_for(ok, "retrans", peer.port, one.port), one.port)
    peer.pump(0.5)  # let any retransmission already in flight arrive
    count = len([m for m in peer.received if m.status == 200])
    peer.pump(1.0)  # T2 = 0.4 s: two more would have come without the ACK
    assert len([m for m in peer.received if m.status == 200]) == count
    assert one.calls[0].state == CallState.ANSWERED


def test_no_ack_within_64_t1_ends_the_call_with_bye(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent(t1=0.02, t2=0.16, max_calls=1)  # 64 * T1 = 1.28 s
    delays: list[float] = []
    schedule = one.ua.scheduler.after

    def recorded(delay: float, callback: Callable[[], None]) -> Any:
        delays.append(delay)
        return schedule(delay, callback)

    one.ua.scheduler.after = recorded  # type: ignore[method-assign]
    invite(peer, one, "no-ack")
    peer.expect("200")
    # the ACK wait is one timer of exactly 64*T1 from the 200 (the schedule, not a stopwatch): before, the
    # retransmission that came after 64*T1 ended the call, up to T2 later (35.6 s against voicebot serve)
    assert wait_until(lambda: 64 * 0.02 in delays), delays  # (set just after the 200 left)
    bye = peer.expect("BYE", timeout=5)
    assert bye.call_id == "no-ack"
    assert one.calls[0].end_reason == "no ACK"
    assert one.ua.active_calls() == 0
    oks = [m for m in peer.received if m.status == 200 and m.cseq[1] == "INVITE"]
    assert len(oks) >= 5  # T1, 2T1, 4T1, T2, T2 ... until 64*T1


def test_cancel_while_ringing_gets_487_and_frees_the_slot(agent: Callable[..., Agent], peer: Peer) -> None:
    release = threading.Event()

    def slow(call: SipCall) -> None:  # the call is still ringing when the caller gives up
        release.wait(5)
        with pytest.raises(CallEnded):
            call.answer()

    one = agent(slow, max_calls=1)
    data = invite(peer, one, "ringing")
    peer.expect("180")
    cancel = data.replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
    peer.send(cancel.split(b"Content-Type:")[0] + b"Content-Length: 0\r\n\r\n", one.port)
    assert peer.expect(lambda m: m.cseq[1] == "CANCEL").status == 200
    assert peer.expect(lambda m: m.cseq[1] == "INVITE" and m.status >= 200).status == 487
    assert one.ua.active_calls() == 0
    release.set()
    # the retransmitted INVITE gets the same 487, not a new call
    peer.send(data, one.port)
    assert peer.expect(lambda m: m.cseq[1] == "INVITE" and m.status >= 200).status == 487
    assert len(one.calls) == 1


def test_a_bye_while_ringing_ends_the_call_and_the_invite_gets_487(agent: Callable[..., Agent], peer: Peer) -> None:
    # A BYE on the early dialog (the 180 carried our tag): the call ends before its answer, the INVITE gets its
    # one final response (487), the BYE its 200, and the slot is free for the next caller.
    release = threading.Event()
    refused: list[bool] = []

    def slow(call: SipCall) -> None:
        release.wait(5)
        try:
            call.answer()
        except CallEnded:
            refused.append(True)

    one = agent(slow, max_calls=1)
    invite(peer, one, "early-bye")
    ringing = peer.expect("180")
    peer.send(request("BYE", "early-bye", peer.port, target_port=one.port, cseq=2, to_tag=ringing.to_tag), one.port)
    assert peer.expect(lambda m: m.cseq == (2, "BYE")).status == 200
    assert peer.expect(lambda m: m.cseq[1] == "INVITE" and m.status >= 200).status == 487
    assert one.ua.active_calls() == 0 and one.calls[0].state == CallState.ENDED
    release.set()
    assert wait_until(lambda: refused == [True])  # the late answer is refused: no 200 follows the 487
    peer.pump(0.2)
    finals = [m.status for m in peer.received if m.cseq[1] == "INVITE" and m.status >= 200]
    assert finals == [487]
    answered_call(peer, one, "next")  # the slot was freed: the next caller is answered, not told 486


def test_bye_and_cancel_of_unknown_dialogs_get_481(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    peer.send(request("BYE", "nobody", peer.port, target_port=one.port, to_tag="x"), one.port)
    assert peer.expect(lambda m: m.cseq[1] == "BYE").status == 481
    peer.send(request("CANCEL", "nobody", peer.port, target_port=one.port), one.port)
    assert peer.expect(lambda m: m.cseq[1] == "CANCEL").status == 481
    ok = answered_call(peer, one, "known")
    peer.send(request("BYE", "known", peer.port, target_port=one.port, cseq=2, to_tag="not-ours"), one.port)
    assert peer.expect(lambda m: m.cseq[1] == "BYE").status == 481  # right Call-ID, wrong dialog
    assert one.calls[0].state == CallState.ANSWERED and ok.to_tag


# ----- item 4: methods -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["REFER", "MESSAGE", "SUBSCRIBE", "NOTIFY", "PUBLISH", "PRACK", "FOOBAR"])
def test_methods_we_do_not_implement_get_501_with_allow(agent: Callable[..., Agent], peer: Peer,
                                                         method: str) -> None:
    one = agent()
    peer.send(request(method, f"m-{method}", peer.port, target_port=one.port), one.port)
    reply = peer.expect(lambda m: not m.is_request)
    assert reply.status == 501 and "INVITE" in reply.text("allow") and "OPTIONS" in reply.text("allow")


def test_register_gets_405_and_options_200_with_allow_accept_supported(agent: Callable[..., Agent],
                                                                         peer: Peer) -> None:
    one = agent()
    peer.send(request("REGISTER", "reg", peer.port, target_port=one.port), one.port)
    reply = peer.expect(lambda m: not m.is_request)
    assert reply.status == 405 and "BYE" in reply.text("allow")
    peer.send(request("OPTIONS", "opt", peer.port, target_port=one.port), one.port)
    reply = peer.expect(lambda m: m.cseq[1] == "OPTIONS")
    assert reply.status == 200 and reply.get("allow") and reply.get("accept") == "application/sdp"
    assert any(name == "supported" for name, _ in reply.headers)


def test_info_dtmf_becomes_keys_and_update_is_answered(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    ok = answered_call(peer, one, "info")
    call = one.calls[0]
    for cseq, (ctype, body) in enumerate([("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
                                          ("application/dtmf", "#"), ("application/dtmf-relay", "Signal=11\r\n")],
                                         start=2):
        peer.send(request("INFO", "info", peer.port, target_port=one.port, cseq=cseq, to_tag=ok.to_tag, body=body,
                          content_type=ctype), one.port)
        assert peer.expect(lambda m, n=cseq: m.cseq == (n, "INFO")).status == 200
    assert call.take_keys() == "5##"
    peer.send(request("INFO", "info", peer.port, target_port=one.port, cseq=9, to_tag=ok.to_tag, body="x",
                      content_type="text/plain"), one.port)
    assert peer.expect(lambda m: m.cseq == (9, "INFO")).status == 415
    peer.send(request("UPDATE", "info", peer.port, target_port=one.port, cseq=10, to_tag=ok.to_tag), one.port)
    update = peer.expect(lambda m: m.cseq == (10, "UPDATE"))
    assert update.status == 200 and update.body == b""
    peer.send(request("UPDATE", "other", peer.port, target_port=one.port, cseq=11, to_tag="x"), one.port)
    assert peer.expect(lambda m: m.cseq == (11, "UPDATE")).status == 481
    assert call.state == CallState.ANSWERED


def test_a_re_invite_gets_the_same_session(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    ok = answered_call(peer, one, "refresh")
    invite(peer, one, "refresh", cseq=2, to_tag=ok.to_tag)
    again = peer.expect(lambda m: m.cseq == (2, "INVITE") and m.status == 200)
    assert again.to_tag == ok.to_tag
    assert [line for line in again.body.split(b"\r\n") if line.startswith(b"m=")] == \
           [line for line in ok.body.split(b"\r\n") if line.startswith(b"m=")]
    assert one.calls[0].state == CallState.ANSWERED


# ----- item 6: symmetric RTP and rport -------------------------------------------------------------------


def test_responses_go_where_the_request_came_from_with_received_and_rport(agent: Callable[..., Agent],
                                                                           peer: Peer) -> None:
    one = agent()
    decoy = Peer()  # the Via names the decoy's port: a spoofed Via must not reflect responses there
    try:
        data = request("OPTIONS", "spoof", decoy.port, target_port=one.port)
        data = data.replace(f"127.0.0.1:{decoy.port};branch".encode(), f"127.0.0.9:{decoy.port};branch".encode())
        peer.send(data, one.port)
        reply = peer.expect("200")
        via = reply.get("via")
        assert f";rport={peer.port}" in via and ";received=127.0.0.1" in via
        decoy.pump(0.3)
        assert decoy.received == []
    finally:
        decoy.close()


def test_media_latches_to_the_first_source_and_drops_others(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", peer.port + 1 if peer.port < 65000 else 0))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    try:
        invite(peer, one, "latch", body=sdp(media.getsockname()[1]))
        ok = peer.expect("200")
        peer.send(ack_for(ok, "latch", peer.port, one.port), one.port)
        port = int(ok.body.split(b"m=audio ")[1].split()[0])
        call = one.calls[0]
        assert call.rtp is not None
        for seq in range(5):
            media.sendto(rtp(0, b"\xff" * 160, seq=seq, ssrc=111), ("127.0.0.1", port))
        assert wait_until(lambda: call.rtp is not None and call.rtp.rx_packets == 5)
        # the same host, another port and SSRC: audio and keys 1234 are dropped and counted
        for seq in range(5):
            other.sendto(rtp(0, b"\x00" * 160, seq=seq, ssrc=222), ("127.0.0.1", port))
        for key in (1, 2, 3, 4):
            other.sendto(rtp(101, event(key, True, 800), ts=key * 1000, ssrc=222), ("127.0.0.1", port))
        assert wait_until(lambda: call.rtp is not None and call.rtp.dropped_foreign == 9)
        assert call.rtp.rx_packets == 5 and call.take_keys() == ""
        # from the latched address: the first event latches the events' SSRC, another SSRC is dropped
        media.sendto(rtp(101, event(7, True, 800), ts=6, ssrc=111), ("127.0.0.1", port))
        assert wait_until(lambda: call.keys_pending() == "7")
        media.sendto(rtp(101, event(9, True, 800), ts=5, ssrc=333), ("127.0.0.1", port))
        media.sendto(rtp(0, b"\x00" * 160, seq=9, ssrc=333), ("127.0.0.1", port))
        assert wait_until(lambda: call.rtp is not None and call.rtp.dropped_foreign == 11)
        assert call.take_keys() == "7" and call.rtp.rx_packets == 5
        # we send to the latched address (symmetric RTP)
        import numpy as np

        call.write_frame(np.zeros(160, dtype=np.int16))
        media.settimeout(2)
        data, _ = media.recvfrom(2048)
        assert data[1] & 0x7F == 0 and len(data) == 172
    finally:
        media.close()
        other.close()


# ----- item 7: offers and bad requests -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "body", "ctype", "status"), [
    ("port0", sdp(0), "application/sdp", 488),
    ("ip6", sdp(7000, address="::1", family="IP6"), "application/sdp", 488),
    ("g729", sdp(7000, "18"), "application/sdp", 488),
    ("nobody", None, "application/sdp", 488),
    ("text", "hello", "text/plain", 415),
])
def test_offers_that_cannot_work_are_refused(agent: Callable[..., Agent], peer: Peer, name: str,
                                              body: str | None, ctype: str, status: int) -> None:
    one = agent()
    peer.send(request("INVITE", name, peer.port, target_port=one.port, body=body, content_type=ctype), one.port)
    reply = peer.expect(lambda m: m.cseq[1] == "INVITE" and m.status >= 200)
    assert reply.status == status
    if status == 415:
        assert reply.get("accept") == "application/sdp"
    assert one.calls == [] and one.ua.ports.assigned == []


@pytest.mark.parametrize("length", ["9999", "-5", "10, 20"])
def test_a_content_length_that_does_not_match_gets_400(agent: Callable[..., Agent], peer: Peer,
                                                        length: str) -> None:
    one = agent()
    data = request("INVITE", f"cl{length}", peer.port, target_port=one.port, body=sdp(7000))
    head, body = data.split(b"\r\n\r\n", 1)
    head = head.rsplit(b"Content-Length:", 1)[0] + f"Content-Length: {length}".encode()
    peer.send(head + b"\r\n\r\n" + body, one.port)
    reply = peer.expect(lambda m: not m.is_request)
    assert reply.status == 400 and reply.reason
    assert one.calls == []


def test_invites_from_outside_sip_allowed_sources_get_403_and_no_call(agent: Callable[..., Agent],
                                                                     peer: Peer) -> None:
    """Only the trunk's peers start calls (sip.allowed_sources): an INVITE from elsewhere, whose SDP could aim a
    call's audio at a third party, is refused before anything is set up; OPTIONS is still answered."""
    import ipaddress

    closed = agent(allowed_sources=(ipaddress.ip_network("10.0.0.0/8"),))
    invite(peer, closed, "outsider", body=sdp(9, address="192.0.2.7"))
    refused = peer.expect(lambda m: m.call_id == "outsider" and m.status >= 200)
    assert refused.status == 403 and closed.calls == []
    peer.send(request("OPTIONS", "probe", peer.port, target_port=closed.port), closed.port)
    assert peer.expect(lambda m: m.call_id == "probe").status == 200
    opened = agent(allowed_sources=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")))
    answered_call(peer, opened, "insider")
    assert wait_until(lambda: len(opened.calls) == 1)


def test_an_invite_cut_inside_its_sdp_never_starts_a_call(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    full = request("INVITE", "cut", peer.port, target_port=one.port, body=sdp(7000))
    for i, cut in enumerate(range(len(full) - 120, len(full) - 1, 7)):
        peer.send(full[:cut].replace(b"Call-ID: cut", f"Call-ID: cut{i}".encode()), one.port)
    peer.pump(0.5)
    assert one.calls == [] and all(m.status >= 400 for m in peer.received if not m.is_request)


def test_the_count_of_suppressed_warnings_is_logged_after_a_flood_that_stops(
        agent: Callable[..., Agent], peer: Peer, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One line, then silence: without the user agent's periodic flush the count of the 49 suppressed warnings
    # waited for a 51st datagram of the same kind, which an attack that stopped never sends.
    import functools
    import logging

    from voicebot.telephony.ratelimit import RateLimitedLog

    monkeypatch.setattr("voicebot.telephony.sip_ua.RateLimitedLog", functools.partial(RateLimitedLog, interval=1.0))
    caplog.set_level(logging.WARNING, logger="voicebot.sip")
    one = agent()
    for i in range(50):
        peer.send(f"garbage {i} without a blank line".encode(), one.port)
    assert wait_until(lambda: "(and 48 more like it" in caplog.text, 5), caplog.text
    lines = [r.getMessage() for r in caplog.records if "malformed SIP datagram" in r.getMessage()]
    assert len(lines) == 2 and lines[0].startswith("dropped a malformed") and "garbage" not in lines[0]


def test_require_gets_420_and_an_unknown_scheme_416(agent: Callable[..., Agent], peer: Peer) -> None:
    one = agent()
    peer.send(request("INVITE", "req", peer.port, target_port=one.port, body=sdp(7000),
                      extra=["Require: nothingweknow"]), one.port)
    reply = peer.expect(lambda m: not m.is_request)
    assert reply.status == 420 and reply.get("unsupported") == "nothingweknow"
    data = request("OPTIONS", "scheme", peer.port, target_port=one.port).replace(b"OPTIONS sip:", b"OPTIONS xyz:", 1)
    peer.send(data, one.port)
    assert peer.expect(lambda m: m.cseq[1] == "OPTIONS").status == 416


def test_calls_leave_no_threads_fds_or_ports_behind(agent: Callable[..., Agent], peer: Peer) -> None:
    import os

    one = agent(max_calls=2)
    ok = answered_call(peer, one, "warm-up")  # (a first call, so that the baseline counts what stays)
    peer.send(request("BYE", "warm-up", peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
    assert wait_until(lambda: one.ua.ports.assigned == [] and not one.ua.call_threads)

    def census() -> tuple[int, int]:
        return threading.active_count(), len(os.listdir("/proc/self/fd"))

    assert wait_until(lambda: census() == census(), 1)
    before = census()
    for i in range(40):
        call_id = f"leak-{i}"
        ok = answered_call(peer, one, call_id)
        peer.send(request("BYE", call_id, peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
        peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "BYE")
    assert wait_until(lambda: one.ua.ports.assigned == [] and not one.ua.call_threads, 5)
    assert wait_until(lambda: census() == before, 5), (census(), before)


def test_ended_calls_are_forgotten_after_the_retransmission_window(agent: Callable[..., Agent], peer: Peer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voicebot.telephony.sip_ua.RECENT_S", 0.3)  # (32 s in service)
    one = agent()
    for i in range(5):
        ok = answered_call(peer, one, f"old-{i}")
        peer.send(request("BYE", f"old-{i}", peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
        peer.expect(lambda m, c=f"old-{i}": m.call_id == c and m.cseq[1] == "BYE")
    assert len(one.ua.recent) == 5  # remembered: a retransmitted BYE still gets its 200
    peer.send(request("BYE", "old-4", peer.port, target_port=one.port, cseq=2, to_tag=ok.to_tag), one.port)
    assert peer.expect(lambda m: m.call_id == "old-4" and m.cseq[1] == "BYE").status == 200
    time.sleep(0.4)
    answered_call(peer, one, "new")
    assert set(one.ua.recent) <= {"new"}  # the old ones are gone: memory is bounded by the window


def test_a_name_that_fails_to_resolve_in_any_way_does_not_stop_the_resolver(peer: Peer) -> None:
    """Names are resolved on their own thread; an error there (getaddrinfo raises OverflowError for a port past
    2**63, not only OSError) must leave it running for the next name."""
    from voicebot.telephony.sip_transport import UdpTransport

    def resolve(host: str, port: int) -> tuple[str, int]:
        if host == "overflow.invalid":
            raise OverflowError("Python int too large to convert to C long")
        if host == "garbage.invalid":
            raise UnicodeError("label too long")
        return "127.0.0.1", peer.port

    transport = UdpTransport("127.0.0.1", 0, lambda data, source: None)
    transport.resolve = resolve
    transport.start()
    try:
        transport.send(b"first", ("overflow.invalid", 5060))
        transport.send(b"second", ("garbage.invalid", 5060))
        transport.send(b"third", ("peer.invalid", 5060))
        got, _ = peer.sock.recvfrom(100) if wait_until(lambda: _readable(peer.sock)) else (b"", None)
        assert got == b"third"
    finally:
        transport.stop()


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])
