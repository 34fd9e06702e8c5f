"""pyVoIP 1.6.8, fixed for an IVR: the only module that imports pyVoIP.

Each fix names the item of ``notes/FINDINGS.md`` ("pyVoIP 1.6.8") it works around:

* **16-bit audio** (FINDINGS: "Audio is 8-bit unsigned linear ... 25-26 dB SNR"): :class:`G711RtpClient` decodes
  the raw mu-law/A-law payload with :mod:`voicebot.audio.g711` into int16 frames and transmits G.711 encoded
  from our int16 frames; pyVoIP's 8-bit ``audioop`` path is never used.
* **Pacing** (FINDINGS: "its RTP sender drifts under load"): pyVoIP's transmit thread is not started; the call
  loop sends one packet per 20 ms tick on an absolute schedule (:meth:`G711RtpClient.send_frame`).
* **DTMF guard** (FINDINGS: "an event id above 15 kills the RTP receive thread"): ids > 15 are logged and
  dropped; each event is reported once (by its RTP timestamp), marker bit or not.
* **Trunk mode** (FINDINGS: "It must register ... Replies to INVITE go to the registrar's address"):
  :class:`AdapterSipClient` skips REGISTER and sends responses to the top Via (received/rport honoured) and
  requests to their Request-URI (:class:`ViaRoutedSocket`).
* **BYE Via** (lab: FixedSIPClient): pyVoIP copies the caller's Via into its own BYE; ours carries our Via.
* **Free ports and release** (FINDINGS: "RTP ports of incoming calls are never released and the random port
  choice does not check that a port is free"): :meth:`AdapterPhone.request_port` binds to test each candidate,
  calls record their port and :meth:`AdapterPhone.release_ports` frees it (idempotently) at call end.
* **Two c= lines** (FINDINGS: "An SDP with c= at session and media level breaks port assignment"):
  :func:`normalize_sdp` keeps one connection line (the media-level one) before pyVoIP sees the offer.
* **1 s answer delay** (FINDINGS: "INVITE -> 200 OK takes 1.0 s"): the call handler starts at once in its own
  thread instead of pyVoIP's ``Timer(1, ...)``; the SIP receive thread starts at once too.
* **audioop import warning** (FINDINGS: "It imports audioop ... a -W error test run fails at import").
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from voicebot.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voicebot.telephony import sip_stats

# FINDINGS "It imports audioop (deprecated in 3.11 ...)": silence exactly that warning, only around the import.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*audioop.*", category=DeprecationWarning)
    # isort: off
    import pyVoIP

    # pyVoIP.VoIP must be imported before pyVoIP.SIP (circular import in 1.6.8).
    from pyVoIP.VoIP import CallState, InvalidStateError, NoPortsAvailableError, VoIPCall, VoIPPhone
    from pyVoIP.VoIP.status import PhoneStatus
    from pyVoIP import RTP, SIP
    # isort: on

log = logging.getLogger("voicebot.sip")

__all__ = [
    "AdapterCall",
    "AdapterPhone",
    "AdapterSipClient",
    "CallState",
    "G711RtpClient",
    "InvalidStateError",
    "NoPortsAvailableError",
    "PhoneStatus",
    "ViaRoutedSocket",
    "normalize_sdp",
    "parse_sip",
    "port_is_free",
    "route_for",
    "usable_codecs",
]

FRAME = 160  # 20 ms at 8 kHz
DTMF_KEYS = "0123456789*#ABCD"
DTMF_GAP_S = 0.3
RX_MAX_SAMPLES = 8000  # 1 s of caller audio buffered at most; older audio is dropped
SUPPORTED = {"PCMU", "PCMA", "telephone-event"}
#: Headers every SIP message needs before pyVoIP may look at it (RFC 3261 8.1.1).
REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


def parse_sip(data: bytes) -> Any:
    """A pyVoIP SIPMessage (for tests and the endpoint)."""
    return SIP.SIPMessage(data)


# ----- SDP ---------------------------------------------------------------------------------------------------


def _payload_name(media: dict[str, Any], pt: str) -> str | None:
    try:
        return str(RTP.PayloadType(int(pt)))
    except ValueError:
        pass
    rtpmap = media.get("attributes", {}).get(pt, {}).get("rtpmap")
    if rtpmap and rtpmap.get("name") in SUPPORTED:
        return str(rtpmap["name"])
    return None


def usable_codecs(body: dict[str, Any]) -> dict[int, str]:
    """Payload type -> name for the offered audio codecs pyVoIP can carry (PCMU, PCMA, telephone-event)."""
    out: dict[int, str] = {}
    for media in body.get("m", []):
        if media.get("type") != "audio":
            continue
        for pt in media.get("methods", []):
            name = _payload_name(media, pt)
            if name in SUPPORTED:
                out[int(pt)] = name
    return out


def normalize_sdp(body: dict[str, Any]) -> dict[str, Any]:
    """Make an SDP offer safe for pyVoIP's VoIPCall (in place; returned for convenience).

    FINDINGS "An SDP with c= at session and media level breaks port assignment": pyVoIP counts every ``c=``
    line as one more connection and then refuses to create RTP clients. Keep one: the last one, which is the
    media-level line when both are present (it overrides the session-level one, RFC 4566 5.7).
    Payload types pyVoIP does not know are removed too: VoIPCall warns about them and then resets the
    process's warning filters (``warnings.simplefilter("default")``).
    """
    conns = body.get("c") or []
    if len(conns) > 1:
        body["c"] = [conns[-1]]
    for media in body.get("m", []):
        if media.get("type") == "audio":
            media["methods"] = [pt for pt in media.get("methods", []) if _payload_name(media, pt) in SUPPORTED]
    return body


# ----- RTP ---------------------------------------------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """Whether a UDP port can be bound right now (FINDINGS: pyVoIP's random choice never checks)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class G711RtpClient(RTP.RTPClient):
    """One RTP stream with 16-bit PCM in and out (FINDINGS: "Audio is 8-bit unsigned linear").

    Receiving: a daemon thread decodes each packet's raw G.711 payload to int16 and queues it; packets from an
    unexpected source address, garbage and unknown payload types are logged and dropped. Sending: no thread;
    :meth:`send_frame` is called by the call loop on its 20 ms schedule.
    """

    def __init__(
        self,
        assoc: dict[int, Any],
        in_ip: str,
        in_port: int,
        out_ip: str,
        out_port: int,
        sendrecv: Any,
        dtmf: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(assoc, in_ip, in_port, out_ip, out_port, sendrecv, dtmf=dtmf)
        self.codec = "PCMU"
        self.payload_type = 0
        for pt, kind in assoc.items():
            if str(kind) in ("PCMU", "PCMA"):
                self.codec, self.payload_type = str(kind), pt
                break
        self._rx_lock = threading.Lock()
        self._rx: deque[np.ndarray] = deque()
        self._rx_samples = 0
        self._rx_pending = np.zeros(0, dtype=np.int16)
        self._dtmf_seen: dict[tuple[int, int], float] = {}  # (RTP timestamp, event) -> last packet seen
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._stopped = False
        self.rx_packets = 0
        self.tx_packets = 0
        self.dropped = 0
        self.keys_received = ""

    # ----- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.inIP, self.inPort))
        sock.settimeout(0.1)
        self._sock = self.sin = self.sout = sock
        # FINDINGS "its RTP sender drifts under load": pyVoIP's trans() thread is not started.
        self._thread = threading.Thread(target=self._recv_loop, name=f"rtp-rx-{self.inPort}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.NSD = False
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        if self._sock is not None:
            self._sock.close()

    # ----- receive ---------------------------------------------------------------------------------------

    def _recv_loop(self) -> None:
        assert self._sock is not None
        while self.NSD:
            try:
                data, addr = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            self.handle_datagram(data, addr)

    def handle_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.outIP not in ("0.0.0.0", addr[0]):
            self.dropped += 1
            log.warning("RTP port %d: dropped a packet from unexpected source %s:%d", self.inPort, *addr)
            return
        try:
            self.parse_packet(data)
        except Exception as exc:
            self.dropped += 1
            log.warning("RTP port %d: dropped a bad packet from %s:%d (%s)", self.inPort, addr[0], addr[1], exc)

    def parse_pcmu(self, packet: Any) -> None:
        self._push(mulaw_decode(packet.payload))

    def parse_pcma(self, packet: Any) -> None:
        self._push(alaw_decode(packet.payload))

    def _push(self, pcm: np.ndarray) -> None:
        with self._rx_lock:
            self.rx_packets += 1
            self._rx.append(pcm)
            self._rx_samples += len(pcm)
            while self._rx_samples > RX_MAX_SAMPLES and self._rx:
                self._rx_samples -= len(self._rx.popleft())

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

    def parse_telephone_event(self, packet: Any) -> None:
        # FINDINGS "an event id above 15 kills the RTP receive thread unless guarded".
        payload = bytes(packet.payload)
        if len(payload) < 4:
            log.warning("RTP port %d: dropped a short telephone-event payload", self.inPort)
            return
        event = payload[0]
        if event >= len(DTMF_KEYS):
            log.warning("RTP port %d: dropped telephone-event id %d (not a DTMF key)", self.inPort, event)
            return
        # One key press is many packets with one RTP timestamp (start, continuations, three end packets):
        # report it once. A packet of the same (timestamp, event) more than DTMF_GAP_S after the last one is
        # a new press (a sender replaying the same recorded event, as sipp's pcaps do).
        key = (int(packet.timestamp), event)
        now = time.monotonic()
        last = self._dtmf_seen.get(key)
        self._dtmf_seen[key] = now
        if last is not None and now - last < DTMF_GAP_S:
            return
        if len(self._dtmf_seen) > 64:
            self._dtmf_seen = {k: t for k, t in self._dtmf_seen.items() if now - t < DTMF_GAP_S}
        digit = DTMF_KEYS[event]
        self.keys_received += digit
        if self.dtmf is not None:
            self.dtmf(digit)

    # ----- send ------------------------------------------------------------------------------------------

    def encode_frame(self, pcm: np.ndarray) -> bytes:
        return alaw_encode(pcm) if self.codec == "PCMA" else mulaw_encode(pcm)

    def build_packet(self, payload: bytes) -> bytes:
        self.outSequence = (self.outSequence + 1) & 0xFFFF
        self.outTimestamp = (self.outTimestamp + len(payload)) & 0xFFFFFFFF
        header = bytes([0x80, self.payload_type & 0x7F])
        header += self.outSequence.to_bytes(2, "big") + self.outTimestamp.to_bytes(4, "big")
        return header + (self.outSSRC & 0xFFFFFFFF).to_bytes(4, "big") + payload

    def send_frame(self, pcm: np.ndarray) -> None:
        """Send one 20 ms frame of int16 PCM as one RTP packet, encoded with the negotiated G.711 law."""
        if self._sock is None or not self.NSD:
            return
        packet = self.build_packet(self.encode_frame(pcm))
        try:
            self._sock.sendto(packet, (self.outIP, self.outPort))
            self.tx_packets += 1
        except OSError as exc:
            log.warning("RTP port %d: send failed: %s", self.inPort, exc)


# ----- calls -------------------------------------------------------------------------------------------------


class AdapterCall(VoIPCall):
    """A VoIPCall with one :class:`G711RtpClient` and a recorded RTP port (so it can be released)."""

    def create_rtp_clients(
        self, codecs: dict[int, Any], ip: str, port: int, request: Any, baseport: int
    ) -> None:
        # FINDINGS "RTP ports of incoming calls are never released": remember the port on the call.
        self.assignedPorts[port] = codecs
        # After normalize_sdp() there is one connection line: one client (pyVoIP would bind one per c= line).
        remote = request.body["c"][0]["address"]
        client = G711RtpClient(codecs, ip, port, remote, baseport, self.sendmode, dtmf=self.dtmf_callback)
        self.RTPClients.append(client)

    @property
    def rtp(self) -> G711RtpClient | None:
        client = self.RTPClients[0] if self.RTPClients else None
        return client if isinstance(client, G711RtpClient) else None

    def __del__(self) -> None:
        # pyVoIP releases ports again here; ours is idempotent, but never let __del__ raise.
        try:
            if hasattr(self, "phone"):
                self.phone.release_ports(call=self)
        except Exception:  # pragma: no cover
            pass


# ----- SIP ---------------------------------------------------------------------------------------------------


def _hostport(text: str, default_port: int = 5060) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if ":" in text:
        host, port = text.rsplit(":", 1)
        return host, int(port)
    return text, default_port


def route_for(data: bytes, fallback: tuple[str, int], *, requests_by_uri: bool = True) -> tuple[str, int]:
    """Where a SIP message we send should go: responses to the top Via (received/rport honoured, RFC 3261
    18.2.2 and RFC 3581), requests to their Request-URI host:port (FINDINGS: trunk mode)."""
    try:
        text = data.decode("utf-8", "replace")
        first = text.split("\r\n", 1)[0]
        if first.startswith("SIP/2.0"):
            for line in text.split("\r\n")[1:]:
                if not line:
                    break
                name, _, value = line.partition(":")
                if name.strip().lower() not in ("via", "v"):
                    continue
                top = value.split(",")[0].strip()
                sent_by, *params = top.split(";")
                host, port = _hostport(sent_by.split()[-1])
                opts = dict([*p.split("=", 1), ""][:2] for p in params)
                if opts.get("received"):
                    host = opts["received"]
                if opts.get("rport"):
                    port = int(opts["rport"])
                return host, port
        elif requests_by_uri:
            uri = first.split()[1]
            hostpart = uri.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0].split(">", 1)[0]
            if hostpart.startswith(("sip:", "sips:")):
                hostpart = hostpart.split(":", 1)[1]
            return _hostport(hostpart)
    except (IndexError, ValueError) as exc:
        log.warning("cannot route an outgoing SIP message (%s); sending to %s:%d", exc, *fallback)
    return fallback


def options_reply(raw: bytes) -> bytes | None:
    """200 OK to an OPTIONS request, built from its own headers (pyVoIP 1.6.8 cannot parse OPTIONS)."""
    try:
        head = raw.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [line for line in head[1:]
                if line.split(":", 1)[0].strip().lower() in ("via", "v", "from", "f", "to", "t", "call-id", "i",
                                                             "cseq")]
        if not any(line.lower().startswith(("via", "v:")) for line in keep):
            return None
    except (IndexError, ValueError):
        return None
    allow = ", ".join([*pyVoIP.SIPCompatibleMethods, "OPTIONS"])
    return "\r\n".join(["SIP/2.0 200 OK", *keep, f"Allow: {allow}", "Accept: application/sdp",
                         "Content-Length: 0", "", ""]).encode()


class ViaRoutedSocket:
    """The SIP socket for sending: pyVoIP 1.6.8 sends everything to (server, port); this routes by
    :func:`route_for` instead (FINDINGS: "Replies to INVITE go to the registrar's address, not the caller's
    Via"). Requests go to their Request-URI in trunk mode and to the registrar/proxy in register mode."""

    def __init__(self, sock: socket.socket, *, requests_by_uri: bool) -> None:
        self._sock = sock
        self.requests_by_uri = requests_by_uri

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        sent = self._sock.sendto(data, route_for(data, addr, requests_by_uri=self.requests_by_uri))
        sip_stats.observe("sent", data)  # responses by code, for /metrics
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class AdapterSipClient(SIP.SIPClient):
    """pyVoIP's SIP client with trunk mode, the BYE Via fix, no start delay and a robust receive loop."""

    trunk = True

    def start(self) -> None:
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.myPort = self.s.getsockname()[1]  # port 0 = any free port (tests)
        self.out = ViaRoutedSocket(self.s, requests_by_uri=self.trunk)  # type: ignore[assignment]
        if self.trunk:
            # FINDINGS "It must register to a SIP server at start": trunk mode answers INVITEs directly.
            self.phone._status = PhoneStatus.REGISTERED
        else:
            self.register()
        # pyVoIP starts the receive loop with Timer(1, ...): start it now.
        self._recv_thread = threading.Thread(target=self.recv_loop, name="sip-recv", daemon=True)
        self._recv_thread.start()

    def register(self) -> bool:
        if self.trunk:
            self.phone._status = PhoneStatus.REGISTERED
            return True
        return bool(super().register())

    def deregister(self) -> bool:
        return True if self.trunk else bool(super().deregister())

    def stop(self) -> None:
        if not self.NSD:
            return
        self.NSD = False
        if self.registerThread:
            self.registerThread.cancel()
            if not self.trunk:
                try:
                    self.deregister()
                except Exception as exc:
                    log.warning("deregister failed: %s", exc)
        thread = getattr(self, "_recv_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        self.s.close()

    def recv_loop(self) -> None:
        while self.NSD:
            try:
                with self.recvLock:
                    self.s.settimeout(0.1)
                    try:
                        raw = self.s.recv(65535)
                    finally:
                        if self.NSD:
                            self.s.settimeout(None)
            except TimeoutError:
                continue
            except OSError:
                if not self.NSD:
                    break
                time.sleep(0.01)
                continue
            self.handle_datagram(raw)

    def handle_datagram(self, raw: bytes) -> None:
        if not raw.strip(b"\r\n\x00 "):
            return  # keep-alive
        sip_stats.observe("received", raw)  # responses by code, for /metrics
        if raw.startswith(b"OPTIONS "):
            # pyVoIP's parser refuses methods it does not handle; answer the PBX's keep-alive probe ourselves.
            reply = options_reply(raw)
            if reply is not None:
                self.out.sendto(reply, (self.server, self.port))
            return
        try:
            message = SIP.SIPMessage(raw)
        except Exception as exc:
            log.warning("dropped a malformed SIP datagram (%s: %s)", type(exc).__name__, exc)
            return
        # pyVoIP indexes these headers without checking: a message lacking one raised KeyError deep in its
        # callbacks (logged as an error with a traceback). Such a message cannot be answered: drop it.
        missing = [name for name in REQUIRED_HEADERS if not message.headers.get(name)]
        if missing:
            log.warning("dropped a SIP message without %s", ", ".join(missing))
            return
        try:
            self.parse_message(message)
        except Exception:
            log.exception("error while handling SIP %s", message.summary().splitlines()[0:1])

    def parse_message(self, message: Any) -> None:
        if message.type == SIP.SIPMessageType.MESSAGE and message.method not in ("INVITE", "ACK", "BYE", "CANCEL"):
            self.out.sendto(self.gen_response(message, 501, "Not Implemented").encode(), (self.server, self.port))
            return
        super().parse_message(message)

    def gen_response(self, request: Any, code: int, phrase: str, tag: str | None = None) -> str:
        """A body-less final response to ``request`` (486, 487, 488, 200 for OPTIONS ...)."""
        to_tag = tag or self.tagLibrary.get(request.headers["Call-ID"]) or self.gen_tag()
        lines = [
            f"SIP/2.0 {code} {phrase}",
            self._gen_response_via_header(request).rstrip("\r\n"),
            f"From: {request.headers['From']['raw']};tag={request.headers['From']['tag']}",
            f"To: {request.headers['To']['raw']};tag={to_tag}",
            f"Call-ID: {request.headers['Call-ID']}",
            f"CSeq: {request.headers['CSeq']['check']} {request.headers['CSeq']['method']}",
            f"User-Agent: voicebot (pyVoIP {pyVoIP.__version__})",
            f"Allow: {', '.join([*pyVoIP.SIPCompatibleMethods, 'OPTIONS'])}",
            "Content-Length: 0",
            "",
            "",
        ]
        return "\r\n".join(lines)

    def gen_bye(self, request: Any) -> str:
        # Lab FixedSIPClient: pyVoIP builds the BYE with the caller's Via (and branch) copied in, so the 200 OK
        # for our BYE would be routed back to the caller itself. Put our own Via there.
        message: str = super().gen_bye(request)
        lines = [line for line in message.split("\r\n") if not line.startswith("Via:")]
        lines.insert(1, f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={self.gen_branch()};rport")
        return "\r\n".join(lines)


# ----- the phone ---------------------------------------------------------------------------------------------


class AdapterPhone(VoIPPhone):
    """The SIP user agent: answers INVITEs at once, each in its own thread running ``on_call(call)``.

    Beyond ``max_calls`` an INVITE gets 486 Busy Here; an INVITE with no SDP or no G.711 codec gets 488.
    The call's RTP client is stopped and its port released when ``on_call`` returns, whatever happens.
    """

    def __init__(
        self,
        *,
        host: str,
        sip_port: int,
        rtp_low: int,
        rtp_high: int,
        on_call: Callable[[AdapterCall], None],
        trunk: bool = True,
        registrar: tuple[str, int] | None = None,
        username: str = "voicebot",
        password: str = "",
        max_calls: int = 20,
    ) -> None:
        server, port = registrar or (host, sip_port)
        super().__init__(server, port, username, password, myIP=host, callCallback=None, sipPort=sip_port,
                         rtpPortLow=rtp_low, rtpPortHigh=rtp_high)
        self.on_call = on_call
        self.max_calls = max_calls
        self._request_lock = threading.Lock()
        self.call_threads: dict[str, threading.Thread] = {}
        client = AdapterSipClient(server, port, username, password, phone=self, myIP=host, myPort=sip_port,
                                  callCallback=self.callback, fatalCallback=self.fatal)
        client.trunk = trunk
        self.sip = client

    @property
    def sip_port(self) -> int:
        return int(self.sip.myPort)

    def _reply(self, request: Any, code: int, phrase: str) -> None:
        client = self.sip
        assert isinstance(client, AdapterSipClient)
        client.out.sendto(client.gen_response(request, code, phrase).encode(), (self.server, self.port))

    def active_calls(self) -> int:
        return sum(1 for t in self.call_threads.values() if t.is_alive())

    def callback(self, request: Any) -> None:
        if request.type == SIP.SIPMessageType.MESSAGE and request.method == "CANCEL":
            self._cancel(request)
            return
        super().callback(request)

    def _callback_RESP_OK(self, request: Any) -> None:
        # We only answer calls, so a 2xx here answers our BYE. Stock pyVoIP treats every 200 OK as the answer
        # to an INVITE and ACKs it: RFC 3261 has no ACK for BYE, and a 200 without Contact made the ACK's
        # address unresolvable (a traceback per call in the log).
        cseq = request.headers.get("CSeq")
        method = cseq.get("method") if isinstance(cseq, dict) else None
        if method != "INVITE":
            log.debug("200 OK to %s for call %s", method, request.headers.get("Call-ID"))
            return
        super()._callback_RESP_OK(request)

    def _cancel(self, request: Any) -> None:
        """RFC 3261 9.2: CANCEL gets its own 200 OK (481 for an unknown call); a call still ringing ends with
        487 to its INVITE, and one already answered goes on (the caller ends it with BYE)."""
        call = self.calls.get(request.headers["Call-ID"])
        if call is None:
            self._reply(request, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(request, 200, "OK")
        if call.state == CallState.RINGING:
            call.state = CallState.ENDED
            self._reply(call.request, 487, "Request Terminated")
            log.info("call %s cancelled before answer", call.call_id)

    def _callback_MSG_Invite(self, request: Any) -> None:
        call_id = request.headers["Call-ID"]
        if call_id in self.calls:
            call = self.calls[call_id]
            to = request.headers.get("To")
            if call.state == CallState.ANSWERED and isinstance(to, dict) and to.get("tag"):
                self._reinvite(call, request)
            return  # otherwise a retransmission of the INVITE being answered
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("m") or not body.get("c"):
            log.warning("call %s: INVITE without a usable SDP offer: 488", call_id)
            self._reply(request, 488, "Not Acceptable Here")
            return
        codecs = usable_codecs(body)
        if not any(name in ("PCMU", "PCMA") for name in codecs.values()):
            log.warning("call %s: no common codec in %s: 488", call_id, body.get("m"))
            self._reply(request, 488, "Not Acceptable Here")
            return
        if self.active_calls() >= self.max_calls:
            log.warning("call %s: %d calls in progress: 486 Busy Here", call_id, self.max_calls)
            self._reply(request, 486, "Busy Here")
            return
        normalize_sdp(body)
        with self._request_lock:
            sess_id = random.randint(1, 100000)
            while sess_id in self.session_ids:
                sess_id = random.randint(1, 100000)
            self.session_ids.append(sess_id)
        try:
            self._create_Call(request, sess_id)
        except NoPortsAvailableError:
            log.error("call %s: no free RTP port: 486 Busy Here", call_id)
            self._reply(request, 486, "Busy Here")
            return
        # 180 only once the call is known: a CANCEL sent on the 180 must find it (not get 481)
        self.sip.out.sendto(self.sip.gen_ringing(request).encode("utf8"), (self.server, self.port))
        call = self.calls[call_id]
        assert isinstance(call, AdapterCall)
        if not call.RTPClients:
            self._finish(call)
            self._reply(request, 488, "Not Acceptable Here")
            return
        # FINDINGS "the callback is started after a fixed 1 s delay": start the call's thread now.
        thread = threading.Thread(target=self._run_call, args=(call,), name=f"call-{call_id[:24]}", daemon=True)
        self.call_threads[call_id] = thread
        thread.start()

    def _reinvite(self, call: Any, request: Any) -> None:
        """An in-dialog INVITE (a session-timer refresh, mostly): 200 OK with our session unchanged.

        Stock pyVoIP ignores it, so PBXs with session timers dropped calls after a few minutes. A changed
        offer (hold, a new RTP address) is not followed: media goes on where it was.
        """
        # (VoIPCall.gen_ms() would start the RTP clients again: the same map, without binding anything)
        media = {client.inPort: client.assoc for client in call.RTPClients}
        message = self.sip.gen_answer(request, call.session_id, media, call.sendmode)
        self.sip.out.sendto(message.encode("utf8"), (self.server, self.port))
        log.info("call %s: re-INVITE answered with the session unchanged", call.call_id)

    def _create_Call(self, request: Any, sess_id: int) -> None:
        call_id = request.headers["Call-ID"]
        self.calls[call_id] = AdapterCall(self, CallState.RINGING, request, sess_id, self.myIP,
                                          sendmode=self.recvmode)

    def _run_call(self, call: AdapterCall) -> None:
        try:
            self.on_call(call)
        except Exception:
            log.exception("call %s failed", call.call_id)
        finally:
            if call.state == CallState.ANSWERED:
                try:
                    call.hangup()
                except Exception as exc:
                    log.warning("call %s: BYE failed: %s", call.call_id, exc)
            self._finish(call)
            self.call_threads.pop(call.call_id, None)

    def _finish(self, call: AdapterCall) -> None:
        for client in call.RTPClients:
            client.stop()
        call.state = CallState.ENDED
        self.calls.pop(call.call_id, None)
        self.release_ports(call=call)

    def request_port(self, blocking: bool = True) -> int:
        # FINDINGS "the random port choice does not check that a port is free".
        with self._request_lock, self.portsLock:
            candidates = [p for p in range(self.rtpPortLow, self.rtpPortHigh + 1) if p not in self.assignedPorts]
            random.shuffle(candidates)
            for port in candidates:
                if port_is_free(self.myIP, port):
                    self.assignedPorts.append(port)
                    return port
        raise NoPortsAvailableError(f"no free RTP port in {self.rtpPortLow}-{self.rtpPortHigh}")

    def release_ports(self, call: Any = None) -> None:
        # FINDINGS "RTP ports of incoming calls are never released": release a call's port, idempotently.
        with self.portsLock:
            if call is None:
                return
            for port in list(call.assignedPorts):
                if port in self.assignedPorts:
                    self.assignedPorts.remove(port)
            call.assignedPorts.clear()

    def stop(self, failed: bool = False) -> None:
        self._status = PhoneStatus.DEREGISTERING
        for call in list(self.calls.values()):
            if call.state == CallState.ANSWERED:
                try:
                    call.hangup()
                except Exception as exc:
                    log.warning("call %s: BYE at stop failed: %s", call.call_id, exc)
        self.sip.stop()
        self._status = PhoneStatus.FAILED if failed else PhoneStatus.INACTIVE
