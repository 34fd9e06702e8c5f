"""Logging set-up: one place that decides the level, the format (text or JSON) and the call fields.

A call's thread binds its ids once (:func:`call_log_context`, :func:`bind`); every record logged in that
thread then carries them as ``call_id`` / ``sip_call_id`` keys in JSON (text lines already name their call
in the message). The binding lives in a context variable, so calls in other threads never see each other's
ids; the session's worker pool runs each job in its submitter's context (runtime/serial_work.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

_fields: ContextVar[dict[str, str] | None] = ContextVar("voicebot_log_fields", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def call_log_context(**fields: str) -> Iterator[dict[str, str]]:
    """Bind ``fields`` (and whatever :func:`bind` adds inside) to every record logged in this block."""
    token = _fields.set({k: v for k, v in fields.items() if v})
    try:
        yield _fields.get() or {}
    finally:
        _fields.reset(token)


def bind(**fields: str) -> None:
    """Add fields to the current call's log context; nothing outside one (:func:`call_log_context`), so
    ids never leak into the lines of whatever the thread does next."""
    current = _fields.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v})


def bound() -> dict[str, str]:
    return dict(_fields.get() or {})


class _CallFields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get() or {}
        record.call_fields = dict(fields)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound call fields, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "call_fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.INFO, fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger (replacing earlier handlers, so calling it twice is harmless)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_CallFields())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party libraries are chatty at INFO; their warnings still come through.
    for noisy in ("faster_whisper", "httpx", "urllib3", "numba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class FailureLog:
    """A background loop's failures, logged without flooding: the first with its traceback, then one ERROR line
    per ``interval`` with the count so far, and one INFO line when a round works again.

    A loop that retries every few milliseconds while its database is away (moved, locked, read-only) otherwise
    writes a traceback per round: thousands a minute (seen in the issue 8 audit with the ACD dispatcher).
    Call :meth:`failed` from the ``except`` block of a round and :meth:`succeeded` after a round that worked.
    """

    def __init__(self, logger: logging.Logger, what: str, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self._clock = clock
        self.failures = 0  # rounds failed in a row
        self._logged_at = 0.0

    def failed(self) -> None:
        """Log the exception being handled (first time) or, once per interval, how long it has been failing."""
        self.failures += 1
        now = self._clock()
        if self.failures == 1:
            self.logger.exception("%s failed", self.what)
            self._logged_at = now
        elif now - self._logged_at >= self.interval:
            error = sys.exc_info()[1]
            reason = str(error).splitlines()[0][:200] if error is not None and str(error) else ""
            self.logger.error("%s still failing: %d rounds in a row (%s: %s)", self.what, self.failures,
                              type(error).__name__, reason)
            self._logged_at = now

    def succeeded(self) -> None:
        if self.failures:
            self.logger.info("%s works again after %d failed rounds", self.what, self.failures)
            self.failures = 0
