"""SIP responses as they pass the wire, for whoever counts them (the Prometheus metrics).

The SIP layer calls :func:`observe` with every datagram it sends or receives; a response
(``SIP/2.0 <code> ...``) is passed on to the listeners as (direction, code). Listeners must be quick and
must not raise (a failing one is logged and skipped): this runs on the SIP threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("voicebot.sip")

Listener = Callable[[str, int], None]

_lock = threading.Lock()
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(direction, code)`` for every SIP response ("sent" or "received"); returns unsubscribe."""
    global _listeners
    with _lock:
        _listeners = [*_listeners, listener]

    def unsubscribe() -> None:
        global _listeners
        with _lock:
            _listeners = [item for item in _listeners if item is not listener]

    return unsubscribe


def response_code(data: bytes) -> int | None:
    """The status code of a SIP response datagram; None for a request or anything else."""
    if not data.startswith(b"SIP/2.0 "):
        return None
    code = data[8:11]
    return int(code) if code.isdigit() else None


def observe(direction: str, data: bytes) -> None:
    if not _listeners:
        return
    code = response_code(data)
    if code is None:
        return
    for listener in _listeners:
        try:
            listener(direction, code)
        except Exception:
            log.exception("SIP response listener %r failed", listener)
