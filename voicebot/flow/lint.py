"""Warnings about a flow that loads but will probably misbehave on a call (``voicebot validate``).

Errors stop a flow from loading (:mod:`voicebot.flow.validate`); these do not, because each may be what the
author meant, but each has cost a real call before:

* a variable read but never written anywhere in the flow or its subflows (with a did-you-mean);
* a bare word where text was meant (``set: {outcome: self_served}`` reads a variable ``self_served``);
* one phrase in two intents (the recognizer cannot tell them apart);
* a menu key that is also a global command's key (the caller cannot reach one of them by keypad).

``voicebot validate --strict`` fails on warnings.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from voicebot.flow.compile import CompiledFlow
from voicebot.flow.errors import FlowIssue
from voicebot.flow.expr import ExprError, compile_expr
from voicebot.flow.loader import LineMap, line_for, parse_flow
from voicebot.flow.schema import ActionNode, AskNode, Flow, HandoffNode, MenuNode, SetNode, prompt_list
from voicebot.flow.template import TemplateError, compile_template
from voicebot.flow.validate import did_you_mean, field_loc, node_expressions, node_templates

#: Variables the engine sets on every call (flow/engine.py), so a flow may read them without writing them.
BUILTIN_VARIABLES = frozenset({
    "caller_id", "dialled", "call_id", "authenticated", "last_intent", "last_error", "failed_node", "ended_by",
    "outcome",
})

#: Variables only some texts may read: the confirmation prompt is rendered with what was heard as ``value``.
FIELD_VARIABLES = {"settings.confirm.prompt": frozenset({"value"})}

_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PUNCTUATION = re.compile(r"[^\w\s']")


def flow_warnings(compiled: CompiledFlow) -> list[FlowIssue]:
    """Every warning for a compiled flow and its subflows, in file and line order."""
    documents: dict[str, tuple[Flow, LineMap, str]] = {}
    for name, path in compiled.paths.items():
        flow, lines = parse_flow(path)
        documents[name] = (flow, lines, str(path))
    written = set(BUILTIN_VARIABLES)
    for flow, _lines, _shown in documents.values():
        written |= _writes(flow)
    for intent in compiled.intents.values():
        written |= {slot.name for slot in intent.slots}
    warnings: list[FlowIssue] = []
    for flow, lines, shown in documents.values():
        warnings += _unwritten_reads(flow, lines, shown, written)
        warnings += _menu_keys_vs_commands(flow, lines, shown, compiled)
    warnings += _shared_phrases(compiled, str(compiled.path))
    return sorted(warnings, key=lambda w: (w.path, w.line or 0, w.message))


def _writes(flow: Flow) -> set[str]:
    names = set(flow.variables)
    for node in flow.nodes.values():
        if isinstance(node, AskNode | MenuNode):
            names.add(node.slot)
        if isinstance(node, ActionNode):
            names |= set(node.assign)
            if node.result:
                names.add(node.result)
        if isinstance(node, SetNode):
            names |= set(node.values)
    return names


def _reads(flow: Flow) -> Iterator[tuple[str | None, str, str, str]]:
    """(node, field, source, kind) for every template and expression; kind is "template" or "expression"."""
    for node_id, node in flow.nodes.items():
        for field, source in node_templates(node):
            yield node_id, field, source, "template"
        for field, source in node_expressions(node):
            yield node_id, field, source, "expression"
    settings = flow.settings
    for name, texts in (("settings.confirm.prompt", [settings.confirm.prompt]),
                        ("settings.on_error.prompt", [settings.on_error.prompt]), ("settings.help", [settings.help]),
                        ("settings.no_input", prompt_list(settings.no_input)),
                        ("settings.no_match", prompt_list(settings.no_match))):
        for text in texts:
            yield None, name, text, "template"


def _names(source: str, kind: str) -> frozenset[str]:
    try:
        return compile_template(source).names() if kind == "template" else compile_expr(source).names()
    except (TemplateError, ExprError):
        return frozenset()  # a syntax error is validate's to report, not a warning


def _unwritten_reads(flow: Flow, lines: LineMap, shown: str, written: set[str]) -> list[FlowIssue]:
    out: list[FlowIssue] = []

    def add(node_id: str | None, field: str, message: str) -> None:
        loc: tuple[str | int, ...] = ("nodes", node_id, *field_loc(field)) if node_id else field_loc(field)
        out.append(FlowIssue(shown, line_for(lines, loc), node_id, message))

    for node_id, field, source, kind in _reads(flow):
        for name in sorted(_names(source, kind) - written - FIELD_VARIABLES.get(field, frozenset())):
            if kind == "expression" and field.startswith("values.") and _BARE_WORD.match(source.strip()):
                add(node_id, field, f"{field}: {source.strip()!r} is read as a variable, which nothing sets; "
                                    f"for the text write \"'{source.strip()}'\"")
            else:
                add(node_id, field, f"{field}: reads variable '{name}', which nothing sets"
                                    f"{did_you_mean(name, written)}")
    for node_id, node in flow.nodes.items():
        if isinstance(node, HandoffNode):
            for i, name in enumerate(node.attach):
                if name not in written:
                    add(node_id, f"attach[{i}]", f"attach: variable '{name}' is never set, so it is never "
                                                 f"attached{did_you_mean(name, written)}")
    return out


def _menu_keys_vs_commands(flow: Flow, lines: LineMap, shown: str, compiled: CompiledFlow) -> list[FlowIssue]:
    commands = compiled.command_keys.get(flow.flow, {})
    out: list[FlowIssue] = []
    for node_id, node in flow.nodes.items():
        if not isinstance(node, MenuNode):
            continue
        for i, option in enumerate(node.options):
            intent = compiled.intents.get(option.intent)
            key = option.dtmf or (intent.dtmf if intent else None)
            command = commands.get(key) if key else None
            if command is not None and command.intent != option.intent:
                out.append(FlowIssue(shown, line_for(lines, ("nodes", node_id, "options", i)), node_id,
                                     f"options[{i}]: key {key} is also the key of the global command "
                                     f"'{command.intent}'; one of them cannot be reached by keypad"))
    return out


def normalise_phrase(phrase: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", phrase.lower()).split())


def _shared_phrases(compiled: CompiledFlow, shown: str) -> list[FlowIssue]:
    owners: dict[str, list[str]] = defaultdict(list)
    for intent in compiled.intents.values():
        for phrase in dict.fromkeys(normalise_phrase(p) for p in intent.phrases):
            owners[phrase].append(intent.name)
    out = []
    for phrase, intents in sorted(owners.items()):
        if len(intents) > 1:
            grammars = sorted({compiled.intents[name].grammar for name in intents})
            out.append(FlowIssue(shown, None, None,
                                 f"phrase \"{phrase}\" is in intents {', '.join(repr(i) for i in intents)} "
                                 f"(grammar {', '.join(grammars)}): a caller saying it gets either"))
    return out

