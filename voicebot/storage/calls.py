"""The call store: the only writer of call records, and one that never loses a call.

Every write is an "op" (a JSON-ready dict). It is applied to the database; if that fails for any reason
(file gone, locked, tables missing, server down) the op is appended to ``<spool_dir>/<call_id>.jsonl``
instead and the caller carries on, because a database hiccup must never drop a live call.
:meth:`CallStore.replay_spool` later applies the spooled ops; applying is idempotent, so an op that
reached the database twice is stored once. A server replays at start-up and then periodically
(:class:`voicebot.storage.spool_replayer.SpoolReplayer`); the ``calls`` commands replay before reading.
Several processes may replay the same spool folder: each spool file is guarded by an exclusive
``flock`` held while it is appended to, and while it is applied and deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.storage.call_models import ACD_OUTCOMES, CallEvent, CallRecord, HandoffRequest
from voicebot.storage.db import as_utc, session_scope, to_jsonable, utc_now

__all__ = ["SPOOLED", "CallStore", "to_jsonable"]

log = logging.getLogger("voicebot.storage")

#: Returned by enqueue_handoff when the request could only be spooled (it has no row id yet).
SPOOLED = -1

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def record_as_json(record: CallRecord) -> dict[str, Any]:
    """A call record as JSON-ready data, the form every command and tool shows it in."""
    data: dict[str, Any] = to_jsonable(record.model_dump())
    return data


class CallStore:
    """Writes call records, step logs and handoff requests; reads them back."""

    def __init__(self, engine: Engine, spool_dir: Path) -> None:
        self.engine = engine
        self.spool_dir = Path(spool_dir)
        # Serialises spool appends against replays, so a line appended while its file is being
        # replayed is not deleted with it.
        self._lock = threading.RLock()
        #: What the end-of-call log line needs from the start of calls in progress in this process.
        self._live: dict[str, _LiveCall] = {}

    # -- writers (never raise) -------------------------------------------------------------------

    def start_call(self, call_id: str, caller_id: str, dialled: str, flow: str, started_at: datetime,
                   sip_call_id: str = "") -> None:
        with self._lock:
            self._live[call_id] = _LiveCall(caller_id, flow, started_at, sip_call_id)
        self._write(
            {"op": "start_call", "call_id": call_id, "caller_id": caller_id, "dialled": dialled,
             "flow": flow, "started_at": started_at, "sip_call_id": sip_call_id},
        )

    def log_step(
        self, call_id: str, seq: int, at: float, event: dict[str, Any], actions: list[dict[str, Any]]
    ) -> None:
        self._write({"op": "log_step", "call_id": call_id, "seq": seq, "at": at, "event": event,
                     "actions": actions})

    def finish_call(
        self,
        call_id: str,
        *,
        ended_at: datetime,
        outcome: str,
        authenticated: bool,
        customer_id: int | None,
        intents: list[str],
        slots: dict[str, Any],
        nodes: list[str],
        handoff: dict[str, Any] | None,
        error: str | None,
        recording_path: str | None = None,
    ) -> None:
        with self._lock:
            live = self._live.pop(call_id, None)
        _log_call_end(call_id, live, ended_at, outcome, error)
        # The end of a call is a good moment to flush its spool: nothing else will write for it.
        self._write(
            {"op": "finish_call", "call_id": call_id, "ended_at": ended_at, "outcome": outcome,
             "authenticated": authenticated, "customer_id": customer_id, "intents": intents,
             "slots": slots, "nodes": nodes, "handoff": handoff, "error": error,
             "recording_path": recording_path},
            flush_spool_first=True,
        )

    def enqueue_handoff(
        self, call_id: str, queue: str, priority: int, skills: list[str], reason: str, payload: dict[str, Any]
    ) -> int:
        """The new request's id, or :data:`SPOOLED` (-1) if it could only be spooled."""
        # A caller is waiting on this one, so try hard to get it (and its call) into the database now.
        result = self._write(
            {"op": "enqueue_handoff", "call_id": call_id, "queue": queue, "priority": priority,
             "skills": skills, "reason": reason, "payload": payload, "created_at": utc_now()},
            flush_spool_first=True,
        )
        return result if result is not None else SPOOLED

    def replay_spool(self) -> int:
        """Apply spooled ops to the database; returns how many calls' spools were fully applied."""
        if not self.spool_dir.is_dir():
            return 0
        replayed = 0
        for path in sorted(self.spool_dir.glob("*.jsonl")):
            with self._lock:
                if self._replay_file(path):
                    replayed += 1
        return replayed

    # -- readers (database errors propagate) -----------------------------------------------------

    def get_call(self, call_id: str) -> CallRecord | None:
        with session_scope(self.engine) as session:
            return session.get(CallRecord, call_id)

    def last_call(self) -> CallRecord | None:
        return next(iter(self.list_calls(limit=1)), None)

    def list_calls(self, limit: int = 50, *, since: datetime | None = None, outcome: str | None = None,
                   flow: str | None = None, caller: str | None = None) -> list[CallRecord]:
        """Most recent first, filtered: started at or after ``since``; ``outcome`` ("in_progress" for calls
        without one); ``flow`` (the flow's name); ``caller`` (a substring of the caller ID)."""
        query = select(CallRecord).order_by(col(CallRecord.started_at).desc(), col(CallRecord.id).desc())
        if since is not None:
            query = query.where(col(CallRecord.started_at) >= as_utc(since))
        if outcome == "in_progress":
            query = query.where(col(CallRecord.outcome).is_(None))
        elif outcome:
            query = query.where(CallRecord.outcome == outcome)
        if flow:
            query = query.where(CallRecord.flow == flow)
        if caller:
            query = query.where(col(CallRecord.caller_id).contains(caller))
        with session_scope(self.engine) as session:
            return list(session.exec(query.limit(limit)).all())

    def call_events(self, call_id: str) -> list[CallEvent]:
        query = select(CallEvent).where(CallEvent.call_id == call_id).order_by(col(CallEvent.seq))
        with session_scope(self.engine) as session:
            return list(session.exec(query).all())

    def handoffs_for(self, call_id: str) -> list[HandoffRequest]:
        query = select(HandoffRequest).where(HandoffRequest.call_id == call_id)
        with session_scope(self.engine) as session:
            return list(session.exec(query.order_by(col(HandoffRequest.id))).all())

    # -- internals -------------------------------------------------------------------------------

    def spool_path(self, call_id: str) -> Path:
        """The spool file of ``call_id`` (the id is sanitised: it comes from the outside world)."""
        name = _SAFE_NAME.sub("_", call_id).lstrip(".") or "_"
        if name != call_id:
            # Two ids that sanitise alike must not share a file.
            name = f"{name[:80]}-{hashlib.sha256(call_id.encode()).hexdigest()[:12]}"
        return self.spool_dir / f"{name}.jsonl"

    def _write(self, op: dict[str, Any], *, flush_spool_first: bool = False) -> int | None:
        # Datetimes become ISO strings with their offset here; _dt turns them back into UTC on apply.
        op = to_jsonable(op)
        try:
            return self._write_or_spool(op, flush_spool_first)
        except Exception:  # last line of defence: storing a call must never break the call
            log.exception("call %s: could not store op %s; op follows: %s", op.get("call_id"), op.get("op"),
                          json.dumps(op))
            return None

    def _write_or_spool(self, op: dict[str, Any], flush_spool_first: bool) -> int | None:
        call_id, path = op["call_id"], self.spool_path(str(op["call_id"]))
        with self._lock:
            if path.exists() and flush_spool_first:
                self._replay_file(path)
            if path.exists():
                # Earlier ops of this call are spooled: later ones follow them, so order is kept.
                self._append(path, op)
                return None
        try:
            with session_scope(self.engine) as session:
                return _OPS[op["op"]](session, op)
        except Exception as exc:
            log.warning("call %s: database write %s failed (%s); spooled to %s",
                        call_id, op["op"], _short(exc), path)
            with self._lock:
                self._append(path, op)
            return None

    def _append(self, path: Path, op: dict[str, Any]) -> None:
        line = json.dumps(op, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                with path.open("a", encoding="utf-8") as spool:
                    fcntl.flock(spool.fileno(), fcntl.LOCK_EX)
                    if os.fstat(spool.fileno()).st_nlink == 0:
                        continue  # another process replayed and deleted it while we waited: open anew
                    spool.write(line)
                    spool.flush()
                    os.fsync(spool.fileno())
                    return
        except OSError as exc:
            # Last resort: the data goes into the log so an operator can still recover it.
            log.error("call %s: cannot spool to %s (%s); lost op follows: %s",
                      op.get("call_id"), path, exc, line.rstrip())

    def _replay_file(self, path: Path) -> bool:
        """Apply one spool file in a single transaction and delete it; False if it has to stay."""
        try:
            handle = path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return False  # replayed meanwhile by another process
        except OSError as exc:
            log.warning("cannot read spool file %s (%s)", path, exc)
            return False
        with handle:
            # Held until the file is deleted: no other process appends to or replays it meanwhile.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if os.fstat(handle.fileno()).st_nlink == 0:
                return False  # another process replayed it while we waited for the lock
            try:
                lines = [line for line in handle.read().splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("cannot read spool file %s (%s)", path, exc)
                return False
            return self._apply_lines(path, lines)

    def _apply_lines(self, path: Path, lines: list[str]) -> bool:
        ops, bad = [], []
        for line in lines:
            try:
                ops.append(json.loads(line))
            except json.JSONDecodeError:
                bad.append(line)  # e.g. a line cut short by a crash while it was being appended
        try:
            with session_scope(self.engine) as session:
                for op in ops:
                    _OPS[op["op"]](session, op)
            if bad:
                # Kept for a human rather than dropped; a unique name so no earlier leftovers are overwritten.
                aside = path.with_name(f"{path.stem}.{utc_now():%Y%m%dT%H%M%S%f}.corrupt")
                aside.write_text("\n".join(bad) + "\n", encoding="utf-8")
                log.error("spool file %s had %d unreadable line(s); moved to %s", path, len(bad), aside)
            path.unlink(missing_ok=True)
        except Exception as exc:
            log.warning("replay of spool file %s failed (%s); kept for later", path, _short(exc))
            return False
        log.info("replayed %d spooled op(s) from %s", len(ops), path)
        return bool(ops)


@dataclass(frozen=True)
class _LiveCall:
    caller_id: str
    flow: str
    started_at: datetime
    sip_call_id: str


_calls_log = logging.getLogger("voicebot.calls")


def _log_call_end(call_id: str, live: _LiveCall | None, ended_at: datetime, outcome: str, error: str | None) -> None:
    """The one INFO line per call an operator reads (written here: every channel's calls end here)."""
    if live is None:
        _calls_log.info("call %s ended: outcome %s", call_id, outcome)
        return
    seconds = (as_utc(ended_at) - as_utc(live.started_at)).total_seconds()
    _calls_log.info("call %s ended: outcome %s, caller %s, flow %s, %.1f s, SIP Call-ID %s%s", call_id, outcome,
                    live.caller_id or "(none)", live.flow, seconds, live.sip_call_id or "-",
                    f", error {error}" if error else "")


def _short(exc: BaseException) -> str:
    """A one-line reason; SQLAlchemy's messages carry the SQL and its parameters, which are noise here."""
    reason = getattr(exc, "orig", None) or exc
    first_line = str(reason).splitlines()[0] if str(reason) else ""
    return f"{type(reason).__name__}: {first_line}"[:200]


# -- applying ops (idempotent: each may run twice, once directly and once from a spool) ----------------


def _dt(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def _ensure_record(session: Session, call_id: str, started_at: datetime) -> CallRecord:
    # A step without its start_call (a runtime bug) still gets stored, under a placeholder record.
    record = session.get(CallRecord, call_id)
    if record is None:
        record = CallRecord(id=call_id, started_at=started_at)
        session.add(record)
        session.flush()
    return record


def _apply_start(session: Session, op: dict[str, Any]) -> None:
    record = session.get(CallRecord, op["call_id"])
    if record is not None and record.flow:
        return
    record = record or CallRecord(id=op["call_id"], started_at=_dt(op["started_at"]))
    record.caller_id, record.dialled, record.flow = op["caller_id"], op["dialled"], op["flow"]
    record.sip_call_id = op.get("sip_call_id") or ""  # spool lines written before the column lack it
    record.started_at = _dt(op["started_at"])
    session.add(record)


def _apply_step(session: Session, op: dict[str, Any]) -> None:
    _ensure_record(session, op["call_id"], utc_now())
    exists = session.exec(
        select(CallEvent.id).where(CallEvent.call_id == op["call_id"], CallEvent.seq == op["seq"])
    ).first()
    if exists is None:
        session.add(CallEvent(call_id=op["call_id"], seq=op["seq"], at=op["at"], event=op["event"],
                              actions=op["actions"]))


def _apply_finish(session: Session, op: dict[str, Any]) -> None:
    ended_at = _dt(op["ended_at"])
    record = _ensure_record(session, op["call_id"], ended_at)
    # The ACD's outcome (answered, abandoned_in_queue, ...) is more precise than the flow's "handoff".
    keep_acd_outcome = record.outcome in ACD_OUTCOMES and op["outcome"] == "handoff"
    record.ended_at, record.error = ended_at, op["error"]
    record.outcome = record.outcome if keep_acd_outcome else op["outcome"]
    record.authenticated, record.customer_id = op["authenticated"], op["customer_id"]
    record.intents, record.slots, record.nodes = op["intents"], op["slots"], op["nodes"]
    record.handoff = op["handoff"]
    if op.get("recording_path"):
        record.recording_path = op["recording_path"]
    session.add(record)


def _apply_handoff(session: Session, op: dict[str, Any]) -> int:
    created_at = _dt(op["created_at"])
    _ensure_record(session, op["call_id"], created_at)
    # (call, queue, creation time) identifies a request, so a replayed one is not queued twice.
    existing = session.exec(
        select(HandoffRequest.id).where(HandoffRequest.call_id == op["call_id"],
                                        HandoffRequest.queue == op["queue"],
                                        HandoffRequest.created_at == created_at)
    ).first()
    if existing is not None:
        return existing
    request = HandoffRequest(call_id=op["call_id"], queue=op["queue"], priority=op["priority"],
                             skills=op["skills"], reason=op["reason"], payload=op["payload"],
                             created_at=created_at)
    session.add(request)
    session.flush()
    assert request.id is not None  # assigned by the flush
    return request.id


_OPS: dict[str, Callable[[Session, dict[str, Any]], int | None]] = {
    "start_call": _apply_start,
    "log_step": _apply_step,
    "finish_call": _apply_finish,
    "enqueue_handoff": _apply_handoff,
}
