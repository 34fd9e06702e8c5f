"""Properties of the routing policy over generated queues and agents (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from voicebot.acd.config import STRATEGIES, AcdSettings, parse_acd
from voicebot.acd.policy import AgentView, EntryView, decide

NOW = 100_000.0
SKILLS = ("a", "b", "c")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[AcdSettings, list[EntryView], list[AgentView]]:
    queues = {
        name: {"skills": [skill], "strategy": draw(st.sampled_from(STRATEGIES)), "priority": draw(st.integers(0, 3)),
               "sticky_agent_seconds": draw(st.sampled_from([0, 30]))}
        for name, skill in (("qa", "a"), ("qb", "b"))
    }
    s = parse_acd({"queues": queues})
    n_agents = draw(st.integers(0, 12))
    agents = [
        AgentView(
            id=i + 1, login=f"agent{i:02d}",
            state=draw(st.sampled_from(["available", "available", "available", "busy", "break", "logged_out"])),
            lease_expires_at=NOW + draw(st.sampled_from([-1, 60])),
            skills={k: draw(st.integers(1, 5)) for k in draw(st.sets(st.sampled_from(SKILLS), max_size=3))},
            idle_since=NOW - draw(st.integers(0, 1000)), calls=draw(st.integers(0, 20)),
            talk_seconds=float(draw(st.integers(0, 5000))),
        )
        for i in range(n_agents)
    ]
    n_entries = draw(st.integers(0, 25))
    entries = [
        EntryView(
            id=i + 1, queue=draw(st.sampled_from(["qa", "qb"])), enqueued_at=NOW - draw(st.integers(0, 600)),
            priority=draw(st.integers(0, 3)), vip=draw(st.booleans()),
            skills=tuple(draw(st.sets(st.sampled_from(SKILLS), max_size=1))),
            sticky_agent=draw(st.one_of(st.none(), st.integers(1, max(1, n_agents)))),
            kind=draw(st.sampled_from(["live", "callback"])),
            not_before=draw(st.sampled_from([None, None, NOW + 5, NOW - 5])),
        )
        for i in range(n_entries)
    ]
    return s, entries, agents


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_double_offer_and_only_eligible_agents(world: tuple[AcdSettings, list[EntryView], list[AgentView]]) -> None:
    s, entries, agents = world
    decision = decide(s, entries, agents, NOW)
    by_id = {a.id: a for a in agents}
    entry_by_id = {e.id: e for e in entries}
    offered_agents = [a for x in decision.assignments for a in x.agent_ids]
    assert len(offered_agents) == len(set(offered_agents)), "an agent got two entries"
    offered_entries = [x.entry_id for x in decision.assignments]
    assert len(offered_entries) == len(set(offered_entries)), "an entry was offered twice"
    for assignment in decision.assignments:
        entry = entry_by_id[assignment.entry_id]
        assert entry.not_before is None or entry.not_before <= NOW
        assert assignment.agent_ids
        if s.queue(entry.queue).strategy != "ring-all":
            assert len(assignment.agent_ids) == 1
        for agent_id in assignment.agent_ids:
            agent = by_id[agent_id]
            assert agent.routable(NOW)
            for skill in (*s.queue(entry.queue).skills, *entry.skills):
                assert agent.skills.get(skill, 0) > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_fifo_within_a_priority(world: tuple[AcdSettings, list[EntryView], list[AgentView]]) -> None:
    """A plain entry (no extra skills, no sticky agent, due) is never passed over for a later plain entry
    of the same queue and effective priority."""
    s, entries, agents = world
    plain = [EntryView(id=e.id, queue=e.queue, enqueued_at=e.enqueued_at, priority=e.priority, vip=e.vip,
                       kind=e.kind) for e in entries]
    decision = decide(s, plain, agents, NOW)
    assigned = {x.entry_id for x in decision.assignments}
    order = sorted(plain, key=lambda e: (-_priority(s, e), e.enqueued_at, e.id))
    position = {e.id: i for i, e in enumerate(order)}
    for queue in ("qa", "qb"):
        mine = [e for e in order if e.queue == queue]
        for earlier in mine:
            for later in mine:
                if position[earlier.id] < position[later.id] and later.id in assigned:
                    assert earlier.id in assigned, f"entry {earlier.id} passed over by {later.id}"


def _priority(s: AcdSettings, e: EntryView) -> int:
    """Effective priority written out independently of the policy's code (docs/acd.md)."""
    queue = s.queue(e.queue)
    return queue.priority + e.priority + (queue.vip_priority if e.vip else 0) + int((NOW - e.enqueued_at) // 60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrivals=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3), min_size=5, max_size=60),
    strategy=st.sampled_from(STRATEGIES),
)
# The case that starves without ageing: one low-priority caller behind a steady stream of top priorities.
@example(arrivals=[[9, 0]] + [[9, 9]] * 59, strategy="longest-idle")
def test_no_starvation_under_a_stream_of_higher_priorities(arrivals: list[list[int]], strategy: str) -> None:
    """One agent serves one entry per tick while entries of random priorities (0-9) keep arriving. With
    ageing, an entry is overtaken only by entries already waiting when it arrived or that arrived within
    (max priority + 2) ageing periods after it: a finite number, so every entry is served."""
    aging, tick, top = 10.0, 4.0, 9
    s = parse_acd({"queues": {"q": {"strategy": strategy, "priority_aging_seconds": aging}}})
    agent = AgentView(id=1, login="solo", state="available", lease_expires_at=float("inf"))
    waiting: list[EntryView] = []
    served_at: dict[int, float] = {}
    arrived: dict[int, float] = {}
    next_id = 1
    now = NOW
    for t in range(len(arrivals) + 400):
        now = NOW + t * tick
        for priority in (arrivals[t] if t < len(arrivals) else []):
            waiting.append(EntryView(id=next_id, queue="q", enqueued_at=now, priority=priority))
            arrived[next_id] = now
            next_id += 1
        decision = decide(s, waiting, [agent], now)
        for assignment in decision.assignments:
            served_at[assignment.entry_id] = now
        waiting = [e for e in waiting if e.id not in served_at]
        if not waiting and t >= len(arrivals):
            break
    assert not waiting, "entries still waiting: starved"
    window = (top + 2) * aging
    for entry_id, at in arrived.items():
        overtaken_by = [
            other for other, other_at in arrived.items()
            if other != entry_id and served_at[other] < served_at[entry_id] and other_at >= at
        ]
        late = [o for o in overtaken_by if arrived[o] > at + window]
        assert not late, f"entry {entry_id} overtaken by entries that arrived long after it: {late}"
