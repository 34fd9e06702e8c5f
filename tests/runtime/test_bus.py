"""The in-process event bus: typed subscriptions, unsubscribe, a failing subscriber isolated."""

from __future__ import annotations

import logging

import pytest

from voicebot.runtime.bus import EventBus
from voicebot.runtime.call_events import CallBegan, CallEnded, CallEvent, Enqueued


def test_subscribers_get_the_events_of_their_types_in_order() -> None:
    bus = EventBus()
    everything: list[CallEvent] = []
    endings: list[CallEnded] = []
    bus.subscribe(everything.append, CallEvent)
    bus.subscribe(endings.append, CallEnded)
    began = CallBegan(call_id="c1", at_ms=0, caller_id="+1")
    ended = CallEnded(call_id="c1", at_ms=20, outcome="self_served")
    bus.publish(began)
    bus.publish(ended)
    assert everything == [began, ended]
    assert endings == [ended]


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    got: list[CallEvent] = []
    unsubscribe = bus.subscribe(got.append, CallEvent)
    bus.publish(CallBegan(call_id="c1", at_ms=0, caller_id="+1"))
    unsubscribe()
    bus.publish(CallBegan(call_id="c2", at_ms=0, caller_id="+2"))
    assert [e.call_id for e in got] == ["c1"] and bus.subscribers == 0


def test_a_failing_subscriber_is_logged_and_the_others_still_get_the_event(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[CallEvent] = []

    def broken(event: CallEvent) -> None:
        raise RuntimeError("console is down")

    bus.subscribe(broken, CallEvent)
    bus.subscribe(got.append, CallEvent)
    event = Enqueued(call_id="c1", at_ms=40, queue="cards", ticket="t1")
    with caplog.at_level(logging.ERROR, logger="voicebot.bus"):
        bus.publish(event)  # does not raise into the publishing call
    assert got == [event]
    assert "failed on Enqueued" in caplog.text and "console is down" in caplog.text


def test_events_are_frozen_and_carry_kind_and_data() -> None:
    event = CallEnded(call_id="c1", at_ms=60, outcome="handoff", phase="queued", ended_by="caller")
    assert event.kind == "call_ended"
    assert event.data == {"outcome": "handoff", "phase": "queued", "ended_by": "caller"}
    assert event.as_json() == {"at_ms": 60, "kind": "call_ended", **event.data}
    with pytest.raises(AttributeError):
        event.outcome = "x"  # type: ignore[misc]
