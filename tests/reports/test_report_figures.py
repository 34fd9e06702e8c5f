"""Every figure of the report over a known day of calls made by the real runtime and the real ACD
(tests/reports/scenario.py), asserted against hand-computed expectations."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.acd.conftest import fresh_postgres_database
from tests.reports.scenario import ACD, T0, Day, make_day, play_the_day
from voicebot.cli import main
from voicebot.reports.queries import build_report
from voicebot.reports.settings import ReportSettings

SINCE = datetime.fromtimestamp(T0, UTC)
UNTIL = datetime.fromtimestamp(T0 + 3600, UTC)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    """The day on a SQLite file, and on PostgreSQL (timestamps, JSON and IN queries differ)."""
    tmp = tmp_path_factory.mktemp("day")
    if request.param == "sqlite":
        yield play_the_day(make_day(tmp))
        return
    for url in fresh_postgres_database():
        day = play_the_day(make_day(tmp, url=url))
        yield day
        day.engine.dispose()


@pytest.fixture(scope="module")
def report(day: Day) -> dict[str, Any]:
    return build_report(day.engine, day.settings, ReportSettings(), SINCE, UNTIL)


def test_the_calls_and_their_outcomes(report: dict[str, Any]) -> None:
    assert report["calls"] == 10
    assert report["outcomes"] == {"self_served": 1, "abandoned": 1, "abandoned_during_answer": 1, "answered": 2,
                                  "abandoned_in_queue": 3, "callback_completed": 1, "callback_failed": 1}


def test_containment_counts_only_self_served_calls(report: dict[str, Any]) -> None:
    # A only: B hung up in the IVR, C left before hearing the balance, D-J went to the queue.
    assert report["containment"] == {"calls": 10, "self_served": 1, "rate": 0.1}


def test_service_level_sl1_and_sl2(report: dict[str, Any]) -> None:
    # Queued D E F G H I J = 7; callbacks I J and the short abandon E (3 s < 5 s) are apart: offered D F G H.
    # Answered within 20 s: D (15 s), not H (30 s). Abandoned within 20 s: G (12 s), not F (40 s).
    assert report["service_level"] == {
        "queued": 7, "offered": 4, "answered": 2, "answered_within": 1, "abandoned": 2, "abandoned_within": 1,
        "short_abandons": 1, "callbacks": 2,
        "sl1": 1 / 4,            # answered within / offered
        "sl2": (1 + 1) / (2 + 2),  # (answered + abandoned within) / (answered + abandoned)
    }


def test_asa_is_over_answered_calls_only(report: dict[str, Any]) -> None:
    assert report["asa"] == (15 + 30) / 2


def test_abandonment_excludes_short_abandons_and_callbacks(report: dict[str, Any]) -> None:
    assert report["abandonment"] == {"offered": 4, "abandoned": 2, "rate": 2 / 4, "short_abandons": 1,
                                     "callbacks": 2}


def test_aht_is_talk_plus_hold_plus_wrap_up(report: dict[str, Any]) -> None:
    # D 40 talk + 20 hold + 10, H 90 + 10, I (the completed callback) 45 + 10; J's caller never answered.
    assert report["aht"] == {"calls": 3, "talk_seconds": 175.0, "hold_seconds": 20.0, "wrap_seconds": 30.0,
                             "aht_seconds": (175 + 20 + 30) / 3}


def test_occupancy_is_talk_and_wrap_up_over_logged_in_available_time(report: dict[str, Any]) -> None:
    # Each offer rings 1 s (reserved: available time, not talk). D 1+60+10, H 1+90+10, I 1+(5 dialling +
    # 45 talk)+10, J 1+20 (dialling nobody); breaks in between count in neither.
    alice = {"handling_seconds": 250.0, "working_seconds": 254.0, "occupancy": 250 / 254}
    assert report["occupancy"] == {**alice, "agents": {"alice": alice}}


def test_the_ivr_funnel(report: dict[str, Any]) -> None:
    nodes = {n["node"]: n for n in report["ivr_funnel"]}
    # Every call reached the main menu (B hung up there, during the greeting); nine chose by key.
    assert nodes["main_menu"] == {"node": "main_menu", "reached": 10, "hung_up": 1, "handed_off": 0, "turns": 9,
                                  "no_match": 0, "no_input": 0, "no_match_rate": 0.0, "no_input_rate": 0.0,
                                  "mean_confidence": None}
    # A: silence (no input), "blah blah" at 0.42 (no match), key 2; C hung up while it waited there.
    assert nodes["anything_else"] == {"node": "anything_else", "reached": 2, "hung_up": 1, "handed_off": 0,
                                      "turns": 3, "no_match": 1, "no_input": 1, "no_match_rate": 1 / 3,
                                      "no_input_rate": 1 / 3, "mean_confidence": 0.42}
    # The PIN, keyed by A and C: one turn each (the digits being collected are not turns).
    assert (nodes["ask_pin"]["reached"], nodes["ask_pin"]["turns"], nodes["ask_pin"]["no_match"]) == (2, 2, 0)
    assert (nodes["agent_general"]["reached"], nodes["agent_general"]["handed_off"]) == (7, 7)
    assert sum(n["handed_off"] for n in nodes.values()) == 7
    assert sum(n["hung_up"] for n in nodes.values()) == 2  # B and C; queued callers left the IVR already
    assert nodes["goodbye"]["reached"] == 1


def test_callbacks(report: dict[str, Any]) -> None:
    # I was offered one (max wait 100 s) and took it; J asked for one; I completed, J failed (1 attempt).
    assert report["callbacks"] == {"offered": 1, "accepted": 2, "completed": 1, "failed": 1, "pending": 0,
                                   "cancelled": 0}


def test_staffing_from_the_measured_arrivals_and_handle_time(report: dict[str, Any]) -> None:
    # 6 calls needing an agent in the hour (7 queued, less the short abandon), AHT 75 s:
    # A = 6 * 75 / 3600 = 0.125 erlangs; one agent gives SL = 1 - A * exp(-(1 - A) * 20 / 75) >= 80 %.
    traffic = 6 * 75 / 3600
    assert report["staffing"] == [{
        "hour": SINCE.isoformat(), "queue": "general", "calls": 6, "aht_seconds": 75.0, "threshold_seconds": 20.0,
        "target": 0.8, "traffic_erlangs": traffic, "agents_needed": 1,
        "expected_service_level": pytest.approx(1 - traffic * math.exp(-(1 - traffic) * 20 / 75)),
        "expected_asa_seconds": pytest.approx(traffic * 75 / (1 - traffic)),
    }]


def test_hour_by_hour(report: dict[str, Any]) -> None:
    # The whole day fits in its first hour: the same figures as the totals.
    assert report["hourly"] == [{"hour": SINCE.isoformat(), "calls": 10, "self_served": 1, "containment": 0.1,
                                 "queued": 7, "answered": 2, "abandoned": 2, "sl1": 0.25, "sl2": 0.5}]


def test_queue_breakdown_and_filter(day: Day, report: dict[str, Any]) -> None:
    assert list(report["queues"]) == ["general"]
    assert report["queues"]["general"]["service_level"] == report["service_level"]
    other = build_report(day.engine, day.settings, ReportSettings(), SINCE, UNTIL, queue="cards")
    assert other["service_level"]["queued"] == 0 and other["asa"] is None and other["staffing"] == []
    assert other["callbacks"]["accepted"] == 0
    assert other["containment"] == report["containment"]  # IVR figures are the site's


def test_a_period_without_the_calls_is_empty(day: Day) -> None:
    later = build_report(day.engine, day.settings, ReportSettings(), UNTIL, datetime.fromtimestamp(T0 + 7200, UTC))
    assert later["calls"] == 0 and later["containment"]["rate"] is None and later["service_level"]["sl1"] is None
    assert later["occupancy"]["working_seconds"] == 0  # alice logged out within the first hour


def test_the_command_prints_the_same_figures(day: Day, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    config = tmp_path / "voicebot.yaml"
    config.write_text(yaml.safe_dump({"acd": ACD}))
    monkeypatch.setenv("VOICEBOT_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", day.engine.url.render_as_string(hide_password=False))
    args = ["report", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == build_report(day.engine, day.settings, ReportSettings(), SINCE, UNTIL)
    assert set(data) >= {"containment", "service_level", "asa", "abandonment", "aht", "occupancy", "ivr_funnel",
                         "callbacks", "staffing", "hourly"}
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "Containment         10.0%  (1 self-served of 10)" in table.output
    assert "Service level SL1   25.0%" in table.output and "ASA                 22.5 s" in table.output
    assert "Occupancy           98.4%" in table.output
    csv = runner.invoke(main, [*args, "--format", "csv", "--queue", "general"])
    assert csv.exit_code == 0, csv.output
    lines = csv.output.splitlines()
    assert lines[0] == "metric,value" and "service_level.sl1,0.25" in lines and "asa,22.5" in lines
    assert "ivr_funnel.anything_else.mean_confidence,0.42" in lines
    assert f"staffing.{SINCE.isoformat()}.general.agents_needed,1" in lines
    assert f"hourly.{SINCE.isoformat()}.containment,0.1" in lines
    bad = runner.invoke(main, ["report", "--since", "yesterday", "--until", UNTIL.isoformat()])
    assert bad.exit_code != 0 and "ISO date" in bad.output


def test_docs_list_every_key_of_the_json(report: dict[str, Any]) -> None:
    import re

    from tests.reports.scenario import ROOT

    text = (ROOT / "docs" / "reports.md").read_text()
    table = text[text.index("| key | content |"):]
    table = table[:table.index("\n\n")]
    documented: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        keys, content = line.split("|")[1:3]
        for key in re.findall(r"`([a-z_0-9]+)`", keys):
            documented[key] = content
    assert set(documented) == set(report)
    for key, value in report.items():
        inner = value if isinstance(value, dict) else value[0] if isinstance(value, list) and value else {}
        if key in ("outcomes", "queues"):
            continue
        for field in inner:
            if field != "agents" and not isinstance(inner[field], dict):
                assert f"`{field}`" in documented[key], f"{key}.{field} is not in docs/reports.md"
