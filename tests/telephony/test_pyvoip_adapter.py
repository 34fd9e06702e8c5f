"""Regression tests for each pyVoIP 1.6.8 fix in voicebot.telephony.pyvoip_adapter (FINDINGS.md items)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest

from voicebot.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voicebot.telephony import pyvoip_adapter as pa


def sdp(media_port: int = 6000, codecs: str = "0 101", two_c_lines: bool = False, extra: str = "") -> str:
    lines = ["v=0", "o=sipp 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {media_port} RTP/AVP {codecs}"]
    if two_c_lines:
        lines.append("c=IN IP4 127.0.0.1")
    # (pyVoIP 1.6.8 fails to parse an rtpmap for a payload type missing from the m= line)
    maps = {"0": "a=rtpmap:0 PCMU/8000", "8": "a=rtpmap:8 PCMA/8000",
            "101": "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15"}
    lines += [maps[pt] for pt in codecs.split() if pt in maps] + ["a=ptime:20", "a=sendrecv"]
    if extra:
        lines.append(extra)
    return "\r\n".join(lines) + "\r\n"


def invite(call_id: str, via_port: int, body: str | None, caller: str = "+15550100001", dialled: str = "1000",
           target_port: int = 5060, cseq: int = 1) -> bytes:
    headers = [
        f"INVITE sip:{dialled}@127.0.0.1:{target_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK-{call_id}-{cseq};rport",
        f'From: "Caller" <sip:{caller}@127.0.0.1:{via_port}>;tag=caller-{call_id}',
        f"To: <sip:{dialled}@127.0.0.1:{target_port}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} INVITE",
        f"Contact: <sip:{caller}@127.0.0.1:{via_port}>",
        "Max-Forwards: 70",
    ]
    if body is None:
        headers.append("Content-Length: 0")
        return ("\r\n".join(headers) + "\r\n\r\n").encode()
    headers += ["Content-Type: application/sdp", f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def rtp(pt: int, payload: bytes, *, seq: int = 1, ts: int = 160, marker: bool = False, ssrc: int = 1234) -> bytes:
    return (bytes([0x80, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
            + ssrc.to_bytes(4, "big") + payload)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_phone(on_call: Any = None, **kw: Any) -> pa.AdapterPhone:
    low = kw.pop("rtp_low", 33000)
    high = kw.pop("rtp_high", 33099)
    return pa.AdapterPhone(host="127.0.0.1", sip_port=0, rtp_low=low, rtp_high=high,
                           on_call=on_call or (lambda call: None), **kw)


def rtp_client(out_port: int = 6000, assoc: dict[int, Any] | None = None) -> pa.G711RtpClient:
    from pyVoIP import RTP

    codecs = assoc if assoc is not None else {0: RTP.PayloadType.PCMU, 101: RTP.PayloadType.EVENT}
    return pa.G711RtpClient(codecs, "127.0.0.1", free_udp_port(), "127.0.0.1", out_port, RTP.TransmitType.SENDRECV)


# ----- audioop import guard ----------------------------------------------------------------------------------


def test_adapter_imports_with_warnings_as_errors() -> None:
    # FINDINGS: pyVoIP imports audioop; a -W error run failed at import.
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import voicebot.telephony.pyvoip_adapter"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# ----- 16-bit audio ------------------------------------------------------------------------------------------


def test_pcmu_payload_is_decoded_to_16_bit_exactly() -> None:
    client = rtp_client()
    codes = bytes(range(256))[:160]
    client.parse_packet(rtp(0, codes))
    frame = client.read_frame()
    assert frame is not None and frame.dtype == np.int16
    np.testing.assert_array_equal(frame, mulaw_decode(codes))
    assert client.read_frame() is None  # nothing more buffered


def test_pcma_payload_is_decoded_to_16_bit_exactly() -> None:
    from pyVoIP import RTP

    client = rtp_client(assoc={8: RTP.PayloadType.PCMA})
    assert client.codec == "PCMA" and client.payload_type == 8
    codes = bytes(range(96, 256))
    client.parse_packet(rtp(8, codes))
    np.testing.assert_array_equal(client.read_frame(), alaw_decode(codes))


def test_frames_are_rebuilt_from_odd_packet_sizes() -> None:
    client = rtp_client()
    codes = bytes(np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8))
    for start in range(0, 400, 80):  # 10 ms packets
        client.parse_packet(rtp(0, codes[start:start + 80]))
    got = [client.read_frame(), client.read_frame()]
    assert client.read_frame() is None
    np.testing.assert_array_equal(np.concatenate(got), mulaw_decode(codes[:320]))  # type: ignore[arg-type]


def test_send_frame_transmits_g711_encoded_from_16_bit() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2)
        client = rtp_client(out_port=peer.getsockname()[1])
        client.start()
        try:
            pcm = (np.sin(np.arange(160) / 5) * 12000).astype(np.int16)
            client.send_frame(pcm)
            client.send_frame(pcm)
            first, _ = peer.recvfrom(2048)
            second, _ = peer.recvfrom(2048)
        finally:
            client.stop()
    assert first[1] & 0x7F == 0 and len(first) == 12 + 160
    assert first[12:] == mulaw_encode(pcm)
    assert int.from_bytes(second[2:4], "big") == (int.from_bytes(first[2:4], "big") + 1) & 0xFFFF
    assert int.from_bytes(second[4:8], "big") - int.from_bytes(first[4:8], "big") == 160


def test_pcma_send_uses_a_law() -> None:
    from pyVoIP import RTP

    client = rtp_client(assoc={8: RTP.PayloadType.PCMA, 101: RTP.PayloadType.EVENT})
    pcm = np.arange(-8000, 8000, 100, dtype=np.int16)[:160]
    assert client.build_packet(client.encode_frame(pcm))[12:] == alaw_encode(pcm)


# ----- DTMF guard --------------------------------------------------------------------------------------------


def event(ev: int, *, end: bool = False, ts: int = 8000, marker: bool = False) -> bytes:
    return rtp(101, bytes([ev, (0x80 if end else 0) | 10, 0, 160]), ts=ts, marker=marker)


def test_dtmf_event_id_above_15_is_dropped_and_the_receiver_survives(caplog: pytest.LogCaptureFixture) -> None:
    got: list[str] = []
    client = rtp_client()
    client.dtmf = got.append
    client.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(event(200), ("127.0.0.1", client.inPort))  # stock pyVoIP: IndexError kills the thread
            s.sendto(event(16, ts=1), ("127.0.0.1", client.inPort))
            s.sendto(event(5, ts=2, marker=True), ("127.0.0.1", client.inPort))
            for _ in range(3):
                s.sendto(event(5, end=True, ts=2), ("127.0.0.1", client.inPort))
            deadline = time.monotonic() + 2
            while not got and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.1)
        assert client._thread is not None and client._thread.is_alive()
    finally:
        client.stop()
    assert got == ["5"]
    assert "telephone-event id 200" in caplog.text


def test_dtmf_without_marker_bit_is_reported_once_per_press() -> None:
    client = rtp_client()
    for _ in range(4):
        client.parse_packet(event(11, ts=99))  # no marker: some senders never set it
    assert client.keys_received == "#"
    time.sleep(pa.DTMF_GAP_S + 0.05)
    client.parse_packet(event(11, ts=99))  # the same recorded event replayed later is a new press
    assert client.keys_received == "##"


def test_garbage_and_unexpected_sources_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    client = rtp_client()
    client.handle_datagram(b"\x00garbage", ("127.0.0.1", 6000))
    client.handle_datagram(rtp(0, b"\xff" * 160), ("10.9.9.9", 6000))
    client.handle_datagram(rtp(99, b"\xff" * 160), ("127.0.0.1", 6000))
    assert client.dropped == 3 and client.read_frame() is None
    assert "unexpected source 10.9.9.9" in caplog.text


# ----- SDP with two c= lines ---------------------------------------------------------------------------------


def test_two_c_lines_break_stock_pyvoip() -> None:
    from pyVoIP.VoIP import CallState, VoIPCall

    phone = make_phone()
    request = pa.parse_sip(invite("c-two", 5070, sdp(two_c_lines=True)))
    assert len(request.body["c"]) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call = VoIPCall(phone, CallState.RINGING, request, 1, "127.0.0.1")
    assert any("Unable to assign ports" in str(w.message) for w in caught)
    assert call.RTPClients == []


def test_two_c_lines_normalized_give_one_rtp_client() -> None:
    phone = make_phone()
    request = pa.parse_sip(invite("c-two", 5070, sdp(6002, two_c_lines=True)))
    pa.normalize_sdp(request.body)
    assert len(request.body["c"]) == 1
    phone._create_Call(request, 7)  # must not warn (warnings are errors here)
    call = phone.calls["c-two"]
    assert len(call.RTPClients) == 1
    client = call.RTPClients[0]
    assert (client.outIP, client.outPort) == ("127.0.0.1", 6002)
    phone._finish(call)  # type: ignore[arg-type]


def test_normalize_drops_unknown_payload_types() -> None:
    request = pa.parse_sip(invite("c-g729", 5070, sdp(codecs="18 0 101", extra="a=rtpmap:18 G729/8000")))
    pa.normalize_sdp(request.body)
    assert request.body["m"][0]["methods"] == ["0", "101"]
    assert pa.usable_codecs(request.body) == {0: "PCMU", 101: "telephone-event"}


# ----- free ports, release -----------------------------------------------------------------------------------


def test_request_port_skips_ports_in_use_and_release_is_idempotent() -> None:
    port = free_udp_port()
    phone = make_phone(rtp_low=port, rtp_high=port + 1)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        busy.bind(("127.0.0.1", port))
        if not pa.port_is_free("127.0.0.1", port + 1):
            pytest.skip("neighbouring port taken by another process")
        assert phone.request_port() == port + 1  # stock pyVoIP may hand out the busy one
        with pytest.raises(pa.NoPortsAvailableError):
            phone.request_port()
    finally:
        busy.close()


def test_call_ports_are_released_at_call_end() -> None:
    phone = make_phone()
    request = pa.parse_sip(invite("c-rel", 5070, sdp()))
    pa.normalize_sdp(request.body)
    phone._create_Call(request, 3)
    call = phone.calls["c-rel"]
    port = call.RTPClients[0].inPort
    assert port in phone.assignedPorts and port in call.assignedPorts  # stock pyVoIP: never recorded on the call
    phone._finish(call)  # type: ignore[arg-type]
    assert port not in phone.assignedPorts
    phone.release_ports(call=call)  # again (pyVoIP's __del__ does): no ValueError
    assert "c-rel" not in phone.calls


# ----- trunk routing, BYE Via --------------------------------------------------------------------------------


def test_responses_are_routed_by_the_top_via() -> None:
    response = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.5:5070;branch=z9;rport=5999;received=10.0.0.6\r\n"
                b"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z8\r\nCall-ID: x\r\n\r\n")
    assert pa.route_for(response, ("192.0.2.1", 5060)) == ("10.0.0.6", 5999)
    plain = b"SIP/2.0 486 Busy Here\r\nv: SIP/2.0/UDP 10.0.0.5:5070;branch=z9\r\n\r\n"
    assert pa.route_for(plain, ("192.0.2.1", 5060)) == ("10.0.0.5", 5070)
    no_port = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP pbx.example;branch=z9\r\n\r\n"
    assert pa.route_for(no_port, ("192.0.2.1", 5060)) == ("pbx.example", 5060)


def test_requests_are_routed_by_request_uri_in_trunk_mode_only() -> None:
    bye = b"BYE sip:+15550100001@10.1.2.3:5070;transport=udp SIP/2.0\r\nVia: SIP/2.0/UDP 1.1.1.1:1\r\n\r\n"
    assert pa.route_for(bye, ("192.0.2.1", 5060)) == ("10.1.2.3", 5070)
    assert pa.route_for(bye, ("192.0.2.1", 5060), requests_by_uri=False) == ("192.0.2.1", 5060)


def test_bye_carries_our_via_not_the_callers() -> None:
    phone = make_phone()
    client = phone.sip
    assert isinstance(client, pa.AdapterSipClient)
    request = pa.parse_sip(invite("c-bye", 5070, sdp()))
    client.tagLibrary["c-bye"] = "ourtag"
    bye = client.gen_bye(request)
    vias = [line for line in bye.split("\r\n") if line.startswith("Via:")]
    assert len(vias) == 1
    assert f"127.0.0.1:{client.myPort}" in vias[0] and "z9hG4bK-c-bye" not in vias[0]
    assert bye.startswith("BYE sip:+15550100001@127.0.0.1:5070 SIP/2.0")


# ----- over loopback: trunk mode, no answer delay, 486, 488, garbage ----------------------------------------


class Peer:
    """A raw UDP SIP peer on loopback."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)
        self.port = int(self.sock.getsockname()[1])

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def expect(self, first_line_prefix: str, timeout: float = 3.0) -> tuple[str, float]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            text = data.decode()
            if text.startswith(first_line_prefix):
                return text, time.monotonic()
        raise AssertionError(f"no {first_line_prefix!r} received")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def trunk_phone() -> Any:
    release = threading.Event()
    answered: list[pa.AdapterCall] = []

    def on_call(call: pa.AdapterCall) -> None:
        call.answer()
        answered.append(call)
        release.wait(5)

    phone = make_phone(on_call, max_calls=1, rtp_low=34000, rtp_high=34099)
    phone.registrar_seen = False  # type: ignore[attr-defined]
    phone.start()
    try:
        yield phone, release, answered
    finally:
        release.set()
        phone.stop()


def test_trunk_invite_is_answered_at_once_and_routed_by_via(trunk_phone: Any) -> None:
    phone, release, _answered = trunk_phone
    peer = Peer()
    try:
        sent = time.monotonic()
        # The phone's "server" is itself (no registrar): responses can only reach us through the Via.
        peer.send(invite("c-fast", peer.port, sdp(peer.port + 1)), phone.sip_port)
        peer.expect("SIP/2.0 180")
        ok, at = peer.expect("SIP/2.0 200")
        assert at - sent < 0.5, f"INVITE -> 200 OK took {at - sent:.3f} s"  # stock pyVoIP: 1.0 s
        assert "m=audio" in ok and ok.count("\r\nc=") == 1
        release.set()  # the call handler returns: the endpoint hangs up with BYE to the caller's Contact
        bye, _ = peer.expect("BYE ")
        assert f"Via: SIP/2.0/UDP 127.0.0.1:{phone.sip_port}" in bye
    finally:
        peer.close()
    deadline = time.monotonic() + 2
    while phone.assignedPorts and time.monotonic() < deadline:
        time.sleep(0.02)
    assert phone.assignedPorts == [] and phone.calls == {}


def test_the_200_ok_to_our_bye_is_not_acked() -> None:
    # pyVoIP sends BYE, then forgets the call: a 200 OK arriving in between reached its INVITE-answer path,
    # which ACKs it (no ACK for BYE in RFC 3261) and, the 200 having no Contact, raised in the SIP thread.
    phone = make_phone()
    sent: list[bytes] = []

    class Recorder:
        def sendto(self, data: bytes, addr: Any) -> int:
            sent.append(data)
            return len(data)

    class Call:
        answered_with: Any = None

        def answered(self, request: Any) -> None:
            self.answered_with = request

    call = Call()
    phone.calls["c-bye-ok"] = call  # type: ignore[assignment]
    phone.sip.out = Recorder()  # type: ignore[assignment]
    ok = "\r\n".join([
        "SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-bye", "From: <sip:1000@127.0.0.1>;tag=ivr",
        "To: <sip:+15550100001@127.0.0.1:5070>;tag=caller", "Call-ID: c-bye-ok", "CSeq: 2 BYE", "Content-Length: 0",
    ]) + "\r\n\r\n"
    phone.callback(pa.parse_sip(ok.encode()))
    assert sent == [] and call.answered_with is None


def cancel(call_id: str, via_port: int, target_port: int) -> bytes:
    return "\r\n".join([
        f"CANCEL sip:1000@127.0.0.1:{target_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK-{call_id}-1;rport",
        f'From: "Caller" <sip:+15550100001@127.0.0.1:{via_port}>;tag=caller-{call_id}',
        f"To: <sip:1000@127.0.0.1:{target_port}>", f"Call-ID: {call_id}", "CSeq: 1 CANCEL", "Max-Forwards: 70",
        "Content-Length: 0",
    ]).encode() + b"\r\n\r\n"


def test_cancel_while_ringing_ends_the_call_with_487_and_frees_its_port() -> None:
    release = threading.Event()
    outcomes: list[str] = []

    def on_call(call: pa.AdapterCall) -> None:  # slow to answer: the caller gives up while it rings
        release.wait(5)
        try:
            call.answer()
            outcomes.append("answered")
        except pa.InvalidStateError:
            outcomes.append("cancelled")

    phone = make_phone(on_call, max_calls=2, rtp_low=34200, rtp_high=34299)
    phone.start()
    peer = Peer()
    try:
        peer.send(invite("c-cancel", peer.port, sdp(peer.port + 1)), phone.sip_port)
        peer.expect("SIP/2.0 180")
        assert "c-cancel" in phone.calls
        peer.send(cancel("c-cancel", peer.port, phone.sip_port), phone.sip_port)
        ok, _ = peer.expect("SIP/2.0 200")
        assert "CSeq: 1 CANCEL" in ok  # the CANCEL's own answer
        terminated, _ = peer.expect("SIP/2.0 487")
        assert "CSeq: 1 INVITE" in terminated
        release.set()
        deadline = time.monotonic() + 3
        while (phone.assignedPorts or phone.calls) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert outcomes == ["cancelled"] and phone.assignedPorts == [] and phone.calls == {}
        # a CANCEL for a call that does not exist (any more)
        peer.send(cancel("c-cancel", peer.port, phone.sip_port), phone.sip_port)
        peer.expect("SIP/2.0 481")
    finally:
        release.set()
        peer.close()
        phone.stop()


def test_cancel_after_the_answer_is_acknowledged_and_the_call_goes_on(trunk_phone: Any) -> None:
    phone, release, answered = trunk_phone
    peer = Peer()
    try:
        peer.send(invite("c-late-cancel", peer.port, sdp(peer.port + 1)), phone.sip_port)
        peer.expect("SIP/2.0 200")
        peer.send(cancel("c-late-cancel", peer.port, phone.sip_port), phone.sip_port)
        ok, _ = peer.expect("SIP/2.0 200")
        assert "CSeq: 1 CANCEL" in ok
        deadline = time.monotonic() + 2
        while not answered and time.monotonic() < deadline:
            time.sleep(0.01)
        assert answered and answered[0].state == pa.CallState.ANSWERED
    finally:
        release.set()
        peer.close()


def test_a_re_invite_refreshing_the_session_is_answered_with_the_same_session(trunk_phone: Any) -> None:
    phone, release, answered = trunk_phone
    peer = Peer()
    try:
        peer.send(invite("c-refresh", peer.port, sdp(peer.port + 1)), phone.sip_port)
        ok, _ = peer.expect("SIP/2.0 200")
        our_tag = ok.split("\r\nTo: ", 1)[1].split("\r\n", 1)[0].split("tag=", 1)[1]
        media = [line for line in ok.split("\r\n") if line.startswith("m=audio")]
        # the session timer's refresh: same dialog (our To tag), CSeq 2, the same offer
        refresh = invite("c-refresh", peer.port, sdp(peer.port + 1), cseq=2).replace(
            b"To: <sip:1000@127.0.0.1:5060>", f"To: <sip:1000@127.0.0.1:5060>;tag={our_tag}".encode())
        peer.send(refresh, phone.sip_port)
        again, _ = peer.expect("SIP/2.0 200")
        assert "CSeq: 2 INVITE" in again and f"tag={our_tag}" in again
        assert [line for line in again.split("\r\n") if line.startswith("m=audio")] == media
        assert answered[0].state == pa.CallState.ANSWERED and "c-refresh" in phone.calls
    finally:
        release.set()
        peer.close()


def test_busy_beyond_max_calls_and_488_without_usable_sdp(trunk_phone: Any) -> None:
    phone, release, answered = trunk_phone
    peer = Peer()
    try:
        peer.send(b"\x00\x01garbage that is not SIP\r\n\r\n", phone.sip_port)
        peer.send(invite("c-1", peer.port, sdp(peer.port + 1)), phone.sip_port)
        peer.expect("SIP/2.0 200")
        peer.send(invite("c-2", peer.port, sdp(peer.port + 1)), phone.sip_port)
        busy, _ = peer.expect("SIP/2.0 486")
        assert "Call-ID: c-2" in busy
        peer.send(invite("c-3", peer.port, None), phone.sip_port)
        peer.expect("SIP/2.0 488")
        peer.send(invite("c-4", peer.port, sdp(codecs="18", extra="a=rtpmap:18 G729/8000")), phone.sip_port)
        peer.expect("SIP/2.0 488")
        options = invite("c-5", peer.port, None).replace(b"INVITE", b"OPTIONS")
        peer.send(options, phone.sip_port)
        peer.expect("SIP/2.0 200")
        assert len(answered) == 1
    finally:
        release.set()
        peer.close()


# ----- register mode -----------------------------------------------------------------------------------------


def ok_for(request: str) -> bytes:
    head = request.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [line for line in head[1:] if line.split(":", 1)[0] in ("Via", "From", "Call-ID", "CSeq", "Contact")]
    to = next(line for line in head if line.startswith("To:"))
    lines = ["SIP/2.0 200 OK", *keep, f"{to};tag=reg1", "Expires: 120", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def test_register_mode_registers_answers_via_the_proxy_and_sends_requests_to_it() -> None:
    registrar = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    registrar.bind(("127.0.0.1", 0))
    registrar.settimeout(0.1)
    registers: list[str] = []
    others: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = registrar.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode()
            if text.startswith("REGISTER"):
                registers.append(text)
                registrar.sendto(ok_for(text), addr)
            else:
                others.append(text)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    release = threading.Event()

    def on_call(call: pa.AdapterCall) -> None:
        call.answer()
        release.wait(5)

    phone = make_phone(on_call, trunk=False, registrar=("127.0.0.1", registrar.getsockname()[1]), username="ivr",
                       password="pw", rtp_low=34100, rtp_high=34199)
    proxy = Peer()
    try:
        phone.start()
        assert phone.get_status() == pa.PhoneStatus.REGISTERED
        assert registers and registers[0].startswith("REGISTER sip:127.0.0.1")
        # An INVITE relayed by the proxy: the response follows the Via (the proxy), not the registrar.
        proxy.send(invite("c-reg", proxy.port, sdp(proxy.port + 1)), phone.sip_port)
        proxy.expect("SIP/2.0 200")
        release.set()
        # Our BYE goes to the registrar/proxy (the outbound proxy in register mode), not to the R-URI.
        assert wait_until(lambda: any(text.startswith("BYE ") for text in others))
    finally:
        release.set()
        phone.stop()
        stop.set()
        worker.join(1)
        registrar.close()
        proxy.close()


def wait_until(predicate: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
