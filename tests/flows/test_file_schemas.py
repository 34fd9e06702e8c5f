"""JSON Schemas of grammars and conversation tests: committed, fresh, and true to every file we have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from voicebot.file_schemas import SCHEMAS, ConversationFile, GrammarFile
from voicebot.nlu.grammar import load_grammars
from voicebot.runtime.conversations import END_KEYS, EXPECT_KEYS, TOP_KEYS, TURN_KEYS, load_conversations

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = {"grammar": ROOT / "grammars" / "schema.json",
             "conversation": ROOT / "tests" / "conversations" / "schema.json"}


@pytest.mark.parametrize("kind", sorted(COMMITTED))
def test_committed_schemas_are_fresh(kind: str) -> None:
    assert json.loads(COMMITTED[kind].read_text()) == SCHEMAS[kind].model_json_schema(by_alias=True), \
        f"run: voicebot schema --for {kind} -o {COMMITTED[kind].relative_to(ROOT)}"


@pytest.mark.parametrize("path", sorted((ROOT / "grammars").glob("*.yaml")), ids=lambda p: p.name)
def test_every_grammar_fits_the_schema(path: Path) -> None:
    GrammarFile.model_validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "conversations").glob("test_*.yaml")),
                         ids=lambda p: p.name)
def test_every_conversation_test_fits_the_schema(path: Path) -> None:
    ConversationFile.model_validate(yaml.safe_load(path.read_text()))


def test_the_schema_knows_the_runners_keys() -> None:
    from voicebot.file_schemas import Conversation, End, Expect, Turn

    assert {field.alias or name for name, field in Conversation.model_fields.items()} == TOP_KEYS
    assert set(Turn.model_fields) == TURN_KEYS
    assert set(Expect.model_fields) == EXPECT_KEYS
    assert set(End.model_fields) == END_KEYS


def test_schema_key_is_accepted_in_grammars_and_conversations(tmp_path: Path) -> None:
    grammars = tmp_path / "grammars"
    grammars.mkdir()
    (grammars / "schema.json").write_text(json.dumps(GrammarFile.model_json_schema(by_alias=True)))
    (grammars / "g.yaml").write_text("$schema: schema.json\ngrammar: g\nintents: {hi: {phrases: [hello]}}\n")
    assert list(load_grammars(grammars)) == ["g"]  # schema.json itself is not taken for a grammar
    test = tmp_path / "test_c.yaml"
    test.write_text(f"$schema: schema.json\nname: c\nflow: {ROOT / 'flows' / 'banking.yaml'}\nturns: []\n")
    assert load_conversations(test)[0]["name"] == "c"
