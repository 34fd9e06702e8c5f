"""Reports of a conversation test run: node and transition coverage of the flows, and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.flow.compile import CompiledFlow
from voicebot.flow.schema import SubflowNode, node_targets
from voicebot.runtime.conversations import ConversationResult


@dataclass
class Coverage:
    """Which nodes and transitions (declared next/goto/route targets) the conversations went through."""

    flow: Path
    nodes: set[str] = field(default_factory=set)
    transitions: set[tuple[str, str]] = field(default_factory=set)
    visited_nodes: set[str] = field(default_factory=set)
    visited_transitions: set[tuple[str, str]] = field(default_factory=set)

    def lines(self) -> list[str]:
        def share(done: int, total: int) -> str:
            return f"{done}/{total} ({100 * done / total:.0f}%)" if total else "0/0"

        nodes = self.visited_nodes & self.nodes
        moves = self.visited_transitions & self.transitions
        out = [f"coverage of {_shown(self.flow)}: nodes {share(len(nodes), len(self.nodes))}, "
               f"transitions {share(len(moves), len(self.transitions))}"]
        missed = sorted(self.nodes - nodes)
        if missed:
            out.append(f"  nodes never visited: {', '.join(missed)}")
        return out


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (as the user would type it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _qualified(compiled: CompiledFlow, flow: str, node: str) -> str:
    # The call record names a subflow's nodes "subflow.node" and the root flow's nodes by their id.
    return node if flow == compiled.root else f"{flow}.{node}"


def coverage(compiled: CompiledFlow, results: Iterable[ConversationResult]) -> Coverage:
    report = Coverage(compiled.path)
    for flow_name, flow in compiled.flows.items():
        for node_id, node in flow.nodes.items():
            here = _qualified(compiled, flow_name, node_id)
            report.nodes.add(here)
            for _field, target in node_targets(node):
                report.transitions.add((here, _qualified(compiled, flow_name, target)))
    for result in results:
        report.visited_nodes.update(result.nodes)
        report.visited_transitions.update(moves(compiled, result.nodes))
    return report


def moves(compiled: CompiledFlow, path: list[str]) -> set[tuple[str, str]]:
    """The transitions a call made, from the nodes it went through in order: one node to the next within a
    flow, and a subflow node to the node its flow went on with once the subflow returned (the subflow's own
    nodes come in between in the path)."""
    out: set[tuple[str, str]] = set()
    last: dict[str, str] = {}  # flow -> the last node of that flow the call went through
    previous: str | None = None
    for here in path:
        flow = _split(compiled, here)[0]
        if previous is not None and _split(compiled, previous)[0] == flow:
            out.add((previous, here))
        elif flow in last and isinstance(compiled.flows[flow].nodes.get(_split(compiled, last[flow])[1]),
                                         SubflowNode):
            out.add((last[flow], here))  # back from the subflow
        last[flow] = here
        previous = here
    return out


def _split(compiled: CompiledFlow, qualified: str) -> tuple[str, str]:
    """(flow, node) of a path entry: "subflow.node", or a node id of the root flow."""
    flow, dot, node = qualified.partition(".")
    return (flow, node) if dot and flow in compiled.flows else (compiled.root, qualified)


def junit_xml(results: list[ConversationResult], errors: list[tuple[Path, str]], out: Path) -> None:
    """One <testcase> per conversation (classname: its file), failures with their messages and transcript."""
    suite = ET.Element("testsuite", name="voicebot conversations", tests=str(len(results) + len(errors)),
                       failures=str(sum(not r.passed for r in results)), errors=str(len(errors)),
                       time=f"{sum(r.seconds for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=str(result.path), name=result.name,
                             time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.failures[0])
            failure.text = "\n".join([*result.failures, "", "transcript:", *result.transcript])
    for path, message in errors:
        case = ET.SubElement(suite, "testcase", classname=str(path), name=path.name)
        ET.SubElement(case, "error", message=message).text = message
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(out, encoding="utf-8", xml_declaration=True)
