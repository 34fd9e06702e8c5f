"""Register mode: REGISTER with the registrar (RFC 3261 10), digest authentication (RFC 2617 / RFC 8760 MD5),
refreshed before it expires, and removed (``Expires: 0``) when the endpoint stops."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from typing import TYPE_CHECKING

from voicebot.telephony import sip_message as sm
from voicebot.telephony.sip_message import is_digits

if TYPE_CHECKING:
    from voicebot.telephony.sip_ua import UserAgent

log = logging.getLogger("voicebot.sip")

RETRY_S = 30.0


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_params(header: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> {realm: x, nonce: y, qop: auth}."""
    text = header.strip()
    if text.lower().startswith("digest"):
        text = text[6:]
    out: dict[str, str] = {}
    for part in sm.split_list(text):
        key, _, value = part.partition("=")
        out[key.strip().lower()] = value.strip().strip('"')
    return out


def digest_authorization(challenge: dict[str, str], *, method: str, uri: str, username: str, password: str,
                         nc: int = 1, cnonce: str | None = None) -> str:
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        response = _md5(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if challenge.get("opaque"):
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


class Registration:
    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.call_id = f"{secrets.token_hex(10)}@{ua.host}"
        self.tag = secrets.token_hex(5)
        self.cseq = 0
        self.registered = threading.Event()
        self.done = threading.Event()  # the last REGISTER got a final answer
        self.expires = ua.config.register_expires
        self._auth: tuple[str, str] | None = None  # (header name, value) for the next REGISTER
        self._tried_auth = False
        self._stopping = False

    @property
    def aor(self) -> str:
        host, _port = self.ua.config.registrar or (self.ua.host, self.ua.port)
        return f"sip:{self.ua.config.username}@{host}"

    def start(self, wait: float = 5.0) -> bool:
        """Register now; wait up to ``wait`` seconds for the registrar to accept (retried every 30 s if not)."""
        self._send(self.expires)
        if not self.registered.wait(wait):
            log.error("not registered with %s:%d yet (retrying every %.0f s)", *self.ua.request_target(self.aor),
                      RETRY_S)
        return self.registered.is_set()

    def stop(self, wait: float = 2.0) -> None:
        self._stopping = True
        if self.registered.is_set():
            self.registered.clear()
            self._tried_auth = False
            self._send(0)
            self.done.wait(wait)

    def _send(self, expires: int) -> None:
        ua = self.ua
        self.cseq += 1
        self.done.clear()
        host, port = ua.config.registrar or (ua.host, ua.port)
        uri = f"sip:{host}:{port}"
        headers = [("Via", ua.via("z9hG4bK" + secrets.token_hex(8))), ("Max-Forwards", "70"),
                   ("From", f"<{self.aor}>;tag={self.tag}"), ("To", f"<{self.aor}>"), ("Call-ID", self.call_id),
                   ("CSeq", f"{self.cseq} REGISTER"), ("Contact", ua.contact()), ("Expires", str(expires)),
                   ("User-Agent", "voicebot")]
        if self._auth is not None:
            headers.append(self._auth)
        self._expires_sent = expires
        self._uri = uri
        ua.transport.send(sm.request_bytes("REGISTER", uri, headers), ua.request_target(uri))

    def on_response(self, msg: sm.Message) -> bool:
        if msg.call_id != self.call_id:
            return False
        if msg.cseq[0] != self.cseq or msg.status < 200:
            return True
        if msg.status in (401, 407) and not self._tried_auth:
            name = "www-authenticate" if msg.status == 401 else "proxy-authenticate"
            challenge = digest_params(msg.get(name))
            header = "Authorization" if msg.status == 401 else "Proxy-Authorization"
            self._auth = (header, digest_authorization(challenge, method="REGISTER", uri=self._uri,
                                                       username=self.ua.config.username,
                                                       password=self.ua.config.password))
            self._tried_auth = True
            self._send(self._expires_sent)
            return True
        self._tried_auth = False
        self.done.set()
        if self._expires_sent == 0:
            return True
        if 200 <= msg.status < 300:
            granted = msg.get("expires")
            contact_expires = sm.param(msg.get("contact"), "expires")
            value = contact_expires or granted
            expires = int(value) if is_digits(value) else self.expires
            self.registered.set()
            log.info("registered with %s as %s for %d s", msg.get("to"), self.ua.contact(), expires)
            self.ua.scheduler.after(max(expires * 0.8, 1.0), self._refresh)
        else:
            log.error("registration refused: %d %s (retrying in %.0f s)", msg.status, msg.reason, RETRY_S)
            self.ua.scheduler.after(RETRY_S, self._refresh)
        return True

    def _refresh(self) -> None:
        if not self._stopping:
            self._send(self.expires)
