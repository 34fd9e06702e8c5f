"""pytest collects conversation tests: every ``test_*.yaml`` file holding ``turns`` (or ``conversations``).

Registered as a pytest11 entry point, so a flow author's own repository gets it by installing voicebot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from voicebot.testing.conversation import LINES, load_conversations, run_conversation


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("test_"):
        try:
            head = yaml.safe_load(file_path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            head = None
        if isinstance(head, dict) and ("turns" in head or "conversations" in head):
            return ConversationFile.from_parent(parent, path=file_path)
    return None


class ConversationFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for spec in load_conversations(self.path):
            yield ConversationItem.from_parent(self, name=str(spec["name"]), spec=spec)


class ConversationItem(pytest.Item):
    def __init__(self, *, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        result = run_conversation(self.spec, self.path)
        if not result.passed:
            raise ConversationFailed(result.failures, result.transcript)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConversationFailed):
            failures, transcript = excinfo.value.args
            return "\n".join(["conversation failed:", *failures, "", "transcript:", *transcript])
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        start = (self.spec.get(LINES) or {}).get("start") or 1
        return self.path, start - 1, f"conversation: {self.name}"


class ConversationFailed(Exception):
    pass
