"""The pre-qualified handoff: built from a real banking call, secrets masked, schema committed and fresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.demo_bank import banking_flow, seeded_bank
from voicebot.acd.handoff import HandoffPayload, build_handoff, handoff_json_schema, mask_digits
from voicebot.actions import Handoff
from voicebot.flow.compile import CompiledFlow
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.session import CallSession
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bank(tmp_path: Path) -> Engine:
    return seeded_bank(tmp_path / "bank.db")


@pytest.fixture
def banking() -> CompiledFlow:
    return banking_flow()


def _handed_off(call: CallSession) -> Handoff:
    handoffs = [a for step in call.history for a in step.actions if isinstance(a, Handoff)]
    assert len(handoffs) == 1
    return handoffs[0]


def test_vip_caller_after_a_spoken_pin_gets_a_complete_masked_payload(
        bank: Engine, banking: CompiledFlow, tmp_path: Path) -> None:
    clock = ManualClock()
    call = CallSession(banking, default_registry(), CallStore(bank, tmp_path / "spool"), clock)
    call.start("+15550100002", "+18005550100")
    clock.advance(2)
    call.say("balance", confidence=0.91)
    clock.advance(3)
    call.say("four three two one", confidence=0.7)
    clock.advance(4)
    call.say("I want to speak to a human", confidence=0.83)
    payload = build_handoff(banking, call.history, _handed_off(call))

    assert payload.schema_version == 1 and payload.call_id == call.call_id
    assert (payload.caller_id, payload.dialled, payload.flow, payload.language) == (
        "+15550100002", "+18005550100", "banking", "en-US")
    assert payload.customer is not None and (payload.customer.first_name, payload.customer.vip) == ("Bob", True)
    assert (payload.authentication.level, payload.authentication.method) == ("verified", "pin")
    assert payload.intent is not None and (payload.intent.name, payload.intent.confidence) == ("speak_to_agent", 0.83)
    assert payload.intents == ["check_balance", "speak_to_agent"]
    pin = next(s for s in payload.slots if s.name == "pin")
    assert (pin.value, pin.masked, pin.confidence) == ("***", True, 0.7)
    assert (payload.queue.name, payload.queue.priority, payload.queue.skills) == ("vip", 20, ["banking", "vip"])
    assert payload.reason == "caller asked for an agent"
    assert "authenticate.ask_pin" in payload.ivr_path and payload.ivr_path[-1] == "agent_vip"
    caller_lines = [(line.at, line.text) for line in payload.transcript if line.speaker == "caller"]
    assert caller_lines == [(2.0, "balance"), (5.0, "***"), (9.0, "I want to speak to a human")]
    bot = [line.text for line in payload.transcript if line.speaker == "bot"]
    assert bot[0] == "Welcome back to Open Bank, Bob." and any("private banking team" in t for t in bot)
    text = payload.model_dump_json()
    assert "4321" not in text and "four three two one" not in text
    # What is stored with the queue entry (JSON) reads back as the same model.
    assert HandoffPayload.model_validate(json.loads(text)) == payload


def test_keyed_pin_is_masked_and_unknown_caller_is_not_authenticated(
        bank: Engine, banking: CompiledFlow, tmp_path: Path) -> None:
    call = CallSession(banking, default_registry(), CallStore(bank, tmp_path / "spool"), ManualClock())
    call.start("+15559999999", "")
    call.keys("0")  # agent
    payload = build_handoff(banking, call.history, _handed_off(call))
    assert payload.customer is None and payload.authentication.level == "none"
    assert payload.queue.name == "general"

    keyed = CallSession(banking, default_registry(), CallStore(bank, tmp_path / "spool2"), ManualClock())
    keyed.start("+15550100002", "")
    keyed.keys("1")
    keyed.keys("4321")
    keyed.keys("0")
    payload = build_handoff(banking, keyed.history, _handed_off(keyed))
    assert [line.text for line in payload.transcript if line.mode == "dtmf"] == ["1", "***", "0"]
    assert "4321" not in payload.model_dump_json()


def test_card_numbers_keep_only_their_last_four_digits() -> None:
    assert mask_digits("my card is 4111 1111 1111 1234 thanks") == "my card is ***1234 thanks"
    assert mask_digits("4111-1111-1111-1234") == "***1234"
    assert mask_digits("account 55210087") == "account 55210087"  # eight digits: an account number, kept


def test_committed_json_schema_is_fresh() -> None:
    committed = json.loads((ROOT / "docs" / "handoff.schema.json").read_text(encoding="utf-8"))
    assert committed == handoff_json_schema(), (
        "docs/handoff.schema.json is stale: run 'voicebot handoff-schema -o docs/handoff.schema.json'")
    assert committed["properties"]["schema_version"]["const"] == 1


def test_a_built_payload_is_queued_with_vip_from_the_customer_database(
        bank: Engine, banking: CompiledFlow, tmp_path: Path) -> None:
    from voicebot.acd.config import load_acd_settings
    from voicebot.acd.service import AcdService

    call = CallSession(banking, default_registry(), CallStore(bank, tmp_path / "spool"), ManualClock())
    call.start("+15550100002", "")
    call.keys("1")
    call.keys("4321")
    call.keys("0")
    payload = build_handoff(banking, call.history, _handed_off(call))
    acd = AcdService(bank, load_acd_settings(), node="t")
    entry = acd.enqueue_handoff(payload)
    assert (entry.queue, entry.priority, entry.skills, entry.vip, entry.caller_id) == (
        "vip", 20, ["banking", "vip"], True, "+15550100002")
    stored = HandoffPayload.model_validate(acd.waiting("vip")[0].entry.handoff)
    assert stored == payload and "4321" not in json.dumps(acd.waiting("vip")[0].entry.handoff)
    # The database is the authority: a customer no longer VIP there is not queued as VIP.
    from voicebot.storage.bank_models import Customer
    from voicebot.storage.db import session_scope

    with session_scope(bank) as session:
        bob = session.get(Customer, payload.customer.id if payload.customer else None)
        assert bob is not None
        bob.vip = False
        session.add(bob)
    assert acd.enqueue_handoff(payload).vip is False
    # A database without that customer: what the flow learned decides.
    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    create_tables(empty)
    assert AcdService(empty, load_acd_settings(), node="t").enqueue_handoff(payload).vip is True
