"""The pure routing policy: every strategy, priorities, VIP, sticky agents, skills, overflow, callbacks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.acd.conftest import settings
from voicebot.acd.config import AcdSettings
from voicebot.acd.policy import AgentView, EntryView, decide, effective_priority, service_order

NOW = 10_000.0


def agent(id: int, idle: float = 0.0, skills: dict[str, int] | None = None, state: str = "available",
          lease: float = NOW + 60, **kw: Any) -> AgentView:
    return AgentView(id=id, login=kw.pop("login", f"a{id:02d}"), state=state, lease_expires_at=lease,
                     skills=skills if skills is not None else {"banking": 3}, idle_since=idle, **kw)


def entry(id: int, at: float, queue: str = "q", **kw: Any) -> EntryView:
    return EntryView(id=id, queue=queue, enqueued_at=at, **kw)


def pairs(s: AcdSettings, entries: list[EntryView], agents: list[AgentView], now: float = NOW,
          **kw: Any) -> list[tuple[int, tuple[int, ...]]]:
    return [(a.entry_id, a.agent_ids) for a in decide(s, entries, agents, now, **kw).assignments]


BANKING = {"skills": ["banking"]}


def test_longest_idle_is_the_default_and_fifo_serves_the_oldest_first() -> None:
    s = settings(q=BANKING)
    assert s.queue("q").strategy == "longest-idle"
    agents = [agent(1, idle=500), agent(2, idle=100), agent(3, idle=300)]
    entries = [entry(11, at=NOW - 5), entry(10, at=NOW - 50)]
    assert pairs(s, entries, agents) == [(10, (2,)), (11, (3,))]


def test_fewest_calls_then_longest_idle() -> None:
    s = settings(q={**BANKING, "strategy": "fewest-calls"})
    agents = [agent(1, idle=100, calls=5), agent(2, idle=300, calls=2), agent(3, idle=200, calls=2)]
    assert pairs(s, [entry(1, NOW - 10), entry(2, NOW - 5)], agents) == [(1, (3,)), (2, (2,))]


def test_least_talk_time() -> None:
    s = settings(q={**BANKING, "strategy": "least-talk-time"})
    agents = [agent(1, talk_seconds=900), agent(2, talk_seconds=60), agent(3, talk_seconds=300)]
    assert pairs(s, [entry(1, NOW - 10)], agents) == [(1, (2,))]


def test_skills_strategy_prefers_the_most_proficient() -> None:
    s = settings(q={"skills": ["banking", "vip"], "strategy": "skills"})
    agents = [agent(1, idle=0, skills={"banking": 2, "vip": 2}), agent(2, idle=50, skills={"banking": 5, "vip": 4}),
              agent(3, idle=0, skills={"banking": 5})]  # lacks vip: not eligible at all
    assert pairs(s, [entry(1, NOW - 10), entry(2, NOW - 9), entry(3, NOW - 8)], agents) == [(1, (2,)), (2, (1,))]


def test_round_robin_continues_after_the_cursor_and_wraps() -> None:
    s = settings(q={**BANKING, "strategy": "round-robin"})
    agents = [agent(1, login="ann"), agent(2, login="bob"), agent(3, login="cat")]
    decision = decide(s, [entry(1, NOW - 10), entry(2, NOW - 9)], agents, NOW, {"q": "ann"})
    assert [(a.entry_id, a.agent_ids) for a in decision.assignments] == [(1, (2,)), (2, (3,))]
    assert decision.cursors == {"q": "cat"}
    # Next round: wraps around to the start.
    assert pairs(s, [entry(3, NOW - 1)], agents, cursors=decision.cursors) == [(3, (1,))]


def test_ring_all_offers_one_entry_to_every_free_agent() -> None:
    s = settings(q={**BANKING, "strategy": "ring-all"})
    agents = [agent(1), agent(2), agent(3, skills={"cards": 3})]
    assert pairs(s, [entry(1, NOW - 10), entry(2, NOW - 5)], agents) == [(1, (1, 2))]


def test_agents_without_the_skills_or_presence_are_never_offered() -> None:
    s = settings(q={"skills": ["cards"]})
    agents = [agent(1, skills={"banking": 5}), agent(2, skills={"cards": 1}, lease=NOW - 1),
              agent(3, skills={"cards": 1}, state="break"), agent(4, skills={"cards": 0})]
    assert pairs(s, [entry(1, NOW - 10)], agents) == []


def test_the_entry_may_require_more_skills_than_the_queue() -> None:
    s = settings(q=BANKING)
    agents = [agent(1, idle=0), agent(2, idle=10, skills={"banking": 3, "mortgages": 2})]
    assert pairs(s, [entry(1, NOW - 10, skills=("mortgages",)), entry(2, NOW - 5)], agents) == [(1, (2,)), (2, (1,))]


def test_priority_beats_time_and_vip_gets_the_queue_bonus() -> None:
    s = settings(q={**BANKING, "vip_priority": 10})
    entries = [entry(1, NOW - 100), entry(2, NOW - 10, priority=5), entry(3, NOW - 1, vip=True)]
    assert [e.id for e in service_order(s, entries, NOW)] == [3, 2, 1]
    assert pairs(s, entries, [agent(1)]) == [(3, (1,))]


def test_queue_priority_orders_across_queues_sharing_agents() -> None:
    s = settings(low=BANKING, high={**BANKING, "priority": 5})
    entries = [entry(1, NOW - 30, queue="low"), entry(2, NOW - 1, queue="high")]
    assert pairs(s, entries, [agent(1)]) == [(2, (1,))]


def test_ageing_means_a_low_priority_entry_is_served_eventually() -> None:
    s = settings(q={**BANKING, "priority_aging_seconds": 10})
    old = entry(1, NOW - 1000)  # 100 points of age
    fresh_high = entry(2, NOW - 1, priority=50)
    assert effective_priority(old, s.queue("q"), NOW) == 100
    assert pairs(s, [old, fresh_high], [agent(1)]) == [(1, (1,))]


def test_sticky_agent_gets_the_caller_when_free() -> None:
    s = settings(q={**BANKING, "sticky_agent_seconds": 30})
    agents = [agent(1, idle=0), agent(2, idle=500)]
    assert pairs(s, [entry(1, NOW - 5, sticky_agent=2)], agents) == [(1, (2,))]


def test_sticky_entry_waits_for_a_busy_agent_within_the_window_then_takes_anyone() -> None:
    s = settings(q={**BANKING, "sticky_agent_seconds": 30})
    agents = [agent(1), agent(2, state="busy")]
    waiting = entry(1, NOW - 5, sticky_agent=2)
    later = entry(2, NOW - 1)
    # Within the window the sticky entry waits; the next caller is not held up by it.
    assert pairs(s, [waiting, later], agents) == [(2, (1,))]
    assert pairs(s, [entry(1, NOW - 31, sticky_agent=2)], agents) == [(1, (1,))]


def test_sticky_agent_who_is_logged_out_is_not_waited_for() -> None:
    s = settings(q={**BANKING, "sticky_agent_seconds": 30})
    agents = [agent(1), agent(2, state="logged_out")]
    assert pairs(s, [entry(1, NOW - 1, sticky_agent=2)], agents) == [(1, (1,))]


def test_overflow_to_another_queue_after_max_wait_then_callback_offer() -> None:
    s = settings(vip={"skills": ["vip"], "max_wait_seconds": 60, "overflow": {"queue": "general"}},
                 general={**BANKING, "max_wait_seconds": 120, "overflow": {"callback": True}})
    e = entry(1, NOW - 61, queue="vip")
    d = decide(s, [e], [agent(1)], NOW)
    assert d.assignments == () and [(m.entry_id, m.to_queue) for m in d.overflows] == [(1, "general")]
    moved = entry(1, NOW - 61, queue="general", queued_at=NOW, visited=("vip",))
    assert decide(s, [moved], [], NOW + 100).overflows == ()
    assert [(m.entry_id, m.to_queue) for m in decide(s, [moved], [], NOW + 121).overflows] == [(1, None)]
    offered = entry(1, NOW - 61, queue="general", queued_at=NOW, visited=("vip",), callback_offered=True)
    assert decide(s, [offered], [], NOW + 500).overflows == ()


def test_no_overflow_when_an_agent_takes_the_entry() -> None:
    s = settings(q={**BANKING, "max_wait_seconds": 60, "overflow": {"callback": True}})
    d = decide(s, [entry(1, NOW - 100)], [agent(1)], NOW)
    assert [a.entry_id for a in d.assignments] == [1] and d.overflows == ()


def test_callback_keeps_its_original_place_and_waits_out_its_retry_interval() -> None:
    s = settings(q=BANKING)
    callback = entry(1, NOW - 300, kind="callback")
    live = entry(2, NOW - 60)
    assert pairs(s, [live, callback], [agent(1)]) == [(1, (1,))]
    retrying = entry(1, NOW - 300, kind="callback", not_before=NOW + 10)
    assert pairs(s, [live, retrying], [agent(1)]) == [(2, (1,))]
    assert pairs(s, [retrying], [agent(1)], now=NOW + 10) == [(1, (1,))]


def test_callbacks_never_overflow() -> None:
    s = settings(q={**BANKING, "max_wait_seconds": 10, "overflow": {"callback": True}})
    assert decide(s, [entry(1, NOW - 100, kind="callback")], [], NOW).overflows == ()


def test_unknown_queue_gets_default_settings_rather_than_dropping_the_caller() -> None:
    s = settings()
    assert pairs(s, [entry(1, NOW - 1, queue="nowhere")], [agent(1, skills={})]) == [(1, (1,))]


@pytest.mark.parametrize("bad", [
    {"queues": {"q": {"strategy": "random"}}},
    {"queues": {"q": {"skils": ["x"]}}},
    {"queues": {"q": {"max_wait_seconds": 10, "overflow": {"queue": "missing"}}}},
    {"queues": {"q": {"overflow": {"callback": True}}}},
    {"queues": {"q": {"max_wait_seconds": 10, "overflow": {"queue": "q"}}}},
])
def test_bad_queue_settings_are_refused(bad: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from voicebot.acd.config import parse_acd

    with pytest.raises(ValidationError):
        parse_acd(bad)


def test_the_shipped_demo_queues_parse_with_the_documented_defaults() -> None:
    from voicebot.acd.config import load_acd_settings

    s = load_acd_settings()
    assert set(s.queues) >= {"general", "vip", "cards", "security"}
    general = s.queue("general")
    assert (general.offer_timeout_seconds, general.service_level_seconds, general.short_abandon_seconds) == (15, 20, 5)
    assert s.queue("vip").overflow.queue == "general"


def test_overflow_never_moves_an_entry_back_into_a_queue_it_left() -> None:
    s = settings(a={**BANKING, "max_wait_seconds": 10, "overflow": {"queue": "b"}},
                 b={**BANKING, "max_wait_seconds": 10, "overflow": {"queue": "a"}})
    assert [(m.to_queue) for m in decide(s, [entry(1, NOW - 20, queue="a")], [], NOW).overflows] == ["b"]
    moved = entry(1, NOW - 40, queue="b", queued_at=NOW - 20, visited=("a",))
    assert decide(s, [moved], [], NOW).overflows == ()


def test_the_example_in_docs_acd_parses_and_states_the_defaults() -> None:
    import re
    from pathlib import Path

    import yaml

    from voicebot.acd.config import AgentSettings, CallbackSettings, QueueSettings, parse_acd

    text = (Path(__file__).resolve().parents[2] / "docs" / "acd.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    example = parse_acd(yaml.safe_load(block.group(1))["acd"])
    shown = example.queue("general").model_dump(exclude={"description", "skills"})
    defaults = QueueSettings().model_dump(exclude={"description", "skills"})
    differing = {k for k in shown if shown[k] != defaults[k]}
    assert differing == {"sticky_agent_seconds", "max_wait_seconds", "overflow"}  # as the text says
    assert example.callbacks == CallbackSettings() and example.agents == AgentSettings()
