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
@click.option("--text", is_flag=True, help="Typed demo calls through the text channel instead of a SIP call.")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]),
              help="Speech engine of the SIP demo (default: Whisper when installed).")
@click.option("--flow", "flow_path", default="flows/banking.yaml", type=click.Path(path_type=Path))
def demo(text: bool, engine: str | None, flow_path: Path) -> None:
    """A demo call end to end: a real SIP call over loopback (a scripted caller speaking and keying the
    PIN) to the demo bank, printed live, then its call record. --text: typed calls, no audio."""
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
    for path in _flow_files(flows):
        try:
            flow = load_flow_with(path, config, default_registry())
        except FlowError as exc:
            raise click.ClickException(f"the flow has errors:\n{exc}") from None
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
    from typing import Any

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
    except (OSError, ValueError) as exc:
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
    from voicebot.audio.vad import WebRtcVad
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.media import CallMedia, MediaEvent
    from voicebot.runtime.session import CallSession
    from voicebot.runtime.simulate import ScriptError, load_script, run_simulation
    from voicebot.runtime.speech import make_prompt_cache, make_recognizer, phrases_by_intent

    services, compiled = _open(flow_path)
    try:
        call_script = load_script(script)
    except ScriptError as exc:
        raise click.ClickException(str(exc)) from None
    if caller:
        call_script.caller = caller
    recognizer = make_recognizer(services.config, engine)
    cache = make_prompt_cache(services.config)
    from voicebot.tts.prompts import static_prompts

    built = cache.build(static_prompts(compiled))  # every static prompt is ready before the call
    if not quiet:
        click.echo(f"recognizer {recognizer.name}; prompts: {built.rendered} rendered, {built.cached} cached")

    def show(event: MediaEvent) -> None:
        if not quiet:
            details = " ".join(f"{k}={v!r}" for k, v in event.data.items())
            click.echo(f"{event.at_ms / 1000:8.2f}s  {event.kind:<15} {details}")

    clock = ManualClock(time.time())
    session = CallSession(compiled, services.registry, services.store, clock)
    media = CallMedia(session, cache, recognizer, WebRtcVad(2), phrases_by_intent(compiled), on_event=show)
    result = run_simulation(media, call_script)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out_path, result.ivr_audio, PHONE_RATE)
    stereo = out_path.with_suffix(".stereo.wav")
    write_stereo_wav(stereo, result.caller_audio, result.ivr_audio, PHONE_RATE)
    transcript = out_path.with_suffix(".json")
    transcript.write_text(json.dumps({
        "flow": str(flow_path), "call_id": result.call_id, "engine": recognizer.name,
        "duration_ms": result.duration_ms, "timed_out": result.timed_out,
        "events": [{"at_ms": e.at_ms, "kind": e.kind, **e.data} for e in result.events],
        "turns": result.turns, "record": result.record,
    }, indent=2, default=str))
    record = result.record
    click.echo(f"call {result.call_id}: {result.duration_ms / 1000:.1f} s, outcome {record.get('outcome')}, "
               f"authenticated {record.get('authenticated')}; wrote {out_path}, {stereo}, {transcript}")


@main.command()
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path),
              help="voicebot.yaml with a sip: section (default: VOICEBOT_CONFIG or ./voicebot.yaml).")
@click.option("--engine", type=click.Choice(["auto", "vosk", "pocketsphinx", "whisper"]), help="Overrides asr.engine.")
def serve(config_path: Path | None, engine: str | None) -> None:
    """Answer SIP calls (trunk or registered mode) until SIGTERM or Ctrl-C; calls finish gracefully."""
    from voicebot.telephony.server import serve as run_server

    sys.exit(run_server(config_path, engine=engine))


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
    from voicebot.storage.calls import record_as_json, to_jsonable

    services = open_services()
    record = services.store.last_call() if last or not call_id else services.store.get_call(call_id)
    if record is None:
        raise click.ClickException("no such call")
    data = record_as_json(record)
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
