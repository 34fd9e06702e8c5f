"""Benchmark: N simultaneous *speaking* SIP callers (sipp over loopback) against one in-process voicebot server.

Each caller is the demo bank's known caller and speaks every answer (flite's slt voice, sent by sipp's
``rtp_stream`` as PCMU): "what's my balance" at the menu, "one two three four" for the PIN, and "no thanks"
after the balance; then it waits for the IVR's goodbye and BYE. Callers start ``--rate`` per second, so all N
are on the line together for most of the run (``--rate`` equal to N: a burst, all within one second).

Measured on the IVR's side (``bench/sip_probe.py`` wraps the SIP layer):

* failed calls: sipp's count; and how many records did not end self_served (recognition errors, not failures);
* turn latency: the caller's last speech packet received -> the first RTP packet of the IVR's answer (the next
  prompt onset), p50/p95 over every turn. It includes the endpointer's silence timeout; the server's own
  events give the silence actually waited (800 ms when the input completed its grammar, 1200 ms otherwise),
  and "after the timeout" = turn latency - that silence (what recognition, the flow and the prompt add);
* RTP pacing (gap p99, worst drift), INVITE to first audio, CPU (100 % = one core; sipp not counted), peak RSS.

Prints figures only; nothing is asserted.

``--paths old new`` measures Whisper's decoding before issue 12 (greedy one-best over a 30 s window, OpenMP
threads left at their default) and the current one (5-best filtered by the grammar over a 10 s window, one
OpenMP thread), each in its own process (the OpenMP setting is read once per process), one after the other.

``--batch 1 8`` measures Whisper's decoding unbatched (1) and batched across calls (up to 8 utterances in one
decoder call, voicebot.asr.batching), each in its own process, one after the other.

``--catch-up 0 5`` measures this tree with at most N caller frames caught up a tick besides the tick's own
(``voicebot.telephony.call_loop.MAX_BACKLOG_FRAMES``, set in each child process; 0: one frame a tick, as before
the catch-up), interleaved, each in its own process.

``--against REV`` measures the ``voicebot`` package of git revision REV (``git archive`` into a temporary
folder, first on ``PYTHONPATH``) and then this tree's, each count of calls with both in turn, each in its own
process: today's code against an earlier one in one run (e.g. ``--against main``). The caller audio waiting
line (how far behind its caller a call heard) is measured the same way for both.

    .venv/bin/python bench/sip_speaking.py [--calls 10 20] [--rate 2] [--engine whisper|pocketsphinx]
                                           [--paths old new] [--batch 1 8] [--catch-up 0 5]
                                           [--against REV]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sip_probe import (
    Probe,
    answers_after,
    behind_figures,
    first_audio,
    pacing,
    pct,
    rss_mb,
    run_sipp_calls,
    speech_ends,
)

ROOT = Path(__file__).resolve().parents[1]
CALLER = "+15550100001"
UTTERANCES = {"balance": "what's my balance", "pin": "one two three four", "done": "no thanks"}
UTTERANCE_NAMES = ["menu answer -> PIN prompt", "PIN -> balance", "no thanks -> goodbye"]

#: The caller's script between the ACK and the IVR's BYE (voicebot.telephony.demo_caller.caller_scenario adds those).
SCRIPT = """  <!-- the welcome and "How can I help you today?"; the answer barges in on the list of options -->
  <pause milliseconds="4100"/>
  <nop><action><exec rtp_stream="{balance},1,0"/></action></nop>
  <!-- the utterance, its recognition and the PIN prompt -->
  <pause milliseconds="{pin_wait_ms}"/>
  <nop><action><exec rtp_stream="{pin},1,0"/></action></nop>
  <!-- the PIN, the balance and "Is there anything else I can help you with?" -->
  <pause milliseconds="{done_wait_ms}"/>
  <nop><action><exec rtp_stream="{done},1,0"/></action></nop>
"""


def write_caller(directory: Path) -> Path:
    from voicebot.telephony.demo import write_speech
    from voicebot.telephony.demo_caller import caller_scenario

    # each file: 200 ms lead, the words, 1.5 s of silence (rtp_stream stops at the end of the file)
    seconds = {name: write_speech(directory / f"{name}.ulaw", text, trailing_silence_s=1.5)
               for name, text in UTTERANCES.items()}
    text = caller_scenario("speaking_caller", "voicebot speaking caller: every answer spoken", SCRIPT, CALLER,
                           display="Caller")
    for key, value in {
        "balance": str(directory / "balance.ulaw"),
        "pin": str(directory / "pin.ulaw"),
        "done": str(directory / "done.ulaw"),
        "pin_wait_ms": str(int((seconds["balance"] + 4.5) * 1000)),  # + recognition and the 3.5 s PIN prompt
        "done_wait_ms": str(int((seconds["pin"] + 11.0) * 1000)),  # + the balance (~7 s) and the last question
    }.items():
        text = text.replace("{" + key + "}", value)
    scenario = directory / "speaking_caller.xml"
    scenario.write_text(text, encoding="ISO-8859-1")
    return scenario


def run(calls: int, rate: float, engine: str, probe: Probe, rtp_base: int, sipp: str) -> None:
    done = run_sipp_calls(probe, sipp, write_caller, calls=calls, rate=rate, engine=engine, rtp_base=rtp_base,
                          sipp_timeout_s=120)
    # per call (by RTP port): the silence the endpointer waited before each recognized utterance
    waited_by_port = {r.stats.get("rtp_port"): [e.at_ms - int(e.data["speech_end_ms"]) for e in r.events
                                               if e.kind == "recognized"] for r in done.results}
    recognized = [e.data for r in done.results for e in r.events if e.kind == "recognized"]
    # the server's own split of each turn after the end of speech, by the turn's place in the call
    split: dict[int, list[dict[str, float]]] = {}
    for r in done.results:
        for index, data in enumerate(e.data for e in r.events if e.kind == "answered"):
            split.setdefault(index, []).append(data)
    previewed = sum(1 for data in recognized if data["previewed"])
    previews = sum(int(data["previews"]) for data in recognized)

    sends, heard, _keys, invites = probe.snapshot()
    gaps, drifts = pacing(sends)
    audio = first_audio(sends, invites)
    turns: list[float] = []
    waited: list[float] = []
    after: list[float] = []  # turn latency minus the silence waited, where a call's turns pair up one to one
    by_turn: dict[int, list[float]] = {}  # turn latency by the turn's place in the call (0: the menu answer)
    for client, packets in sends.items():
        call_turns = answers_after(speech_ends(heard.get(client, [])), packets)
        call_waited = waited_by_port.get(probe.ports.get(client), [])
        turns.extend(call_turns)
        for index, latency in enumerate(call_turns):
            by_turn.setdefault(index, []).append(latency)
        waited.extend(call_waited)
        if len(call_turns) == len(call_waited):
            after.extend(t - w for t, w in zip(call_turns, call_waited, strict=True))
    print(f"{calls:>3} speaking calls at {rate:g}/s ({engine}) | sipp rc {done.done.returncode}, "
          f"failed {done.failed}, not self_served {done.not_served} | "
          f"turn p50 {pct(turns, 50):.0f} p95 {pct(turns, 95):.0f} ms "
          f"(n={len(turns)}; silence waited p50 {pct(waited, 50):.0f} p95 {pct(waited, 95):.0f} ms, "
          f"{previewed} of {len(waited)} results from a preview, {previews} previews) | "
          f"RTP gap p99 {pct(gaps, 99):.1f} "
          f"max {max(gaps, default=float('nan')):.0f} ms, "
          f"drift worst {max(drifts, key=abs, default=float('nan')):+.1f} ms"
          f" | INVITE->audio p95 {pct(audio, 95):.0f} ms | CPU {done.cpu:.0f}% RSS {done.rss:.0f} MB", flush=True)
    if after:
        print(f"      turn latency - silence waited: p50 {pct(after, 50):.0f} p95 {pct(after, 95):.0f} ms "
              f"(n={len(after)})")
    print(f"      {behind_figures(probe.behind)}; schedule restarts (stalls > 200 ms) "
          f"{sum(r.resyncs for r in done.results)}, late ticks {sum(r.late_ticks for r in done.results)}, "
          f"caller frames caught up {sum(getattr(r, 'caught_up', 0) for r in done.results)}")
    print("      by turn: " + "; ".join(f"{UTTERANCE_NAMES[i] if i < len(UTTERANCE_NAMES) else i} "
                                        f"p50 {pct(v, 50):.0f} p95 {pct(v, 95):.0f} ms"
                                        for i, v in sorted(by_turn.items())))
    for index, rows in sorted(split.items()):
        name = UTTERANCE_NAMES[index] if index < len(UTTERANCE_NAMES) else str(index)
        print(f"      server, {name}: " + ", ".join(
            f"{key} p50 {pct([row[key] for row in rows], 50):.0f} p95 {pct([row[key] for row in rows], 95):.0f}"
            for key in ("recognize_ms", "step_ms", "first_audio_ms")))
    # Every caller sends the same recordings: a call that heard something else shows what went wrong (a PIN
    # turn's text is masked by the server).
    heard_by_call = [tuple(str(e.data.get("text", "")) for e in r.events if e.kind == "recognized")
                     for r in done.results]
    usual = Counter(heard_by_call).most_common(1)[0][0] if heard_by_call else ()
    for texts in heard_by_call:
        if texts != usual:
            print(f"      a call heard {' | '.join(texts)!r} (most: {' | '.join(usual)!r})")
    for result, outcome in zip(done.results, done.outcomes, strict=False):
        if outcome != "self_served":
            steps = [f"{e.kind}:{e.data.get('node') or e.data.get('reason') or e.data.get('text') or ''}"
                     for e in result.events if e.kind in ("turn_ended", "recognized", "hangup", "caller_hung_up",
                                                          "handoff", "call_ended", "no_input", "barge_in")]
            print(f"      a call ended {outcome}: {' > '.join(steps)}")
    if done.failed != 0 or done.done.returncode != 0:
        print(done.done.stdout[-1500:], done.done.stderr[-1500:])


def against(rev: str, args: argparse.Namespace) -> None:
    """Each count of calls with REV's voicebot package and then this tree's, interleaved (so that the other load
    of a shared machine falls on both alike), each in its own process."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="voicebot-against-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "voicebot"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        options = ["--rate", str(args.rate), "--engine", args.engine] + (["--paths", *args.paths] if args.paths else [])
        for calls in args.calls:
            for label, path in ((rev, folder), ("this tree", str(ROOT))):
                print(f"=== voicebot of {label}", flush=True)
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])}
                subprocess.run([sys.executable, __file__, "--calls", str(calls), *options], env=env, check=False)


def each_in_a_child(args: argparse.Namespace, label: str, variable: str, values: list[int]) -> None:
    """Every count of calls with each value of ``variable`` in turn, each in a child process: interleaved, so
    that the other load of a shared machine falls on all of them alike."""
    for calls in args.calls:
        for value in values:
            print(f"=== {label}: {value}", flush=True)
            subprocess.run([sys.executable, __file__, "--calls", str(calls), "--rate", str(args.rate),
                            "--engine", args.engine], env={**os.environ, variable: str(value)}, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--rate", type=float, default=2.0, help="calls started per second (default 2)")
    parser.add_argument("--engine", default="whisper", choices=["whisper", "pocketsphinx", "vosk"])
    parser.add_argument("--paths", nargs="+", choices=["old", "new"],
                        help="Whisper decodings to measure, each in a child process (default: this process, new)")
    parser.add_argument("--batch", type=int, nargs="+",
                        help="Whisper batch sizes to measure, each in a child process (1: unbatched)")
    parser.add_argument("--against", metavar="REV",
                        help="also measure the voicebot package of this git revision (each in a child process)")
    parser.add_argument("--catch-up", type=int, nargs="+", dest="catch_up",
                        help="caller frames caught up a tick at most (MAX_BACKLOG_FRAMES), each in a child process")
    args = parser.parse_args()
    if args.catch_up:
        each_in_a_child(args, "caller frames caught up a tick at most", "BENCH_CATCH_UP", args.catch_up)
        return
    if args.against:
        against(args.against, args)
        return
    if args.batch:
        each_in_a_child(args, "Whisper batch", "VOICEBOT_WHISPER_BATCH", args.batch)
        return
    if args.paths:
        for path in args.paths:
            env = {**os.environ}
            if path == "old":
                env["VOICEBOT_WHISPER_DECODER"] = "transcribe"
                env["OMP_NUM_THREADS"] = str(os.cpu_count() or 1)  # OpenMP's own default, as before
            print(f"=== Whisper decoding: {path}", flush=True)
            subprocess.run([sys.executable, __file__, "--calls", *map(str, args.calls), "--rate", str(args.rate),
                            "--engine", args.engine], env=env, check=False)
        return
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp (Debian sip-tester) is not installed")
    os.chdir(ROOT)
    os.environ.pop("DATABASE_URL", None)
    if "BENCH_CATCH_UP" in os.environ:
        from voicebot.telephony import call_loop

        call_loop.MAX_BACKLOG_FRAMES = int(os.environ["BENCH_CATCH_UP"])
    probe = Probe()
    probe.install()
    import voicebot

    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, voicebot from {Path(voicebot.__file__).parent}")
    for index, calls in enumerate(args.calls):
        run(calls, args.rate, args.engine, probe, 40000 + 200 * index, sipp)
        print(f"  (load average now {os.getloadavg()[0]:.2f})", flush=True)
    print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
