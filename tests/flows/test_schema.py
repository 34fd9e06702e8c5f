"""The flow JSON Schema: every property described, $schema accepted; the pattern slot type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voicebot.flow.errors import FlowError
from voicebot.flow.loader import parse_flow
from voicebot.flow.schema import Flow
from voicebot.nlu.letters import spoken_code
from voicebot.nlu.slots import interpret_value


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [(f"Flow.{k}", v) for k, v in schema["properties"].items()]
    for name, sub in schema.get("$defs", {}).items():
        out += [(f"{name}.{k}", v) for k, v in (sub.get("properties") or {}).items()]
    return out


def test_every_property_of_the_flow_schema_has_a_description() -> None:
    schema = Flow.model_json_schema(by_alias=True)
    undescribed = [name for name, prop in _properties(schema) if not prop.get("description")]
    assert undescribed == []
    assert len(_properties(schema)) > 120


def test_schema_key_is_accepted_in_a_json_flow(tmp_path: Path) -> None:
    flow = tmp_path / "f.json"
    flow.write_text(json.dumps({"$schema": "../flows/schema.json", "flow": "f", "start": "a",
                                "nodes": {"a": {"kind": "hangup", "prompt": "Bye."}}}))
    parsed, _ = parse_flow(flow)
    assert parsed.start == "a"


@pytest.mark.parametrize(("spoken", "code"), [
    ("S W one A", "SW1A"), ("ess double-u one ay", "SW1A"), ("sierra whiskey 1 alpha", "SW1A"),
    ("my postcode is SW1A 1AA", "SW1A1AA"), ("double five bee", "55B"), ("e c one, four oh", "EC140"),
    ("x-ray zed nine", "XZ9"), ("", ""), ("hello there", ""),
])
def test_spoken_letters_and_digits(spoken: str, code: str) -> None:
    assert spoken_code(spoken) == code


def test_pattern_values() -> None:
    postcode = "[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"
    assert interpret_value("pattern", "S W one A one A A", today=None, pattern=postcode) == "SW1A1AA"  # type: ignore[arg-type]
    assert interpret_value("pattern", "one two three", today=None, pattern=postcode) is None  # type: ignore[arg-type]
    assert interpret_value("pattern", "A B C", today=None, pattern="[A-Z]+", max_length=2) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("node", "message"), [
    ("{kind: ask, slot: p, type: pattern, prompt: x, next: b}", "a pattern ask needs pattern"),
    ("{kind: ask, slot: p, type: pattern, pattern: '[A-', prompt: x, next: b}", "not a valid regular expression"),
    ("{kind: ask, slot: p, type: digits, pattern: '[0-9]+', prompt: x, next: b}", "pattern is only for type pattern"),
])
def test_bad_pattern_nodes(tmp_path: Path, node: str, message: str) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(f"flow: f\nstart: a\nnodes:\n  a: {node}\n  b: {{kind: hangup}}\n")
    with pytest.raises(FlowError, match=message.replace("[", r"\[")):
        parse_flow(flow)
