"""The ``http`` action: POST a JSON body to a web service and use its JSON reply as the result.

Through httpx: one connection pool shared by all calls (a busy line does not open a TCP and TLS connection
per lookup), a timeout on each phase (connect, write, read, pool), and connection attempts retried
(:data:`CONNECT_RETRIES`): safe for a POST, since a request that never connected was never sent. Every
failure becomes an :class:`ActionFailed` with a reason an operator can act on ("timed out after 3000 ms",
"HTTP 500 from ...").
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

import httpx

from voicebot import __version__
from voicebot.services.registry import ActionContext, ActionFailed, ActionRegistry

DEFAULT_TIMEOUT_MS = 3000
MAX_TIMEOUT_MS = 60_000
#: A reply larger than this is not something a voice flow can use; refusing it bounds memory.
MAX_REPLY_BYTES = 1_000_000
#: Connection attempts after the first that fail to connect (refused, unreachable) before giving up.
CONNECT_RETRIES = 2

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
                                   headers={"User-Agent": f"voicebot/{__version__}"})
        return _client


def _display_url(url: str) -> str:
    """``url`` without credentials or query string, which may hold secrets and end up in logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise ActionFailed("http: url must be a string")
    parts = urllib.parse.urlsplit(url)
    # Only http(s): urllib would also open file:// and ftp:// URLs, which a flow has no business reading.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionFailed(f"http: url must be an http:// or https:// URL, got {_display_url(url)!r}")
    return url


def _timeout_ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ActionFailed("http: timeout_ms must be a number")
    try:
        ms = int(value)
    except ValueError:
        raise ActionFailed("http: timeout_ms must be a number") from None
    if ms <= 0:
        raise ActionFailed("http: timeout_ms must be positive")
    return min(ms, MAX_TIMEOUT_MS)


def http_action(
    ctx: ActionContext,
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url``.

    A JSON object reply is the result, any other JSON value comes back as ``{"result": value}``, and an
    empty reply (e.g. 204 No Content) as ``{}``.
    """
    url = _check_url(url)
    shown = _display_url(url)
    ms = _timeout_ms(timeout_ms)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ActionFailed("http: body must be an object")
    if headers is not None and not isinstance(headers, dict):
        raise ActionFailed("http: headers must be an object")
    try:
        data = json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ActionFailed(f"http: body is not JSON-serialisable ({exc})") from None
    request_headers = {"Content-Type": "application/json", "Accept": "application/json",
                       # Lets the service correlate its own logs with the call.
                       "X-Voicebot-Call-Id": ctx.call_id}
    request_headers.update({str(key): str(value) for key, value in (headers or {}).items()})
    try:
        with _shared_client().stream("POST", url, content=data, headers=request_headers,
                                     timeout=httpx.Timeout(ms / 1000)) as response:
            status = response.status_code
            raw = b""
            if 200 <= status < 300:
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_REPLY_BYTES:
                        break
    except httpx.TimeoutException:
        raise ActionFailed(f"timed out after {ms} ms waiting for {shown}") from None
    except httpx.ConnectError as exc:
        raise ActionFailed(f"cannot reach {shown}: {_first_line(exc)}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ActionFailed(f"connection to {shown} failed: {_first_line(exc)}") from None
    if not 200 <= status < 300:
        raise ActionFailed(f"HTTP {status} from {shown}")
    if len(raw) > MAX_REPLY_BYTES:
        raise ActionFailed(f"reply from {shown} is larger than {MAX_REPLY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        reply = json.loads(raw)
    except ValueError:
        raise ActionFailed(f"non-JSON reply from {shown}") from None
    return reply if isinstance(reply, dict) else {"result": reply}


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def register_http_action(registry: ActionRegistry) -> None:
    registry.register(
        "http", http_action, params=("url", "body", "headers", "timeout_ms"),
        description="POST a JSON body to an http(s) URL and return its JSON reply.",
    )
