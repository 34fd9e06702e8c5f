"""Valid flows load; YAML and JSON load to the same models; YAML 1.2 booleans; numeric DTMF keys; fresh schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from voicebot.cli import main
from voicebot.flow.compile import CompiledFlow, load_flow
from voicebot.flow.errors import FlowError
from voicebot.flow.loader import parse_flow, read_document
from voicebot.flow.schema import AskNode, Flow, MenuNode, SayNode
from voicebot.services.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
GOOD = Path("tests/flows/good")  # relative to ROOT (see the autouse fixture)
_REGISTRY = default_registry()
ACTIONS = {name: _REGISTRY.params(name) for name in _REGISTRY.names()}
QUEUES = ("general", "vip", "cards", "security")


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)


def load(path: Path) -> CompiledFlow:
    return load_flow(path, actions=ACTIONS, queues=QUEUES, grammars_dir=Path("grammars"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ valid flows


@pytest.mark.parametrize("name", ["lost_card.yaml", "lost_card.json", "opening_hours.yaml"])
def test_good_flow_loads(name: str) -> None:
    compiled = load(GOOD / name)
    assert compiled.root == name.split(".")[0]


def test_good_flow_calls_its_subflow() -> None:
    compiled = load(GOOD / "opening_hours.yaml")
    assert set(compiled.flows) == {"opening_hours", "lost_card"}
    assert compiled.paths["lost_card"] == GOOD / "lost_card.yaml"  # .yaml is tried before .json
    assert compiled.subflow_names["opening_hours"] == {"lost_card": "lost_card"}


def test_yaml_and_json_load_to_equal_models() -> None:
    from_yaml, _ = parse_flow(GOOD / "lost_card.yaml")
    from_json, _ = parse_flow(GOOD / "lost_card.json")
    assert from_yaml == from_json
    assert from_yaml.model_dump() == from_json.model_dump()


def test_yaml_and_json_report_the_same_lines_for_the_same_keys() -> None:
    """JSON files get line numbers too (composed by YAML), so errors in JSON flows point at a line."""
    _, yaml_lines = parse_flow(GOOD / "lost_card.yaml")
    _, json_lines = parse_flow(GOOD / "lost_card.json")
    assert set(yaml_lines) == set(json_lines)
    assert json_lines[("nodes", "confirm", "routes", "no")] == 27


@pytest.mark.parametrize("name", ["banking.yaml", "authenticate.yaml"])
def test_repository_flows_validate(name: str) -> None:
    compiled = load(Path("flows") / name)
    assert compiled.root == name.removesuffix(".yaml")


def test_cli_validates_the_repository_flows() -> None:
    result = CliRunner().invoke(main, ["validate", "flows/banking.yaml", "flows/authenticate.yaml"])
    assert result.exit_code == 0, result.output
    banking, authenticate = result.stdout.splitlines()  # node counts change as the demo grows
    assert banking.startswith("flows/banking.yaml: ok (2 flow(s), ")
    assert authenticate.startswith("flows/authenticate.yaml: ok (1 flow(s), ")
    assert result.stderr == ""


def test_committed_schema_is_fresh() -> None:
    committed = json.loads((ROOT / "flows" / "schema.json").read_text(encoding="utf-8"))
    assert committed == Flow.model_json_schema(by_alias=True), "regenerate: voicebot schema -o flows/schema.json"


# ---------------------------------------------------------------------------- YAML 1.2 booleans


def test_yes_no_on_off_stay_words(tmp_path: Path) -> None:
    text = "a: yes\nb: no\nc: on\nd: off\ne: Yes\nf: NO\nyes: 1\nno: 2\nlist: [yes, no]\n"
    path = write(tmp_path, "words.yaml", text)
    data, _ = read_document(path)
    assert data == {
        "a": "yes", "b": "no", "c": "on", "d": "off", "e": "Yes", "f": "NO",
        "yes": 1, "no": 2, "list": ["yes", "no"],
    }


def test_true_and_false_are_still_booleans(tmp_path: Path) -> None:
    path = write(tmp_path, "bools.yaml", "a: true\nb: false\nc: True\nd: FALSE\ne: 'true'\n")
    data, _ = read_document(path)
    assert data == {"a": True, "b": False, "c": True, "d": False, "e": "true"}


def test_yes_and_no_are_intents_and_route_keys_in_a_flow() -> None:
    flow, _ = parse_flow(GOOD / "lost_card.yaml")
    confirm = flow.nodes["confirm"]
    assert isinstance(confirm, AskNode)
    assert confirm.intents == ["yes", "no"]
    assert confirm.routes == {"yes": "ask_last4", "no": "menu"}
    assert flow.variables["channel"] == "no"
    banking, _ = parse_flow(Path("flows/banking.yaml"))
    anything_else = banking.nodes["anything_else"]
    assert isinstance(anything_else, AskNode)
    assert anything_else.intents[:2] == ["yes", "no"]


def test_boolean_fields_still_accept_yes_and_no(tmp_path: Path) -> None:
    """The words stay words in the document; a boolean field of the schema still reads them as booleans."""
    path = write(tmp_path, "f.yaml", "flow: f\nstart: a\nnodes:\n  a: {kind: say, prompt: hi, next: a, barge_in: no}\n")
    flow, _ = parse_flow(path)
    node = flow.nodes["a"]
    assert isinstance(node, SayNode)
    assert node.barge_in is False


# ---------------------------------------------------------------------------- DTMF keys as numbers


def test_numeric_menu_keys_become_text() -> None:
    flow, _ = parse_flow(GOOD / "lost_card.yaml")
    menu = flow.nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert [option.dtmf for option in menu.options] == ["1", "2"]


def test_numeric_keys_become_text_everywhere(tmp_path: Path) -> None:
    path = write(tmp_path, "keys.yaml", """\
flow: keys
start: pick
grammars: [common]
commands:
  - {intent: speak_to_agent, dtmf: 0, target: pick}
nodes:
  pick:
    kind: ask
    slot: choice
    type: intent
    intents: [yes, no]
    dtmf: {yes: 7, no: 8}
    routes: {yes: pick, no: pick}
    terminator: 5
    prompt: "Yes or no?"
""")
    compiled = load(path)
    flow = compiled.flows["keys"]
    assert flow.commands[0].dtmf == "0"
    pick = flow.nodes["pick"]
    assert isinstance(pick, AskNode)
    assert pick.dtmf == {"yes": "7", "no": "8"}
    assert pick.terminator == "5"
    assert compiled.command_keys["keys"] == {"0": flow.commands[0]}


def test_a_number_that_is_not_one_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "keys.yaml", """\
flow: keys
start: menu
grammars: [banking]
nodes:
  menu:
    kind: menu
    options:
      - {intent: check_balance, dtmf: 12, next: menu}
""")
    with pytest.raises(FlowError) as caught:
        load(path)
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:8: node 'menu': options[0].dtmf: dtmf must be one key of 0123456789*#ABCD, not '12'",
    ]
