"""Queue entries, offers, leases and records in a real database (a SQLite file and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.acd.conftest import Clock, settings
from voicebot.acd.config import AcdSettings
from voicebot.acd.service import AcdService
from voicebot.acd.tx import AcdError, StaleOffer
from voicebot.storage.acd_models import Agent, Offer, QueueEntry
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import session_scope

QUEUES: dict[str, Any] = {
    "general": {"skills": ["banking"], "wrap_up_seconds": 10, "offer_timeout_seconds": 15,
                "sticky_agent_seconds": 30},
    "ring": {"skills": ["banking"], "strategy": "ring-all", "wrap_up_seconds": 0},
    "vip": {"skills": ["banking"], "max_wait_seconds": 60, "overflow": {"queue": "general"}},
    "slow": {"skills": ["banking"], "max_wait_seconds": 60, "overflow": {"callback": True}},
}


def make(engine: Engine, clock: Clock, s: AcdSettings | None = None, node: str = "n1") -> AcdService:
    return AcdService(engine, s or settings(**QUEUES), clock=clock, node=node)


def staff(acd: AcdService, *logins: str, skills: dict[str, int] | None = None) -> None:
    for login in logins:
        acd.agents.add(login, "secret", skills=skills or {"banking": 3}, sip_uri=f"sip:{login}@127.0.0.1",
                       now=acd.now())
        acd.agents.login(login, acd.now())


def record(engine: Engine, call_id: str) -> CallRecord:
    with session_scope(engine) as session:
        found = session.get(CallRecord, call_id)
    assert found is not None
    return found


def entry_row(engine: Engine, entry_id: int) -> QueueEntry:
    with session_scope(engine) as session:
        found = session.get(QueueEntry, entry_id)
    assert found is not None
    return found


def agent_state(acd: AcdService, login: str) -> tuple[str, str]:
    agent = acd.agents.get(login)
    return agent.state, agent.state_reason


def test_answered_call_records_queue_times_and_wraps_up(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general", caller_id="+1555", handoff={"reason": "asked for an agent"})
    enqueued = acd.now()
    clock.advance(4)
    (offer,) = acd.route().offers
    assert (offer.agent_login, offer.sip_uri, offer.entry_id) == ("alice", "sip:alice@127.0.0.1", entry.id)
    assert agent_state(acd, "alice")[0] == "reserved"
    clock.advance(3)
    accepted = acd.accept(offer.offer_id, offer.token)
    assert accepted.call_id == "c1" and agent_state(acd, "alice")[0] == "busy"
    clock.advance(60)
    acd.complete(entry.id or 0)
    assert agent_state(acd, "alice")[0] == "wrap_up"
    clock.advance(5)
    assert not acd.reconcile().wrap_ups_ended  # wrap-up lasts 10 s
    clock.advance(5)
    assert acd.reconcile().wrap_ups_ended == ["alice"]
    assert agent_state(acd, "alice")[0] == "available"
    rec = record(engine, "c1")
    assert rec.queue == "general" and rec.enqueued_at == enqueued
    assert rec.offered_at == enqueued + timedelta(seconds=4)
    assert rec.answered_at == enqueued + timedelta(seconds=7)
    assert (rec.agent, rec.wait_ms, rec.talk_ms, rec.wrap_ms, rec.outcome) == ("alice", 7000, 60000, 10000, "answered")
    assert acd.agents.get("alice").calls_handled == 1
    states = [(t.from_state, t.to_state) for t in acd.agents.transitions("alice")]
    assert states == [("logged_out", "available"), ("available", "reserved"), ("reserved", "busy"),
                      ("busy", "wrap_up"), ("wrap_up", "available")]


def test_fencing_rejects_stale_duplicate_and_expired_accepts(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice", "bob")
    acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    with pytest.raises(StaleOffer):
        acd.accept(offer.offer_id, offer.token + 1)
    clock.advance(16)  # the offer's 15 s lease passed: too late, even before the reconciler ran
    with pytest.raises(StaleOffer):
        acd.accept(offer.offer_id, offer.token)
    repairs = acd.reconcile()
    assert repairs.offers_timed_out == [offer.offer_id]
    assert agent_state(acd, offer.agent_login) == ("break", "missed offer")
    (second,) = acd.route().offers
    assert second.token == offer.token + 1 and second.agent_login != offer.agent_login
    with pytest.raises(StaleOffer):
        acd.accept(offer.offer_id, offer.token)  # the first agent picks up late: refused
    acd.accept(second.offer_id, second.token)
    with pytest.raises(StaleOffer):
        acd.accept(second.offer_id, second.token)  # answered twice: the second is refused
    with pytest.raises(StaleOffer):
        acd.accept(999, 1)


def test_decline_keeps_the_place_and_sends_the_agent_to_the_back(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    clock.advance(1)
    staff(acd, "bob")
    first = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    assert offer.agent_login == "alice"  # longest idle
    clock.advance(2)
    acd.decline(offer.offer_id, offer.token, "busy here")
    assert entry_row(engine, first.id or 0).status == "waiting"
    assert agent_state(acd, "alice") == ("available", "busy here")
    clock.advance(1)
    acd.enqueue("c2", "general")
    offers = {o.call_id: o.agent_login for o in acd.route().offers}
    assert offers == {"c1": "bob", "c2": "alice"}  # c1 kept its place; alice is now the least idle


def test_presence_lease_lapse_logs_out_and_returns_the_offer(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice", "bob")
    clock.advance(50)
    acd.agents.heartbeat("bob", acd.now())
    entry = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    assert offer.agent_login == "alice"
    clock.advance(11)  # alice's 60 s lease lapses while her phone rings (offer lease 15 s not yet)
    repairs = acd.reconcile()
    assert repairs.agents_logged_out == ["alice"]
    assert agent_state(acd, "alice") == ("logged_out", "presence lease lapsed")
    assert entry_row(engine, entry.id or 0).status == "waiting"
    with pytest.raises(StaleOffer):
        acd.accept(offer.offer_id, offer.token)
    (again,) = acd.route().offers
    assert again.agent_login == "bob"
    with pytest.raises(AcdError):
        acd.agents.heartbeat("alice", acd.now())


def test_abandon_while_ringing_stops_the_phones_and_records_the_wait(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice", "bob")
    entry = acd.enqueue("c1", "ring")
    offers = acd.route().offers
    assert sorted(o.agent_login for o in offers) == ["alice", "bob"] and len({o.entry_id for o in offers}) == 1
    clock.advance(3.5)
    acd.abandon(entry.id or 0)
    assert [agent_state(acd, a)[0] for a in ("alice", "bob")] == ["available", "available"]
    with session_scope(engine) as session:
        assert {o.status for o in session.exec(select(Offer)).all()} == {"cancelled"}
    rec = record(engine, "c1")
    assert (rec.outcome, rec.wait_ms) == ("abandoned_in_queue", 3500)
    with pytest.raises(StaleOffer):
        acd.accept(offers[0].offer_id, offers[0].token)


def test_ring_all_first_answer_wins_and_frees_the_others(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice", "bob")
    acd.enqueue("c1", "ring")
    a, b = acd.route().offers
    acd.accept(b.offer_id, b.token)
    assert agent_state(acd, b.agent_login)[0] == "busy"
    assert agent_state(acd, a.agent_login)[0] == "available"
    with pytest.raises(StaleOffer):
        acd.accept(a.offer_id, a.token)


def test_sticky_agent_from_the_callers_previous_call(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    clock.advance(1)
    staff(acd, "bob")
    first = acd.enqueue("c1", "general", caller_id="+1555")
    (offer,) = acd.route().offers
    clock.advance(1)
    acd.decline(offer.offer_id, offer.token)  # alice declines: bob serves the caller
    (offer,) = acd.route().offers
    assert offer.agent_login == "bob"
    acd.accept(offer.offer_id, offer.token)
    acd.complete(first.id or 0)
    clock.advance(11)
    acd.reconcile()
    for login in ("alice", "bob"):
        acd.agents.heartbeat(login, acd.now())
    acd.enqueue("c2", "general", caller_id="+1555")
    (offer,) = acd.route().offers
    assert offer.agent_login == "bob"  # alice is idle longer, but bob served this caller last


def test_overflow_moves_the_entry_and_offers_a_callback_once(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    vip = acd.enqueue("c1", "vip")
    slow = acd.enqueue("c2", "slow")
    clock.advance(61)
    result = acd.route()
    assert result.moved == ((vip.id, "vip", "general"),)
    assert [(c.entry_id, c.call_id) for c in result.callback_offers] == [(slow.id, "c2")]
    assert entry_row(engine, vip.id or 0).queue == "general"
    assert entry_row(engine, vip.id or 0).enqueued_at == entry_row(engine, vip.id or 0).queued_at - timedelta(
        seconds=61)
    clock.advance(100)
    assert acd.route().callback_offers == ()


def test_callback_keeps_its_place_retries_and_completes(engine: Engine, clock: Clock) -> None:
    s = settings(**QUEUES)
    s = s.model_copy(update={"callbacks": s.callbacks.model_copy(update={"attempts": 2, "retry_interval_seconds": 60})})
    acd = make(engine, clock, s)
    early = acd.enqueue("c1", "general", caller_id="+1555")
    clock.advance(30)
    acd.request_callback(early.id or 0, "+15550001")
    clock.advance(30)
    acd.enqueue("c2", "general")
    staff(acd, "alice")
    (offer,) = acd.route().offers
    assert offer.call_id == "c1" and offer.kind == "callback"  # ahead of c2, who came later
    accepted = acd.accept(offer.offer_id, offer.token)
    assert (accepted.callback_number, accepted.kind) == ("+15550001", "callback")
    acd.callback_result(early.id or 0, "no_answer")
    row = entry_row(engine, early.id or 0)
    assert (row.status, row.callback_attempts) == ("waiting", 1)
    assert row.enqueued_at == datetime.fromtimestamp(clock.t - 60, UTC)
    assert agent_state(acd, "alice")[0] == "available"
    (offer,) = acd.route().offers
    assert offer.call_id == "c2"  # the callback waits out its retry interval; the next caller goes
    acd.accept(offer.offer_id, offer.token)
    clock.advance(61)
    staff(acd, "bob")
    (offer,) = acd.route().offers
    assert (offer.call_id, offer.agent_login) == ("c1", "bob")
    acd.accept(offer.offer_id, offer.token)
    acd.callback_result(early.id or 0, "answered")
    clock.advance(30)
    acd.complete(early.id or 0)
    assert entry_row(engine, early.id or 0).status == "callback_completed"
    assert record(engine, "c1").outcome == "callback_completed"
    attempts = acd.callbacks.attempts(early.id or 0)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "no_answer"), (2, "answered")]


def test_callback_fails_after_its_attempts_and_when_it_expires(engine: Engine, clock: Clock) -> None:
    s = settings(**QUEUES)
    s = s.model_copy(update={"callbacks": s.callbacks.model_copy(update={"attempts": 1, "expiry_seconds": 600})})
    acd = make(engine, clock, s)
    one = acd.enqueue("c1", "general")
    two = acd.enqueue("c2", "general")
    acd.request_callback(one.id or 0, "+1")
    acd.request_callback(two.id or 0, "+2")
    staff(acd, "alice")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    acd.callback_result(offer.entry_id, "busy")
    assert entry_row(engine, offer.entry_id).status == "callback_failed"
    assert record(engine, offer.call_id).outcome == "callback_failed"
    acd.agents.set_state("alice", "break", acd.now(), "lunch")
    clock.advance(601)
    assert acd.reconcile().callbacks_expired == [two.id]
    assert entry_row(engine, two.id or 0).end_reason == "expired"


def test_callback_list_and_cancel(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    entry = acd.enqueue("c1", "general")
    with pytest.raises(AcdError):
        acd.callbacks.cancel(entry.id or 0, acd.now())  # a live caller is not a callback
    acd.request_callback(entry.id or 0, "+1555")
    assert [e.id for e in acd.callbacks.pending()] == [entry.id]
    acd.callbacks.cancel(entry.id or 0, acd.now())
    assert acd.callbacks.pending() == []
    assert entry_row(engine, entry.id or 0).status == "cancelled"


def test_restart_ends_live_callers_of_this_node_and_keeps_callbacks(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock, node="n1")
    staff(acd, "alice")
    talking = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    waiting = acd.enqueue("c2", "general")
    callback = acd.enqueue("c3", "general")
    acd.request_callback(callback.id or 0, "+1555")
    other_node = make(engine, clock, node="n2").enqueue("c4", "general")
    clock.advance(5)
    restarted = make(engine, clock, node="n1")
    assert sorted(restarted.recover()) == sorted([talking.id, waiting.id])
    assert entry_row(engine, talking.id or 0).status == "completed"
    assert entry_row(engine, waiting.id or 0).status == "abandoned"
    assert entry_row(engine, callback.id or 0).status == "waiting"
    assert entry_row(engine, other_node.id or 0).status == "waiting"
    assert agent_state(acd, "alice")[0] == "wrap_up"
    rec = record(engine, "c2")
    assert rec.outcome == "abandoned_in_queue" and "restarted" in (rec.error or "")


def test_busy_agent_of_a_finished_entry_is_freed(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    with session_scope(engine) as session:  # a call owner that died after ending the entry itself
        row = session.get(QueueEntry, entry.id)
        assert row is not None
        row.status = "completed"
        session.add(row)
    assert acd.reconcile().agents_freed == ["alice"]
    assert agent_state(acd, "alice")[0] == "wrap_up"


def test_requeue_after_the_agent_drops_puts_the_caller_first(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    clock.advance(1)
    acd.enqueue("c0", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    clock.advance(1)
    acd.enqueue("c1", "general", priority=5)
    acd.requeue(offer.entry_id)
    staff(acd, "bob")
    (again,) = acd.route().offers
    assert again.call_id == "c0"


def test_agent_accounts_states_and_passwords(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    acd.agents.add("carol", "s3cret!", name="Carol", skills={"cards": 5}, now=acd.now())
    stored = acd.agents.get("carol")
    assert stored.password_hash.startswith("$argon2id$") and "s3cret!" not in stored.password_hash
    assert acd.agents.check_password("carol", "s3cret!") and not acd.agents.check_password("carol", "wrong")
    assert not acd.agents.check_password("nobody", "s3cret!")
    with pytest.raises(AcdError):
        acd.agents.add("carol", "x", now=acd.now())
    with pytest.raises(AcdError):
        acd.agents.add("Bad Login", "x", now=acd.now())
    with pytest.raises(AcdError):
        acd.agents.add("dave", "x", skills={"cards": 9}, now=acd.now())
    with pytest.raises(ValueError):
        acd.agents.set_state("carol", "busy", acd.now())
    acd.agents.login("carol", acd.now())
    acd.agents.set_state("carol", "break", acd.now(), "training")
    assert agent_state(acd, "carol") == ("break", "training")
    acd.agents.logout("carol", acd.now())
    assert acd.agents.get("carol").lease_expires_at is None


def test_logout_during_an_offer_returns_the_entry(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.agents.logout("alice", acd.now())
    assert entry_row(engine, entry.id or 0).status == "waiting"
    with pytest.raises(StaleOffer):
        acd.accept(offer.offer_id, offer.token)


def test_queue_status_and_waiting_order(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    acd.agents.set_state("alice", "break", acd.now(), "coffee")
    acd.enqueue("c1", "general")
    clock.advance(10)
    acd.enqueue("c2", "general", priority=5)
    acd.enqueue("c3", "general", vip=True)
    status = {s.queue: s for s in acd.status()}
    general = status["general"]
    assert (general.waiting, general.longest_wait_seconds, general.agents_logged_in, general.agents_available) == (
        3, 10.0, 1, 0)
    assert [row.entry.call_id for row in acd.waiting("general")] == ["c3", "c2", "c1"]


def test_session_finish_keeps_the_acd_outcome(engine: Engine, clock: Clock, tmp_path: Any) -> None:
    from voicebot.storage.calls import CallStore

    store = CallStore(engine, tmp_path / "spool")
    store.start_call("c1", "+1555", "", "banking", datetime.fromtimestamp(clock.t, UTC))
    acd = make(engine, clock)
    staff(acd, "alice")
    acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    store.finish_call("c1", ended_at=acd.now(), outcome="handoff", authenticated=False, customer_id=None,
                      intents=[], slots={}, nodes=[], handoff=None, error=None)
    rec = record(engine, "c1")
    assert rec.outcome == "answered" and rec.ended_at is not None and rec.flow == "banking"


def test_agents_rows_are_never_left_reserved_without_an_offer(engine: Engine, clock: Clock) -> None:
    """After a mixed run, every reserved agent has exactly one pending offer and vice versa."""
    acd = make(engine, clock)
    staff(acd, "a1", "a2", "a3")
    entries = [acd.enqueue(f"c{i}", "general") for i in range(5)]
    offers = acd.route().offers
    acd.decline(offers[0].offer_id, offers[0].token)
    acd.abandon(offers[1].entry_id)
    clock.advance(20)
    acd.reconcile()
    acd.route()
    with session_scope(engine) as session:
        reserved = {a.id for a in session.exec(select(Agent).where(Agent.state == "reserved")).all()}
        pending = [o.agent_id for o in session.exec(select(Offer).where(Offer.status == "pending")).all()]
        offered = {e.id for e in session.exec(select(QueueEntry).where(QueueEntry.status == "offered")).all()}
        pending_entries = {o.entry_id for o in session.exec(select(Offer).where(Offer.status == "pending")).all()}
    assert reserved == set(pending) and len(pending) == len(set(pending))
    assert offered == pending_entries
    assert len(entries) == 5


def test_restart_puts_a_callback_being_dialled_back_in_line(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock, node="n1")
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general")
    acd.request_callback(entry.id or 0, "+1555")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    assert entry_row(engine, entry.id or 0).status == "dialling"
    clock.advance(5)
    assert make(engine, clock, node="n1").recover() == []
    row = entry_row(engine, entry.id or 0)
    assert (row.status, row.kind, row.enqueued_at) == ("waiting", "callback", datetime.fromtimestamp(clock.t - 5, UTC))
    assert [(a.attempt, a.outcome) for a in acd.callbacks.attempts(entry.id or 0)] == [(1, "failed")]
    assert agent_state(acd, "alice")[0] == "wrap_up"


def test_missed_offer_without_break_puts_the_agent_last_in_the_idle_line(engine: Engine, clock: Clock) -> None:
    s = settings(**QUEUES)
    s = s.model_copy(update={"agents": s.agents.model_copy(update={"missed_offer_break": False})})
    acd = make(engine, clock, s)
    staff(acd, "alice")
    clock.advance(1)
    staff(acd, "bob")
    acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    assert offer.agent_login == "alice"
    clock.advance(16)
    acd.reconcile()
    assert agent_state(acd, "alice") == ("available", "missed offer")
    for login in ("alice", "bob"):
        acd.agents.heartbeat(login, acd.now())
    (again,) = acd.route().offers
    assert again.agent_login == "bob"


def test_a_busy_agent_is_not_logged_out_by_a_lapsed_lease(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    clock.advance(600)  # a long call, no console heartbeat
    assert acd.reconcile().agents_logged_out == []
    assert agent_state(acd, "alice")[0] == "busy"
    acd.complete(entry.id or 0)
    assert agent_state(acd, "alice")[0] == "wrap_up"


def test_ending_wrap_up_early_records_its_time(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    entry = acd.enqueue("c1", "general")
    (offer,) = acd.route().offers
    acd.accept(offer.offer_id, offer.token)
    clock.advance(30)
    acd.complete(entry.id or 0)
    clock.advance(4)
    acd.agents.set_state("alice", "available", acd.now())
    assert agent_state(acd, "alice")[0] == "available"
    assert record(engine, "c1").wrap_ms == 4000


def test_the_agents_ringing_offer_with_its_handoff(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    staff(acd, "alice")
    assert acd.offer_for("alice") is None and acd.offer_for("nobody") is None
    acd.enqueue("c1", "general", handoff={"schema_version": 1, "call_id": "c1", "queue": {"name": "general"}})
    clock.advance(3)
    (offer,) = acd.route().offers
    clock.advance(2)
    ringing = acd.offer_for("alice")
    assert ringing is not None and ringing.offer == offer
    assert ringing.handoff["queue"]["wait_seconds"] == 5.0 and ringing.handoff["queue"]["offers"] == 1
    acd.accept(ringing.offer.offer_id, ringing.offer.token)
    assert acd.offer_for("alice") is None


def test_position_in_line_follows_the_serving_order(engine: Engine, clock: Clock) -> None:
    acd = make(engine, clock)
    first = acd.enqueue("c1", "general")
    clock.advance(1)
    second = acd.enqueue("c2", "general")
    vip = acd.enqueue("c3", "general", vip=True)
    assert [acd.position(e.id or 0) for e in (vip, first, second)] == [1, 2, 3]
    acd.abandon(vip.id or 0)
    assert [acd.position(e.id or 0) for e in (vip, first, second)] == [None, 1, 2]
    assert acd.position(999) is None
