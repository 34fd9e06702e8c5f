"""Routing as a pure function: who gets which waiting entry, now.

``decide(settings, entries, agents, now, cursors)`` reads nothing and writes nothing; the store
(:mod:`voicebot.acd.store`) feeds it the rows it has claimed and applies the decision in the same
transaction. Time is an input (seconds since the epoch), so every rule is testable without a clock.

Order of service: entries across all queues are sorted by *effective priority* (queue priority + the
entry's own + the VIP bonus + one point per ``priority_aging_seconds`` waited), then by enqueue time,
then by id. Within one priority that is FIFO by enqueue time; ageing means a low-priority entry
eventually outranks any fixed priority, so nothing starves. A callback entry keeps its original
enqueue time, so it keeps its place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from voicebot.acd.config import AcdSettings, QueueSettings

EntryKind = Literal["live", "callback"]


@dataclass(frozen=True)
class EntryView:
    """A waiting queue entry as the policy sees it."""

    id: int
    queue: str
    enqueued_at: float
    priority: int = 0
    #: When it entered its current queue (differs from enqueued_at after an overflow).
    queued_at: float | None = None
    skills: tuple[str, ...] = ()
    vip: bool = False
    #: The agent who last served this caller, for sticky routing.
    sticky_agent: int | None = None
    kind: EntryKind = "live"
    #: A callback waiting for its retry interval is not routed before this time.
    not_before: float | None = None
    #: Queues it already overflowed out of (never moved back into them).
    visited: tuple[str, ...] = ()
    callback_offered: bool = False


@dataclass(frozen=True)
class AgentView:
    id: int
    login: str
    state: str
    lease_expires_at: float
    skills: Mapping[str, int] = field(default_factory=dict)
    #: Since when the agent has been available (longest-idle).
    idle_since: float = 0.0
    calls: int = 0
    talk_seconds: float = 0.0

    def present(self, now: float) -> bool:
        return self.state != "logged_out" and self.lease_expires_at > now

    def routable(self, now: float) -> bool:
        return self.state == "available" and self.lease_expires_at > now


@dataclass(frozen=True)
class Assignment:
    """Offer ``entry_id`` to ``agent_ids`` (several only for ring-all: the first to accept wins)."""

    entry_id: int
    queue: str
    agent_ids: tuple[int, ...]


@dataclass(frozen=True)
class OverflowMove:
    """Move an entry that waited too long: to ``to_queue``, or (``to_queue`` None) offer a callback."""

    entry_id: int
    from_queue: str
    to_queue: str | None


@dataclass(frozen=True)
class Decision:
    assignments: tuple[Assignment, ...] = ()
    overflows: tuple[OverflowMove, ...] = ()
    #: Round-robin queues: the login last offered a call, to continue from next time.
    cursors: Mapping[str, str] = field(default_factory=dict)


def effective_priority(entry: EntryView, queue: QueueSettings, now: float) -> int:
    waited = max(0.0, now - entry.enqueued_at)
    aged = math.floor(waited / queue.priority_aging_seconds)
    return queue.priority + entry.priority + (queue.vip_priority if entry.vip else 0) + aged


def service_order(settings: AcdSettings, entries: Iterable[EntryView], now: float) -> list[EntryView]:
    """Entries in the order they are served: effective priority, then enqueue time, then id."""
    entries = list(entries)
    queues = {name: settings.queue(name) for name in {e.queue for e in entries}}

    def key(e: EntryView) -> tuple[int, float, int]:
        # effective_priority() inlined: this key runs for every waiting entry on every routing round.
        q = queues[e.queue]
        aged = int(max(0.0, now - e.enqueued_at) // q.priority_aging_seconds)
        return (-(q.priority + e.priority + (q.vip_priority if e.vip else 0) + aged), e.enqueued_at, e.id)

    return sorted(entries, key=key)


def _has_skills(agent: AgentView, skills: Iterable[str]) -> bool:
    return all(agent.skills.get(s, 0) > 0 for s in skills)


def _candidates(queue_name: str, queue: QueueSettings, agents: Sequence[AgentView],
                cursor: str | None) -> list[AgentView]:
    """The routable agents with the queue's skills, best first for its strategy."""
    eligible = [a for a in agents if _has_skills(a, queue.skills)]
    strategy = queue.strategy
    if strategy == "fewest-calls":
        eligible.sort(key=lambda a: (a.calls, a.idle_since, a.id))
    elif strategy == "least-talk-time":
        eligible.sort(key=lambda a: (a.talk_seconds, a.idle_since, a.id))
    elif strategy == "skills":
        # Proficiency 1-5 summed over the queue's skills: the most proficient first, then longest idle.
        eligible.sort(key=lambda a: (-sum(a.skills.get(s, 0) for s in queue.skills), a.idle_since, a.id))
    elif strategy == "round-robin":
        # The agents after the last one served come first, in login order, then the rest (wrap around).
        eligible.sort(key=lambda a: (cursor is not None and a.login <= cursor, a.login))
    else:  # longest-idle and ring-all (ring-all rings everyone; the order only matters for logs)
        eligible.sort(key=lambda a: (a.idle_since, a.id))
    return eligible


def decide(
    settings: AcdSettings,
    entries: Sequence[EntryView],
    agents: Sequence[AgentView],
    now: float,
    cursors: Mapping[str, str] | None = None,
) -> Decision:
    """Assign waiting entries to routable agents; overflow entries that waited too long.

    Guarantees (tested as properties): an agent appears in at most one assignment, an entry in at
    most one; only routable agents with every required skill are used; a waiting entry is never
    skipped in favour of a later one of the same effective priority that the same agents could serve.
    """
    cursors = dict(cursors or {})
    routable = [a for a in agents if a.routable(now)]
    by_id = {a.id: a for a in agents}
    taken: set[int] = set()
    lists: dict[str, list[AgentView]] = {}
    heads: dict[str, int] = {}
    assignments: list[Assignment] = []
    new_cursors: dict[str, str] = {}
    assigned: set[int] = set()

    queues = {name: settings.queue(name) for name in {e.queue for e in entries}}
    exhausted: set[str] = set()  # queues whose every candidate agent is taken
    for entry in service_order(settings, (e for e in entries if _due(e, now)), now):
        if len(taken) >= len(routable):
            break  # nobody left to offer to: the rest wait
        if entry.queue in exhausted and entry.sticky_agent is None:
            continue
        queue = queues[entry.queue]
        sticky = _sticky_choice(entry, queue, by_id, taken, now) if entry.sticky_agent is not None else None
        if sticky == "wait":
            continue
        if sticky is not None:
            chosen: list[AgentView] = [sticky]
        else:
            if entry.queue not in lists:
                lists[entry.queue] = _candidates(entry.queue, queue, routable, cursors.get(entry.queue))
                heads[entry.queue] = 0
            candidates, head = lists[entry.queue], heads[entry.queue]
            # Agents taken by earlier entries are skipped once for all (keeps 1,000 entries cheap).
            while head < len(candidates) and candidates[head].id in taken:
                head += 1
            heads[entry.queue] = head
            if head == len(candidates):
                exhausted.add(entry.queue)
                continue
            extra = entry.skills
            pool = (a for a in candidates[head:] if a.id not in taken and (not extra or _has_skills(a, extra)))
            if queue.strategy == "ring-all":
                chosen = list(pool)
            else:
                first = next(pool, None)
                chosen = [first] if first is not None else []
        if not chosen:
            continue
        taken.update(a.id for a in chosen)
        assigned.add(entry.id)
        assignments.append(Assignment(entry.id, entry.queue, tuple(a.id for a in chosen)))
        if queue.strategy == "round-robin" and sticky is None:
            # The list is already in rotation order, so later picks in this decision continue after this
            # agent; the cursor carries the rotation over to the next decision.
            new_cursors[entry.queue] = chosen[0].login

    overflows = [
        move for e in entries
        if queues[e.queue].max_wait_seconds is not None and e.id not in assigned
        and (move := _overflow(queues[e.queue], e, now)) is not None
    ]
    return Decision(tuple(assignments), tuple(overflows), new_cursors)


def _due(entry: EntryView, now: float) -> bool:
    return entry.not_before is None or entry.not_before <= now


def _sticky_choice(entry: EntryView, queue: QueueSettings, agents: Mapping[int, AgentView], taken: set[int],
                   now: float) -> AgentView | Literal["wait"] | None:
    """The caller's last agent if free; "wait" while they are busy and the sticky window lasts."""
    if entry.sticky_agent is None or queue.sticky_agent_seconds <= 0:
        return None
    required = (*queue.skills, *entry.skills)
    agent = agents.get(entry.sticky_agent)
    if agent is None or not _has_skills(agent, required):
        return None
    if agent.routable(now) and agent.id not in taken:
        return agent
    waited = now - entry.enqueued_at
    if agent.present(now) and waited < queue.sticky_agent_seconds:
        return "wait"
    return None


def _overflow(queue: QueueSettings, entry: EntryView, now: float) -> OverflowMove | None:
    if entry.kind != "live":
        return None
    if queue.max_wait_seconds is None:
        return None
    since = entry.queued_at if entry.queued_at is not None else entry.enqueued_at
    if now - since < queue.max_wait_seconds:
        return None
    target = queue.overflow.queue
    if target is not None and target not in entry.visited and target != entry.queue:
        return OverflowMove(entry.id, entry.queue, target)
    if queue.overflow.callback and not entry.callback_offered:
        return OverflowMove(entry.id, entry.queue, None)
    return None
