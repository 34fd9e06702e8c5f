"""Reading flow files: YAML or JSON into :class:`~voicebot.flow.schema.Flow`, with line numbers.

Both formats go through one path so they load to the same models. Line numbers come from YAML's
composer (JSON is read strictly by :mod:`json` first, then composed by YAML to learn where keys are).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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


def _line_map(node: yaml.Node, path: tuple[str | int, ...], out: LineMap) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            out[child] = key.start_mark.line + 1
            _line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _line_map(value, (*path, index), out)


def read_document(path: Path) -> tuple[Any, LineMap]:
    """Parse a YAML or JSON file; syntax errors become a FlowError with the line."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError([FlowIssue(shown, None, None, f"cannot read file: {exc.strerror}")]) from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlowError([FlowIssue(shown, exc.lineno, None, f"invalid JSON: {exc.msg}")]) from exc
    else:
        try:
            data = yaml.load(text, Loader=FlowYamlLoader)  # a SafeLoader subclass: no arbitrary objects
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise FlowError([FlowIssue(shown, line, None, f"invalid YAML: {problem}")]) from exc
    lines: LineMap = {}
    try:
        composed = yaml.compose(text, Loader=FlowYamlLoader)
    except yaml.YAMLError:
        composed = None  # valid JSON that YAML cannot compose (rare): errors just lack lines
    if composed is not None:
        _line_map(composed, (), lines)
    return data, lines


def line_for(lines: LineMap, loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest part of ``loc`` present in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _describe(error: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "?")
        return f"unknown node kind '{tag}' (expected one of: {', '.join(NODE_KINDS)})"
    if kind == "union_tag_not_found":
        return f"node has no kind (expected one of: {', '.join(NODE_KINDS)})"
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    field = ".".join(str(p) for p in _field_path(loc))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


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
        raise FlowError(issues) from None
    return flow, lines
