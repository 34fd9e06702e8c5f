"""Transfer from the console: the caller moves to another queue, the agent's note travels with the call.

The note is appended to the entry's handoff payload (``transfers``, see :class:`voicebot.acd.handoff.
TransferNote`), so the next agent's screen pop shows it. The caller keeps their original enqueue time (their
place); the agent goes to wrap-up. One claim transaction, locking entry then agent like the ACD's own
operations. The call owner sees the entry waiting again, as after ``AcdService.requeue``.
"""

from __future__ import annotations

from voicebot.acd.entry_ops import start_wrap_up
from voicebot.acd.service import AcdService
from voicebot.acd.tx import AcdError, claim, get_locked
from voicebot.storage.acd_models import Agent, QueueEntry


def transfer(acd: AcdService, entry_id: int, to_queue: str, login: str, note: str) -> QueueEntry:
    with claim(acd.engine) as session:
        entry = get_locked(session, acd.engine, QueueEntry, entry_id)
        if entry is None or entry.status != "answered" or entry.kind != "live":
            raise AcdError(f"call {entry_id} is not a live call in progress")
        if entry.queue == to_queue:
            raise AcdError(f"the caller is already in {to_queue}")
        agent = get_locked(session, acd.engine, Agent, entry.agent_id) if entry.agent_id else None
        if agent is None or agent.login != login:
            raise AcdError(f"call {entry_id} is not yours")
        now = acd.now()  # read after the locks are held, like the ACD's own claims
        if agent.state == "busy" and agent.current_entry_id == entry.id:
            start_wrap_up(session, agent, acd.settings.queue(entry.queue).wrap_up_seconds, now)
        handoff = dict(entry.handoff or {})
        transfers = [*list(handoff.get("transfers") or []),
                     {"from_queue": entry.queue, "to_queue": to_queue, "agent": login, "note": note,
                      "at": now.isoformat()}]
        handoff["transfers"] = transfers
        queue = dict(handoff.get("queue") or {})
        queue["name"] = to_queue
        handoff["queue"] = queue
        entry.handoff = handoff
        entry.queue, entry.queued_at, entry.status = to_queue, now, "waiting"
        # The new queue's own skills apply; the first queue's handoff skills would strand the caller.
        entry.skills = []
        entry.agent_id, entry.answered_at = None, None
        entry.hold_started_at, entry.hold_ms = None, None  # talk and hold count from the next agent's answer
        entry.end_reason = f"transferred to {to_queue} by {login}"
        session.add(agent)
        session.add(entry)
        return entry
