"""One G.711 RTP stream (RFC 3550) with 16-bit PCM in and out, RFC 4733 keys, and symmetric-RTP latching.

* **16-bit audio**: payloads are decoded with :mod:`voicebot.audio.g711` into int16 frames and our int16 frames
  are encoded with the negotiated law (pyVoIP's 8-bit path measured 25-26 dB SNR, FINDINGS.md).
* **Pacing**: no send thread; the call loop calls :meth:`RtpStream.send_frame` on its 20 ms schedule.
* **Latching** (issue 8 item 6): the first valid packet from the offer's IP address fixes the peer's source
  address and port, and the first audio (and the first telephone-event) packet from there its SSRC; packets
  from anyone else (audio and telephone-events alike) are dropped and counted in ``dropped_foreign``, and we
  send to the latched address from then on (symmetric RTP, RFC 4961). A peer that restarts its stream (a new
  SSRC from the latched address and port for ``RELATCH_PACKETS`` packets in a row) is followed.
* **DTMF guard**: event ids above 15 are dropped; each press is reported once (by its RTP timestamp).
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicebot.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voicebot.telephony.ratelimit import RateLimitedLog

log = logging.getLogger("voicebot.sip")

FRAME = 160  # 20 ms at 8 kHz
DTMF_KEYS = "0123456789*#ABCD"
DTMF_GAP_S = 0.3
RX_MAX_SAMPLES = 8000  # 1 s of caller audio buffered at most; older audio is dropped
RELATCH_PACKETS = 50  # 1 s of packets with a new SSRC from the latched address: the peer restarted its stream


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_packet(data: bytes) -> RtpPacket:
    """RFC 3550 5.1 header (with CSRCs, extension and padding); ValueError for anything else."""
    if len(data) < 12:
        raise ValueError(f"short packet ({len(data)} bytes)")
    if data[0] >> 6 != 2:
        raise ValueError(f"RTP version {data[0] >> 6}")
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < offset + 4:
            raise ValueError("truncated header extension")
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
    end = len(data)
    if data[0] & 0x20:
        end -= data[-1]
    if offset > end:
        raise ValueError("header longer than the packet")
    return RtpPacket(data[1] & 0x7F, bool(data[1] & 0x80), int.from_bytes(data[2:4], "big"),
                     int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big"), bytes(data[offset:end]))


class PortPool:
    """RTP ports for calls: each candidate is bound to test it is free; released ports go back (idempotently)."""

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host, self.low, self.high = host, low, high
        self.assigned: list[int] = []
        self._lock = threading.Lock()

    def open(self) -> socket.socket:
        """A bound UDP socket on a free even port of the range (RFC 3550 11: RTP on even ports)."""
        with self._lock:
            candidates = [p for p in range(self.low, self.high + 1) if p not in self.assigned]
            random.shuffle(candidates)
            candidates.sort(key=lambda p: p % 2)  # even ports first, odd ones only when no even port is free
            for port in candidates:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((self.host, port))
                except OSError:
                    sock.close()
                    continue
                self.assigned.append(port)
                return sock
        raise NoPortsAvailable(f"no free RTP port in {self.low}-{self.high}")

    def release(self, port: int) -> None:
        with self._lock:
            if port in self.assigned:
                self.assigned.remove(port)


class NoPortsAvailable(RuntimeError):
    pass


class RtpStream:
    """Receives in a daemon thread (decoded to int16, keys reported), sends one frame per :meth:`send_frame`."""

    def __init__(self, sock: socket.socket, *, remote: tuple[str, int], payload_type: int, codec: str,
                 dtmf_pt: int | None, receive: dict[int, str] | None = None,
                 on_key: Callable[[str], None] | None = None,
                 warn: RateLimitedLog | None = None, on_close: Callable[[int], None] | None = None) -> None:
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self.remote = remote
        self.payload_type, self.codec, self.dtmf_pt = payload_type, codec, dtmf_pt
        #: G.711 payload types we decode (every one the offer listed: a peer may send any of them, RFC 3264 5.1)
        self.receive = dict(receive or {}) | {payload_type: codec}
        self.on_key = on_key
        self._warn = warn or RateLimitedLog(log)
        self._on_close = on_close
        self.latched: tuple[str, int] | None = None  # the peer's media source address and port
        #: the SSRC of each kind of packet ("audio", "event"), latched by the first of its kind from there: some
        #: senders (sipp's pcaps, some gateways) send telephone-events with their own SSRC.
        self.ssrcs: dict[str, int] = {}
        self._relatch: tuple[int, int] = (0, 0)  # (candidate ssrc, consecutive packets)
        self._rx_lock = threading.Lock()
        self._rx: deque[np.ndarray] = deque()
        self._rx_samples = 0
        self._rx_pending = np.zeros(0, dtype=np.int16)
        self._dtmf_seen: dict[tuple[int, int], float] = {}
        self._out_seq = random.randint(0, 0xFFFF)
        self._out_ts = random.randint(0, 0xFFFFFFFF)
        self._out_ssrc = random.randint(1, 0xFFFFFFFF)
        self._running = True
        self._closed = False
        self.rx_packets = 0
        self.tx_packets = 0
        self.dropped = 0  # every packet not used, foreign ones included
        self.dropped_foreign = 0
        self.keys_received = ""
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._recv_loop, name=f"rtp-rx-{self.port}", daemon=True)
        self._thread.start()

    # (names the tests and stats use)
    @property
    def inPort(self) -> int:
        return self.port

    def close(self) -> None:
        """Stop receiving; the receive thread, woken by an empty datagram to itself, closes the socket and gives the
        port back (so that a BYE handled on the SIP thread never waits for it). Idempotent."""
        self._running = False
        if not self._thread.is_alive():
            self._release()
            return
        with contextlib.suppress(OSError):  # wake the receive thread now rather than at its 0.1 s timeout
            self._sock.sendto(b"", self._sock.getsockname())

    def join(self, timeout: float = 1.0) -> None:
        """Wait until the socket is closed and the port released (tests, shutdown)."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _release(self) -> None:
        with self._rx_lock:
            if self._closed:
                return
            self._closed = True
            self._rx.clear()  # (an ended call is remembered a while for retransmissions: not its audio)
            self._rx_samples = 0
        self._sock.close()
        if self._on_close is not None:
            self._on_close(self.port)

    # ----- receive ---------------------------------------------------------------------------------------

    def _recv_loop(self) -> None:
        while self._running:
            try:
                data, addr = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not self._running:
                break
            self.handle_datagram(data, addr)
        self._release()

    def _accept_source(self, packet: RtpPacket, addr: tuple[str, int]) -> bool:
        kind = "event" if packet.payload_type == self.dtmf_pt else "audio"
        if self.latched is None:
            if self.remote[0] not in ("0.0.0.0", addr[0]):
                return False
            self.latched = (addr[0], addr[1])
            self.remote = (addr[0], addr[1])  # symmetric RTP: answer where the media comes from
        if (addr[0], addr[1]) != self.latched:
            return False
        ssrc = self.ssrcs.setdefault(kind, packet.ssrc)
        if packet.ssrc == ssrc:
            self._relatch = (0, 0)
            return True
        candidate, count = self._relatch
        count = count + 1 if candidate == packet.ssrc else 1
        self._relatch = (packet.ssrc, count)
        if count >= RELATCH_PACKETS:
            log.info("RTP port %d: the peer restarted its %s stream (SSRC %08x)", self.port, kind, packet.ssrc)
            self.ssrcs[kind] = packet.ssrc
            return True
        return False

    def handle_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse_packet(data)
            if packet.payload_type not in self.receive and packet.payload_type not in (self.dtmf_pt, 13):
                raise ValueError(f"unexpected payload type {packet.payload_type}")
        except ValueError as exc:
            self.dropped += 1
            self._warn.warning(f"rtp-bad-{self.port}", "RTP port %d: dropped a bad packet from %s:%d (%s)",
                               self.port, addr[0], addr[1], exc)
            return
        if not self._accept_source(packet, addr):
            self.dropped += 1
            self.dropped_foreign += 1
            if self.latched is None:  # (NAT, or a PBX sending media from another address than its SDP says)
                self._warn.warning(f"rtp-foreign-{self.port}", "RTP port %d: dropped a packet from unexpected "
                                   "source %s:%d (the offer's address is %s)", self.port, addr[0], addr[1],
                                   self.remote[0])
            else:
                self._warn.warning(f"rtp-foreign-{self.port}", "RTP port %d: dropped a packet from unexpected "
                                   "source %s:%d SSRC %08x (media is latched to %s:%d, SSRCs %s)", self.port,
                                   addr[0], addr[1], packet.ssrc, *self.latched,
                                   {k: f"{v:08x}" for k, v in self.ssrcs.items()})
            return
        if packet.payload_type == self.dtmf_pt:
            self._telephone_event(packet)
        elif packet.payload_type in self.receive:
            law = self.receive[packet.payload_type]
            self._push(alaw_decode(packet.payload) if law == "PCMA" else mulaw_decode(packet.payload))
        # PT 13 (comfort noise): the line is silent, nothing to queue

    def _push(self, pcm: np.ndarray) -> None:
        with self._rx_lock:
            self.rx_packets += 1
            self._rx.append(pcm)
            self._rx_samples += len(pcm)
            while self._rx_samples > RX_MAX_SAMPLES and self._rx:
                self._rx_samples -= len(self._rx.popleft())

    @property
    def buffered_samples(self) -> int:
        """Received audio not read yet (what a relay uses to keep its delay from growing after a burst)."""
        with self._rx_lock:
            return len(self._rx_pending) + self._rx_samples

    def read_frame(self) -> np.ndarray | None:
        """The next 160 caller samples (int16), or None when less than 20 ms has arrived."""
        with self._rx_lock:
            if len(self._rx_pending) + self._rx_samples < FRAME:
                return None
            parts = [self._rx_pending]
            have = len(self._rx_pending)
            while have < FRAME:
                chunk = self._rx.popleft()
                self._rx_samples -= len(chunk)
                parts.append(chunk)
                have += len(chunk)
            joined = np.concatenate(parts)
            self._rx_pending = joined[FRAME:]
            return joined[:FRAME].astype(np.int16, copy=True)

    def _telephone_event(self, packet: RtpPacket) -> None:
        payload = packet.payload
        if len(payload) < 4:
            self.dropped += 1
            self._warn.warning(f"rtp-dtmf-{self.port}", "RTP port %d: dropped a short telephone-event", self.port)
            return
        event = payload[0]
        if event >= len(DTMF_KEYS):
            self.dropped += 1
            self._warn.warning(f"rtp-dtmf-{self.port}", "RTP port %d: dropped telephone-event id %d (not a key)",
                               self.port, event)
            return
        # One press is many packets with one RTP timestamp (start, continuations, three end packets): report it
        # once. The same (timestamp, event) more than DTMF_GAP_S after the last one is a new press (a sender
        # replaying one recorded event, as sipp's pcaps do).
        key = (packet.timestamp, event)
        now = time.monotonic()
        last = self._dtmf_seen.get(key)
        self._dtmf_seen[key] = now
        if last is not None and now - last < DTMF_GAP_S:
            return
        if len(self._dtmf_seen) > 64:
            self._dtmf_seen = {k: t for k, t in self._dtmf_seen.items() if now - t < DTMF_GAP_S}
        digit = DTMF_KEYS[event]
        self.keys_received += digit
        if self.on_key is not None:
            self.on_key(digit)

    # ----- send ------------------------------------------------------------------------------------------

    def encode_frame(self, pcm: np.ndarray) -> bytes:
        return alaw_encode(pcm) if self.codec == "PCMA" else mulaw_encode(pcm)

    def build_packet(self, payload: bytes) -> bytes:
        self._out_seq = (self._out_seq + 1) & 0xFFFF
        self._out_ts = (self._out_ts + len(payload)) & 0xFFFFFFFF
        header = bytes([0x80, self.payload_type & 0x7F])
        header += self._out_seq.to_bytes(2, "big") + self._out_ts.to_bytes(4, "big")
        return header + self._out_ssrc.to_bytes(4, "big") + payload

    def send_frame(self, pcm: np.ndarray) -> None:
        """Send one 20 ms frame of int16 PCM as one RTP packet, encoded with the negotiated G.711 law."""
        if not self._running:
            return
        packet = self.build_packet(self.encode_frame(pcm))
        try:
            self._sock.sendto(packet, self.remote)
            self.tx_packets += 1
        except OSError as exc:
            if not self._running:
                return  # the call ended between the check above and the send: its socket is closed, nothing lost
            self._warn.warning(f"rtp-send-{self.port}", "RTP port %d: send failed: %s", self.port, exc)

    @property
    def stats(self) -> dict[str, int]:
        return {"rx_packets": self.rx_packets, "tx_packets": self.tx_packets, "dropped": self.dropped,
                "dropped_foreign": self.dropped_foreign, "rtp_port": self.port}
