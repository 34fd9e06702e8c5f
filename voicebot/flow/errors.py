"""Typed errors for flow authors: every problem names the file, the line and the node."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowIssue:
    path: str
    line: int | None
    node: str | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        node = f" node '{self.node}':" if self.node else ""
        return f"{where}:{node} {self.message}"


class FlowError(Exception):
    """A flow (or a subflow it calls) cannot be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class FlowRuntimeError(Exception):
    """A problem met while running a call (missing variable, failing action without on_error)."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        self.message = message
        super().__init__(f"node '{node}': {message}")
