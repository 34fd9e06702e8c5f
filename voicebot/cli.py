"""The ``voicebot`` command.

Every command reports failures as one ``error:`` line per problem (file, key or address named) with exit
status 2 for usage/configuration errors and 1 for runtime errors; ``--debug`` shows tracebacks
(:mod:`voicebot.cli_errors`). Command groups living in other modules are added at the bottom.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from voicebot.cli_errors import EXIT_USAGE, CliError, report
from voicebot.flow.errors import FlowError
from voicebot.logs import LogFormat, setup_logging

DEMO_SCRIPT = {
    "+15550100001": ["balance", "#1234", "yes", "recent transactions", "no"],
    "+15550100002": ["I lost my credit card", "yes", "operator"],
}


def version() -> str:
    try:
        return metadata.version("voicebot")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


@dataclass
class CliState:
    verbose: int = 0
    quiet: bool = False
    log_format: LogFormat = "text"
    debug: bool = False

    def configure_logging(self, default: int = logging.WARNING) -> None:
        """``-v`` INFO, ``-vv`` DEBUG, ``-q`` errors only; otherwise the command's ``default``."""
        if self.quiet:
            level = logging.ERROR
        elif self.verbose:
            level = logging.DEBUG if self.verbose > 1 else logging.INFO
        else:
            level = default
        setup_logging(level, self.log_format)


class VoicebotGroup(click.Group):
    """Turns every failure of a subcommand into ``error:`` lines and an exit status (a traceback with --debug)."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # plain `voicebot`: the help, as Click shows it
                exc.show()
                sys.exit(exc.exit_code)
            # One line, like every other error, with where to look instead of the whole usage text.
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.UsageError, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`voicebot calls list | head`): nothing to report to anyone.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
            if state.debug:
                raise
            found = report(exc)
            for line in found.lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(found.exit_code)


@click.group(cls=VoicebotGroup)
@click.version_option(version(), "-V", "--version", prog_name="voicebot", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Log errors only.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object per line, with the call id on every line of a call.")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, log_format: LogFormat, debug: bool) -> None:
    """voicebot: an open, self-hosted, speech-enabled self-service IVR."""
    state = CliState(verbose, quiet, log_format, debug)
    ctx.obj = state
    state.configure_logging()


def _open(flow: Path):  # type: ignore[no-untyped-def]
    from voicebot.runtime.app import NotInitialised, open_services, require_demo_data

    services = open_services()
    try:
        require_demo_data(services.engine)
    except NotInitialised as exc:
        raise CliError(str(exc)) from None
    return services, services.load(flow)  # a FlowError is reported line by line, exit status 2


def _console(services, compiled, debug: bool, out: Any = click.echo):  # type: ignore[no-untyped-def]
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.console import Console

    clock = ManualClock(time.time())
    return Console(services.session(compiled, clock), clock, out, debug=debug)


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
@click.option("--for", "kind", type=click.Choice(["flow", "grammar", "conversation", "config"]), default="flow",
              show_default=True, help="Which files: flows (flows/schema.json), grammars (grammars/schema.json), "
              "conversation tests (tests/conversations/schema.json) or voicebot.yaml.")
def schema(output: Path | None, kind: str) -> None:
    """Print a JSON Schema for editor completion and checking (committed beside the files it describes)."""
    from pydantic import BaseModel

    from voicebot.config import Settings
    from voicebot.file_schemas import SCHEMAS
    from voicebot.flow.schema import Flow

    models: dict[str, type[BaseModel]] = {"flow": Flow, "config": Settings, **SCHEMAS}
    model = models[kind]
    text = json.dumps(model.model_json_schema(by_alias=True), indent=2) + "\n"
    if output:
        output.write_text(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--text", is_flag=True, help="Typed demo calls through the text channel instead of a SIP call.")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]),
              help="Speech engine of the SIP demo (default: Whisper when installed).")
@click.option("--flow", "flow_path", default="flows/banking.yaml", type=click.Path(path_type=Path))
@click.option("--agent", is_flag=True, help="The caller asks for an agent and is bridged to a baresip agent phone.")
def demo(text: bool, engine: str | None, flow_path: Path, agent: bool) -> None:
    """A demo call end to end: a real SIP call over loopback (a scripted caller speaking and keying the
    PIN) to the demo bank, printed live, then its call record. --text: typed calls, no audio.
    --agent: the caller says "agent", waits on hold, and talks to an agent's phone (both sides printed)."""
    if agent:
        from voicebot.telephony.demo_agent import run_agent_demo

        sys.exit(run_agent_demo(engine=engine, out=click.echo))
    if not text:
        from voicebot.telephony.demo import run_demo

        sys.exit(run_demo(engine=engine, out=click.echo))
    from voicebot.runtime.console import run_script
    from voicebot.storage.db import create_tables, make_engine
    from voicebot.storage.seed import seed_demo

    database = make_engine()
    create_tables(database)
    seed_demo(database)
    services, compiled = _open(flow_path)
    for caller, lines in DEMO_SCRIPT.items():
        click.echo(f"\n=== demo call from {caller} ===")
        console = _console(services, compiled, debug=True)
        console.start(caller, "+18005550100")
        run_script(console, lines)
        _show_record(services, console.session.call_id)


def _show_record(services, call_id: str) -> None:  # type: ignore[no-untyped-def]
    from voicebot.storage.calls import record_as_json

    record = services.store.get_call(call_id)
    if record is None:
        click.echo(f"      (no record stored for {call_id})")
        return
    click.echo("      call record: " + json.dumps(record_as_json(record), sort_keys=True))


@main.command()
@click.argument("text")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="WAV file to write.")
@click.option("--rate", default=8000, show_default=True, help="Sample rate of the WAV (8000 for the phone).")
def say(text: str, output: Path, rate: int) -> None:
    """Speak TEXT with the prompt voice (Piper) into a 16-bit mono WAV."""
    from voicebot.audio.pcm import write_wav
    from voicebot.audio.resample import resample
    from voicebot.config import load_config
    from voicebot.tts.piper_engine import PiperSynthesizer

    if not text.strip():
        raise CliError("say: the text is empty; give the words to speak", EXIT_USAGE)
    if output.suffix.lower() != ".wav":
        # Only WAV is written; a file called .mp3 holding WAV data would mislead whoever plays it.
        raise CliError(f"{output}: only .wav output is supported (16-bit mono PCM)", EXIT_USAGE)
    synth = PiperSynthesizer(length_scale=load_config().tts_length_scale)
    started = time.perf_counter()
    audio = synth.synthesize(text)
    if rate != synth.sample_rate:
        audio = resample(audio, synth.sample_rate, rate)
    write_wav(output, audio, rate)
    click.echo(f"wrote {output}: {len(audio) / rate:.2f} s at {rate} Hz ({synth.voice}, "
               f"{(time.perf_counter() - started) * 1000:.0f} ms)")


@main.group()
def prompts() -> None:
    """The prompt cache (rendered prompt audio)."""


@prompts.command("build")
@click.argument("flows", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def prompts_build(flows: tuple[Path, ...]) -> None:
    """Render every static prompt of the flows (and their subflows) into the cache."""
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.speech import make_prompt_cache
    from voicebot.services.registry import default_registry
    from voicebot.tts.prompts import load_recorded, recorded_prompts, static_prompts

    config = load_config()
    cache = make_prompt_cache(config)
    from voicebot.cli_validate import flow_files

    for path in flow_files(flows):
        flow = load_flow_with(path, config, default_registry())
        report = cache.build(static_prompts(flow))
        for recording in recorded_prompts(flow):
            load_recorded(recording)  # fails now, with the file named, rather than mid-call
        click.echo(f"{path}: {report.rendered} rendered, {report.cached} already cached "
                   f"({report.seconds:.1f} s) in {cache.directory}")


@main.group()
def models() -> None:
    """Speech models."""


@models.command("fetch")
@click.argument("name", type=click.Choice(["vosk-en"]))
@click.option("--dest", default=Path("models"), type=click.Path(path_type=Path), show_default=True)
def models_fetch(name: str, dest: Path) -> None:
    """Download a model from its official source, with a progress bar and checksum check."""
    from voicebot.asr.models import MODELS, ModelFetchError, fetch

    spec = MODELS[name]
    with click.progressbar(length=spec.size_bytes or 0, label=f"downloading {spec.name}") as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total or bar.length
            bar.update(done - bar.pos)

        try:
            path = fetch(name, dest, progress=progress)
        except ModelFetchError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"installed {path}; asr.engine auto now uses Vosk")


@main.command()
@click.argument("audio", nargs=-1, type=click.Path(path_type=Path))
@click.option("--flow", "flow_path", type=click.Path(exists=True, path_type=Path), help="Flow of the node.")
@click.option("--node", help="Listening node (id, or subflow.id): its grammar and NLU are used.")
@click.option("--grammar", help="builtin:digits or builtin:yes_no, without a flow.")
@click.option("--min", "min_digits", default=1, show_default=True, help="builtin:digits minimum length.")
@click.option("--max", "max_digits", default=32, show_default=True, help="builtin:digits maximum length.")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]), help="Overrides asr.engine.")
@click.option("--expected", "labels_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labels file (file<TAB>expected<TAB>kind per line): score every file it lists.")
def recognize(audio: tuple[Path, ...], flow_path: Path | None, node: str | None, grammar: str | None,
              min_digits: int, max_digits: int, engine: str | None, labels_path: Path | None) -> None:
    """Recognize WAV files exactly as a node would during a call; one JSON line per file.

    With --expected, the files are those of the labels file and a summary follows: exact matches,
    rejections and false accepts per kind, and the word error rate (see voicebot/asr/reference.py).
    A file that cannot be read or recognized gets an "error" in its line; the others go on.
    """

    from voicebot.actions import Listen
    from voicebot.asr.base import RecognizerError
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.speech import builtin_listen, node_listen, phrases_by_intent, recognize_file
    from voicebot.services.registry import default_registry

    if not audio and labels_path is None:
        raise click.UsageError("give WAV files, or --expected labels.tsv")
    config = load_config()
    compiled = None
    flow_name = node_id = ""
    listen: Listen | None = None
    phrases: dict[str, tuple[str, ...]] = {}
    if flow_path is not None:
        if not node:
            raise click.UsageError("--flow needs --node")
        try:
            compiled = load_flow_with(flow_path, config, default_registry())
            flow_name, node_id, listen = node_listen(compiled, node)
        except (FlowError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        phrases = phrases_by_intent(compiled)
    elif grammar or labels_path is not None:
        try:
            listen = builtin_listen(grammar or "builtin:digits", min_digits, max_digits)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    else:
        raise click.UsageError("give --flow and --node, or --grammar builtin:digits|builtin:yes_no")
    from voicebot.runtime.speech import make_recognizer

    recognizer = make_recognizer(config, engine)

    def one(path: Path, heard_by: Listen) -> dict[str, Any]:
        """The JSON line of one file; a file that cannot be read or recognized gets an "error" instead."""
        try:
            result = recognize_file(path, recognizer, heard_by, phrases, compiled, flow_name, node_id)
        except (OSError, ValueError, EOFError, RecognizerError) as exc:
            return {"file": str(path), "engine": recognizer.name, "error": str(exc)}
        return result.as_json()

    if labels_path is None:
        assert listen is not None
        for path in audio:
            click.echo(json.dumps(one(path, listen)))
        return
    from voicebot.asr.reference import Scoreboard, judge, listen_for, read_labels

    try:
        labels = read_labels(labels_path)
    except ValueError as exc:  # a malformed row: the command was given bad input, as for other usage errors
        raise CliError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    board = Scoreboard()
    for label in labels:
        assert listen is not None
        heard_by = listen if compiled is not None else listen_for(label, listen)
        marks = {"expected": label.expected, "kind": label.kind}
        if heard_by is None:
            click.echo(json.dumps({"file": str(label.path), **marks,
                                   "error": f"{label.expected!r} is an intent: give --flow and --node"}))
            board.add(label, None)
            continue
        line = one(label.path, heard_by)
        if "error" in line:
            click.echo(json.dumps({**line, **marks}))
            board.add(label, None)
            continue
        outcome = judge(label, line["text"], line["intent"], line["slots"])
        board.add(label, outcome)
        click.echo(json.dumps({**line, **marks, "correct": outcome.correct}))
    click.echo(json.dumps({"summary": board.summary(), "engine": recognizer.name}))
    for row in board.table():
        click.echo(row, err=True)


@main.command()
@click.argument("flow_path", metavar="FLOW", type=click.Path(exists=True, path_type=Path))
@click.option("--script", required=True, type=click.Path(exists=True, path_type=Path), help="Caller script (YAML).")
@click.option("--caller", help="Caller ID (overrides the script's).")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="IVR audio WAV to write.")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]), help="Overrides asr.engine.")
@click.option("--quiet", is_flag=True, help="Only the summary.")
def simulate(flow_path: Path, script: Path, caller: str | None, out_path: Path, engine: str | None,
             quiet: bool) -> None:
    """Run a whole call through the real speech pipeline on virtual time, without SIP.

    Writes the IVR's audio to --out, both sides to OUT.stereo.wav (caller left, IVR right) and a JSON
    transcript with timings to OUT.json.
    """
    from voicebot.audio.pcm import PHONE_RATE, write_stereo_wav, write_wav
    from voicebot.runtime.call_events import CallEvent
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.pools import Executors
    from voicebot.runtime.simulate import ScriptError, load_script, run_simulation

    try:
        call_script = load_script(script)  # a mistake in the script is said before anything loads
    except ScriptError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    services, compiled = _open(flow_path)
    if caller:
        call_script.caller = caller
    recognizer = services.recognizer(engine)
    cache = services.prompts()
    from voicebot.tts.prompts import static_prompts

    built = cache.build(static_prompts(compiled))  # every static prompt is ready before the call
    if not quiet:
        click.echo(f"recognizer {recognizer.name}; prompts: {built.rendered} rendered, {built.cached} cached")

    def show(event: CallEvent) -> None:
        if not quiet:
            details = " ".join(f"{k}={v!r}" for k, v in event.data.items())
            click.echo(f"{event.at_ms / 1000:8.2f}s  {event.kind:<15} {details}")

    services.bus.subscribe(show, CallEvent)
    call = services.new_call(compiled, recognizer=recognizer, clock=ManualClock(time.time()),
                             executors=Executors.inline())  # virtual time: every job inline, deterministic
    result = run_simulation(call, call_script)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out_path, result.ivr_audio, PHONE_RATE)
    stereo = out_path.with_suffix(".stereo.wav")
    write_stereo_wav(stereo, result.caller_audio, result.ivr_audio, PHONE_RATE)
    transcript = out_path.with_suffix(".json")
    transcript.write_text(json.dumps({
        "flow": str(flow_path), "call_id": result.call_id, "engine": recognizer.name,
        "duration_ms": result.duration_ms, "timed_out": result.timed_out,
        "events": [e.as_json() for e in result.events],
        "turns": result.turns, "record": result.record,
    }, indent=2, default=str))
    record = result.record
    click.echo(f"call {result.call_id}: {result.duration_ms / 1000:.1f} s, outcome {record.get('outcome')}, "
               f"authenticated {record.get('authenticated')}; wrote {out_path}, {stereo}, {transcript}")


@main.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="voicebot.yaml with a sip: section (default: VOICEBOT_CONFIG or ./voicebot.yaml).")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]), help="Overrides asr.engine.")
@click.pass_obj
def serve(state: CliState, config_path: Path | None, engine: str | None) -> None:
    """Answer SIP calls (trunk or registered mode) until SIGTERM or Ctrl-C; calls finish gracefully.

    SIGHUP (or `voicebot reload`) reloads the flows; health.port in voicebot.yaml turns on /healthz, /readyz.
    """
    from voicebot.cli_errors import listen_error_line
    from voicebot.config import load_config
    from voicebot.serve_ops import ServeOps
    from voicebot.telephony.server import load_sip_config
    from voicebot.telephony.server import serve as run_server

    state.configure_logging(default=logging.INFO)  # an operator sees start-up and one line per call
    settings = load_sip_config(config_path)  # configuration errors before anything starts (exit 2)
    ops = ServeOps(load_config(config_path), version())
    try:
        ops.bind_health()  # before the flows, prompts and models load: a port taken is said at once
        sys.exit(run_server(config_path, engine=engine, ready=ops.ready))
    except OSError as exc:
        # Before the server is up, an OS error about no file is the SIP socket's bind (the health port's is
        # reported by bind_health, the web console's is logged and the calls go on without it).
        line = None if ops.server else listen_error_line(exc, settings.sip.host, settings.sip.sip_port)
        if line is None:
            raise
        raise CliError(line) from exc
    finally:
        ops.close()


@main.command()
@click.option("--pid", type=int, help="The server's process id (default: from DATA_DIR/voicebot.pid).")
def reload(pid: int | None) -> None:
    """Make the running `voicebot serve` reload its flows: new calls get the new version, calls in progress
    finish on theirs, and a flow with errors is refused (the server's log says why) and the old one kept."""
    from voicebot.serve_ops import send_reload

    click.echo(f"asked voicebot serve (pid {send_reload(pid)}) to reload its flows; its log has the result")


def _register_command_groups() -> None:
    """Commands that live in their own modules (one line each, so branches adding groups merge easily)."""
    from voicebot.cli_acd import register as register_acd_commands
    from voicebot.cli_calls import calls
    from voicebot.cli_chat import chat
    from voicebot.cli_config import config
    from voicebot.cli_reports import register as register_report_commands
    from voicebot.cli_test import test_cmd
    from voicebot.cli_validate import validate
    from voicebot.cli_web import register as register_web_commands

    main.add_command(calls)
    main.add_command(chat)
    main.add_command(config)
    main.add_command(test_cmd)
    main.add_command(validate)
    register_acd_commands(main)  # agents, queues, callbacks, handoff-schema
    register_web_commands(main)  # web
    register_report_commands(main)  # report


_register_command_groups()


if __name__ == "__main__":
    main(prog_name="voicebot")
