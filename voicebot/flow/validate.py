"""Semantic checks of one loaded flow: targets, reachability, loops, references, templates, expressions.

Everything a flow author can get wrong is caught here at load time, never mid-call.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.flow.errors import FlowIssue
from voicebot.flow.expr import ExprError, compile_expr
from voicebot.flow.loader import LineMap, line_for
from voicebot.flow.schema import (
    WAITING_KINDS,
    ActionNode,
    AskNode,
    BranchNode,
    Flow,
    HandoffNode,
    HangupNode,
    MenuNode,
    SetNode,
    SubflowNode,
    ask_intents,
    node_targets,
    prompt_list,
)
from voicebot.flow.template import TemplateError, compile_template


@dataclass(frozen=True)
class References:
    """What a flow may refer to outside itself."""

    intents: Mapping[str, str | None]  # intent name -> its default DTMF key
    actions: Mapping[str, tuple[str, ...]]  # action name -> accepted argument names
    queues: Collection[str]
    grammars: Collection[str]


class _Checker:
    def __init__(self, flow: Flow, shown: str, lines: LineMap) -> None:
        self.flow = flow
        self.shown = shown
        self.lines = lines
        self.issues: list[FlowIssue] = []

    def add(self, node: str | None, message: str, *loc: str | int) -> None:
        path: tuple[str | int, ...] = ("nodes", node, *loc) if node else tuple(loc)
        self.issues.append(FlowIssue(self.shown, line_for(self.lines, path), node, message))

    def add_at(self, node: str | None, message: str, field: str) -> None:
        """Report at a field written as in messages (``cases[0].if``), so the line is the field's own."""
        self.add(node, message, *field_loc(field))


def field_loc(field: str) -> tuple[str | int, ...]:
    """``options[1].next`` -> ("options", 1, "next"): the path the line map uses."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", field))


def did_you_mean(name: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def node_templates(node: Any) -> Iterator[tuple[str, str]]:
    """(field, template source) for every text of a node that is rendered as a prompt or argument."""
    for name in ("prompt", "no_input", "no_match"):
        for i, text in enumerate(prompt_list(getattr(node, name, None))):
            yield (name if isinstance(getattr(node, name), str) else f"{name}[{i}]", text)
    for name in ("help", "reason"):
        value = getattr(node, name, None)
        if isinstance(value, str) and value:
            yield name, value
    if isinstance(node, MenuNode):
        for i, option in enumerate(node.options):
            for name in ("label", "say"):
                value = getattr(option, name)
                if value:
                    yield f"options[{i}].{name}", value
    if isinstance(node, ActionNode):
        for key, value in node.args.items():
            if isinstance(value, str):
                yield f"args.{key}", value


def node_expressions(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            yield f"cases[{i}].if", case.when
    if isinstance(node, SetNode):
        for key, value in node.values.items():
            if isinstance(value, str):
                yield f"values.{key}", value


def check_flow(
    flow: Flow,
    shown: str,
    lines: LineMap,
    refs: References,
    subflow_ok: Callable[[str], str | None],
) -> list[FlowIssue]:
    """All problems of one flow; ``subflow_ok(ref)`` returns an error message or None."""
    c = _Checker(flow, shown, lines)
    nodes = flow.nodes
    if flow.start not in nodes:
        c.add(None, f"start node '{flow.start}' does not exist{did_you_mean(flow.start, nodes)}", "start")
    for name in flow.grammars:
        if name not in refs.grammars:
            c.add(None, f"unknown grammar '{name}' (known: {', '.join(sorted(refs.grammars)) or 'none'})",
                  "grammars")
    _check_commands(c, refs)
    for node_id, node in nodes.items():
        for field, target in node_targets(node):
            if target not in nodes:
                c.add_at(node_id, f"{field} target '{target}' does not exist{did_you_mean(target, nodes)}", field)
        _check_node_refs(c, node_id, node, refs, subflow_ok)
        for field, source in node_templates(node):
            try:
                compile_template(source)
            except TemplateError as exc:
                c.add_at(node_id, f"{field}: {exc}", field)
        for field, source in node_expressions(node):
            try:
                compile_expr(source)
            except ExprError as exc:
                c.add_at(node_id, f"{field}: {exc.message} at column {exc.position + 1} in: {source}", field)
    for text in (flow.settings.confirm.prompt, flow.settings.on_error.prompt, flow.settings.help,
                 *prompt_list(flow.settings.no_input), *prompt_list(flow.settings.no_match)):
        try:
            compile_template(text)
        except TemplateError as exc:
            c.add(None, f"settings: {exc}", "settings")
    if flow.settings.on_error.queue not in refs.queues:
        c.add(None, f"settings.on_error.queue: unknown queue '{flow.settings.on_error.queue}'", "settings")
    if flow.start in nodes:
        _check_reachability(c)
        _check_closed_loops(c)
    return c.issues


def _check_commands(c: _Checker, refs: References) -> None:
    keys: dict[str, str] = {}
    for i, command in enumerate(c.flow.commands):
        if command.intent not in refs.intents:
            c.add(None, f"commands[{i}]: unknown intent '{command.intent}'{did_you_mean(command.intent, refs.intents)}",
                  "commands", i)
        if command.target and command.target not in c.flow.nodes:
            hint = did_you_mean(command.target, c.flow.nodes)
            c.add(None, f"commands[{i}]: target '{command.target}' does not exist{hint}", "commands", i)
        key = command.dtmf or refs.intents.get(command.intent)
        if key:
            if key in keys:
                c.add(None, f"commands[{i}]: key {key} is already used by '{keys[key]}'", "commands", i)
            keys[key] = command.intent


def _check_node_refs(
    c: _Checker, node_id: str, node: Any, refs: References, subflow_ok: Callable[[str], str | None]
) -> None:
    if isinstance(node, AskNode):
        claimed: dict[str, str] = {}
        for intent in ask_intents(node):
            # Point at the intent where it is written: its place in intents, else its route.
            at: tuple[str | int, ...] = (
                ("intents", node.intents.index(intent)) if intent in node.intents else ("routes", intent)
            )
            if intent not in refs.intents:
                c.add(node_id, f"unknown intent '{intent}'{did_you_mean(intent, refs.intents)}", *at)
                continue
            key = node.dtmf[intent] if intent in node.dtmf else refs.intents[intent]
            if key and key in claimed:
                c.add(node_id, f"key {key} is used by both '{claimed[key]}' and '{intent}' "
                      f"(give one another key, or none, under dtmf:)", *at)
            elif key:
                claimed[key] = intent
        for intent in node.dtmf:
            if intent not in ask_intents(node):
                c.add(node_id, f"dtmf: '{intent}' is not one of this node's intents", "dtmf", intent)
    if isinstance(node, MenuNode):
        keys: dict[str, str] = {}
        for i, option in enumerate(node.options):
            if option.intent not in refs.intents:
                hint = did_you_mean(option.intent, refs.intents)
                c.add(node_id, f"options[{i}]: unknown intent '{option.intent}'{hint}", "options", i)
                continue
            key = option.dtmf or refs.intents.get(option.intent)
            if not key:
                c.add(node_id, f"options[{i}]: no dtmf key (none in the option or its grammar)", "options", i)
            elif key in keys:
                c.add(node_id, f"options[{i}]: key {key} is already used by '{keys[key]}'", "options", i)
            else:
                keys[key] = option.intent
    if isinstance(node, ActionNode) and node.function is not None:
        if node.function not in refs.actions:
            known = ", ".join(sorted(refs.actions)) or "none"
            c.add(node_id, f"unknown action '{node.function}' (known: {known})", "function")
        else:
            accepted = refs.actions[node.function]
            for arg in node.args:
                if arg not in accepted:
                    c.add(node_id, f"action '{node.function}' takes no argument '{arg}' "
                          f"(accepts: {', '.join(accepted) or 'none'})", "args", arg)
    if isinstance(node, HandoffNode) and node.queue not in refs.queues:
        c.add(node_id, f"unknown queue '{node.queue}' (known: {', '.join(sorted(refs.queues))})", "queue")
    if isinstance(node, SubflowNode):
        problem = subflow_ok(node.flow)
        if problem:
            c.add(node_id, problem, "flow")


def _entry_points(flow: Flow) -> list[str]:
    return [flow.start, *(cmd.target for cmd in flow.commands if cmd.target)]


def _check_reachability(c: _Checker) -> None:
    """Report nodes nothing leads to, but not the knock-on effects of another error.

    A misspelt target is followed to the node it probably meant (its did-you-mean), so that node and those
    after it are not reported as unreachable on top of the misspelling. Of a group of unreachable nodes only
    the group's entry is reported: the rest are unreachable because it is.
    """
    nodes = c.flow.nodes

    def targets(node_id: str) -> list[str]:
        out = []
        for _, target in node_targets(nodes[node_id]):
            if target in nodes:
                out.append(target)
            else:
                close = difflib.get_close_matches(target, sorted(nodes), n=1)
                out += close  # the node the author probably meant
        return out

    seen: set[str] = set()
    todo = [n for n in _entry_points(c.flow) if n in nodes]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [t for t in targets(current) if t not in seen]
    unreachable = [node_id for node_id in nodes if node_id not in seen]
    fed = {t for node_id in unreachable for t in targets(node_id) if t != node_id}
    entries = [node_id for node_id in unreachable if node_id not in fed] or unreachable[:1]  # a pure cycle
    for node_id in entries:
        after = _downstream(node_id, targets, set(unreachable)) - {node_id}
        also = f" (nor to the {len(after)} node(s) only reachable from it)" if after else ""
        c.add(node_id, f"unreachable: no path from the start node or a command leads here{also}")


def _downstream(start: str, targets: Callable[[str], list[str]], within: set[str]) -> set[str]:
    found: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo += [t for t in targets(current) if t in within and t not in found]
    return found


def _check_closed_loops(c: _Checker) -> None:
    """A cycle of nodes that never wait, with no way out, would spin forever: reject it at load time.

    Cycles that can exit (a branch on a counter) are legal; the engine's step limit guards those.
    """
    nodes = c.flow.nodes

    def moving(node_id: str) -> bool:
        node = nodes[node_id]
        return not isinstance(node, (*WAITING_KINDS, SubflowNode, HandoffNode, HangupNode))

    graph = {n: [t for _, t in node_targets(nodes[n]) if t in nodes and moving(t)] for n in nodes if moving(n)}
    for component in _strongly_connected(graph):
        if len(component) == 1:
            only = next(iter(component))
            if only not in graph[only]:
                continue
        exits = any(t not in component for n in component for _, t in node_targets(nodes[n]))
        if not exits:
            order = list(nodes)
            first = min(component, key=order.index)
            cycle = " -> ".join(_cycle_through(first, component, graph))
            c.add(first, f"loop with no input: {cycle} never waits for the caller and never exits")


def _cycle_through(first: str, component: set[str], graph: Mapping[str, list[str]]) -> list[str]:
    """The shortest cycle from ``first`` back to itself inside a strongly connected component, in order."""
    came_from: dict[str, str] = {}
    queue = deque([first])
    while queue:
        current = queue.popleft()
        for successor in graph[current]:
            if successor == first:
                path = [current]
                while path[-1] != first:
                    path.append(came_from[path[-1]])
                return [*reversed(path), first]
            if successor in component and successor not in came_from:
                came_from[successor] = current
                queue.append(successor)
    return sorted(component)  # not reached for a real component


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative so a large flow cannot exhaust the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            successors = graph[v]
            if i < len(successors):
                work.append((v, i + 1))
                w = successors[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                component: set[str] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.add(w)
                    if w == v:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out
