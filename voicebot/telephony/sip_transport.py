"""The SIP UDP socket: one receive thread handing every datagram with its source address to the user agent."""

from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
from collections.abc import Callable

from voicebot.telephony import sip_stats

log = logging.getLogger("voicebot.sip")


def resolve_name(host: str, port: int) -> tuple[str, int]:
    """A host name to an IPv4 address (the system resolver)."""
    found = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    address = found[0][4]
    return str(address[0]), int(address[1])


class UdpTransport:
    def __init__(self, host: str, port: int, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))  # port 0: any free port (tests)
        self.sock.settimeout(0.1)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self._on_datagram = on_datagram
        self._running = False
        self._thread: threading.Thread | None = None
        # Names (a Contact like sip:alice@pbx.example.com) are resolved on their own thread: a slow or dead DNS
        # server must never stall the receive thread, the timers or a call's lock.
        self._named: queue.Queue[tuple[bytes, tuple[str, int]] | None] = queue.Queue(maxsize=1000)
        self._resolver: threading.Thread | None = None
        self.resolve: Callable[[str, int], tuple[str, int]] = resolve_name

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._recv_loop, name="sip-recv", daemon=True)
        self._thread.start()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            ipaddress.IPv4Address(addr[0])
        except ValueError:
            self._send_named(data, addr)
            return
        self._sendto(data, addr)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:
            log.warning("SIP send to %s:%d failed: %s", addr[0], addr[1], exc)
            return
        sip_stats.observe("sent", data)  # responses by code, for /metrics

    def _send_named(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._resolver is None:
            self._resolver = threading.Thread(target=self._resolve_loop, name="sip-dns", daemon=True)
            self._resolver.start()
        try:
            self._named.put_nowait((data, addr))
        except queue.Full:
            log.warning("SIP send to %s:%d dropped: too many messages waiting for DNS", addr[0], addr[1])

    def _resolve_loop(self) -> None:
        while True:
            item = self._named.get()
            if item is None:
                return
            data, (host, port) = item
            try:
                address = self.resolve(host, port)
            except (OSError, UnicodeError, ValueError, OverflowError) as exc:  # (a garbage name fails IDNA encoding)
                log.warning("SIP send to %r:%d failed: %s", host[:80], port, exc)
                continue
            self._sendto(data, address)

    def stop(self) -> None:
        self._running = False
        if self._resolver is not None:
            self._named.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        self.sock.close()

    def _recv_loop(self) -> None:
        while self._running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if not self._running:
                    break
                continue
            sip_stats.observe("received", data)  # responses by code, for /metrics
            try:
                self._on_datagram(data, (str(addr[0]), int(addr[1])))
            except Exception:
                # A bug in handling one datagram must not stop the endpoint from hearing the next one.
                log.exception("error while handling a SIP datagram from %s:%d", addr[0], addr[1])
