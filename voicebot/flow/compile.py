"""Loading a flow for running: the flow, the subflows it calls, its grammars, checked and precompiled.

A :class:`CompiledFlow` is immutable and shared by every call of that flow; per-call data lives in
:class:`voicebot.flow.state.CallState`. Templates, expressions and intent matchers are compiled here
once so a call step does no parsing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.flow.errors import FlowError, FlowIssue
from voicebot.flow.expr import Expr, compile_expr
from voicebot.flow.loader import FLOW_SUFFIXES, parse_flow
from voicebot.flow.schema import Command, Flow, MenuNode, Node
from voicebot.flow.template import Template, compile_template
from voicebot.flow.validate import References, check_flow, node_expressions, node_templates
from voicebot.nlu.grammar import Grammar, GrammarError, Intent, load_grammars, merge_grammars, merge_synonyms
from voicebot.nlu.matcher import IntentMatcher


@dataclass(frozen=True)
class CompiledFlow:
    root: str
    path: Path
    flows: dict[str, Flow]
    paths: dict[str, Path]
    intents: dict[str, Intent]
    matcher: IntentMatcher
    #: (flow, menu node) -> matcher over the menu's options plus the flow's commands.
    menu_matchers: dict[tuple[str, str], IntentMatcher]
    #: flow -> DTMF key -> command
    command_keys: dict[str, dict[str, Command]]
    #: flow -> subflow reference as written -> flow name
    subflow_names: dict[str, dict[str, str]]
    templates: dict[str, Template] = field(repr=False)
    exprs: dict[str, Expr] = field(repr=False)

    def node(self, flow: str, node_id: str) -> Node:
        return self.flows[flow].nodes[node_id]

    def template(self, source: str) -> Template:
        found = self.templates.get(source)
        return found if found is not None else compile_template(source)

    def expr(self, source: str) -> Expr:
        found = self.exprs.get(source)
        return found if found is not None else compile_expr(source)

    def intent_key(self, intent: str) -> str | None:
        found = self.intents.get(intent)
        return found.dtmf if found else None


def find_grammars_dir(flow_path: Path, configured: Path | None = None) -> Path:
    """The grammars folder: the configured one if present, else ``grammars/`` beside ``flows/``."""
    candidates = [configured] if configured else []
    candidates += [flow_path.parent.parent / "grammars", flow_path.parent / "grammars", Path("grammars")]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    return candidates[0] if candidates[0] is not None else Path("grammars")


def resolve_subflow(parent: Path, reference: str) -> Path:
    base = parent.parent
    if reference.endswith(FLOW_SUFFIXES):
        return base / reference
    for suffix in FLOW_SUFFIXES:
        if (base / f"{reference}{suffix}").is_file():
            return base / f"{reference}{suffix}"
    return base / f"{reference}.yaml"


def load_flow(
    path: Path,
    *,
    actions: Mapping[str, tuple[str, ...]],
    queues: Collection[str],
    grammars_dir: Path | None = None,
) -> CompiledFlow:
    """Load, check and compile a flow and every subflow it reaches; raises FlowError with all issues."""
    grammar_dir = find_grammars_dir(path, grammars_dir)
    try:
        grammars = load_grammars(grammar_dir) if grammar_dir.is_dir() else {}
    except GrammarError as exc:
        raise FlowError([FlowIssue(str(exc.path), exc.line, None, exc.message)]) from exc
    issues: list[FlowIssue] = []
    flows: dict[str, Flow] = {}
    paths: dict[str, Path] = {}
    subflow_names: dict[str, dict[str, str]] = {}
    todo = [path]
    loaded: dict[Path, str | None] = {}
    while todo:
        current = todo.pop()
        key = current.resolve()
        if key in loaded:
            continue
        try:
            flow, lines = parse_flow(current)
        except FlowError as exc:
            loaded[key] = None
            issues += exc.issues
            continue
        loaded[key] = flow.flow
        if flow.flow in flows:
            issues.append(FlowIssue(str(current), 1, None,
                                    f"flow name '{flow.flow}' is also used by {paths[flow.flow]}"))
            continue
        flows[flow.flow] = flow
        paths[flow.flow] = current
        used = _grammars_of(flow, grammars)
        try:
            intents = merge_grammars(used)
        except GrammarError as exc:
            issues.append(FlowIssue(str(exc.path), exc.line, None, exc.message))
            intents = {}
        refs = References(
            intents={name: intent.dtmf for name, intent in intents.items()},
            actions=actions,
            queues=queues,
            grammars=grammars,
        )
        names: dict[str, str] = {}
        subflow_names[flow.flow] = names

        def subflow_ok(reference: str, parent: Path = current, names: dict[str, str] = names) -> str | None:
            target = resolve_subflow(parent, reference)
            if not target.is_file():
                return f"subflow '{reference}' not found (looked for {target})"
            todo.append(target)
            names[reference] = str(target.resolve())
            return None

        issues += check_flow(flow, str(current), lines, refs, subflow_ok)
    if issues:
        raise FlowError(issues)
    by_path = {str(p.resolve()): name for name, p in paths.items()}
    for names in subflow_names.values():
        for reference, resolved in names.items():
            names[reference] = by_path[resolved]
    try:
        return _compile(flows[_root_name(path, flows, paths)], flows, paths, grammars, subflow_names)
    except GrammarError as exc:
        raise FlowError([FlowIssue(str(exc.path), exc.line, None, exc.message)]) from exc


def _root_name(path: Path, flows: dict[str, Flow], paths: dict[str, Path]) -> str:
    for name, p in paths.items():
        if p == path:
            return name
    return next(iter(flows))


def _grammars_of(flow: Flow, grammars: Mapping[str, Grammar]) -> list[Grammar]:
    return [grammars[name] for name in flow.grammars if name in grammars]


def _compile(
    root: Flow,
    flows: dict[str, Flow],
    paths: dict[str, Path],
    grammars: Mapping[str, Grammar],
    subflow_names: dict[str, dict[str, str]],
) -> CompiledFlow:
    all_intents: dict[str, Intent] = {}
    used: dict[str, Grammar] = {}
    for flow in flows.values():
        for grammar in _grammars_of(flow, grammars):
            all_intents.update(grammar.intents)
            used[grammar.name] = grammar
    synonyms = merge_synonyms(used.values())
    threshold = root.settings.intent_threshold
    kwargs = {"threshold": threshold} if threshold is not None else {}
    matcher = IntentMatcher(all_intents.values(), synonyms, **kwargs)
    menu_matchers: dict[tuple[str, str], IntentMatcher] = {}
    command_keys: dict[str, dict[str, Command]] = {}
    templates: dict[str, Template] = {}
    exprs: dict[str, Expr] = {}
    for name, flow in flows.items():
        command_keys[name] = {
            key: cmd for cmd in flow.commands if (key := cmd.dtmf or _key(all_intents, cmd.intent))
        }
        settings = flow.settings
        for text in (settings.confirm.prompt, settings.confirm.retry_prompt, settings.confirm.secure_prompt,
                     settings.on_error.prompt, settings.help, *_listify(settings.no_input),
                     *_listify(settings.no_match)):
            templates[text] = compile_template(text)
        for node_id, node in flow.nodes.items():
            for _, source in node_templates(node):
                templates[source] = compile_template(source)
            for _, source in node_expressions(node):
                exprs[source] = compile_expr(source)
            if isinstance(node, MenuNode):
                # The commands active here: the flow's own, or the root flow's when it declares none.
                active = flow.commands or root.commands
                menu_matchers[(name, node_id)] = _menu_matcher(node, active, all_intents, synonyms, kwargs)
    return CompiledFlow(
        root=root.flow,
        path=paths[root.flow],
        flows=flows,
        paths=paths,
        intents=all_intents,
        matcher=matcher,
        menu_matchers=menu_matchers,
        command_keys=command_keys,
        subflow_names=subflow_names,
        templates=templates,
        exprs=exprs,
    )


def _listify(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _key(intents: Mapping[str, Intent], name: str) -> str | None:
    intent = intents.get(name)
    return intent.dtmf if intent else None


def _menu_matcher(
    node: MenuNode,
    commands: list[Command],
    intents: Mapping[str, Intent],
    synonyms: Mapping[str, tuple[str, ...]],
    kwargs: dict[str, float],
) -> IntentMatcher:
    """A matcher whose phrases include each option's own words ("say balance")."""
    chosen: dict[str, Intent] = {}
    for option in node.options:
        base = intents[option.intent]
        extra = tuple(p for p in (option.say, option.label) if p and p not in base.phrases)
        chosen[option.intent] = dataclasses.replace(base, phrases=base.phrases + extra)
    for command in commands:
        chosen.setdefault(command.intent, intents[command.intent])
    return IntentMatcher(chosen.values(), synonyms, **kwargs)
