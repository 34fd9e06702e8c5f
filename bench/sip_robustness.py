"""Benchmark: the SIP layer under the races and floods of issue 8, over loopback, against an in-process UserAgent.

* CANCEL racing the answer: N INVITEs, each followed at once by its CANCEL; how many ended 487 (the CANCEL won)
  and how many 200 (the answer won), and how many got two different final responses (must be 0);
* BYE right after the 200 (no ACK): N calls; how many were still holding a slot once the BYE was answered
  (ghosts, must be 0);
* garbage flood: D random and mutated datagrams sent as fast as one socket can; datagrams handled per second (the
  time until an OPTIONS sent behind them is answered), and the log lines they cost (rate-limited warnings);
* soak: S short calls one after another (INVITE, ACK, RTP both ways, BYE): threads, fds and RSS after the
  first 100 and after all of them;
* shutdown: C answered calls whose owner ignores the end request, ``SipEndpoint.wait_calls(grace)`` then
  ``stop()``: the wall time (one deadline for all calls, so about ``grace``, not ``C x grace``).

Prints figures only; nothing is asserted.

    .venv/bin/python bench/sip_robustness.py [--races 200] [--datagrams 5000] [--calls 20] [--grace 2] [--soak 1000]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from pathlib import Path

from proc_status import rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.telephony.sipwire import Agent, Peer, ack_for, request, rtp, sdp
from voicebot.telephony.endpoint import SipConfig, SipEndpoint
from voicebot.telephony.sip_call import SipCall


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def cancel_races(n: int) -> None:
    def answer_soon(call: SipCall) -> None:  # 0-4 ms to answer, as a busy server: the CANCEL sometimes wins
        time.sleep(random.uniform(0, 0.004))
        agent.answer_and_wait(call)

    agent = Agent(answer_soon, max_calls=50)
    peer = Peer()
    won = {487: 0, 200: 0}
    doubles = 0
    try:
        for i in range(n):
            call_id = f"race-{i}"
            data = request("INVITE", call_id, peer.port, target_port=agent.port, body=sdp(peer.port + 1))
            peer.send(data, agent.port)
            cancel = data.replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
            peer.send(cancel.split(b"Content-Type:")[0] + b"Content-Length: 0\r\n\r\n", agent.port)
            peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "CANCEL")
            peer.pump(0.05)
            finals = {m.status for m in peer.received if m.call_id == call_id and m.cseq[1] == "INVITE"
                      and m.status >= 200}
            doubles += len(finals) > 1
            for status in finals:
                won[status] = won.get(status, 0) + 1
            if 200 in finals:
                ok = next(m for m in peer.received if m.call_id == call_id and m.status == 200)
                peer.send(request("BYE", call_id, peer.port, target_port=agent.port, cseq=2, to_tag=ok.to_tag),
                          agent.port)
            peer.received.clear()
    finally:
        peer.close()
        agent.stop()
    print(f"CANCEL races: {n}; the CANCEL won {won.get(487, 0)}, the answer won {won.get(200, 0)}, "
          f"two final responses: {doubles}")


def bye_after_200(n: int) -> None:
    agent = Agent(max_calls=1)
    peer = Peer()
    ghosts = 0
    try:
        for i in range(n):
            call_id = f"bye-{i}"
            peer.send(request("INVITE", call_id, peer.port, target_port=agent.port, body=sdp(peer.port + 1)),
                      agent.port)
            ok = peer.expect(lambda m, c=call_id: m.call_id == c and m.status == 200)
            peer.send(request("BYE", call_id, peer.port, target_port=agent.port, cseq=2, to_tag=ok.to_tag),
                      agent.port)
            peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "BYE")
            ghosts += agent.ua.active_calls() > 0
            peer.received.clear()
    finally:
        peer.close()
        agent.stop()
    print(f"BYE right after the 200 (no ACK): {n} calls, ghosts {ghosts}")


def flood(datagrams: int) -> None:
    counter = Counter()
    logging.getLogger("voicebot.sip").addHandler(counter)
    agent = Agent()
    peer = Peer()
    rng = random.Random(7)
    base = [request("INVITE", "fl", peer.port, target_port=agent.port, body=sdp(peer.port + 1)),
            request("OPTIONS", "fo", peer.port, target_port=agent.port)]
    try:
        start = time.monotonic()
        for i in range(datagrams):
            data = bytearray(rng.choice(base))
            for _ in range(3):
                pos = rng.randrange(len(data))
                data[pos:pos + rng.randint(1, 20)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))
            peer.send(bytes(data).replace(b"Call-ID: fl", f"Call-ID: fl{i}".encode()), agent.port)
            if i % 20 == 19:
                time.sleep(0.001)  # about 10,000 datagrams a second at most: a flood, not a buffer overflow
        sent = time.monotonic() - start
        for _ in range(40):  # (the flood may have overflowed the socket buffer: ask until answered)
            peer.send(request("OPTIONS", "after", peer.port, target_port=agent.port), agent.port)
            try:
                peer.expect(lambda m: m.call_id == "after", timeout=0.5)
                break
            except AssertionError:
                continue
        elapsed = time.monotonic() - start
        handled = agent.ua.invalid_requests + len([m for m in peer.received if not m.is_request])
    finally:
        peer.close()
        agent.stop()
        logging.getLogger("voicebot.sip").removeHandler(counter)
    print(f"garbage flood: {datagrams} datagrams sent in {sent:.2f} s; OPTIONS answered after {elapsed:.2f} s; "
          f"{agent.ua.invalid_requests} refused with a 4xx/5xx, {handled} responses in all; "
          f"{counter.count} log lines (rate-limited warnings)")


def census() -> tuple[int, int, float]:
    """Threads, open fds, RSS (MB) of this process."""
    import os

    return threading.active_count(), len(os.listdir("/proc/self/fd")), rss_mb()


def soak(calls: int) -> None:
    """Short calls one after another (INVITE, ACK, 10 RTP packets each way, BYE): leaks show as growth."""
    import numpy as np

    agent = Agent(max_calls=4)
    peer = Peer()
    media = Peer()  # sends the caller's RTP and receives ours (never read: the kernel drops what overflows)
    seen: dict[int, tuple[int, int, float]] = {}
    start = time.monotonic()
    try:
        for i in range(1, calls + 1):
            call_id = f"soak-{i}"
            peer.send(request("INVITE", call_id, peer.port, target_port=agent.port, body=sdp(media.port)),
                      agent.port)
            ok = peer.expect(lambda m, c=call_id: m.call_id == c and m.status == 200)
            peer.send(ack_for(ok, call_id, peer.port, agent.port), agent.port)
            port = int(ok.body.split(b"m=audio ")[1].split()[0])
            call = agent.calls[-1]
            for seq in range(10):
                media.sock.sendto(rtp(0, b"\xff" * 160, seq=seq, ssrc=i), ("127.0.0.1", port))
                call.write_frame(np.zeros(160, dtype=np.int16))
            peer.send(request("BYE", call_id, peer.port, target_port=agent.port, cseq=2, to_tag=ok.to_tag),
                      agent.port)
            peer.expect(lambda m, c=call_id: m.call_id == c and m.cseq[1] == "BYE")
            peer.received.clear()
            agent.calls.clear()
            if i in (100, calls // 2, calls):
                time.sleep(0.3)
                seen[i] = census()
    finally:
        peer.close()
        media.close()
        agent.stop()
    figures = "; ".join(f"after {n}: {t} threads, {f} fds, {r:.0f} MB RSS" for n, (t, f, r) in sorted(seen.items()))
    print(f"soak: {calls} calls in {time.monotonic() - start:.0f} s; {figures} (ended calls are remembered 32 s "
          "for retransmissions)")


def shutdown(calls: int, grace: float) -> None:
    def stubborn(channel: object) -> None:
        channel.wait_ended(60)  # type: ignore[attr-defined]

    low = 31000 + random.randrange(0, 2000) * 2
    endpoint = SipEndpoint(SipConfig(sip_port=0, rtp_port_low=low, rtp_port_high=low + calls * 2, max_calls=calls),
                           stubborn)
    endpoint.start()
    peers = []
    for i in range(calls):
        peer = Peer()
        peer.send(request("INVITE", f"sd-{i}", peer.port, target_port=endpoint.sip_port, body=sdp(peer.port + 1)),
                  endpoint.sip_port)
        ok = peer.expect("200")
        peer.send(ack_for(ok, f"sd-{i}", peer.port, endpoint.sip_port), endpoint.sip_port)
        peers.append(peer)
    start = time.monotonic()
    endpoint.stop_accepting()
    endpoint.request_end()
    endpoint.wait_calls(grace)
    endpoint.stop(timeout=1.0)
    elapsed = time.monotonic() - start
    byes = sum(1 for peer in peers if peer.expect("BYE", timeout=2))
    for peer in peers:
        peer.close()
    print(f"shutdown: {calls} calls, grace {grace:.1f} s: {elapsed:.2f} s, BYE to {byes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--races", type=int, default=200)
    parser.add_argument("--datagrams", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument("--soak", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("voicebot.sip").setLevel(logging.WARNING)  # counted, not printed
    logging.getLogger("voicebot.sip").propagate = False
    cancel_races(args.races)
    bye_after_200(args.races // 2)
    flood(args.datagrams)
    shutdown(args.calls, args.grace)
    soak(args.soak)


if __name__ == "__main__":
    main()
