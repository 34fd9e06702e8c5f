"""Accuracy floors per engine on the generated phone-audio corpus (see voicebot/testing/corpus.py).

The floors sit below the figures measured on the reference machine (docs/benchmarks.md), with room
for Piper's run-to-run variation (its voice samples noise), so a regression in endpointing, grammars,
resampling or the NLU fails the suite. They are far below the product targets, which these engines do
not reach on 8 kHz telephone audio: see the README's speech accuracy section.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from voicebot.asr.base import Recognizer
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.services.registry import default_registry
from voicebot.testing.accuracy import Report, evaluate
from voicebot.testing.corpus import build_corpus

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

#: engine -> category -> lowest accepted share correct (seen and unseen voices together)
FLOORS = {
    # Measured 2026-11-29 (379 utterances, with the failure kinds and held-out voices): intent 47%, yes/no 75%,
    # pin4 45%, acct8 20%.
    "pocketsphinx": {"intent": 0.40, "yes_no": 0.60, "pin4": 0.35, "acct8": 0.15},
    # Measured 2026-11-30 on the 443-utterance corpus (docs/benchmarks.md, "session 7"): intent 84.6%,
    # yes/no 100%, pin4 81.3%, acct8 79.7% (73.4% before the one-digit-off repair), commands at the PIN 87.5%
    # (71.9% before the likelihood check), out of grammar rejected 90.6% (menu) / 93.8% (PIN).
    "whisper": {"intent": 0.78, "yes_no": 0.93, "pin4": 0.74, "acct8": 0.72, "command": 0.80, "reject": 0.80,
                "reject_pin": 0.84},
}
#: engine -> category -> lowest share of right answers the flow takes without confirming them (measured:
#: Whisper intent 67.5%, pin4 45.0% (35.0% before the digit cross-check), commands 87.5%).
#: (commands: a goto command heard below settings.confirm.command_threshold 0.6 is confirmed first, so
#: "agent" at the PIN is taken straight away 34 of 64 times, measured; before that rule, 56.)
TAKEN_FLOORS = {"whisper": {"intent": 0.60, "pin4": 0.40, "command": 0.45}}
#: engine -> highest accepted share of utterances taken as something they were not, at any confidence
#: (measured: Whisper 6.3%, PocketSphinx 30.1%), and of those the flow acts on without confirming (Whisper
#: 1.1%, all of them repeat or help, which only replay the question; 2.7% before goto commands heard below
#: the command threshold were confirmed), and of those the goto commands: a hang-up, a transfer or the
#: main menu that the caller cannot undo (Whisper: 0 of 443; the target is 1% of all false accepts).
FALSE_ACCEPTS = {"pocketsphinx": 0.36, "whisper": 0.08}
ACTED_ON = {"whisper": 0.02}
ACTED_ON_GOTO = {"whisper": 0.01}
#: Categories each engine is measured on (PocketSphinx, far from the targets, only where it has floors:
#: the suite's time is counted).
CATEGORIES = {"pocketsphinx": ("intent", "yes_no", "pin4", "acct8")}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def make(engine: str) -> Recognizer:
    if engine == "pocketsphinx":
        from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

        return PocketSphinxRecognizer()
    if importlib.util.find_spec("faster_whisper") is None:
        pytest.skip("faster-whisper is not installed")
    from voicebot.asr.whisper_engine import WhisperRecognizer

    return WhisperRecognizer()


@pytest.mark.parametrize("engine", sorted(FLOORS))
def test_accuracy_floor(engine: str, corpus_dir: Path) -> None:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    corpus = build_corpus()
    assert len(corpus) >= 60 and any(not u.seen for u in corpus)
    if engine in CATEGORIES:
        corpus = [u for u in corpus if u.category in CATEGORIES[engine]]
    report: Report = evaluate(corpus, make(engine), flow, corpus_dir)
    table = {c: (str(report.tally(c, "seen")), str(report.tally(c, "unseen"))) for c in FLOORS[engine]}
    print(f"{engine}: {table}")
    for category, floor in FLOORS[engine].items():
        tally = report.tally(category)
        assert tally.rate >= floor, f"{engine} {category}: {tally} is below the floor {floor:.0%}; {table}"
    for category, floor in TAKEN_FLOORS.get(engine, {}).items():
        taken = report.taken(category)
        assert taken.rate >= floor, f"{engine} {category}: {taken} taken without confirmation, below {floor:.0%}"
    limit = FALSE_ACCEPTS[engine] * len(corpus)
    assert report.false_accepts <= limit, f"{engine}: {report.false_accepts} false accepts of {len(corpus)}"
    if engine in ACTED_ON:
        acted = ACTED_ON[engine] * len(corpus)
        assert report.taken_wrong <= acted, f"{engine}: {report.taken_wrong} wrong answers acted on of {len(corpus)}"
    if engine in ACTED_ON_GOTO:
        goto = report.taken_wrong_goto
        assert goto <= ACTED_ON_GOTO[engine] * len(corpus), f"{engine}: {goto} wrong goto commands acted on"
