"""Fuzz (issue 8): random and mutated SIP datagrams, and RTP garbage, during a live call, over loopback.

Bounded: 2,000 datagrams, 20 s at most. The seed is printed so a failure can be replayed (``SIP_FUZZ_SEED``).
Invariants: the live call goes on and ends normally, no traceback (no ERROR record) in the log, no call is started
by a datagram that is not a well-formed INVITE with an IPv4 G.711 offer, and OPTIONS is answered afterwards.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.telephony.sipwire import Agent, Peer, ack_for, loopback, request, rtp, sdp, wait_until
from voicebot.telephony import sip_message as sm
from voicebot.telephony.sip_call import CallState

pytestmark = pytest.mark.integration

DATAGRAMS = 2000
SECONDS = 20.0


def seeds(peer_port: int, target: int) -> list[bytes]:
    """Valid messages of every kind we handle, to be mutated."""
    out = [request("INVITE", "fz-inv", peer_port, target_port=target, body=sdp(peer_port + 1)),
           request("OPTIONS", "fz-opt", peer_port, target_port=target),
           request("BYE", "fz-bye", peer_port, target_port=target, to_tag="t"),
           request("CANCEL", "fz-inv", peer_port, target_port=target),
           request("INFO", "fz-info", peer_port, target_port=target, to_tag="t", body="Signal=5\r\n",
                   content_type="application/dtmf-relay"),
           request("UPDATE", "fz-upd", peer_port, target_port=target, to_tag="t"),
           request("REGISTER", "fz-reg", peer_port, target_port=target),
           b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
           b"To: <sip:c@d>;tag=2\r\nCall-ID: fz-resp\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"]
    # the valid RFC 4475 messages (3.1.1) too (issue 14: a mutation fuzz of the valid torture messages)
    torture = Path(__file__).parent / "torture"
    valid = ("wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
             "transports", "mpart01", "unreason", "noreason")
    out += [loopback((torture / f"{name}.dat").read_bytes()) for name in valid]
    return out


TOKENS = [b"\r\n", b" ", b":", b";", b",", b"<", b">", b"\x00", b"\xff", b"SIP/2.0", b"INVITE", b"tag=", b"-1",
          b"99999999999999999999", b"Content-Length: 5", b"\r\n\t", b"m=audio 0 RTP/AVP 0", b"c=IN IP6 ::1", b"%"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(8)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if kind == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif kind == 1:  # truncate
            buf = buf[:pos]
        elif kind == 2:  # insert a token
            buf[pos:pos] = rng.choice(TOKENS)
        elif kind == 3:  # delete a line
            lines = bytes(buf).split(b"\r\n")
            if len(lines) > 1:
                del lines[rng.randrange(len(lines))]
            buf = bytearray(b"\r\n".join(lines))
        elif kind == 4:  # duplicate a line
            lines = bytes(buf).split(b"\r\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            buf = bytearray(b"\r\n".join(lines))
        elif kind == 5:  # change the case of a stretch
            end = min(len(buf), pos + rng.randint(1, 20))
            buf[pos:end] = bytes(buf[pos:end]).swapcase()
        elif kind == 6 and (numbers := list(re.finditer(rb"\d+", bytes(buf)))):
            # a number made too large for its field, or for int() itself (more than 4,300 digits: issue 14)
            number = rng.choice(numbers)
            buf[number.start():number.end()] = b"9" * rng.choice([11, 21, 5000])
        else:  # a fresh Call-ID, so that a mutated INVITE may start a call
            buf = bytearray(bytes(buf).replace(b"Call-ID: fz-inv", f"Call-ID: fz-{rng.randrange(10**9)}".encode()))
    return bytes(buf)


def well_formed_invite(data: bytes) -> bool:
    """An oracle independent of the parser: what a datagram needs to be allowed to start a call."""
    if b"\r\n\r\n" not in data:
        return False
    head, body = data.split(b"\r\n\r\n", 1)
    lines = re.sub(rb"\r\n[ \t]+", b" ", head).split(b"\r\n")
    if not lines[0].startswith(b"INVITE ") or not lines[0].endswith(b" SIP/2.0"):
        return False
    lengths = [line.split(b":", 1)[1].strip() for line in lines[1:] if line.lower().startswith(b"content-length:")]
    # (over UDP a missing Content-Length means "the rest of the datagram"; octets beyond it are discarded,
    # RFC 3261 18.3)
    if len(lengths) > 1 or (lengths and (not lengths[0].isdigit() or len(lengths[0]) > 10
                                         or int(lengths[0]) > len(body))):
        return False
    body = body[:int(lengths[0])] if lengths else body
    return b"m=audio " in body and b"c=IN IP4 " in body


def transact(peer: Peer, data: bytes, port: int, match: Callable[[sm.Message], bool]) -> sm.Message:
    """Send a request, retransmitted every 0.5 s (RFC 3261 T1) up to 10 times, until its answer arrives."""
    for _ in range(10):
        peer.send(data, port)
        try:
            return peer.expect(match, timeout=0.5)
        except AssertionError:
            continue
    raise AssertionError("no answer to 10 transmissions")


@pytest.fixture
def agent() -> Iterator[Agent]:
    one = Agent(max_calls=200, t1=0.05, t2=0.2)  # mutated INVITEs may start calls: they end at 64*T1 (no ACK)
    yield one
    one.stop()


def test_fuzzed_sip_and_rtp_during_a_live_call(agent: Agent, caplog: pytest.LogCaptureFixture,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING)
    seed = int(os.environ.get("SIP_FUZZ_SEED") or random.randrange(2**32))
    print(f"SIP fuzz seed {seed}")
    rng = random.Random(seed)
    caller = Peer()
    fuzzer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fuzzer.bind(("127.0.0.1", 0))
    try:
        # the live call
        caller.send(request("INVITE", "live", caller.port, target_port=agent.port, body=sdp(caller.port + 1)),
                    agent.port)
        ok = caller.expect("200")
        caller.send(ack_for(ok, "live", caller.port, agent.port), agent.port)
        live = agent.calls[0]
        assert live.rtp is not None
        rtp_port = live.rtp.port
        # the caller's media flows from the start (the first valid packet latches the stream, as in a real call)
        caller.sock.sendto(rtp(0, b"\xff" * 160, seq=0, ssrc=4242), ("127.0.0.1", rtp_port))
        assert wait_until(lambda: live.rtp is not None and live.rtp.rx_packets == 1)
        sent: dict[bytes, list[bytes]] = {}  # Call-ID -> the datagrams that carried it
        base = seeds(fuzzer.getsockname()[1], agent.port)
        end = time.monotonic() + SECONDS
        count = 0
        while count < DATAGRAMS and time.monotonic() < end:
            roll = rng.random()
            if roll < 0.1:
                data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
            elif roll < 0.2:  # RTP garbage and foreign RTP to the live call's port
                payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
                data = rtp(rng.choice([0, 8, 101, 13, 77]), payload, seq=rng.randrange(65536),
                           ssrc=rng.randrange(2**32)) if rng.random() < 0.5 else payload[:40]
                fuzzer.sendto(data, ("127.0.0.1", rtp_port))
                count += 1
                continue
            else:
                data = mutate(rng.choice(base), rng)
            unfolded = re.sub(rb"\r?\n[ \t]+", b" ", data)  # (folded header lines are one line)
            for line in unfolded.replace(b"\r\n", b"\n").split(b"\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"call-id", b"i"):
                    sent.setdefault(value.strip(), []).append(data)
            fuzzer.sendto(data, ("127.0.0.1", agent.port))
            count += 1
            if count % 200 == 0:
                time.sleep(0.01)  # let the receive thread breathe; the media keeps flowing meanwhile
            # the caller's media goes on all along
            if count % 10 == 0:
                caller.sock.sendto(rtp(0, b"\xff" * 160, seq=count // 10, ssrc=4242), ("127.0.0.1", rtp_port))
        print(f"sent {count} datagrams")
        # the live call is still up and still hears its caller
        assert live.state == CallState.ANSWERED
        assert live.rtp.rx_packets > 0
        # the server still answers OPTIONS
        # (over UDP a request is retransmitted until answered: the flood may have filled the socket buffer)
        options = request("OPTIONS", "after", caller.port, target_port=agent.port)
        assert transact(caller, options, agent.port, lambda m: m.call_id == "after").status == 200
        # the caller hangs up normally
        bye = request("BYE", "live", caller.port, target_port=agent.port, cseq=2, to_tag=ok.to_tag)
        assert transact(caller, bye, agent.port, lambda m: m.call_id == "live" and m.cseq[1] == "BYE").status == 200
        assert live.state == CallState.ENDED and live.end_reason == "caller hung up"
        # every other call was started by a well-formed INVITE
        for call in agent.calls[1:]:
            origins = sent.get(call.call_id.encode(), []) + sent.get(call.call_id.encode("latin-1", "replace"), [])
            assert any(well_formed_invite(origin) for origin in origins), (call.call_id, origins)
        # no traceback, no error
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert not errors, [r.getMessage() for r in errors[:5]]
        # warnings were rate-limited: far fewer lines than bad datagrams
        warnings = [r for r in caplog.records if r.name == "voicebot.sip"]
        assert len(warnings) < count / 4, len(warnings)
        # the calls started by mutated INVITEs (never ACKed) end by themselves
        assert wait_until(lambda: agent.ua.active_calls() == 0, 10)
    finally:
        caller.close()
        fuzzer.close()


def _captured(name: str) -> tuple[logging.Logger, list[str]]:
    """A logger of its own whose messages land in the returned list (and nowhere else)."""
    records: list[str] = []

    class Sink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger(name)
    logger.addHandler(Sink())
    logger.propagate = False
    return logger, records


def test_warnings_are_rate_limited_with_a_count() -> None:
    from voicebot.telephony.ratelimit import RateLimitedLog

    logger, records = _captured("test.ratelimit")
    now = [0.0]
    limited = RateLimitedLog(logger, interval=10.0, clock=lambda: now[0])
    for _ in range(500):
        limited.warning("bad", "dropped a bad datagram")
    now[0] = 10.5
    limited.warning("bad", "dropped a bad datagram")
    limited.warning("other", "something else")
    assert records == ["dropped a bad datagram",
                       "dropped a bad datagram (and 499 more like it in the last 10 s)", "something else"]


def test_flush_writes_the_count_of_a_flood_that_stopped() -> None:
    from voicebot.telephony.ratelimit import RateLimitedLog

    logger, records = _captured("test.ratelimit.flush")
    now = [0.0]
    limited = RateLimitedLog(logger, interval=10.0, clock=lambda: now[0])
    for n in range(300):
        limited.warning("bad", "dropped datagram %d", n)
    limited.warning("once", "a single one")
    now[0] = 5.0
    assert limited.flush() == 0  # not yet: the interval since the line that was written has not passed
    now[0] = 10.0
    assert limited.flush() == 1  # "once" had nothing suppressed: no line for it
    assert records == ["dropped datagram 0", "a single one",
                       "dropped datagram 299 (and 298 more like it in the last 10 s)"]
    assert limited.flush() == 0  # counted once
    now[0] = 15.0
    assert not limited.warning("bad", "dropped datagram %d", 300)  # still within the interval of the flushed line
    now[0] = 25.0
    limited.flush()
    assert records[-1] == "dropped datagram 300"
