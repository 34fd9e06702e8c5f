"""The RTP stream: 16-bit G.711 both ways, framing, the DTMF guard, bad packets (FINDINGS.md items kept from the
pyVoIP days), on a real loopback socket."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.telephony.sipwire import event as dtmf_payload
from tests.telephony.sipwire import rtp, wait_until
from voicebot.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voicebot.telephony.rtp import DTMF_GAP_S, PortPool, RtpStream, parse_packet

pytestmark = pytest.mark.integration

SOURCE = ("127.0.0.1", 6000)


@pytest.fixture
def streams() -> Iterator[list[RtpStream]]:
    made: list[RtpStream] = []
    yield made
    for stream in made:
        stream.close()


def stream(made: list[RtpStream], *, remote: tuple[str, int] = SOURCE, pt: int = 0, codec: str = "PCMU",
           keys: list[str] | None = None) -> RtpStream:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    one = RtpStream(sock, remote=remote, payload_type=pt, codec=codec, dtmf_pt=101, receive={0: "PCMU", 8: "PCMA"},
                    on_key=keys.append if keys is not None else None)
    made.append(one)
    return one


def test_parse_packet_handles_csrcs_extension_and_padding() -> None:
    header = bytes([0xB1, 0x00]) + (7).to_bytes(2, "big") + (160).to_bytes(4, "big") + (9).to_bytes(4, "big")
    csrc = (1).to_bytes(4, "big")
    ext = b"\xbe\xde" + (1).to_bytes(2, "big") + b"\x00" * 4
    packet = parse_packet(header + csrc + ext + b"abc" + b"\x00\x02")
    assert packet.payload == b"abc" and packet.sequence == 7 and packet.ssrc == 9
    for bad in (b"\x80", b"\xff" * 30, header + csrc):  # short, version 3, extension missing
        with pytest.raises(ValueError):
            parse_packet(bad)


def test_pcmu_and_pcma_payloads_are_decoded_to_16_bit_exactly(streams: list[RtpStream]) -> None:
    one = stream(streams)
    codes = bytes(range(256))[:160]
    one.handle_datagram(rtp(0, codes), SOURCE)
    frame = one.read_frame()
    assert frame is not None and frame.dtype == np.int16
    np.testing.assert_array_equal(frame, mulaw_decode(codes))
    assert one.read_frame() is None
    one.handle_datagram(rtp(8, bytes(range(96, 256))), SOURCE)  # the peer may send any offered law
    np.testing.assert_array_equal(one.read_frame(), alaw_decode(bytes(range(96, 256))))  # type: ignore[arg-type]


def test_frames_are_rebuilt_from_odd_packet_sizes(streams: list[RtpStream]) -> None:
    one = stream(streams)
    codes = bytes(np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8))
    for start in range(0, 400, 80):  # 10 ms packets
        one.handle_datagram(rtp(0, codes[start:start + 80], seq=start), SOURCE)
    got = [one.read_frame(), one.read_frame()]
    assert one.read_frame() is None
    np.testing.assert_array_equal(np.concatenate(got), mulaw_decode(codes[:320]))  # type: ignore[arg-type]


@pytest.mark.parametrize(("pt", "codec", "encode"), [(0, "PCMU", mulaw_encode), (8, "PCMA", alaw_encode)])
def test_send_frame_transmits_g711_encoded_from_16_bit(streams: list[RtpStream], pt: int, codec: str,
                                                       encode: object) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2)
        one = stream(streams, remote=("127.0.0.1", peer.getsockname()[1]), pt=pt, codec=codec)
        pcm = (np.sin(np.arange(160) / 5) * 12000).astype(np.int16)
        one.send_frame(pcm)
        one.send_frame(pcm)
        first, _ = peer.recvfrom(2048)
        second, _ = peer.recvfrom(2048)
    assert first[1] & 0x7F == pt and len(first) == 12 + 160
    assert first[12:] == encode(pcm)  # type: ignore[operator]
    assert int.from_bytes(second[2:4], "big") == (int.from_bytes(first[2:4], "big") + 1) & 0xFFFF
    assert int.from_bytes(second[4:8], "big") - int.from_bytes(first[4:8], "big") == 160


def test_dtmf_event_id_above_15_is_dropped_and_the_receiver_survives(streams: list[RtpStream]) -> None:
    keys: list[str] = []
    one = stream(streams, remote=("127.0.0.1", 0), keys=keys)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for packet in (rtp(101, dtmf_payload(200, False, 160), ts=1), rtp(101, dtmf_payload(16, False, 160), ts=2),
                       rtp(101, dtmf_payload(5, False, 160), ts=3, marker=True),
                       *[rtp(101, dtmf_payload(5, True, 480), ts=3)] * 3):
            s.sendto(packet, ("127.0.0.1", one.port))
        assert wait_until(lambda: keys == ["5"])
    time.sleep(0.1)
    assert keys == ["5"] and one.dropped == 2


def test_dtmf_without_marker_bit_is_reported_once_per_press(streams: list[RtpStream]) -> None:
    one = stream(streams)
    for _ in range(4):
        one.handle_datagram(rtp(101, dtmf_payload(11, False, 160), ts=99), SOURCE)
    assert one.keys_received == "#"
    time.sleep(DTMF_GAP_S + 0.05)
    one.handle_datagram(rtp(101, dtmf_payload(11, True, 160), ts=99), SOURCE)  # the same event replayed later
    assert one.keys_received == "##"


def test_garbage_and_unexpected_sources_are_dropped(streams: list[RtpStream]) -> None:
    one = stream(streams)
    one.handle_datagram(b"\x00garbage", SOURCE)
    one.handle_datagram(rtp(0, b"\xff" * 160), ("10.9.9.9", 6000))  # not the offer's address
    one.handle_datagram(rtp(99, b"\xff" * 160), SOURCE)  # a payload type nobody offered
    assert one.dropped == 3 and one.dropped_foreign == 1 and one.read_frame() is None and one.latched is None


def test_dropped_foreign_packets_are_logged_as_the_operators_guide_says(
        streams: list[RtpStream], caplog: pytest.LogCaptureFixture) -> None:
    # docs/operators-guide.md (sections 6 and 11) tells operators to look for these words
    caplog.set_level(logging.WARNING, logger="voicebot.sip")
    before = stream(streams)
    before.handle_datagram(rtp(0, b"\xff" * 160), ("10.9.9.9", 6000))  # NAT: not the offer's address
    after = stream(streams)
    after.handle_datagram(rtp(0, b"\xff" * 160, ssrc=1), SOURCE)
    after.handle_datagram(rtp(0, b"\xff" * 160, ssrc=2), ("127.0.0.1", 6002))  # another port of the host
    lines = [r.getMessage() for r in caplog.records]
    assert any("dropped a packet from unexpected source 10.9.9.9:6000 (the offer's address is 127.0.0.1)" in line
               for line in lines), lines
    assert any("dropped a packet from unexpected source 127.0.0.1:6002 SSRC 00000002 (media is latched to "
               "127.0.0.1:6000" in line for line in lines), lines


def test_a_frame_sent_as_the_call_ends_is_dropped_without_a_warning(
        streams: list[RtpStream], caplog: pytest.LogCaptureFixture) -> None:
    # The call loop's last frame can race the BYE that closes the socket ("send failed: Bad file descriptor" was
    # logged under load); a send that fails once the stream is closing is expected, one before that is not.
    caplog.set_level(logging.WARNING, logger="voicebot.sip")
    one = stream(streams)

    class ClosingSocket:
        def __init__(self, closing: bool) -> None:
            self.closing = closing

        def sendto(self, data: bytes, address: tuple[str, int]) -> int:
            if self.closing:
                one._running = False  # close() ran on another thread meanwhile
            raise OSError(9, "Bad file descriptor")

    real = one._sock
    try:
        one._sock = ClosingSocket(closing=True)  # type: ignore[assignment]
        one.send_frame(np.zeros(160, dtype=np.int16))
        assert "send failed" not in caplog.text
        one._running = True
        one._sock = ClosingSocket(closing=False)  # type: ignore[assignment]
        one.send_frame(np.zeros(160, dtype=np.int16))
        assert "send failed: [Errno 9] Bad file descriptor" in caplog.text  # a real failure is still reported
    finally:
        one._sock = real


def test_a_peer_restarting_its_stream_is_followed(streams: list[RtpStream]) -> None:
    one = stream(streams)
    one.handle_datagram(rtp(0, b"\xff" * 160, ssrc=1), SOURCE)
    for seq in range(60):  # 1.2 s of a new SSRC from the same address and port
        one.handle_datagram(rtp(0, b"\xff" * 160, seq=seq, ssrc=2), SOURCE)
    assert one.ssrcs["audio"] == 2 and one.rx_packets > 1


def test_port_pool_skips_ports_in_use_and_release_is_idempotent() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        pool = PortPool("127.0.0.1", taken, taken + 1)
        sock = pool.open()
        try:
            assert sock.getsockname()[1] == taken + 1 and pool.assigned == [taken + 1]
        finally:
            sock.close()
        pool.release(taken + 1)
        pool.release(taken + 1)
        assert pool.assigned == []
