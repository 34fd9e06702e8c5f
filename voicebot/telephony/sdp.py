"""SDP offers and answers (RFC 4566, RFC 3264) for one G.711 audio stream with RFC 4733 telephone-events.

Tolerant of what it does not use (unknown lines and attributes, ``a=rtpmap:31 LPC`` without a clock rate, both a
session- and a media-level ``c=``); strict about what a call needs: an IPv4 audio stream on a real port with PCMU or
PCMA. Anything else is an :class:`SdpError` (the INVITE gets 488).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.telephony.sip_message import is_digits

STATIC = {0: "PCMU", 8: "PCMA"}
CODECS = ("PCMU", "PCMA")


class SdpError(ValueError):
    """An offer we cannot take (the reason goes into the 488's log line and Warning)."""


@dataclass
class MediaOffer:
    address: str
    port: int
    #: payload type -> codec name, in the offer's order of preference (only codecs we know).
    payloads: dict[int, str] = field(default_factory=dict)
    dtmf_pt: int | None = None
    direction: str = "sendrecv"

    @property
    def codec(self) -> tuple[int, str]:
        """The first G.711 payload of the offer (its preference)."""
        for pt, name in self.payloads.items():
            if name in CODECS:
                return pt, name
        raise SdpError("no PCMU or PCMA in the offer")


def parse(body: bytes | str) -> MediaOffer:
    """The first audio stream of an SDP body. Raises :class:`SdpError` when it cannot carry a G.711 call."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("not an SDP body (no v= line)")
    session_c = ""
    media: list[dict[str, object]] = []
    for line in lines:
        kind, _, value = line.partition("=")
        if kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"bad m= line {value!r}")
            media.append({"type": parts[0], "port": parts[1], "proto": parts[2], "fmts": parts[3:], "attrs": [],
                          "c": ""})
        elif kind == "c":
            if media:
                media[-1]["c"] = value
            else:
                session_c = value
        elif kind == "a" and media:
            attrs = media[-1]["attrs"]
            assert isinstance(attrs, list)
            attrs.append(value)
    audio = next((m for m in media if m["type"] == "audio"), None)
    if audio is None:
        raise SdpError("no audio stream")
    port_text = str(audio["port"]).split("/", 1)[0]
    if not is_digits(port_text) or not 0 <= int(port_text) < 65536:
        raise SdpError(f"bad audio port {port_text!r}")
    port = int(port_text)
    if port == 0:
        raise SdpError("audio stream refused (port 0)")
    if not str(audio["proto"]).upper().startswith("RTP/AVP"):
        raise SdpError(f"unsupported transport {audio['proto']}")
    connection = str(audio["c"] or session_c)
    c_parts = connection.split()
    if len(c_parts) < 3 or c_parts[0] != "IN":
        raise SdpError("no connection address")
    if c_parts[1] != "IP4":
        raise SdpError(f"unsupported address family {c_parts[1]}")
    address = c_parts[2].split("/", 1)[0]
    octets = address.split(".")
    if len(octets) != 4 or not all(is_digits(o) and int(o) < 256 for o in octets):
        raise SdpError(f"bad IPv4 address {address!r}")
    rtpmap: dict[int, str] = {}
    direction = "sendrecv"
    attrs = audio["attrs"]
    assert isinstance(attrs, list)
    for attr in attrs:
        name, _, value = str(attr).partition(":")
        if name == "rtpmap":
            pt_text, _, encoding = value.partition(" ")
            if is_digits(pt_text.strip()):
                # "LPC" with no clock rate (RFC 4475 3.1.1.1) is fine: we only need the encoding name.
                rtpmap[int(pt_text)] = encoding.split("/", 1)[0].strip()
        elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
            direction = name
    offer = MediaOffer(address, port, direction=direction)
    fmts = audio["fmts"]
    assert isinstance(fmts, list)
    for fmt in fmts:
        if not is_digits(str(fmt)):
            continue
        pt = int(fmt)
        name = rtpmap.get(pt, STATIC.get(pt, ""))
        if name.upper() in CODECS:
            offer.payloads[pt] = name.upper()
        elif name.lower() == "telephone-event" and offer.dtmf_pt is None:
            offer.dtmf_pt = pt
    offer.codec  # noqa: B018  (raises SdpError when there is no G.711 payload)
    return offer


def answer(offer: MediaOffer, *, address: str, port: int, session_id: int, version: int = 1) -> bytes:
    """Our answer: the offer's first G.711 codec (and its telephone-event, if any), at ``address:port``."""
    pt, name = offer.codec
    return build(address=address, port=port, session_id=session_id, version=version, codec=(pt, name),
                 dtmf_pt=offer.dtmf_pt, direction=_reverse(offer.direction))


def offer(*, address: str, port: int, session_id: int, dtmf_pt: int = 101) -> bytes:
    """An outbound offer: PCMU, PCMA and telephone-event."""
    lines = [*_head(address, session_id, 1), f"m=audio {port} RTP/AVP 0 8 {dtmf_pt}", "a=rtpmap:0 PCMU/8000",
             "a=rtpmap:8 PCMA/8000", f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-15",
             "a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def build(*, address: str, port: int, session_id: int, version: int, codec: tuple[int, str], dtmf_pt: int | None,
          direction: str = "sendrecv") -> bytes:
    pts = [str(codec[0])] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    lines = [*_head(address, session_id, version), f"m=audio {port} RTP/AVP {' '.join(pts)}",
             f"a=rtpmap:{codec[0]} {codec[1]}/8000"]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-15"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def _head(address: str, session_id: int, version: int) -> list[str]:
    return ["v=0", f"o=voicebot {session_id} {version} IN IP4 {address}", "s=voicebot", f"c=IN IP4 {address}",
            "t=0 0"]


def _reverse(direction: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
