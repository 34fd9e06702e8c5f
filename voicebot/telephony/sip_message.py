"""SIP messages (RFC 3261 section 7 and 25): a tolerant parser, strict where the RFC is strict, and responses.

Tolerant: header folding (a line starting with space or tab continues the previous one), compact and long header
names, names in any case, unknown headers and parameters kept and ignored, ``%``-escapes left as they are.
Strict: the start line and SIP version (505), the headers every request needs (400 naming the header), a single
numeric ``CSeq`` whose method matches the request, a single ``Content-Length`` equal to the body's length, and
single-value headers that carry one value (400).

:func:`parse` raises :class:`Unparseable` for a datagram that is not a SIP message at all (it is dropped: there is
nothing to answer). :func:`check_request` returns the refusal (status, reason) for a request that parsed but
breaks a rule, so the caller can answer it with :func:`response`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: RFC 3261 7.3.3 and the compact forms registered since (RFC 3265, 3515, 3892, 4028, 3841).
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
    "u": "allow-events", "b": "referred-by", "x": "session-expires", "a": "accept-contact", "j": "reject-contact",
    "d": "request-disposition", "y": "identity", "n": "identity-info",
}
#: Headers that may appear once only (RFC 3261 20; several values there are a 400 per RFC 4475 3.1.2.19).
SINGLE = ("call-id", "cseq", "from", "to", "content-length", "content-type", "max-forwards", "expires")
#: Headers whose value may be a comma-separated list (so several lines of them are one list, RFC 3261 7.3.1).
LISTS = ("via", "contact", "route", "record-route", "allow", "supported", "require", "proxy-require",
         "unsupported", "accept")
REQUIRED = ("via", "from", "to", "call-id", "cseq")
TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS = re.compile(r"^SIP/(\d+\.\d+) (\d{3})(?: (.*))?$", re.ASCII)
_REQUEST = re.compile(r"^(\S+) (\S+) SIP/(\d+\.\d+)$", re.ASCII)
_VERSION = re.compile(r"SIP/\d+\.\d+", re.ASCII)
_URI_SCHEMES = ("sip", "sips", "tel")
#: empty elements in a Via list or its parameters (RFC 4475 3.1.2.1)
_EMPTY_ELEMENT = re.compile(r";\s*[;,]|,\s*[,;]|[,;]\s*$")


#: More digits than any SIP or SDP number needs (they all fit in 32 bits, 10 digits). Python's ``int`` refuses a
#: string of more than 4,300 digits, leading zeros included (ValueError), and a datagram has room for 60,000.
MAX_DIGITS = 20


def is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` accepts "²", which ``int`` refuses), at most :data:`MAX_DIGITS` of them:
    a longer number is out of range for every field and reads as malformed (400, or the field's default)."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS


class Unparseable(ValueError):
    """Not a SIP message: no start line, no header block, or not text at all."""


@dataclass
class Message:
    """One SIP request or response; header names are stored lower-case and in their long form."""

    method: str = ""  # requests
    uri: str = ""  # requests
    status: int = 0  # responses
    reason: str = ""  # responses
    version: str = "2.0"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: what was wrong beyond repair of the header block (a refusal reason), set by :func:`parse`.
    defects: list[str] = field(default_factory=list)

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def all(self, name: str) -> list[str]:
        """Every value of a header, list headers split at top-level commas."""
        name = name.lower()
        out: list[str] = []
        for key, value in self.headers:
            if key == name:
                out.extend(split_list(value) if name in LISTS else [value])
        return out

    def text(self, name: str) -> str:
        """Every value of a header joined with ", " (a whole list header)."""
        return ", ".join(self.all(name))

    def get(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    @property
    def call_id(self) -> str:
        return self.get("call-id").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method); (-1, "") when missing or malformed."""
        parts = self.get("cseq").split()
        if len(parts) != 2 or not is_digits(parts[0]) or len(parts[0]) > 10:
            return -1, ""
        return int(parts[0]), parts[1]

    @property
    def from_tag(self) -> str:
        return param(self.get("from"), "tag")

    @property
    def to_tag(self) -> str:
        return param(self.get("to"), "tag")

    @property
    def branch(self) -> str:
        return param(self.get("via"), "branch")

    @property
    def content_type(self) -> str:
        return self.get("content-type").split(";", 1)[0].strip().lower()

    def summary(self) -> str:
        first = f"{self.method} {self.uri}" if self.is_request else f"{self.status} {self.reason}"
        return f"{first} (Call-ID {self.call_id[:40]!r}, CSeq {self.get('cseq')!r})"


def split_list(value: str) -> list[str]:
    """Split a header value at commas outside quotes and angle brackets."""
    out, buf, quoted, angle = [], [], False, 0
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quoted and not angle:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf).strip())
    return [part for part in out if part]


def param(value: str, name: str) -> str:
    """A header parameter (``;tag=...``, ``;branch=...``) outside the URI in angle brackets; "" when absent."""
    rest = value.rsplit(">", 1)[1] if ">" in value else value
    if ">" not in value and "<" not in value and " " not in rest.strip():
        # addr-spec form (no brackets): parameters after the URI are header parameters (RFC 3261 20.10)
        rest = rest.split(";", 1)[1] if ";" in rest else ""
    for part in rest.split(";"):
        key, _, val = part.partition("=")
        if key.strip().lower() == name:
            return val.strip().strip('"')
    return ""


def uri_of(value: str) -> str:
    """The URI inside a name-addr (``"Bob" <sip:bob@host>;tag=1``) or an addr-spec (``sip:bob@host;tag=1``)."""
    if "<" in value and ">" in value:
        return value.split("<", 1)[1].split(">", 1)[0].strip()
    return value.strip().split(";", 1)[0].strip()


def user_of(uri: str) -> str:
    body = uri.split(":", 1)[1] if ":" in uri else uri
    return body.split("@", 1)[0].split(";", 1)[0] if "@" in body else ""


def hostport(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """host and port of a SIP URI (``sip:user@host:port;params``) or a Via sent-by (``host:port``)."""
    text = uri.strip()
    if text.lower().startswith(("sip:", "sips:")):
        text = text.split(":", 1)[1]
    text = text.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0].split(">", 1)[0].strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.partition(":")
    # (out of range: the default; a port past 2**63 made the resolver thread's getaddrinfo raise OverflowError)
    return host, int(port) if is_digits(port) and 0 < int(port) < 65536 else default_port


def canonical(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


def loose_request_line(start: str) -> list[str] | None:
    """The words of a Request-Line with extra spaces (method, URI pieces, ``SIP/x.y``), or None if it is not one.

    Split, not matched: the pattern this replaces (two runs of spaces around ``.*``) backtracked quadratically, and
    one 60 KB datagram of spaces held the receive thread for seconds.
    """
    parts = [part for part in start.split(" ") if part]
    if len(parts) >= 3 and TOKEN.match(parts[0]) and _VERSION.fullmatch(parts[-1]):
        return parts
    return None


def parse(data: bytes) -> Message:
    """Parse one datagram. Raises :class:`Unparseable` when there is no SIP start line and header block."""
    if b"\r\n\r\n" in data:
        head_bytes, body = data.split(b"\r\n\r\n", 1)
    elif b"\n\n" in data:
        head_bytes, body = data.split(b"\n\n", 1)
    elif data.endswith(b"\n"):
        head_bytes, body = data, b""  # the datagram ends after a header line: liberal, no body (RFC 4475 3.1.2.15)
    else:
        raise Unparseable("no end of headers (blank line)")
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        head = head_bytes.decode("latin-1")
    lines = head.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 7.5: leading blank lines are ignored
    if not lines:
        raise Unparseable("empty message")
    msg = Message()
    # Spaces and tabs around the start line are forgiven (RFC 4475 3.1.2.10); a bare CR or another control
    # character is not (str.strip() took those away, and an INVITE line ending in CR CR LF started a call).
    start = lines[0].strip(" \t")
    status = _STATUS.match(start)
    request = _REQUEST.match(start)
    if status:
        msg.version, msg.status, msg.reason = status.group(1), int(status.group(2)), status.group(3) or ""
    elif request:
        msg.method, msg.uri, msg.version = request.group(1), request.group(2), request.group(3)
        if not TOKEN.match(msg.method):
            raise Unparseable(f"bad method {msg.method[:20]!r}")
    elif (parts := loose_request_line(start)) is not None:
        # A request line with extra spaces (RFC 4475 3.1.2.8, 3.1.2.9): a request, but a bad one (400).
        msg.method, msg.uri, msg.version = parts[0], " ".join(parts[1:-1]), parts[-1][4:]
        msg.defects.append("malformed Request-Line")
    else:
        raise Unparseable(f"not a SIP start line: {start[:60]!r}")
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()  # folding (RFC 3261 7.3.1)
        elif line.strip():
            unfolded.append(line)
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or not TOKEN.match(name.strip()):
            msg.defects.append(f"malformed header line {line[:40]!r}")
            continue
        msg.headers.append((canonical(name), value.strip()))
    lengths = [v for k, v in msg.headers if k == "content-length"]
    if len(lengths) == 1 and is_digits(lengths[0]) and int(lengths[0]) < len(body):
        body = body[:int(lengths[0])]  # RFC 3261 18.3: octets after the body are discarded (RFC 4475 3.1.1.8)
    msg.body = body
    return msg


def check_request(msg: Message, *, methods: tuple[str, ...]) -> tuple[int, str] | None:
    """The refusal a parsed request gets (status, reason), or None when it may be processed.

    ``methods``: the methods we implement (others get 501 from the caller, after these syntax checks pass).
    """
    if msg.version != "2.0":
        return 505, "Version Not Supported"
    if msg.defects:
        return 400, f"Bad Request ({msg.defects[0]})"
    missing = [name for name in REQUIRED if not msg.get(name)]
    if missing:
        return 400, f"Missing {', '.join(h.title() for h in missing)}"
    if msg.uri.startswith("<") or msg.uri.endswith(">"):
        return 400, "Request-URI in angle brackets"
    if msg.method == "INVITE" and "?" in msg.uri:
        return 400, "Request-URI with escaped headers"
    for name in SINGLE:
        values = [v for k, v in msg.headers if k == name]
        if len(values) > 1 or (values and name in ("content-length", "cseq", "max-forwards", "call-id")
                               and "," in values[0]):
            return 400, f"Multiple {name.title()} values"
    number, method = msg.cseq
    if number < 0 or number >= 2**31:
        return 400, "Bad CSeq"
    if method != msg.method:
        return 400, "CSeq method does not match the request"
    length = msg.get("content-length")
    if length:
        if not is_digits(length.strip()):
            return 400, "Bad Content-Length"
        if int(length) > len(msg.body):
            return 400, f"Content-Length {int(length)} is larger than the body ({len(msg.body)} bytes)"
    max_forwards = msg.get("max-forwards")
    if max_forwards and not is_digits(max_forwards.strip()):
        return 400, "Bad Max-Forwards"
    for name in ("from", "to"):
        uri = uri_of(msg.get(name))
        if ":" not in uri:
            return 400, f"Bad {name.title()} URI"
    via = msg.get("via")
    if not via.upper().replace(" ", "").startswith("SIP/2.0/"):
        return 400, "Bad Via"
    for name in ("via", "contact"):
        if any(_EMPTY_ELEMENT.search(value) for key, value in msg.headers if key == name):
            return 400, f"Bad {name.title()} (empty elements)"
    for name in ("from", "to", "contact"):
        if any(not _quotes_balanced(value) for key, value in msg.headers if key == name):
            return 400, f"Unterminated quoted string in {name.title()}"
    scheme = msg.uri.split(":", 1)[0].lower() if ":" in msg.uri else ""
    if scheme not in _URI_SCHEMES:
        return 416, "Unsupported URI Scheme"
    return None


def _quotes_balanced(value: str) -> bool:
    quoted, escaped = False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
    return not quoted


def response(request: Message, status: int, reason: str, *, to_tag: str = "", source: tuple[str, int] | None = None,
             headers: list[tuple[str, str]] | None = None, body: bytes = b"", content_type: str = "") -> bytes:
    """A response to ``request`` (RFC 3261 8.2.6): its Via list, From, To (with our tag), Call-ID and CSeq.

    ``source``: where the request came from; the top Via gets ``received`` and a filled ``rport`` (RFC 3581).
    """
    lines = [f"SIP/2.0 {status} {reason}"]
    vias = request.all("via")
    for i, via in enumerate(vias):
        lines.append("Via: " + (stamp_via(via, source) if i == 0 and source else via))
    lines.append(f"From: {request.get('from')}")
    to = request.get("to")
    if to_tag and status > 100 and not param(to, "tag"):
        to = f"{to};tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {request.call_id}")
    lines.append(f"CSeq: {request.get('cseq')}")
    if request.method == "INVITE" and 100 < status < 300:
        # RFC 3261 12.1.1: a response that sets up the dialog carries the request's Record-Route, so the caller
        # sends its ACK and BYE through the proxies that asked for it (kamailio with record_route, a PBX)
        lines += [f"Record-Route: {route}" for route in request.all("record-route")]
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Type: {content_type or 'application/sdp'}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def stamp_via(via: str, source: tuple[str, int]) -> str:
    """RFC 3581 / RFC 3261 18.2.1: add ``received`` (when the host differs) and fill ``rport`` if asked for."""
    parts = [p.strip() for p in via.split(";")]
    sent_by = parts[0].split()[-1] if parts[0].split() else ""
    host, _ = hostport(sent_by)
    out = [parts[0]]
    had_received = False
    for p in parts[1:]:
        key = p.split("=", 1)[0].strip().lower()
        if key == "rport":
            out.append(f"rport={source[1]}")
        elif key == "received":
            out.append(f"received={source[0]}")
            had_received = True
        else:
            out.append(p)
    if not had_received and host != source[0]:
        out.append(f"received={source[0]}")
    return ";".join(out)


def param_present(value: str, name: str) -> bool:
    return any(p.split("=", 1)[0].strip().lower() == name for p in value.split(";")[1:])


def request_bytes(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                  content_type: str = "application/sdp") -> bytes:
    lines = [f"{method} {uri} SIP/2.0", *(f"{name}: {value}" for name, value in headers)]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
