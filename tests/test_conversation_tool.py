"""Conversation-test tooling: failures with file:line, mocks, -k, JUnit XML, coverage, chat --record."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.test_cli import ROOT, run
from voicebot.runtime.conversations import ConversationSpecError, load_conversations, run_file

BANKING = ROOT / "flows" / "banking.yaml"


def _write(tmp_path: Path, text: str, name: str = "test_x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("FLOW", str(BANKING)))
    return path


def test_a_failure_names_the_file_and_the_line_of_its_turn(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "name: wrong expectations\n"
        "flow: FLOW\n"
        "caller: '+15550100001'\n"
        "turns:\n"
        "  - expect: {says: [Welcome back]}\n"
        "  - say: balance\n"
        "    expect: {node: somewhere_else}\n"
        "end:\n"
        "  outcome: self_served\n"))
    [result] = run_file(path)
    assert result.failures == [
        f"{path}:6: turn 1 (say 'balance'): expected to be at node 'somewhere_else', at 'ask_pin'",
        f"{path}:8: end: expected outcome 'self_served', got 'abandoned'",
    ]


def test_turns_are_numbered_the_same_without_a_first_expect(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: n\nflow: FLOW\nturns:\n  - say: balance\n    expect: {node: nowhere}\n")
    [result] = run_file(path)
    assert result.failures[0].startswith(f"{path}:4: turn 1 (say 'balance'): expected to be at node 'nowhere'")


@pytest.mark.parametrize(("mocks", "message"), [
    ("{bank.nothing: {result: {}}}", "mocks: unknown action 'bank.nothing'"),
    ("{http: {reply: {}}}", "mocks.http: a reply is {result: {...}} or {error: message}"),
    ("{http: [{result: {}}, {result: 5}]}", "mocks.http[1].result must be a mapping"),
    ("{http: []}", "mocks.http: give at least one reply"),
])
def test_bad_mocks_are_refused(tmp_path: Path, mocks: str, message: str) -> None:
    path = _write(tmp_path, f"name: n\nflow: FLOW\nmocks: {mocks}\nturns: []\n")
    with pytest.raises(ConversationSpecError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_conversations(path)


def test_unknown_top_level_keys_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: n\nflow: FLOW\nturns: []\nmock: {}\n")
    with pytest.raises(ConversationSpecError, match=r"unknown keys \['mock'\]"):
        load_conversations(path)


@pytest.mark.integration
def test_filter_junit_and_coverage(tmp_path: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    done = run(tmp_path, "test", "tests/conversations", "-k", "mocked", "--junit-xml", str(junit))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASS ") == 3 and done.stdout.rstrip().endswith("3 passed, 0 failed")
    assert "coverage of " in done.stdout and "meter_reading.yaml: nodes 5/5 (100%)" in done.stdout
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert len(suite.findall("testcase")) == 3
    none = run(tmp_path, "test", "tests/conversations", "-k", "no such conversation")
    assert (none.returncode, none.stderr) == (2, "error: no conversation matches -k 'no such conversation'\n")


@pytest.mark.integration
def test_a_failing_run_in_junit(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: fails\nflow: FLOW\nturns:\n  - say: balance\n    expect: {node: nowhere}\n")
    junit = tmp_path / "junit.xml"
    done = run(tmp_path, "test", str(path), "--junit-xml", str(junit), "--no-coverage")
    assert done.returncode == 1 and f"{path}:4: turn 1" in done.stdout and "coverage" not in done.stdout
    [case] = ET.parse(junit).getroot().findall("testcase")
    failure = case.find("failure")
    assert failure is not None and "expected to be at node 'nowhere'" in (failure.get("message") or "")


@pytest.mark.integration
def test_a_recorded_chat_replays_as_a_test(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "init", "--demo").returncode == 0
    recording = tmp_path / "tests" / "test_recorded.yaml"
    chat = run(tmp_path, "chat", str(BANKING), "--caller", "+15550100001", "--record", str(recording),
               stdin="balance\n/restart\nI lost my card\nyes\n/vars\nno\n")
    assert chat.returncode == 0, chat.stderr
    assert "--- new call ---" in chat.stdout and '"card_last4": "5521"' in chat.stdout  # /restart, /vars
    assert f"recorded 1 call(s) in {recording}" in chat.stdout
    text = recording.read_text()
    assert "say: I lost my card" in text and "Your card ending in five five two one is now blocked." in text
    assert "Your reference number" not in text  # random: only each prompt's first sentence is expected
    replay = run(tmp_path, "test", str(recording))
    assert replay.returncode == 0, replay.stdout
    assert "1 passed, 0 failed" in replay.stdout


def test_transition_coverage_follows_a_call_through_a_subflow() -> None:
    """A subflow node's own transition (to the node after the subflow returned) counts as made: in the path
    the subflow's nodes come between the two."""
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.conversation_report import coverage, moves
    from voicebot.services.registry import default_registry

    [result] = run_file(ROOT / "tests" / "conversations" / "test_balance_known_caller_keypad_pin.yaml")
    assert result.passed, result.failures
    compiled = load_flow_with(BANKING, load_config(env={}), default_registry())
    path = result.nodes
    assert path.index("balance_auth") < path.index("authenticate.ask_pin") < path.index("balance_gate")
    made = moves(compiled, path)
    assert ("balance_auth", "balance_gate") in made  # across the subflow
    assert ("authenticate.ask_pin", "authenticate.verify") in made  # within the subflow
    assert ("balance_auth", "authenticate.check_done") not in made  # into a subflow is not a declared transition
    report = coverage(compiled, [result])
    assert ("balance_auth", "balance_gate") in report.visited_transitions & report.transitions
