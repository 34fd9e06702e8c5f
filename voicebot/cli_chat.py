"""``voicebot chat``: talk to a flow in the terminal, optionally recording the session as a test."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from voicebot.logs import call_log_context


@click.command()
@click.argument("flow", type=click.Path(exists=True, path_type=Path))
@click.option("--caller", default="+15550199999", show_default=True, help="Caller ID (E.164).")
@click.option("--dialled", default="+18005550100", show_default=True, help="Dialled number.")
@click.option("--quiet", is_flag=True, help="Only prompts; no recognition details.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the session as a conversation test (test_*.yaml) that replays it.")
def chat(flow: Path, caller: str, dialled: str, quiet: bool, record_path: Path | None) -> None:
    """Talk to a flow in the terminal: type what a caller would say, #1234 for keys, empty for silence.

    /vars shows the call's variables, /restart starts a new call, /hangup (or Ctrl-D) ends it.
    """
    from voicebot.cli import _console, _open  # shared with demo and simulate
    from voicebot.runtime.conversation_record import Recorder

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input(), where the platform has it)
    services, compiled = _open(flow)
    recorder = Recorder(flow) if record_path else None

    def out(line: str) -> None:
        click.echo(line)
        if recorder is not None:
            recorder.heard(line)

    click.echo("Type what the caller says; #1234 keys digits; an empty line is silence; /vars shows the "
               "variables; /restart starts again; /hangup ends.")
    restart = True
    while restart:
        with call_log_context():  # this call's id on every log line while it runs (JSON logs)
            restart = _chat_call(_console(services, compiled, debug=not quiet, out=out), caller, dialled,
                                 recorder)
        if restart:
            click.echo("--- new call ---")
    if recorder is not None and record_path is not None and recorder.calls:
        recorder.write(record_path)
        click.echo(f"recorded {len(recorder.calls)} call(s) in {record_path}; replay: voicebot test {record_path}")


def _chat_call(console: Any, caller: str, dialled: str, recorder: Any) -> bool:
    """One typed call; True when the caller asked for /restart."""
    restart = False
    if recorder is not None:
        recorder.start(caller)
    console.start(caller, dialled)
    if recorder is not None:
        recorder.turn(None, console.session.state.node, console.session.ended)
    while not console.session.ended:
        try:
            line = input("you > ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            line = "/hangup"
        if line.strip() == "/vars":
            from voicebot.storage.calls import to_jsonable

            click.echo(json.dumps(to_jsonable(console.session.state.vars), indent=2, sort_keys=True))
            continue
        if line.strip() == "/restart":
            line, restart = "/hangup", True
        console.feed(line)
        if recorder is not None and not restart:
            recorder.turn(line, console.session.state.node, console.session.ended)
    console.session.close()
    console.summary()
    if recorder is not None:
        if restart:
            recorder.calls.pop()  # a call abandoned with /restart is not a test
        else:
            recorder.finish(console.session.state.outcome, console.session.state.authenticated)
    return restart
