"""Validation warnings: flows that load but would misbehave on the first call, and --strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run
from voicebot.config import load_config
from voicebot.flow.compile import load_flow
from voicebot.flow.lint import flow_warnings
from voicebot.runtime.app import load_flow_with
from voicebot.services.registry import default_registry

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
UTILITY = HERE / "warn" / "utility.yaml"


def _warnings(path: Path) -> list[str]:
    return [str(w) for w in flow_warnings(load_flow_with(path, load_config(env={}), default_registry()))]


def test_the_sample_flows_have_no_warnings() -> None:
    assert _warnings(ROOT / "flows" / "banking.yaml") == []


def test_each_mistake_is_one_warning_at_its_line() -> None:
    shown = str(UTILITY)
    assert _warnings(UTILITY) == [
        f"{shown}:13: node 'menu': options[1]: key 0 is also the key of the global command 'speak_to_agent'; "
        "one of them cannot be reached by keypad",
        f"{shown}:24: node 'confirm_zip': prompt: reads variable 'zipcode', which nothing sets (did you mean 'zip'?)",
        f"{shown}:29: node 'done': values.outcome: 'self_served' is read as a variable, which nothing sets; "
        "for the text write \"'self_served'\"",
        f"{shown}:37: node 'agent': attach: variable 'account_numbr' is never set, so it is never attached "
        "(did you mean 'account_number'?)",
    ]


def test_a_phrase_in_two_intents(tmp_path: Path) -> None:
    grammars = tmp_path / "grammars"
    grammars.mkdir()
    (grammars / "utility.yaml").write_text(
        "grammar: utility\nintents:\n"
        "  pay_bill: {phrases: [pay my bill, make a payment], dtmf: '1'}\n"
        "  bill_question: {phrases: [question about my bill, 'Pay my bill!'], dtmf: '2'}\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text("flow: f\nstart: m\ngrammars: [utility]\nnodes:\n"
                    "  m: {kind: menu, prompt: Hi, options: [{intent: pay_bill, next: b}, "
                    "{intent: bill_question, next: b}]}\n"
                    "  b: {kind: hangup, prompt: Bye}\n")
    compiled = load_flow(flow, actions={}, queues=["general"], grammars_dir=grammars)
    assert [str(w) for w in flow_warnings(compiled)] == [
        f"{flow}: phrase \"pay my bill\" is in intents 'pay_bill', 'bill_question' (grammar utility): "
        "a caller saying it gets either"]


@pytest.mark.integration
def test_validate_prints_warnings_and_strict_fails_on_them(tmp_path: Path) -> None:
    relaxed = run(tmp_path, "validate", str(UTILITY))
    assert relaxed.returncode == 0, relaxed.stderr
    assert relaxed.stdout == f"{UTILITY}: ok (1 flow(s), 6 nodes, 10 intents, 4 warning(s))\n"
    assert relaxed.stderr.count("warning: ") == 4
    strict = run(tmp_path, "validate", "--strict", str(UTILITY))
    assert strict.returncode == 1 and strict.stderr.endswith("4 warning(s), and --strict fails on warnings\n")
    clean = run(tmp_path, "validate", "--strict", "flows/")
    assert clean.returncode == 0 and clean.stderr == ""


@pytest.mark.integration
def test_validate_checks_queues_against_a_configuration(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("acd:\n  queues:\n    billing: {description: Bills, skills: [billing]}\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text("flow: f\nstart: h\nnodes:\n  h: {kind: handoff, queue: billing}\n")
    assert run(tmp_path, "validate", "--config", str(config), str(flow)).returncode == 0
    done = run(tmp_path, "validate", str(flow))  # the default queues have no billing
    assert done.returncode == 1 and "unknown queue 'billing'" in done.stderr
    bad = run(tmp_path, "validate", "--config", str(tmp_path / "missing.yaml"), str(flow))
    assert (bad.returncode, bad.stderr) == (2, f"error: {tmp_path / 'missing.yaml'}: no such file\n")
