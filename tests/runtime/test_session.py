"""The call session against a real SQLite database: records, masking, data actions, hang-ups."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.demo_bank import banking_flow, seeded_bank
from voicebot.actions import Handoff, Hangup, Say
from voicebot.config import load_config
from voicebot.flow.compile import CompiledFlow
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.session import CallSession
from voicebot.services.registry import ActionContext, ActionRegistry, default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return seeded_bank(tmp_path / "calls.db")


@pytest.fixture
def banking() -> CompiledFlow:
    return banking_flow()


def session(engine: Engine, flow: CompiledFlow, tmp_path: Path, registry: ActionRegistry | None = None) -> CallSession:
    store = CallStore(engine, tmp_path / "spool")
    return CallSession(flow, registry or default_registry(), store, ManualClock())


def test_a_self_served_call_is_recorded_with_its_event_log(engine: Engine, banking: CompiledFlow,
                                                           tmp_path: Path) -> None:
    call = session(engine, banking, tmp_path)
    greeting = call.start("+15550100001", "+18005550100")
    assert next(a.text for a in greeting if isinstance(a, Say)) == "Welcome back to Open Bank, Alice."
    call.say("balance")
    spoken = call.keys("1234")
    assert any("two thousand three hundred forty-five dollars" in a.text for a in spoken if isinstance(a, Say))
    call.say("no thanks")
    assert call.ended
    record = call.store.get_call(call.call_id)
    assert record is not None and record.ended_at is not None
    assert (record.outcome, record.authenticated, record.customer_id) == ("self_served", True, 1)
    assert record.intents == ["check_balance", "no"]
    assert "authenticate.ask_pin" in record.nodes
    events = call.store.call_events(call.call_id)
    assert [e.event["type"] for e in events][:3] == ["CallStarted", "ActionResult", "Utterance"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_the_pin_never_reaches_the_event_log_or_the_record(engine: Engine, banking: CompiledFlow,
                                                          tmp_path: Path) -> None:
    call = session(engine, banking, tmp_path)
    call.start("+15550100001")
    call.say("balance")
    call.say("one two three four")
    call.hang_up()
    log = json.dumps([(e.event, e.actions) for e in call.store.call_events(call.call_id)])
    assert "1234" not in log and "one two three four" not in log
    assert '"pin": "***"' in log
    record = call.store.get_call(call.call_id)
    assert record is not None and "1234" not in json.dumps(record.slots)


def test_a_handoff_is_queued_for_the_acd_with_the_payload(engine: Engine, banking: CompiledFlow,
                                                          tmp_path: Path) -> None:
    call = session(engine, banking, tmp_path)
    call.start("+15550100002")
    actions = call.say("I want to speak to an agent")
    handoff = next(a for a in actions if isinstance(a, Handoff))
    assert (handoff.queue, handoff.priority) == ("vip", 20)
    queued = call.store.handoffs_for(call.call_id)
    assert len(queued) == 1 and queued[0].status == "waiting"
    assert queued[0].payload["customer"]["name"] == "Bob Smith"
    record = call.store.get_call(call.call_id)
    assert record is not None and record.outcome == "handoff" and record.handoff is not None


def test_hang_up_mid_prompt_leaves_a_complete_record(engine: Engine, banking: CompiledFlow, tmp_path: Path) -> None:
    call = session(engine, banking, tmp_path)
    call.start("+15550100001")
    call.say("balance")
    call.close()  # the channel went away
    record = call.store.get_call(call.call_id)
    assert record is not None and record.ended_at is not None
    assert record.outcome == "abandoned" and record.intents == ["check_balance"]


def test_a_slow_data_action_times_out_into_the_error_branch(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("""
flow: slow
start: look
nodes:
  look: {kind: action, function: slow.lookup, timeout_ms: 200, next: ok, on_error: late}
  ok: {kind: hangup, prompt: "On time."}
  late: {kind: hangup, prompt: "Late: {last_error}."}
""")
    registry = default_registry()
    released = threading.Event()

    def slow(ctx: ActionContext) -> dict[str, Any]:
        released.wait(30.0)  # far past the 200 ms timeout; released when the test ends
        return {}

    registry.register("slow.lookup", slow, params=())
    flow = load_flow_with(tmp_path / "f.yaml", load_config(), registry)
    call = session(engine, flow, tmp_path, registry)
    started = time.monotonic()
    try:
        actions = call.start("+1")
        # Generous bound (a loaded CI machine): without the timeout the step would wait the action's 30 s.
        assert time.monotonic() - started < 10.0
    finally:
        released.set()
    assert [a.text for a in actions if isinstance(a, Say)] == ["Late: timed out after 200 ms."]


def test_the_bank_down_mid_call_is_an_apology_and_a_handoff(engine: Engine, banking: CompiledFlow,
                                                           tmp_path: Path) -> None:
    call = session(engine, banking, tmp_path)
    call.start("+15550100001")
    call.say("balance")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bank_transaction")
        conn.exec_driver_sql("DROP TABLE bank_card")
        conn.exec_driver_sql("DROP TABLE bank_account")
    actions = call.keys("1234")
    handoff = next(a for a in actions if isinstance(a, Handoff))
    assert not any(isinstance(a, Hangup) for a in actions)
    assert handoff.reason.startswith("bank systems error: bank.verify_pin failed: OperationalError")
    record = call.store.get_call(call.call_id)
    assert record is not None and record.outcome == "handoff" and record.error is None
    assert call.store.handoffs_for(call.call_id)[0].payload["attached"]["account_number"] == "44170923"


def test_with_no_database_at_all_the_record_is_spooled_not_lost(banking: CompiledFlow, tmp_path: Path) -> None:
    dead = make_engine(f"sqlite:///{tmp_path}/missing-dir/none.db")
    call = session(dead, banking, tmp_path)
    actions = call.start("+15550100001")
    assert any(isinstance(a, Say) and a.text == "Welcome to Open Bank." for a in actions)
    call.hang_up()
    spooled = (tmp_path / "spool" / f"{call.call_id}.jsonl").read_text().splitlines()
    ops = [json.loads(line)["op"] for line in spooled]
    assert ops[0] == "start_call" and ops[-1] == "finish_call" and "log_step" in ops


def test_an_engine_crash_still_finishes_the_record(engine: Engine, banking: CompiledFlow, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    call = session(engine, banking, tmp_path)
    call.start("+15550100001")

    def broken(*_args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("voicebot.runtime.session.step", broken)
    with pytest.raises(RuntimeError):
        call.say("balance")
    record = call.store.get_call(call.call_id)
    assert record is not None and record.ended_at is not None
    assert record.error == "engine error: RuntimeError('bug')"
