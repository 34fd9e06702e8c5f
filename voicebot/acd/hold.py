"""Hold from the agent's console: the caller hears hold audio, the agent's phone silence, and the time is kept.

An entry on hold has ``hold_started_at``; resuming adds the stretch to ``hold_ms``. The call owner follows the
entry (the dispatcher looks at its bridged callers every routing round), so the console may run in another
process. ``complete`` closes an open stretch and records ``hold_ms`` apart from the talk time (reports: AHT =
talk + hold + wrap-up). One claim transaction each, locking the entry like the ACD's other operations.
"""

from __future__ import annotations

from sqlmodel import Session

from voicebot.acd.entry_ops import close_hold
from voicebot.acd.service import AcdService
from voicebot.acd.tx import AcdError, claim, get_locked
from voicebot.storage.acd_models import Agent, QueueEntry


def _own_live_call(session: Session, acd: AcdService, entry_id: int, login: str) -> QueueEntry:
    entry = get_locked(session, acd.engine, QueueEntry, entry_id)
    if entry is None or entry.status != "answered" or entry.kind != "live":
        raise AcdError(f"call {entry_id} is not a live call in progress")
    agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
    if agent is None or agent.login != login:
        raise AcdError(f"call {entry_id} is not yours")
    return entry


def hold(acd: AcdService, entry_id: int, login: str) -> QueueEntry:
    """Put the agent's caller on hold (an error if already on hold)."""
    with claim(acd.engine) as session:
        entry = _own_live_call(session, acd, entry_id, login)
        if entry.hold_started_at is not None:
            raise AcdError(f"call {entry_id} is already on hold")
        entry.hold_started_at = acd.now()
        session.add(entry)
        return entry


def resume(acd: AcdService, entry_id: int, login: str) -> QueueEntry:
    """Take the agent's caller off hold; the stretch is added to ``hold_ms``."""
    with claim(acd.engine) as session:
        entry = _own_live_call(session, acd, entry_id, login)
        if entry.hold_started_at is None:
            raise AcdError(f"call {entry_id} is not on hold")
        close_hold(entry, acd.now())
        session.add(entry)
        return entry
