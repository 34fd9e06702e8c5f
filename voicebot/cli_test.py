"""``voicebot test``: run conversation tests, with a name filter, JUnit XML for CI and a coverage report."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from voicebot.cli_errors import EXIT_USAGE, CliError


def conversation_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        # In a folder, only conversation files (test_*.yaml), not the flows and grammars beside them.
        files += sorted(path.rglob("test_*.y*ml")) if path.is_dir() else [path]
    return files


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-k", "keyword", help="Only conversations whose name or file name contains this (case-insensitive).")
@click.option("--junit-xml", "junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JUnit XML (for CI).")
@click.option("--coverage/--no-coverage", default=True, show_default=True,
              help="Report which nodes and transitions of each flow the conversations went through.")
def test_cmd(paths: tuple[Path, ...], keyword: str | None, junit: Path | None, coverage: bool) -> None:
    """Run conversation tests (test_*.yaml files with turns and expectations)."""
    from voicebot.flow.errors import FlowError
    from voicebot.runtime.conversations import (
        ConversationResult,
        ConversationSpecError,
        load_conversations,
        run_conversation,
    )

    files = conversation_files(paths)
    if not files:
        raise CliError(f"no conversation tests (test_*.yaml) in {', '.join(map(str, paths))}", EXIT_USAGE)
    results: list[ConversationResult] = []
    errors: list[tuple[Path, str]] = []
    for file in files:
        try:
            specs = load_conversations(file)
            if keyword:
                specs = [spec for spec in specs
                         if keyword.lower() in f"{file.name} {spec['name']}".lower()]
            for spec in specs:
                result = run_conversation(spec, file)
                results.append(result)
                click.echo(f"{'PASS' if result.passed else 'FAIL'} {file}: {result.name}")
                for failure in result.failures:
                    click.echo(f"     {failure}")
        except (ConversationSpecError, FlowError) as exc:
            message = str(exc)
            # A YAML error already names the file and line ("t/test_x.yaml:2: invalid YAML ..."): not twice.
            click.echo(f"ERROR {message}" if message.startswith(str(file)) else f"ERROR {file}: {message}", err=True)
            errors.append((file, str(exc)))
    if not results and not errors:
        raise CliError(f"no conversation matches -k {keyword!r}", EXIT_USAGE)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed + len(errors)
    if coverage and results:
        _coverage(results)
    if junit is not None:
        from voicebot.runtime.conversation_report import junit_xml

        junit_xml(results, errors, junit)
        click.echo(f"wrote {junit}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def _coverage(results: Sequence[object]) -> None:
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.conversation_report import coverage
    from voicebot.runtime.conversations import ConversationResult
    from voicebot.services.registry import default_registry

    by_flow: dict[Path, list[ConversationResult]] = {}
    for result in results:
        if isinstance(result, ConversationResult) and result.flow_path is not None:
            by_flow.setdefault(result.flow_path, []).append(result)
    config, registry = load_config(), default_registry()
    for flow_path, runs in sorted(by_flow.items()):
        for line in coverage(load_flow_with(flow_path, config, registry), runs).lines():
            click.echo(line)
