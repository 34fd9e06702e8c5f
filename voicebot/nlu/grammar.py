"""Intent grammars: the phrases, default keys and slots of each intent, loaded from YAML (or JSON).

Grammars are written by hand, so every mistake is reported with its file and line. The YAML is read
with :func:`yaml.compose` rather than ``safe_load`` because only the node tree keeps line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import yaml

from voicebot.nlu.normalize import normalize

__all__ = [
    "DTMF_KEYS",
    "GRAMMAR_SUFFIXES",
    "EntitySpec",
    "Grammar",
    "GrammarError",
    "Intent",
    "SlotType",
    "load_grammar",
    "load_grammars",
    "merge_grammars",
    "merge_synonyms",
]

SlotType = Literal["digits", "number", "currency", "date"]
ENTITY_TYPES: tuple[SlotType, ...] = ("digits", "number", "currency", "date")
GRAMMAR_SUFFIXES = (".yaml", ".yml", ".json")
DTMF_KEYS = "0123456789*#"
_TOP_KEYS = ("description", "grammar", "intents", "synonyms")
_INTENT_KEYS = ("dtmf", "phrases", "slots")
_SLOT_KEYS = ("max_length", "min_length", "type")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"


@dataclass(frozen=True)
class EntitySpec:
    """A slot an intent may carry in the same utterance ("balance for account 4417 0923")."""

    name: str
    type: SlotType
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Intent:
    name: str
    phrases: tuple[str, ...]
    dtmf: str | None
    slots: tuple[EntitySpec, ...]
    grammar: str


@dataclass(frozen=True)
class Grammar:
    name: str
    path: Path
    description: str
    intents: dict[str, Intent]
    synonyms: dict[str, tuple[str, ...]]
    #: intent name -> line of its definition, so cross-file errors can point at it.
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)


class GrammarError(ValueError):
    """A grammar file that cannot be used; ``str()`` is ``path:line: message``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


def _line(node: yaml.Node) -> int:
    return cast(int, node.start_mark.line) + 1


class _Reader:
    """Turns a composed node tree into a Grammar, raising GrammarError at the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, message: str) -> GrammarError:
        return GrammarError(self.path, _line(node) if node is not None else None, message)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        found: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL:
                raise self.fail(key, f"{what}: keys must be strings")
            name = str(key.value)
            prefix = "" if what == "grammar file" else f"{what}: "
            if name in found:
                raise self.fail(key, f"{prefix}duplicate key '{name}'")
            if allowed is not None and name not in allowed:
                raise self.fail(key, f"{prefix}unknown key '{name}' (expected one of: {', '.join(allowed)})")
            found[name] = value
        return found

    def text(self, node: yaml.Node, message: str) -> str:
        # Any scalar counts: unquoted "yes" or "1" in a phrase list are words, not booleans or numbers.
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL or not str(node.value).strip():
            raise self.fail(node, message)
        return str(node.value).strip()

    def strings(self, node: yaml.Node, message: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(node, message)
        return tuple(self.text(item, message) for item in node.value)

    def length(self, node: yaml.Node, message: str) -> int:
        text = str(node.value) if isinstance(node, yaml.ScalarNode) and node.tag == _INT else ""
        if not text.isdigit() or int(text) < 1:
            raise self.fail(node, message)
        return int(text)

    def slot(self, intent: str, name: str, node: yaml.Node) -> EntitySpec:
        what = f"intent '{intent}': slot '{name}'"
        fields = self.mapping(node, what, _SLOT_KEYS)
        kind = fields.get("type")
        if kind is None:
            raise self.fail(node, f"{what}: missing required key 'type'")
        value = self.text(kind, f"{what}: type must be one of {', '.join(ENTITY_TYPES)}")
        if value not in ENTITY_TYPES:  # narrows value to SlotType
            raise self.fail(kind, f"{what}: type must be one of {', '.join(ENTITY_TYPES)}")
        bounds: dict[str, int] = {}
        for key in ("min_length", "max_length"):
            if key in fields:
                if value != "digits":
                    raise self.fail(fields[key], f"{what}: {key} only applies to digits slots")
                bounds[key] = self.length(fields[key], f"{what}: {key} must be a positive integer")
        if bounds.get("min_length", 1) > bounds.get("max_length", 10**6):
            raise self.fail(node, f"{what}: min_length is greater than max_length")
        return EntitySpec(name, value, bounds.get("min_length"), bounds.get("max_length"))

    def intent(self, grammar: str, name: str, node: yaml.Node) -> Intent:
        fields = self.mapping(node, f"intent '{name}'", _INTENT_KEYS)
        message = f"intent '{name}': phrases must be a non-empty list of strings"
        if "phrases" not in fields:
            raise self.fail(node, message)
        phrases = self.strings(fields["phrases"], message)
        seen: dict[str, str] = {}
        for phrase, item in zip(phrases, cast(list[yaml.Node], fields["phrases"].value), strict=True):
            key = normalize(phrase)
            if key in seen:
                raise self.fail(item, f"intent '{name}': duplicate phrase '{phrase}'")
            seen[key] = phrase
        dtmf: str | None = None
        if "dtmf" in fields:
            dtmf = self.text(fields["dtmf"], f"intent '{name}': dtmf must be one key: 0-9, * or #")
            if len(dtmf) != 1 or dtmf not in DTMF_KEYS:
                raise self.fail(fields["dtmf"], f"intent '{name}': dtmf must be one key: 0-9, * or #")
        slots: tuple[EntitySpec, ...] = ()
        if "slots" in fields:
            slot_nodes = self.mapping(fields["slots"], f"intent '{name}': slots", None)
            for slot_name in slot_nodes:
                if not _NAME.match(slot_name):
                    raise self.fail(fields["slots"], f"intent '{name}': invalid slot name '{slot_name}'")
            slots = tuple(self.slot(name, key, value) for key, value in slot_nodes.items())
        return Intent(name, phrases, dtmf, slots, grammar)

    def grammar(self, root: yaml.Node | None) -> Grammar:
        if root is None:
            raise self.fail(None, "grammar file is empty")
        if isinstance(root, yaml.MappingNode):  # "$schema" points editors at grammars/schema.json: not ours
            root.value = [(key, value) for key, value in root.value if key.value != "$schema"]
        top = self.mapping(root, "grammar file", _TOP_KEYS)
        for key in ("grammar", "intents"):
            if key not in top:
                raise self.fail(root, f"missing required key '{key}'")
        name = self.text(top["grammar"], "grammar must be a name")
        if name != self.path.stem:
            raise self.fail(top["grammar"],
                            f"grammar name '{name}' must match the file name '{self.path.stem}'")
        description = ""
        if "description" in top:
            description = self.text(top["description"], "description must be text")
        synonyms: dict[str, tuple[str, ...]] = {}
        if "synonyms" in top:
            canonical_of: dict[str, str] = {}
            for word, variants in self.mapping(top["synonyms"], "synonyms", None).items():
                message = f"synonyms: '{word}' must be a non-empty list of strings"
                synonyms[word] = self.strings(variants, message)
                for variant in synonyms[word]:
                    other = canonical_of.setdefault(normalize(variant), word)
                    if other != word:
                        raise self.fail(variants, f"synonyms: '{variant}' is listed under both '{other}' "
                                                  f"and '{word}'")
        intents: dict[str, Intent] = {}
        lines: dict[str, int] = {}
        keys: dict[str, str] = {}
        intent_nodes = cast(yaml.MappingNode, top["intents"])
        nodes = self.mapping(intent_nodes, "intents", None)
        if not nodes:
            raise self.fail(intent_nodes, "intents must not be empty")
        for (key_node, _), (intent_name, node) in zip(intent_nodes.value, nodes.items(), strict=True):
            if not _NAME.match(intent_name):
                raise self.fail(key_node, f"invalid intent name '{intent_name}' "
                                          "(use lowercase letters, digits and underscores)")
            intent = self.intent(name, intent_name, node)
            if intent.dtmf is not None and intent.dtmf in keys:
                raise self.fail(node, f"intent '{intent_name}': dtmf key '{intent.dtmf}' is already used by "
                                      f"intent '{keys[intent.dtmf]}'")
            if intent.dtmf is not None:
                keys[intent.dtmf] = intent_name
            intents[intent_name] = intent
            lines[intent_name] = _line(key_node)
        return Grammar(name, self.path, description, intents, synonyms, lines)


def load_grammar(path: Path) -> Grammar:
    """Read and check one grammar file; raises GrammarError with the offending line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(path, None, f"cannot read grammar: {exc}") from exc
    if path.suffix == ".json":
        # JSON allows tabs as whitespace; YAML does not, and a raw tab can only be whitespace in JSON.
        text = text.replace("\t", " ")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise GrammarError(path, line, f"invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise GrammarError(path, None, f"invalid YAML: {exc}") from exc
    return _Reader(path).grammar(root)


def load_grammars(directory: Path) -> dict[str, Grammar]:
    """Every grammar in ``directory`` (``*.yaml``, ``*.yml``, ``*.json``), by name."""
    grammars: dict[str, Grammar] = {}
    for path in sorted(p for p in directory.iterdir()
                       if p.suffix in GRAMMAR_SUFFIXES and p.is_file() and p.name != "schema.json"):
        grammar = load_grammar(path)
        if grammar.name in grammars:
            raise GrammarError(path, None, f"grammar '{grammar.name}' is also defined in "
                                           f"{grammars[grammar.name].path}")
        grammars[grammar.name] = grammar
    return grammars


def merge_grammars(grammars: Iterable[Grammar]) -> dict[str, Intent]:
    """All intents of several grammars by name; an intent defined twice is an error naming both files."""
    merged: dict[str, Intent] = {}
    owners: dict[str, Grammar] = {}
    for grammar in grammars:
        for name, intent in grammar.intents.items():
            if name in owners:
                first = owners[name]
                raise GrammarError(grammar.path, grammar.lines.get(name),
                                   f"intent '{name}' is defined in both {first.path} and {grammar.path}")
            merged[name] = intent
            owners[name] = grammar
    return merged


def merge_synonyms(grammars: Iterable[Grammar]) -> dict[str, tuple[str, ...]]:
    """The synonyms of several grammars; a variant given two different canonical words is an error."""
    merged: dict[str, tuple[str, ...]] = {}
    canonical_of: dict[str, tuple[str, Grammar]] = {}
    for grammar in grammars:
        for word, variants in grammar.synonyms.items():
            for variant in variants:
                key = normalize(variant)
                owner = canonical_of.get(key)
                if owner is not None and owner[0] != word:
                    raise GrammarError(grammar.path, None,
                                       f"synonym '{variant}' maps to '{word}' here but to '{owner[0]}' "
                                       f"in {owner[1].path}")
                canonical_of[key] = (word, grammar)
            merged[word] = tuple(dict.fromkeys(merged.get(word, ()) + variants))
    return merged
