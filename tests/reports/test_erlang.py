"""Erlang C against published figures, and the staffing search around them."""

from __future__ import annotations

import math

import pytest

from voicebot.reports.erlang import agents_needed, asa, erlang_b, erlang_c, service_level


@pytest.mark.parametrize(("agents", "wait", "level", "answer"), [
    # Call Centre Helper's worked example ("Erlang C formula - made simple"): 100 calls in 30 minutes,
    # AHT 180 s -> 10 erlangs; service level within 20 s; ASA in seconds.
    (11, 0.6821, 0.3896, 122.78),
    (12, 0.4494, 0.6402, 40.44),
    (13, 0.2853, 0.7956, 17.12),
    (14, 0.1741, 0.8884, 7.84),
])
def test_ten_erlangs_match_the_published_table(agents: int, wait: float, level: float, answer: float) -> None:
    assert erlang_c(10, agents) == pytest.approx(wait, abs=5e-5)
    assert service_level(10, agents, 180, 20) == pytest.approx(level, abs=5e-5)
    assert asa(10, agents, 180) == pytest.approx(answer, abs=5e-3)


def test_eighty_in_twenty_at_ten_erlangs_needs_fourteen_agents() -> None:
    plan = agents_needed(calls_per_hour=200, aht_seconds=180, threshold_seconds=20, target=0.8)
    assert plan.traffic_erlangs == 10 and plan.agents == 14
    assert plan.service_level == pytest.approx(0.8884, abs=5e-5)
    # 13 agents fall short of the target: 14 is the fewest
    assert service_level(10, 13, 180, 20) < 0.8


def test_erlang_b_matches_its_published_table() -> None:
    # Erlang B tables: 10 erlangs on 10 lines block 21.46 %, on 15 lines 3.65 %.
    assert erlang_b(10, 10) == pytest.approx(0.2146, abs=5e-5)
    assert erlang_b(10, 15) == pytest.approx(0.0365, abs=5e-5)


def test_one_agent_is_the_single_server_queue() -> None:
    # M/M/1: P(wait) = utilisation
    assert erlang_c(0.3, 1) == pytest.approx(0.3)
    assert service_level(0.3, 1, 100, 10) == pytest.approx(1 - 0.3 * math.exp(-0.7 * 10 / 100))


def test_large_traffic_stays_finite_where_the_textbook_form_overflows() -> None:
    plan = agents_needed(calls_per_hour=36_000, aht_seconds=300, threshold_seconds=20, target=0.9)
    assert plan.traffic_erlangs == 3000 and 3000 < plan.agents < 3100
    assert 0.9 <= plan.service_level < 1


def test_not_enough_agents_and_no_traffic() -> None:
    assert erlang_c(10, 10) == 1.0 and service_level(10, 9, 180, 20) == 0.0 and asa(10, 10, 180) == math.inf
    assert agents_needed(0, 180, 20, 0.8).agents == 0
    with pytest.raises(ValueError):
        agents_needed(-1, 180, 20, 0.8)
