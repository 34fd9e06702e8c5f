"""The no-PIN lost-card path: locked accounts refused, requests rate-limited per account and per caller ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.demo_bank import banking_flow
from voicebot.bank.lost_card import LOST_CARD_LIMIT, LOST_CARD_WINDOW
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.session import CallSession
from voicebot.services import ActionContext, ActionFailed, default_registry
from voicebot.storage.calls import CallStore

REGISTRY = default_registry()
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
ALICE, ERIN, CAROL = "44170923", "81234567", "66120345"


def check(engine: Engine, account: str, caller: str, at: datetime = NOW) -> dict[str, Any]:
    return REGISTRY.run("bank.lost_card_check", {"account_number": account, "caller_id": caller},
                        ActionContext(engine, "test-call", at))


def test_a_locked_account_is_refused_even_the_first_time(engine: Engine) -> None:
    assert check(engine, CAROL, "+15550100003") == {"allowed": False, "reason": "locked"}


def test_per_account_limit_across_different_callers(engine: Engine) -> None:
    for n in range(LOST_CARD_LIMIT):
        assert check(engine, ALICE, f"+1555020000{n}")["allowed"]
    assert check(engine, ALICE, "+15550209999") == {"allowed": False, "reason": "rate_limited"}
    assert check(engine, ERIN, "+15550209999")["allowed"]  # another account is unaffected


def test_per_caller_limit_across_different_accounts(engine: Engine) -> None:
    accounts = [ALICE, ERIN, "55210087", "73004411"]
    results = [check(engine, account, "555-019-9999")["reason"] for account in accounts]
    assert results == ["ok"] * LOST_CARD_LIMIT + ["rate_limited"]
    # The same caller in another spelling is the same caller.
    assert check(engine, "55210095", "+1 555 019 9999")["reason"] == "rate_limited"


def test_callers_without_caller_id_share_one_allowance(engine: Engine) -> None:
    accounts = [ALICE, ERIN, "55210087", "73004411"]
    assert [check(engine, a, "anonymous")["allowed"] for a in accounts] == [True] * LOST_CARD_LIMIT + [False]
    assert not check(engine, "55210095", "")["allowed"]


def test_the_window_slides(engine: Engine) -> None:
    for _ in range(LOST_CARD_LIMIT):
        check(engine, ALICE, "+15550199999")
    assert not check(engine, ALICE, "+15550199999")["allowed"]
    later = NOW + LOST_CARD_WINDOW + timedelta(minutes=1)
    assert check(engine, ALICE, "+15550199999", at=later)["allowed"]


def test_unknown_account_is_an_action_failure(engine: Engine) -> None:
    with pytest.raises(ActionFailed):
        check(engine, "99999999", "+15550199999")


def _lost_card_call(engine: Engine, tmp_path: Path, caller: str, account: str) -> CallSession:
    flow = banking_flow(REGISTRY)
    session = CallSession(flow, REGISTRY, CallStore(engine, tmp_path / "spool"), ManualClock(NOW.timestamp()))
    session.start(caller, "+18005550100")
    session.say("I lost my card")
    session.keys(account)
    session.clock.advance(5.0)  # type: ignore[attr-defined]
    session.fire_due_timers()
    return session


def test_the_fourth_no_pin_call_for_one_account_goes_to_card_services(engine: Engine, tmp_path: Path) -> None:
    nodes = []
    for n in range(LOST_CARD_LIMIT + 1):
        session = _lost_card_call(engine, tmp_path, f"+1555030000{n}", ERIN)
        nodes.append(session.state.node)
        session.hang_up()
        session.close()
    assert nodes == ["card_ask_last4"] * LOST_CARD_LIMIT + ["card_limited"]
    assert session.state.outcome == "handoff"
    record = session.store.get_call(session.call_id)
    assert record is not None and record.handoff is not None
    assert record.handoff["queue"] == "cards" and "too many requests" in record.handoff["reason"]
