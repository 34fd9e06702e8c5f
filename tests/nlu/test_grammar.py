from pathlib import Path

import pytest

from voicebot.nlu.grammar import (
    EntitySpec,
    Grammar,
    GrammarError,
    load_grammar,
    load_grammars,
    merge_grammars,
    merge_synonyms,
)

GRAMMARS = Path(__file__).resolve().parents[2] / "grammars"

COMMON_INTENTS = {"speak_to_agent": "0", "yes": "1", "no": "2", "repeat": "*", "main_menu": "9",
                  "goodbye": None, "help": None}
BANKING_INTENTS = {"check_balance": "1", "recent_transactions": "2", "report_lost_card": "3"}


@pytest.fixture(scope="module")
def demo() -> dict[str, Grammar]:
    return load_grammars(GRAMMARS)


def test_demo_grammars_define_the_documented_intents(demo: dict[str, Grammar]) -> None:
    assert set(demo) == {"common", "banking"}
    for name, expected in (("common", COMMON_INTENTS), ("banking", BANKING_INTENTS)):
        grammar = demo[name]
        assert grammar.name == name
        assert grammar.path.name == f"{name}.yaml"
        assert grammar.description
        assert {intent: i.dtmf for intent, i in grammar.intents.items()} == expected
        for intent in grammar.intents.values():
            assert intent.grammar == name
            assert 10 <= len(intent.phrases) <= 25, intent.name


def test_demo_phrases_include_the_required_wordings(demo: dict[str, Grammar]) -> None:
    intents = merge_grammars(demo.values())
    required = {
        "speak_to_agent": ["agent", "operator", "representative", "a person", "customer service",
                           "speak to someone"],
        "main_menu": ["main menu", "start over", "go back"],
        "goodbye": ["bye", "goodbye", "that's all", "nothing else", "no thanks that's it", "hang up"],
        "help": ["help", "what can I say", "options"],
        "report_lost_card": ["lost card", "stolen card", "block my card"],
        "yes": ["yes"],
        "no": ["no"],
    }
    for name, phrases in required.items():
        assert set(phrases) <= set(intents[name].phrases), name


def test_demo_slots(demo: dict[str, Grammar]) -> None:
    account = (EntitySpec("account_number", "digits", 8, 8),)
    assert demo["banking"].intents["check_balance"].slots == account
    assert demo["banking"].intents["recent_transactions"].slots == account
    assert demo["banking"].intents["report_lost_card"].slots == ()
    assert demo["common"].intents["yes"].slots == ()


def test_demo_synonyms_merge(demo: dict[str, Grammar]) -> None:
    synonyms = merge_synonyms(demo.values())
    assert "funds" in synonyms["balance"]
    assert "representative" in synonyms["agent"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_minimal_grammar_with_unquoted_scalars(tmp_path: Path) -> None:
    path = write(tmp_path, "mini.yaml", """\
grammar: mini
intents:
  yes:
    phrases: [yes, on, 1]
    dtmf: 1
""")
    grammar = load_grammar(path)
    assert grammar.description == ""
    assert grammar.synonyms == {}
    # YAML 1.1 would read these as booleans and numbers; grammars keep the words as written.
    assert grammar.intents["yes"].phrases == ("yes", "on", "1")
    assert grammar.intents["yes"].dtmf == "1"


def test_load_json_grammar(tmp_path: Path) -> None:
    text = ('{\n\t"grammar": "extra",\n\t"intents": {"pay_bill": '
            '{"phrases": ["pay a bill"], "slots": {"amount": {"type": "currency"}}}}\n}')
    path = write(tmp_path, "extra.json", text)
    grammar = load_grammar(path)
    assert grammar.intents["pay_bill"].slots == (EntitySpec("amount", "currency"),)


MALFORMED = [
    (
        "empty phrases",
        "grammar: bad\nintents:\n  check_balance:\n    phrases: []\n",
        4, "intent 'check_balance': phrases must be a non-empty list of strings",
    ),
    (
        "phrases not a list",
        "grammar: bad\nintents:\n  check_balance:\n    dtmf: '1'\n    phrases: check my balance\n",
        5, "intent 'check_balance': phrases must be a non-empty list of strings",
    ),
    (
        "missing phrases",
        "grammar: bad\nintents:\n  check_balance:\n    dtmf: '1'\n",
        4, "intent 'check_balance': phrases must be a non-empty list of strings",
    ),
    (
        "unknown top-level key",
        "grammar: bad\nintent:\n  x:\n    phrases: [x]\n",
        2, "unknown key 'intent' (expected one of: description, grammar, intents, synonyms)",
    ),
    (
        "unknown intent key",
        "grammar: bad\nintents:\n  check_balance:\n    phrases: [balance]\n    keys: '1'\n",
        5, "intent 'check_balance': unknown key 'keys' (expected one of: dtmf, phrases, slots)",
    ),
    (
        "dtmf of two keys",
        "grammar: bad\nintents:\n  check_balance:\n    phrases: [balance]\n    dtmf: '12'\n",
        5, "intent 'check_balance': dtmf must be one key: 0-9, * or #",
    ),
    (
        "dtmf not a key",
        "grammar: bad\nintents:\n  check_balance:\n    phrases: [balance]\n    dtmf: A\n",
        5, "intent 'check_balance': dtmf must be one key: 0-9, * or #",
    ),
    (
        "dtmf used twice",
        "grammar: bad\nintents:\n  a:\n    phrases: [a]\n    dtmf: '1'\n"
        "  b:\n    phrases: [b]\n    dtmf: '1'\n",
        7, "intent 'b': dtmf key '1' is already used by intent 'a'",
    ),
    (
        "name does not match file",
        "grammar: banking\nintents:\n  a:\n    phrases: [a]\n",
        1, "grammar name 'banking' must match the file name 'bad'",
    ),
    (
        "missing intents",
        "grammar: bad\ndescription: nothing here\n",
        1, "missing required key 'intents'",
    ),
    (
        "duplicate intent in one file",
        "grammar: bad\nintents:\n  a:\n    phrases: [a]\n  a:\n    phrases: [b]\n",
        5, "intents: duplicate key 'a'",
    ),
    (
        "bad slot type",
        "grammar: bad\nintents:\n  pay:\n    phrases: [pay]\n    slots:\n      amount: {type: money}\n",
        6, "intent 'pay': slot 'amount': type must be one of digits, number, currency, date",
    ),
    (
        "length bounds on a non-digits slot",
        "grammar: bad\nintents:\n  pay:\n    phrases: [pay]\n    slots:\n"
        "      amount: {type: currency, max_length: 3}\n",
        6, "intent 'pay': slot 'amount': max_length only applies to digits slots",
    ),
    (
        "min_length above max_length",
        "grammar: bad\nintents:\n  pay:\n    phrases: [pay]\n    slots:\n"
        "      account: {type: digits, min_length: 9, max_length: 8}\n",
        6, "intent 'pay': slot 'account': min_length is greater than max_length",
    ),
    (
        "invalid intent name",
        "grammar: bad\nintents:\n  Check-Balance:\n    phrases: [balance]\n",
        3, "invalid intent name 'Check-Balance' (use lowercase letters, digits and underscores)",
    ),
    (
        "duplicate phrase",
        "grammar: bad\nintents:\n  a:\n    phrases: [Check my balance, check my balance!]\n",
        4, "intent 'a': duplicate phrase 'check my balance!'",
    ),
    (
        "synonym variant under two words",
        "grammar: bad\nsynonyms:\n  balance: [funds]\n  money: [cash, funds]\n"
        "intents:\n  a:\n    phrases: [a]\n",
        4, "synonyms: 'funds' is listed under both 'balance' and 'money'",
    ),
    (
        "top level not a mapping",
        "- grammar: bad\n",
        1, "grammar file must be a mapping",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_grammar(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(GrammarError) as caught:
        load_grammar(path)
    error = caught.value
    assert (error.path, error.line, error.message) == (path, line, message)
    assert str(error) == f"{path}:{line}: {message}"
    assert isinstance(error, ValueError)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "grammar: bad\nintents:\n  a:\n    phrases: [a, b\n")
    with pytest.raises(GrammarError) as caught:
        load_grammar(path)
    assert caught.value.line == 5
    assert caught.value.message.startswith("invalid YAML: ")
    assert str(caught.value).startswith(f"{path}:5: invalid YAML: ")


def test_empty_file_has_no_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "# nothing yet\n")
    with pytest.raises(GrammarError) as caught:
        load_grammar(path)
    assert caught.value.line is None
    assert str(caught.value) == f"{path}: grammar file is empty"


def test_error_str_uses_path_as_given() -> None:
    error = GrammarError(Path("grammars/banking.yaml"), 12,
                         "intent 'check_balance': phrases must be a non-empty list of strings")
    assert str(error) == ("grammars/banking.yaml:12: intent 'check_balance': "
                          "phrases must be a non-empty list of strings")


def test_merge_grammars_rejects_an_intent_in_two_files(tmp_path: Path) -> None:
    first = write(tmp_path, "first.yaml", "grammar: first\nintents:\n  help:\n    phrases: [help]\n")
    second = write(tmp_path, "second.yml",
                   "grammar: second\nintents:\n  other:\n    phrases: [other]\n"
                   "  help:\n    phrases: [help me]\n")
    grammars = load_grammars(tmp_path)
    assert list(grammars) == ["first", "second"]
    with pytest.raises(GrammarError) as caught:
        merge_grammars(grammars.values())
    assert caught.value.path == second
    assert caught.value.line == 5
    assert caught.value.message == f"intent 'help' is defined in both {first} and {second}"


def test_merge_grammars_keeps_every_intent(demo: dict[str, Grammar]) -> None:
    merged = merge_grammars(demo.values())
    assert set(merged) == set(COMMON_INTENTS) | set(BANKING_INTENTS)


def test_merge_synonyms_rejects_conflicting_variants(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "grammar: a\nsynonyms:\n  balance: [funds]\nintents:\n  x:\n    phrases: [x]\n")
    write(tmp_path, "b.yaml", "grammar: b\nsynonyms:\n  money: [funds]\nintents:\n  y:\n    phrases: [y]\n")
    with pytest.raises(GrammarError, match="synonym 'funds' maps to 'money' here but to 'balance'"):
        merge_synonyms(load_grammars(tmp_path).values())


def test_load_grammars_rejects_two_files_with_one_name(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "grammar: a\nintents:\n  x:\n    phrases: [x]\n")
    write(tmp_path, "a.json", '{"grammar": "a", "intents": {"y": {"phrases": ["y"]}}}')
    write(tmp_path, "notes.txt", "not a grammar")
    with pytest.raises(GrammarError, match="grammar 'a' is also defined in"):
        load_grammars(tmp_path)
