"""SDP variants and bad input on a live call, over loopback: the SIP server in-process (trunk mode), sipp as the caller.

Reuses the sipp helpers of ``test_sip_e2e``; the server and sipp's media use ports chosen free at run time.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.telephony.harness import SIPP, free_udp_ports, run_sipp, voicebot_server, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, None, Path]]:
    """Like ``test_sip_e2e.server`` (same shape), but with its RTP port range chosen free at run time."""
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    data = tmp_path_factory.mktemp("data")
    with voicebot_server(data) as (srv, services):
        yield srv, services, None, data


def live_calls(srv: Any) -> list[Any]:
    return [c for c in list(srv.endpoint.ua.calls.values()) if getattr(c, "rtp", None) is not None]


def start_sipp(srv: Any, scenario: str, cwd: Path) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["done"] = run_sipp(srv.sip_port, scenario, cwd, media_port=free_udp_ports())

    thread = threading.Thread(target=run, name="sipp-runner", daemon=True)
    thread.start()
    return thread, out


def finished_call(srv: Any, services: Any, before: int) -> tuple[Any, Any]:
    assert wait_for(lambda: len(srv.results) > before, 10)
    result = srv.results[-1]
    record = services.store.get_call(result.call_id)
    assert record is not None and record.ended_at is not None
    return result, record


# ----- SDP variants ------------------------------------------------------------------------------------------


def test_sdp_with_session_and_media_c_lines(server: Any, tmp_path: Path) -> None:
    srv, services, _events, _data = server
    before = len(srv.results)
    done = run_sipp(srv.sip_port, "sdp_two_c_lines.xml", tmp_path, media_port=free_udp_ports())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result, record = finished_call(srv, services, before)
    assert result.ended_by == "caller"
    assert result.stats["tx_packets"] > 50  # the IVR's audio went out on the one RTP client
    assert record.caller_id == "+15550100001"
    assert wait_for(lambda: srv.endpoint.ua.ports.assigned == [] and srv.endpoint.active_calls() == 0)


def test_pcma_only_offer_uses_alaw(server: Any, tmp_path: Path) -> None:
    srv, services, _events, _data = server
    before = len(srv.results)
    thread, out = start_sipp(srv, "sdp_pcma_only.xml", tmp_path)
    codecs: set[tuple[str, int]] = set()

    def seen() -> bool:
        codecs.update((c.rtp.codec, c.rtp.payload_type) for c in live_calls(srv))
        return bool(codecs)

    assert wait_for(seen, 10)
    thread.join(40)
    done = out["done"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert codecs == {("PCMA", 8)}
    result, _record = finished_call(srv, services, before)
    assert result.ended_by == "caller"
    assert result.stats["rx_packets"] > 20  # sip-tester's A-law pcap arrived and was decoded
    assert result.stats["tx_packets"] > 50


@pytest.mark.parametrize("scenario", ["sdp_g729_only.xml", "no_sdp.xml"])
def test_unacceptable_offer_gets_488(server: Any, tmp_path: Path, scenario: str) -> None:
    srv, _services, _events, _data = server
    before = len(srv.results)
    done = run_sipp(srv.sip_port, scenario, tmp_path, media_port=free_udp_ports(), timeout=15)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(srv.results) == before
    assert srv.endpoint.active_calls() == 0 and srv.endpoint.ua.ports.assigned == []


# ----- bad input during a live call --------------------------------------------------------------------------


def rtp_packet(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return (bytes([0x80, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
            + (0x1234ABCD).to_bytes(4, "big") + payload)


def event_payload(event: int, end: int, duration: int) -> bytes:
    """An RFC 2833 payload: event id, end bit | volume 10, duration."""
    return bytes([event, end | 10]) + duration.to_bytes(2, "big")


MALFORMED_SIP = (
    b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
    b"Via SIP/2.0/UDP 127.0.0.1:5999\r\n"  # no colon
    b"From: <sip:x@127.0.0.1\r\n"  # unterminated URI, no tag
    b"Call-ID:\r\n"
    b"CSeq: abc INVITE\r\n"
    b"Content-Length: 9999\r\n\r\nv=0\r\n"
)


def send_bad_input(sip_port: int, rtp_port: int) -> None:
    garbage = [b"\x00\xff" * 40, b"hello", b"", bytes(range(256)) * 4]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for blob in garbage:
            sock.sendto(blob, ("127.0.0.1", sip_port))
            sock.sendto(blob, ("127.0.0.1", rtp_port))
        sock.sendto(MALFORMED_SIP, ("127.0.0.1", sip_port))
        sock.sendto(b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\n", ("127.0.0.1", sip_port))  # a stray response
        sock.sendto(b"BYE sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", sip_port))  # no headers at all
        sock.sendto(b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\nCall-ID: half\r\n\r\n", ("127.0.0.1", sip_port))
        # RTP from a source that is not the caller's media address (another loopback address).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.2", 0))
        for seq in range(20):
            other.sendto(rtp_packet(0, seq, seq * 160, b"\xff" * 160), ("127.0.0.1", rtp_port))
        # RFC 2833 with event id 200 (start, continuation, three end packets), plus a short event payload.
        for i, end in enumerate([0, 0, 0x80, 0x80, 0x80]):
            other.sendto(rtp_packet(101, 100 + i, 99999, event_payload(200, end, 160 * (i + 1)), i == 0),
                         ("127.0.0.1", rtp_port))
        other.sendto(rtp_packet(101, 200, 1, b"\x01"), ("127.0.0.1", rtp_port))


def send_bad_rtp_from_caller_host(rtp_port: int) -> None:
    """The same RFC 2833 event 200, a short event and garbage RTP from the caller's IP (so it is parsed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for i, end in enumerate([0, 0, 0x80, 0x80, 0x80]):
            sock.sendto(rtp_packet(101, 300 + i, 77777, event_payload(200, end, 160 * (i + 1)), i == 0),
                        ("127.0.0.1", rtp_port))
        sock.sendto(rtp_packet(101, 400, 2, b"\x01"), ("127.0.0.1", rtp_port))
        sock.sendto(rtp_packet(77, 401, 3, b"\x00" * 10), ("127.0.0.1", rtp_port))  # unknown payload type
        sock.sendto(b"\x80", ("127.0.0.1", rtp_port))  # truncated header
        sock.sendto(b"\xff" * 30, ("127.0.0.1", rtp_port))  # RTP version 3


def test_bad_input_during_a_live_call(server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    srv, services, _events, _data = server
    caplog.set_level(logging.WARNING, logger="voicebot")
    before = len(srv.results)
    thread, out = start_sipp(srv, "long_call.xml", tmp_path)
    assert wait_for(lambda: bool(live_calls(srv)), 10)
    call = live_calls(srv)[0]
    rtp_port = int(call.rtp.inPort)
    rx_threads = [t for t in threading.enumerate() if t.name == f"rtp-rx-{rtp_port}"]
    assert rx_threads
    send_bad_input(srv.sip_port, rtp_port)
    send_bad_rtp_from_caller_host(rtp_port)
    assert wait_for(lambda: call.rtp.dropped >= 20, 3)  # the foreign source was dropped
    # The receive thread survived the garbage and the bad events; no key was reported.
    assert all(t.is_alive() for t in rx_threads)
    assert call.rtp.keys_received == ""
    thread.join(40)
    done = out["done"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result, record = finished_call(srv, services, before)
    assert result.ended_by == "caller"
    assert result.stats["rx_packets"] > 50
    assert record.caller_id == "+15550100001" and record.outcome == "abandoned"
    assert srv.endpoint.active_calls() == 0, [(c.call_id, c.state, c.direction) for c in srv.endpoint.ua.calls.values()]
    # Every bad datagram was dropped with a warning: nothing failed later with a traceback.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert any("dropped a SIP message without" in r.getMessage() for r in caplog.records)
    # A second call afterwards works.
    before = len(srv.results)
    done = run_sipp(srv.sip_port, "sdp_two_c_lines.xml", tmp_path, media_port=free_udp_ports())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result, _record = finished_call(srv, services, before)
    assert result.ended_by == "caller" and result.stats["tx_packets"] > 50
    assert wait_for(lambda: srv.endpoint.ua.ports.assigned == [] and srv.endpoint.active_calls() == 0)
