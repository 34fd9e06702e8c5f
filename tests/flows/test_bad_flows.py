"""Every mistake a flow author is likely to make, one file each, with the exact error the author sees.

The table pins the whole message, the line and the node: a change in wording or a wrong line fails here.
Paths are relative to the repository root, as an author would type them after ``voicebot validate``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from voicebot.cli import main
from voicebot.flow.compile import load_flow
from voicebot.flow.errors import FlowError
from voicebot.services.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
BAD = Path("tests/flows/bad")  # relative to ROOT: the tests run from there (see the autouse fixture)
_REGISTRY = default_registry()
ACTIONS = {name: _REGISTRY.params(name) for name in _REGISTRY.names()}
QUEUES = ("general", "vip", "cards", "security")  # the packaged default configuration's queues
KINDS = "say, ask, menu, action, branch, set, goto, subflow, return, handoff, hangup"
FORMATS = "currency, date, digits, number, ordinal, phone, spell, text, time"
KNOWN_ACTIONS = (
    "bank.balance, bank.block_card, bank.cards, bank.find_account, bank.identify_caller, "
    "bank.lock_self_service, bank.lost_card_check, bank.recent_transactions, bank.verify_pin, http"
)

# file -> every error, in order; {path} is the file as passed (tests/flows/bad/<file>).
BAD_FLOWS: dict[str, list[str]] = {
    "bad_indentation.yaml": [
        "{path}:8: invalid YAML: expected <block end>, but found '<block mapping start>' at column 4"
        " (check the indentation: the keys of one mapping must line up)",
    ],
    "trailing_comma.json": [
        "{path}:7: invalid JSON: trailing comma at column 56 (JSON allows no comma before '}}')",
    ],
    "unknown_kind.yaml": [
        f"{{path}}:6: node 'welcome': unknown node kind 'play' (expected one of: {KINDS})",
    ],
    "typo_key.yaml": [
        "{path}:7: node 'welcome': unknown key 'promt' (did you mean 'prompt'?)",
    ],
    "ask_without_slot.yaml": [
        "{path}:5: node 'ask_account': missing required key 'slot'",
    ],
    "dangling_next.yaml": [
        "{path}:10: node 'lookup': next target 'say_balance' does not exist (did you mean 'balance_say'?)",
    ],
    "dangling_else.json": [
        "{path}:10: node 'check_hours': else target 'closed_message' does not exist (did you mean 'closed'?)",
        # The node the author meant is not reported as unreachable too: that would be a knock-on error.
    ],
    "unreachable_chain.yaml": [
        "{path}:9: node 'survey': unreachable: no path from the start node or a command leads here "
        "(nor to the 1 node(s) only reachable from it)",
    ],
    "misspelt_target_chain.yaml": [
        "{path}:10: node 'lookup': next target 'balance_sya' does not exist (did you mean 'balance_say'?)",
    ],
    "unreachable_node.yaml": [
        "{path}:9: node 'survey': unreachable: no path from the start node or a command leads here",
    ],
    "closed_loop.yaml": [
        "{path}:9: node 'please_hold': loop with no input: please_hold -> back_to_top -> still_busy -> please_hold"
        " never waits for the caller and never exits",
    ],
    "unknown_grammar.yaml": [
        "{path}:4: unknown grammar 'insurance' (known: banking, common)",
    ],
    "unknown_menu_intent.yaml": [
        "{path}:9: node 'main_menu': options[0]: unknown intent 'check_balanse' (did you mean 'check_balance'?)",
    ],
    "unknown_action.yaml": [
        f"{{path}}:7: node 'lookup': unknown action 'bank.get_balance' (known: {KNOWN_ACTIONS})",
    ],
    "unknown_action_arg.json": [
        "{path}:9: node 'lookup': action 'bank.balance' takes no argument 'account' (accepts: account_number)",
    ],
    "unknown_queue.yaml": [
        "{path}:11: node 'agent': unknown queue 'mortgages' (known: cards, general, security, vip)",
    ],
    "template_syntax.yaml": [
        "{path}:7: node 'welcome': prompt: {{customer.name. How can I help? at column 35:"
        " unexpected 'c' in the placeholder; expected ':' or '}}'",
    ],
    "unknown_say_as.yaml": [
        "{path}:9: node 'say_balance': prompt: {{balance:currancy}} at column 26:"
        f" unknown format 'currancy' (did you mean 'currency'?); the formats are: {FORMATS}",
    ],
    "branch_expr_syntax.yaml": [
        "{path}:10: node 'check': cases[0].if: '=>' is not an operator; did you mean '>='?"
        " at column 10 in: attempts => 3",
    ],
    "duplicate_menu_key.yaml": [
        "{path}:10: node 'main_menu': options[1]: key 1 is already used by 'check_balance'",
    ],
    "missing_subflow.yaml": [
        "{path}:7: node 'verify': subflow 'verify_identity' not found"
        " (looked for tests/flows/bad/verify_identity.yaml)",
    ],
    "start_missing.yaml": [
        "{path}:3: start node 'begin' does not exist",
    ],
    "intent_key_clash.yaml": [
        "{path}:10: node 'anything_else': key 1 is used by both 'yes' and 'check_balance'"
        " (give one another key, or none, under dtmf:)",
    ],
    "duplicate_node.yaml": [
        "{path}:12: node 'goodbye' is defined twice (first on line 5)",
    ],
}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths as an author types them; the packaged configuration, not a local one."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)


def expected(name: str) -> list[str]:
    return [line.format(path=BAD / name) for line in BAD_FLOWS[name]]


def load(path: Path) -> None:
    load_flow(path, actions=ACTIONS, queues=QUEUES, grammars_dir=Path("grammars"))


@pytest.mark.parametrize("name", sorted(BAD_FLOWS))
def test_bad_flow_reports_exactly(name: str) -> None:
    with pytest.raises(FlowError) as caught:
        load(BAD / name)
    assert [str(issue) for issue in caught.value.issues] == expected(name)
    assert str(caught.value) == "\n".join(expected(name))


@pytest.mark.parametrize("name", sorted(BAD_FLOWS))
def test_cli_validate_exits_1_and_prints_the_errors(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", str(BAD / name)])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        *(f"error: {line}" for line in expected(name)),
        "1 of 1 flow file(s) have errors",
    ]
    assert result.stdout == ""


@pytest.mark.integration
def test_installed_voicebot_command_reports_a_bad_flow() -> None:
    command = Path(sys.executable).with_name("voicebot")
    done = subprocess.run(
        [str(command), "validate", str(BAD / "dangling_else.json"), str(BAD / "typo_key.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        *(f"error: {line}" for line in expected("dangling_else.json") + expected("typo_key.yaml")),
        "2 of 2 flow file(s) have errors",
    ]


def test_every_bad_flow_is_in_the_table() -> None:
    on_disk = {p.name for p in BAD.iterdir() if p.suffix in (".yaml", ".json")}
    assert on_disk == set(BAD_FLOWS)
    assert sum(name.endswith(".json") for name in on_disk) >= 2


@pytest.mark.parametrize("name", sorted(BAD_FLOWS))
def test_bad_flow_says_what_is_wrong_at_the_top(name: str) -> None:
    text = (BAD / name).read_text(encoding="utf-8")
    if name.endswith(".json"):
        # JSON has no comments: the first key is a description that says what is wrong.
        first = text.splitlines()[1].strip()
        assert first.startswith('"description": "BAD: '), first
    else:
        assert text.startswith("# "), text.splitlines()[0]


def test_json_trailing_comma_file_is_really_just_a_trailing_comma(tmp_path: Path) -> None:
    """Without the comma the JSON file is a valid flow: the table's message is about that one mistake."""
    text = (BAD / "trailing_comma.json").read_text(encoding="utf-8")
    fixed = text.replace('"Goodbye."},\n', '"Goodbye."}\n')
    assert fixed != text
    json.loads(fixed)
    (tmp_path / "trailing_comma.json").write_text(fixed, encoding="utf-8")
    load(tmp_path / "trailing_comma.json")
