"""The ``voicebot`` command."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import click

from voicebot.flow.errors import FlowError
from voicebot.flow.loader import FLOW_SUFFIXES

DEMO_SCRIPT = {
    "+15550100001": ["balance", "#1234", "yes", "recent transactions", "no"],
    "+15550100002": ["I lost my credit card", "yes", "operator"],
}


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """voicebot: an open, self-hosted, speech-enabled self-service IVR."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _flow_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in FLOW_SUFFIXES and p.name != "schema.json")
        else:
            files.append(path)
    return files


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check flow files (and the subflows they call): schema, targets, reachability, references."""
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.services.registry import default_registry

    config = load_config()
    registry = default_registry()
    failed = 0
    files = _flow_files(paths)
    if not files:
        raise click.ClickException("no flow files found in " + ", ".join(map(str, paths)))
    for path in files:
        try:
            flow = load_flow_with(path, config, registry)
        except FlowError as exc:
            failed += 1
            for issue in exc.issues:
                click.echo(f"error: {issue}", err=True)
            continue
        nodes = sum(len(f.nodes) for f in flow.flows.values())
        click.echo(f"{path}: ok ({len(flow.flows)} flow(s), {nodes} nodes, {len(flow.intents)} intents)")
    if failed:
        click.echo(f"{failed} of {len(files)} flow file(s) have errors", err=True)
        sys.exit(1)


@main.command()
@click.argument("flow", type=click.Path(exists=True, path_type=Path))
@click.option("--caller", default="+15550199999", show_default=True, help="Caller ID (E.164).")
@click.option("--dialled", default="+18005550100", show_default=True, help="Dialled number.")
@click.option("--quiet", is_flag=True, help="Only prompts; no recognition details.")
def chat(flow: Path, caller: str, dialled: str, quiet: bool) -> None:
    """Talk to a flow in the terminal: type what a caller would say, #1234 for keys, empty for silence."""
    services, compiled = _open(flow)
    console = _console(services, compiled, debug=not quiet)
    click.echo("Type what the caller says; #1234 keys digits; an empty line is silence; /hangup ends.")
    console.start(caller, dialled)
    while not console.session.ended:
        try:
            line = input("you > ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            line = "/hangup"
        console.feed(line)
    console.session.close()
    console.summary()


def _open(flow: Path):  # type: ignore[no-untyped-def]
    from voicebot.runtime.app import NotInitialised, open_services, require_demo_data

    services = open_services()
    try:
        require_demo_data(services.engine)
    except NotInitialised as exc:
        raise click.ClickException(str(exc)) from None
    try:
        compiled = services.load(flow)
    except FlowError as exc:
        raise click.ClickException(f"the flow has errors:\n{exc}") from None
    return services, compiled


def _console(services, compiled, debug: bool):  # type: ignore[no-untyped-def]
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.console import Console
    from voicebot.runtime.session import CallSession

    clock = ManualClock(time.time())
    session = CallSession(compiled, services.registry, services.store, clock)
    return Console(session, clock, click.echo, debug=debug)


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def test_cmd(paths: tuple[Path, ...]) -> None:
    """Run conversation tests (YAML files with turns and expectations)."""
    from voicebot.testing.conversation import ConversationSpecError, run_file

    files: list[Path] = []
    for path in paths:
        # In a folder, only conversation files (test_*.yaml), not the flows and grammars beside them.
        files += sorted(path.rglob("test_*.y*ml")) if path.is_dir() else [path]
    passed = failed = 0
    for file in files:
        try:
            results = list(run_file(file))
        except (ConversationSpecError, FlowError) as exc:
            click.echo(f"ERROR {file}: {exc}", err=True)
            failed += 1
            continue
        for result in results:
            if result.passed:
                passed += 1
                click.echo(f"PASS {file}: {result.name}")
            else:
                failed += 1
                click.echo(f"FAIL {file}: {result.name}")
                for failure in result.failures:
                    click.echo(f"     {failure}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


@main.group()
def db() -> None:
    """The database (DATABASE_URL, default data/voicebot.db)."""


@db.command("init")
@click.option("--demo", is_flag=True, help="Seed the demo bank (replaces existing demo bank rows).")
def db_init(demo: bool) -> None:
    """Create the tables; with --demo, seed the demo bank."""
    from voicebot.storage.db import create_tables, database_url, make_engine
    from voicebot.storage.seed import seed_demo

    url = database_url()
    engine = make_engine(url)
    create_tables(engine)
    click.echo(f"tables ready in {url}")
    if demo:
        summary = seed_demo(engine)
        click.echo(f"demo bank seeded: {summary}")


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
def schema(output: Path | None) -> None:
    """Print the flow JSON Schema (committed as flows/schema.json for editors)."""
    from voicebot.flow.schema import Flow

    text = json.dumps(Flow.model_json_schema(by_alias=True), indent=2) + "\n"
    if output:
        output.write_text(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--flow", "flow_path", default="flows/banking.yaml", type=click.Path(path_type=Path))
def demo(flow_path: Path) -> None:
    """Run scripted demo calls against the demo bank and print each conversation and call record."""
    from voicebot.runtime.console import run_script
    from voicebot.storage.db import create_tables, make_engine
    from voicebot.storage.seed import seed_demo

    engine = make_engine()
    create_tables(engine)
    seed_demo(engine)
    services, compiled = _open(flow_path)
    for caller, lines in DEMO_SCRIPT.items():
        click.echo(f"\n=== demo call from {caller} ===")
        console = _console(services, compiled, debug=True)
        console.start(caller, "+18005550100")
        run_script(console, lines)
        _show_record(services, console.session.call_id)


def _show_record(services, call_id: str) -> None:  # type: ignore[no-untyped-def]
    from voicebot.storage.calls import to_jsonable

    record = services.store.get_call(call_id)
    if record is None:
        click.echo(f"      (no record stored for {call_id})")
        return
    click.echo("      call record: " + json.dumps(to_jsonable(record.model_dump()), sort_keys=True))


@main.group()
def calls() -> None:
    """Call records."""


@calls.command("list")
@click.option("--limit", default=20, show_default=True)
def calls_list(limit: int) -> None:
    """The most recent calls."""
    from voicebot.runtime.app import open_services

    services = open_services()
    for record in services.store.list_calls(limit):
        click.echo(f"{record.id}  {record.started_at:%Y-%m-%d %H:%M:%S}  {record.caller_id:>14}  "
                   f"{record.flow:<10} {record.outcome or 'in progress':<12} "
                   f"{'auth' if record.authenticated else '-':<4} {','.join(record.intents)}")


@calls.command("show")
@click.argument("call_id", required=False)
@click.option("--last", is_flag=True, help="The most recent call.")
@click.option("--json", "as_json", is_flag=True)
def calls_show(call_id: str | None, last: bool, as_json: bool) -> None:
    """One call: record, handoff and event log."""
    from voicebot.runtime.app import open_services
    from voicebot.storage.calls import to_jsonable

    services = open_services()
    record = services.store.last_call() if last or not call_id else services.store.get_call(call_id)
    if record is None:
        raise click.ClickException("no such call")
    data = to_jsonable(record.model_dump())
    data["events"] = [to_jsonable(e.model_dump()) for e in services.store.call_events(record.id)]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key != "events":
            click.echo(f"{key:>15}: {json.dumps(value) if isinstance(value, dict | list) else value}")
    click.echo(f"{'events':>15}: {len(data['events'])}")


if __name__ == "__main__":
    main()
