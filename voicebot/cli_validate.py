"""``voicebot validate``: errors and warnings of flow files, --strict, --config."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voicebot.cli_errors import EXIT_USAGE, CliError
from voicebot.flow.errors import FlowError
from voicebot.flow.loader import FLOW_SUFFIXES


def flow_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in FLOW_SUFFIXES and p.name != "schema.json")
        else:
            files.append(path)
    return files


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Fail (exit status 1) on warnings too.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Check handoff queues against this voicebot.yaml (default: VOICEBOT_CONFIG or ./voicebot.yaml).")
def validate(paths: tuple[Path, ...], strict: bool, config_path: Path | None) -> None:
    """Check flow files (and the subflows they call): schema, targets, reachability, references; then
    warnings (variables never set, bare words, shared phrases, key clashes)."""
    from voicebot.config import load_config
    from voicebot.flow.lint import flow_warnings
    from voicebot.runtime.app import load_flow_with
    from voicebot.services.registry import default_registry

    config = load_config(config_path)
    registry = default_registry()
    failed = 0
    warned: dict[str, None] = {}  # a subflow's warnings once, though every flow calling it loads it
    files = flow_files(paths)
    if not files:
        raise CliError("no flow files (*.yaml, *.json) in " + ", ".join(map(str, paths)), EXIT_USAGE)
    for path in files:
        try:
            flow = load_flow_with(path, config, registry)
        except FlowError as exc:
            failed += 1
            for issue in exc.issues:
                click.echo(f"error: {issue}", err=True)
            continue
        new = [str(w) for w in flow_warnings(flow) if str(w) not in warned]
        warned.update(dict.fromkeys(new))
        for warning in new:
            click.echo(f"warning: {warning}", err=True)
        nodes = sum(len(f.nodes) for f in flow.flows.values())
        click.echo(f"{path}: ok ({len(flow.flows)} flow(s), {nodes} nodes, {len(flow.intents)} intents"
                   + (f", {len(new)} warning(s))" if new else ")"))
    if failed:
        click.echo(f"{failed} of {len(files)} flow file(s) have errors", err=True)
        sys.exit(1)
    if warned and strict:
        click.echo(f"{len(warned)} warning(s), and --strict fails on warnings", err=True)
        sys.exit(1)
