"""A raw UDP SIP peer for the tests: builds requests, sends them from a loopback socket and collects what comes
back. No SIP library: the bytes on the wire are what the test says."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.telephony.harness import free_udp_ports
from voicebot.telephony import sip_message as sm
from voicebot.telephony.sip_call import CallEnded, SipCall
from voicebot.telephony.sip_ua import UaConfig, UserAgent


def sdp(media_port: int = 6000, codecs: str = "0 101", *, address: str = "127.0.0.1", family: str = "IP4",
        extra: str = "") -> str:
    maps = {"0": "a=rtpmap:0 PCMU/8000", "8": "a=rtpmap:8 PCMA/8000", "18": "a=rtpmap:18 G729/8000",
            "101": "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15"}
    lines = ["v=0", f"o=peer 1 1 IN {family} {address}", "s=-", f"c=IN {family} {address}", "t=0 0",
             f"m=audio {media_port} RTP/AVP {codecs}"]
    lines += [maps[pt] for pt in codecs.split() if pt in maps] + ["a=ptime:20", "a=sendrecv"]
    if extra:
        lines.append(extra)
    return "\r\n".join(lines) + "\r\n"


def request(method: str, call_id: str, via_port: int, *, target_port: int = 5060, cseq: int = 1,
            body: str | None = None, content_type: str = "application/sdp", branch: str = "",
            to_tag: str = "", caller: str = "+15550100001", dialled: str = "1000",
            extra: list[str] | None = None, content_length: int | None = None, cseq_method: str = "") -> bytes:
    branch = branch or f"z9hG4bK-{call_id}-{cseq}"
    to = f"<sip:{dialled}@127.0.0.1:{target_port}>" + (f";tag={to_tag}" if to_tag else "")
    headers = [
        f"{method} sip:{dialled}@127.0.0.1:{target_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch={branch};rport",
        f'From: "Caller" <sip:{caller}@127.0.0.1:{via_port}>;tag=caller-{call_id}',
        f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {cseq_method or method}",
        f"Contact: <sip:{caller}@127.0.0.1:{via_port}>", "Max-Forwards: 70", *(extra or []),
    ]
    data = (body or "").encode()
    if body is not None:
        headers.append(f"Content-Type: {content_type}")
    headers.append(f"Content-Length: {len(data) if content_length is None else content_length}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + data


class Peer:
    """A SIP peer on a loopback UDP socket; every datagram received is kept (in order) in :attr:`received`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[sm.Message] = []
        self.raw: list[bytes] = []

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._recv_one()

    def _recv_one(self) -> sm.Message | None:
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        self.raw.append(data)
        msg = sm.parse(data)
        self.received.append(msg)
        return msg

    def expect(self, match: Callable[[sm.Message], bool] | str, timeout: float = 3.0) -> sm.Message:
        """The first message (already received or arriving within ``timeout``) that matches and was not taken."""
        test = match if callable(match) else _status_or_method(match)
        end = time.monotonic() + timeout
        seen = 0
        while True:
            for msg in self.received[seen:]:
                if test(msg) and not getattr(msg, "_taken", False):
                    msg._taken = True  # type: ignore[attr-defined]
                    return msg
            seen = len(self.received)
            if time.monotonic() >= end:
                raise AssertionError(f"nothing matching {match!r}; got {[m.summary() for m in self.received]}")
            self._recv_one()

    def responses(self, method: str) -> list[sm.Message]:
        return [m for m in self.received if not m.is_request and m.cseq[1] == method]

    def close(self) -> None:
        self.sock.close()


def _status_or_method(text: str) -> Callable[[sm.Message], bool]:
    if text.isdigit():
        return lambda m: not m.is_request and m.status == int(text)
    return lambda m: m.is_request and m.method == text


_HOSTS = re.compile(rb"(?<![%\w.-])(?:[A-Za-z0-9.-]*\.)?example\.(?:com|net|org|edu)|192\.0\.2\.\d+|192\.168\.\d+\.\d+")


def loopback(data: bytes) -> bytes:
    """Every documentation host (``*.example.com``, 192.0.2.x, 192.168.x.x) in the header section pointed at
    127.0.0.1, so that nothing a test makes the agent send (a BYE to a Contact) leaves loopback or asks DNS.
    The body is left alone (its Content-Length stays right)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n"
    head, found, body = data.partition(sep)
    return _HOSTS.sub(b"127.0.0.1", head) + found + body


def ack_for(ok: sm.Message, call_id: str, via_port: int, target_port: int, cseq: int = 1) -> bytes:
    return request("ACK", call_id, via_port, target_port=target_port, cseq=cseq, to_tag=ok.to_tag,
                   branch=f"z9hG4bK-ack-{call_id}-{cseq}")


def rtp(pt: int, payload: bytes, *, seq: int = 1, ts: int = 160, ssrc: int = 1234, marker: bool = False) -> bytes:
    return (bytes([0x80, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
            + ssrc.to_bytes(4, "big") + payload)


def event(key: int, end: bool, duration: int) -> bytes:
    return bytes([key, (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")


def wait_until(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def no_dns(host: str, port: int) -> tuple[str, int]:
    raise OSError(f"the tests do not resolve names ({host!r})")


class Agent:
    """A UserAgent whose calls run ``behaviour(call)`` (default: answer, then wait for the end)."""

    def __init__(self, behaviour: Callable[[SipCall], None] | None = None, **config: Any) -> None:
        low = free_udp_ports(20)
        config.setdefault("max_calls", 4)
        self.calls: list[SipCall] = []
        self.release = threading.Event()
        self.behaviour = behaviour or self.answer_and_wait
        self.ua = UserAgent(UaConfig(host="127.0.0.1", port=0, rtp_low=low, rtp_high=low + 19, **config),
                            self._on_call)
        self.ua.transport.resolve = no_dns  # tests stay on loopback: a Contact naming a host is not looked up
        self.ua.start()

    def _on_call(self, call: SipCall) -> None:
        self.calls.append(call)
        self.behaviour(call)

    def answer_and_wait(self, call: SipCall) -> None:
        try:
            call.answer()
        except CallEnded:
            return
        while not self.release.is_set() and not call.ended.wait(0.05):
            pass

    @property
    def port(self) -> int:
        return self.ua.port

    def stop(self) -> None:
        self.release.set()
        self.ua.stop()
