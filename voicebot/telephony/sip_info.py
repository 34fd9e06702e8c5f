"""DTMF carried in SIP INFO bodies (``application/dtmf-relay`` as Cisco and most PBXs send it, ``application/dtmf``)."""

from __future__ import annotations

from voicebot.telephony.sip_message import is_digits

KEYS = "0123456789*#ABCD"


def _key(text: str) -> str | None:
    text = text.strip().upper()
    if len(text) == 1 and text in KEYS:
        return text
    if is_digits(text) and int(text) < len(KEYS):  # event codes: 10 is *, 11 is # (RFC 4733 numbering)
        return KEYS[int(text)]
    return None


def dtmf_from_info(content_type: str, body: bytes) -> str | None:
    """The keys an INFO body carries ("" for a DTMF body without a valid key), or None for another body type."""
    text = body.decode("utf-8", "replace")
    if content_type == "application/dtmf-relay":
        for line in text.replace("\r\n", "\n").split("\n"):
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                return _key(value) or ""
        return ""
    if content_type == "application/dtmf":
        return _key(text) or ""
    return None
