"""The definitions' edges, on hand-made rows: thresholds are inclusive where docs/reports.md says so, agent
time is cut to the period, the funnel reads the step log as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from voicebot.acd.config import parse_acd
from voicebot.reports import definitions as d
from voicebot.storage.acd_models import AgentTransition, QueueEntry
from voicebot.storage.call_models import CallRecord

T = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
SETTINGS = parse_acd({"queues": {"q": {"service_level_seconds": 20, "short_abandon_seconds": 5}}})


def record(call_id: str, outcome: str, wait_ms: int | None = None, *, answered: bool = False,
           talk_ms: int | None = None, wrap_ms: int | None = None, queue: str | None = "q") -> CallRecord:
    return CallRecord(id=call_id, started_at=T, outcome=outcome, queue=queue, enqueued_at=T if queue else None,
                      answered_at=T if answered else None, wait_ms=wait_ms, talk_ms=talk_ms, wrap_ms=wrap_ms)


def test_thresholds_are_inclusive_and_a_short_abandon_is_strictly_under_its_threshold() -> None:
    calls = [record("a", "answered", 20_000, answered=True), record("b", "answered", 20_001, answered=True),
             record("c", "abandoned_in_queue", 4_999), record("d", "abandoned_in_queue", 5_000),
             record("e", "abandoned_in_queue", 20_000), record("f", "self_served", queue=None)]
    queued = d.classify(calls, {}, SETTINGS)
    assert [q.kind for q in queued] == ["answered", "answered", "short_abandon", "abandoned", "abandoned"]
    level = d.service_level(queued)
    assert (level.offered, level.answered_within, level.abandoned_within, level.short_abandons) == (4, 1, 2, 1)
    assert level.sl1 == 1 / 4 and level.sl2 == 3 / 4


def test_an_unconfigured_queue_uses_the_default_thresholds() -> None:
    [q] = d.classify([record("a", "abandoned_in_queue", 4_000, queue="nowhere")], {}, SETTINGS)
    assert q.kind == "short_abandon" and q.threshold_ms == 20_000  # defaults: 5 s and 20 s


def test_a_callback_is_apart_whatever_its_record_says() -> None:
    entry = QueueEntry(call_id="a", queue="q", kind="callback", status="waiting", enqueued_at=T, queued_at=T)
    [q] = d.classify([record("a", "handoff")], {"a": entry}, SETTINGS)
    assert q.kind == "callback"
    level = d.service_level([q])
    assert level.offered == 0 and level.sl1 is None and level.sl2 is None and level.callbacks == 1


def test_containment_does_not_count_hang_ups_or_unheard_answers() -> None:
    calls = [record(str(i), outcome, queue=None) for i, outcome in enumerate(
        ["self_served", "abandoned", "abandoned_during_answer", "handoff", "error", "self_served"])]
    assert d.containment(calls) == d.Containment(6, 2, 2 / 6)
    assert d.containment([]).rate is None


def test_aht_counts_calls_with_talk_time_and_missing_wrap_up_as_zero() -> None:
    queued = d.classify([record("a", "answered", 1000, answered=True, talk_ms=30_000, wrap_ms=10_000),
                         record("b", "answered", 1000, answered=True, talk_ms=50_000),
                         record("c", "answered", 1000, answered=True)], {}, SETTINGS)
    assert d.handle_time(queued) == d.HandleTime(2, 80.0, 0.0, 10.0, 45.0)


def move(at: datetime, before: str, after: str) -> AgentTransition:
    return AgentTransition(agent_id=1, from_state=before, to_state=after, at=at)


def test_agent_time_is_cut_to_the_period() -> None:
    s = timedelta(seconds=1)
    log = [move(T - 100 * s, "logged_out", "available"),  # before the period: it starts available
           move(T + 10 * s, "available", "busy"), move(T + 40 * s, "busy", "wrap_up"),
           move(T + 50 * s, "wrap_up", "break"), move(T + 70 * s, "break", "available"),
           move(T + 200 * s, "available", "busy")]  # after the period ends
    assert d.agent_time(log, T, T + 100 * s) == {"available": 40.0, "busy": 30.0, "wrap_up": 10.0, "break": 20.0}
    whole, agents = d.occupancy({"amy": log}, T, T + 100 * s)
    assert agents["amy"] == d.AgentOccupancy(40.0, 80.0, 0.5) and whole == agents["amy"]
    nobody, none = d.occupancy({"bob": [move(T - s, "available", "logged_out")]}, T, T + s)
    assert nobody.occupancy is None and none == {}


def step(event: dict[str, Any], *actions: dict[str, Any]) -> d.Step:
    return event, list(actions)


def listen(node: str, slot_type: str = "intent") -> dict[str, Any]:
    return {"type": "Listen", "node": node, "slot_type": slot_type}


def test_the_funnel_reads_turns_from_the_step_log() -> None:
    say = {"type": "Say", "node": "menu", "text": "Hi"}
    calls = {
        "1": [step({"type": "CallStarted"}, say, listen("menu")),
              step({"type": "NoInput"}, {"type": "Say", "node": "menu"}, listen("menu")),
              step({"type": "Utterance", "confidence": 0.3}, {"type": "Say", "node": "menu"}, listen("menu")),
              step({"type": "Utterance", "confidence": 0.9}, {"type": "Say", "node": "pin"}, listen("pin", "digits")),
              step({"type": "Dtmf", "keys": "1"}, {"type": "StartTimer", "name": "interdigit", "ms": 3000}),
              step({"type": "Dtmf", "keys": "2"}, {"type": "RunAction", "node": "check", "name": "verify"}),
              step({"type": "ActionResult"}, {"type": "Handoff", "node": "agent", "queue": "q"})],
        "2": [step({"type": "CallStarted"}, say, listen("menu")), step({"type": "HangUp"})],
    }
    nodes = {n.node: n for n in d.funnel(calls)}
    menu = nodes["menu"]
    assert (menu.reached, menu.turns, menu.no_input, menu.no_match, menu.hung_up) == (2, 3, 1, 1, 1)
    assert menu.mean_confidence == (0.3 + 0.9) / 2 and menu.no_match_rate == 1 / 3
    pin = nodes["pin"]
    assert (pin.turns, pin.no_match, pin.mean_confidence) == (1, 0, None)  # the first key only started a timer
    assert nodes["agent"].handed_off == 1 and nodes["check"].reached == 1
    assert next(n.node for n in d.funnel(calls)) == "menu"


def test_callbacks_counted_by_what_became_of_them() -> None:
    def entry(kind: str, status: str, offered: bool = False) -> QueueEntry:
        return QueueEntry(call_id="x", queue="q", kind=kind, status=status, callback_offered=offered,
                          enqueued_at=T, queued_at=T)
    rows = [entry("live", "abandoned", offered=True), entry("callback", "callback_completed", offered=True),
            entry("callback", "callback_failed"), entry("callback", "waiting"), entry("callback", "cancelled")]
    assert d.callbacks(rows) == d.Callbacks(offered=2, accepted=4, completed=1, failed=1, pending=1, cancelled=1)


def test_hour_by_hour_follows_the_hour_each_call_started_in() -> None:
    early = record("a", "self_served", queue=None)
    late = record("b", "answered", 30_000, answered=True)
    late.started_at = T + timedelta(minutes=65)
    abandoned = record("c", "abandoned_in_queue", 8_000)
    abandoned.started_at = T + timedelta(minutes=59, seconds=59)
    hours = d.hourly([early, late, abandoned], d.classify([early, late, abandoned], {}, SETTINGS))
    assert [(h.hour, h.calls, h.self_served, h.queued, h.answered, h.abandoned, h.sl1, h.sl2) for h in hours] == [
        (T, 2, 1, 1, 0, 1, 0.0, 1.0), (T + timedelta(hours=1), 1, 0, 1, 1, 0, 0.0, 0.0)]
    assert hours[0].containment == 0.5 and hours[1].containment == 0.0
