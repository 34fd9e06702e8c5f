"""Reading flow files: YAML or JSON into :class:`~voicebot.flow.schema.Flow`, with line numbers.

Both formats go through one path so they load to the same models. Line numbers come from YAML's
composer (JSON is read strictly by :mod:`json` first, then composed by YAML to learn where keys are).
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from voicebot.flow.errors import FlowError, FlowIssue
from voicebot.flow.schema import NODE_KINDS, Flow

FLOW_SUFFIXES = (".yaml", ".yml", ".json")
LineMap = dict[tuple[str | int, ...], int]


class FlowYamlLoader(yaml.SafeLoader):
    """YAML with YAML 1.2 booleans: only true/false.

    YAML 1.1 reads yes, no, on and off as booleans, so an intent list ``[yes, no]`` or a route
    ``no: goodbye`` would silently become true/false. Flow authors write those words as words.
    """


FlowYamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    FlowYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


def _line_map(
    node: yaml.Node, path: tuple[str | int, ...], out: LineMap, duplicates: list[tuple[tuple[str | int, ...], int, int]]
) -> None:
    """Record the line of every key and item; ``duplicates`` gets (path, line, first line) of repeated keys."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            child = (*path, name)
            if name in seen and key.tag != "tag:yaml.org,2002:merge":
                # YAML and JSON loaders keep the last value silently: a second node with the same id
                # would replace the first without a word.
                duplicates.append((child, line, seen[name]))
                continue
            seen[name] = line
            out[child] = line
            _line_map(value, child, out, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _line_map(value, (*path, index), out, duplicates)


_YAML_HINTS = (
    ("expected <block end>, but found '<block", "check the indentation: the keys of one mapping must line up"),
    ("mapping values are not allowed here", "quote a value that contains ': ', and check the indentation"),
    ("cannot start any token", "indent with spaces, not tabs"),
)


def _yaml_problem(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """A PyYAML error as (line, message): the problem, its column, where the construct began, a hint."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return None, f"invalid YAML: {exc}"
    message = f"invalid YAML: {problem} at column {mark.column + 1}"
    hint = next((hint for needle, hint in _YAML_HINTS if needle in problem), None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if hint:
        message += f" ({hint})"
    elif context and context_mark is not None and context_mark.line != mark.line:
        message += f" ({context} on line {context_mark.line + 1})"
    return mark.line + 1, message


def _json_problem(exc: json.JSONDecodeError) -> tuple[int, str]:
    """A JSON syntax error as (line, message); a trailing comma is named as such, on the comma's line."""
    text, pos = exc.doc, exc.pos
    before = text[:pos].rstrip()
    if before.endswith(",") and text[pos : pos + 1] in ("}", "]"):
        comma = len(before) - 1
        line = text.count("\n", 0, comma) + 1
        column = comma - (text.rfind("\n", 0, comma) + 1) + 1
        return line, f"invalid JSON: trailing comma at column {column} (JSON allows no comma before '{text[pos]}')"
    return exc.lineno, f"invalid JSON: {exc.msg} at column {exc.colno}"


def read_document(path: Path) -> tuple[Any, LineMap]:
    """Parse a YAML or JSON file; syntax errors and repeated keys become a FlowError with the line."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError([FlowIssue(shown, None, None, f"cannot read file: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise FlowError([FlowIssue(shown, None, None, "cannot read file: it is not UTF-8 text")]) from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            line, message = _json_problem(exc)
            raise FlowError([FlowIssue(shown, line, None, message)]) from exc
    else:
        try:
            data = yaml.load(text, Loader=FlowYamlLoader)  # a SafeLoader subclass: no arbitrary objects
        except yaml.YAMLError as exc:
            yaml_line, message = _yaml_problem(exc)
            raise FlowError([FlowIssue(shown, yaml_line, None, message)]) from exc
    lines: LineMap = {}
    duplicates: list[tuple[tuple[str | int, ...], int, int]] = []
    try:
        composed = yaml.compose(text, Loader=FlowYamlLoader)
    except yaml.YAMLError:
        composed = None  # valid JSON that YAML cannot compose (rare): errors just lack lines
    if composed is not None:
        _line_map(composed, (), lines, duplicates)
    if duplicates:
        raise FlowError([_duplicate_issue(shown, *d) for d in duplicates])
    return data, lines


def _duplicate_issue(shown: str, loc: tuple[str | int, ...], line: int, first: int) -> FlowIssue:
    if loc[:1] == ("nodes",) and len(loc) == 2:
        return FlowIssue(shown, line, None, f"node '{loc[1]}' is defined twice (first on line {first})")
    node = str(loc[1]) if loc[:1] == ("nodes",) else None
    parent = _dotted(loc[2:-1] if node else loc[:-1])
    prefix = f"{parent}: " if parent else ""
    return FlowIssue(shown, line, node, f"{prefix}duplicate key '{loc[-1]}' (first on line {first})")


def line_for(lines: LineMap, loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest part of ``loc`` present in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    """A location as flow authors write it: ``options[1].next``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and X | None."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that a pydantic location (as in its errors) points into, if any."""
    current: Any = Flow
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            found = next((f for name, f in fields.items() if part in (name, f.alias)), None)
            if found is None:
                return None
            current = found.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            # A discriminated union (nodes): pydantic puts the kind in the location.
            current = next((m for m in typing.get_args(current) if _kind_of(m) == part), None)
            if current is None:
                return None
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _kind_of(member: Any) -> str | None:
    if isinstance(member, type) and issubclass(member, BaseModel) and "kind" in member.model_fields:
        args = typing.get_args(member.model_fields["kind"].annotation)
        return str(args[0]) if args else None
    return None


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(error: Any) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", "?"))
        close = difflib.get_close_matches(tag, NODE_KINDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown node kind '{tag}'{hint} (expected one of: {', '.join(NODE_KINDS)})"
    if kind == "union_tag_not_found":
        return f"node has no kind (expected one of: {', '.join(NODE_KINDS)})"
    where = _dotted(_field_path(loc[:-1]))
    prefix = f"{where}: " if where else ""
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        keys = [f.alias or name for name, f in model.model_fields.items()] if model else []
        return f"{prefix}unknown key '{loc[-1]}'{_suggest(str(loc[-1]), keys)}"
    if kind == "missing":
        return f"{prefix}missing required key '{loc[-1]}'"
    field = _dotted(_field_path(loc))
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        got = type(error.get("input")).__name__
        message = f"must be a mapping of keys and values, not {_TYPE_NAMES.get(got, got)}"
        if len(loc) == 2 and loc[0] == "nodes":
            message = f"a node must be a mapping with a kind, not {_TYPE_NAMES.get(got, got)}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


_TYPE_NAMES = {"str": "text", "int": "a number", "float": "a number", "list": "a list", "NoneType": "empty",
               "bool": "true/false"}


def _field_path(loc: tuple[Any, ...]) -> list[Any]:
    """The part of a pydantic location below the node, without the discriminator tag."""
    if len(loc) >= 2 and loc[0] == "nodes":
        rest = list(loc[2:])
        if rest and rest[0] in NODE_KINDS:
            rest = rest[1:]
        return rest
    return list(loc)


def _issue_from_pydantic(shown: str, lines: LineMap, error: Any) -> FlowIssue:
    loc = tuple(error["loc"])
    node = str(loc[1]) if len(loc) >= 2 and loc[0] == "nodes" else None
    file_loc = tuple(p for i, p in enumerate(loc) if not (i == 2 and loc[0] == "nodes" and p in NODE_KINDS))
    if error["type"] == "union_tag_invalid" and node is not None:
        file_loc = (*file_loc, "kind")  # the mistake is on the kind line, not the node's first line
    return FlowIssue(shown, line_for(lines, file_loc), node, _describe(error))


def parse_flow(path: Path) -> tuple[Flow, LineMap]:
    """Load one flow file into the schema; raises FlowError listing every schema problem."""
    shown = str(path)
    if path.suffix not in FLOW_SUFFIXES:
        raise FlowError([FlowIssue(shown, None, None, f"not a flow file (expected {', '.join(FLOW_SUFFIXES)})")])
    data, lines = read_document(path)
    if not isinstance(data, dict):
        raise FlowError([FlowIssue(shown, 1, None, "a flow file must be a mapping with flow, start and nodes")])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        issues = [_issue_from_pydantic(shown, lines, e) for e in exc.errors()]
        raise FlowError(sorted(issues, key=lambda issue: issue.line or 0)) from None
    return flow, lines
