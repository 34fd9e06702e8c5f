"""Accuracy of a recognizer on the corpus, each category recognized at its node of the demo bank."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.asr.base import Recognizer
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.interpret import Commands
from voicebot.runtime.speech import Recognition, node_listen, phrases_by_intent, recognize_file
from voicebot.testing.corpus import Utterance, materialize

#: category -> (node in flows/banking.yaml, slot whose value is compared)
NODES = {
    "intent": ("main_menu", None),
    "yes_no": ("card_confirm", "is_that_card"),
    "pin4": ("authenticate.ask_pin", "pin"),
    "acct8": ("authenticate.ask_account", "account_number"),
    "command": ("authenticate.ask_pin", None),
    "reject": ("main_menu", None),
    "reject_pin": ("authenticate.ask_pin", "pin"),
}
#: Categories whose utterances must not be accepted at all (a result there is a false accept).
REJECTS = ("reject", "reject_pin")


@dataclass
class Tally:
    correct: int = 0
    total: int = 0

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} ({100 * self.rate:.1f}%)"


@dataclass
class Report:
    engine: str
    #: (category, "seen" | "unseen") -> tally
    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[tuple[Utterance, Recognition]] = field(default_factory=list)
    #: Utterances the node accepted as something they were not (wrong answers and accepted rejects).
    false_accepts: int = 0
    #: Of those, the ones the flow would act on without asking: repeat or help, a goto command at or above
    #: the flow's ``confirm.command_threshold``, or an answer at or above its ``confirm.threshold`` (below
    #: them the flow confirms, or asks a PIN again).
    taken_wrong: int = 0
    #: Of those, the goto commands (a hang-up, a transfer, the main menu: what a caller cannot undo); the
    #: rest are wrong answers and repeat/help, which replay the question.
    taken_wrong_goto: int = 0
    #: (category, "seen" | "unseen") -> right answers the flow takes without confirming them
    taken_right: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    speech_seconds: float = 0.0

    def taken(self, category: str, group: str | None = None) -> Tally:
        """Right answers taken without confirmation, out of all utterances of ``category``."""
        groups = (group,) if group else ("seen", "unseen")
        return Tally(sum(self.taken_right.get((category, g), 0) for g in groups), self.tally(category, group).total)

    def tally(self, category: str, group: str | None = None) -> Tally:
        groups = (group,) if group else ("seen", "unseen")
        out = Tally()
        for g in groups:
            t = self.tallies.get((category, g), Tally())
            out.correct += t.correct
            out.total += t.total
        return out


def accepted(result: Recognition) -> bool:
    """Whether the node took the recognition as an answer or a command (rather than asking again)."""
    return result.intent is not None or any(v is not None for v in result.slots.values())


def taken_as_heard(result: Recognition, threshold: float) -> bool:
    """Whether the flow acts on the recognition without confirming it: repeat or help at any confidence, a
    goto command at or above the flow's command threshold (below it the flow confirms it), an answer at
    ``threshold`` or above."""
    if not accepted(result):
        return False
    if not any(v is not None for v in result.slots.values()):
        return result.command_action == "act"
    return (result.accepted_confidence or 0.0) >= threshold


def is_correct(utterance: Utterance, result: Recognition) -> bool:
    if utterance.category in REJECTS:
        return not accepted(result)
    if utterance.category in ("intent", "command"):
        return result.intent == utterance.expected
    _node, slot = NODES[utterance.category]
    value = result.slots.get(slot or "")
    if utterance.category == "yes_no":
        return value is not None and str(bool(value)).lower() == utterance.expected
    return value == utterance.expected


def evaluate(corpus: list[Utterance], recognizer: Recognizer, flow: CompiledFlow, cache_dir: Path) -> Report:
    report = Report(recognizer.name)
    threshold = flow.flows[flow.root].settings.confirm.threshold
    phrases = phrases_by_intent(flow)
    listens = {category: node_listen(flow, node) for category, (node, _slot) in NODES.items()}
    for utterance, path in materialize(corpus, cache_dir):
        flow_name, node_id, listen = listens[utterance.category]
        started = time.process_time()
        result = recognize_file(path, recognizer, listen, phrases, flow, flow_name, node_id)
        report.cpu_seconds += time.process_time() - started
        report.speech_seconds += result.speech_ms / 1000
        report.latencies_ms.append(result.latency_ms)
        group = "seen" if utterance.seen else "unseen"
        tally = report.tallies[(utterance.category, group)]
        tally.total += 1
        taken = taken_as_heard(result, threshold)
        if is_correct(utterance, result):
            tally.correct += 1
            report.taken_right[(utterance.category, group)] += taken or utterance.category in REJECTS
        else:
            report.misses.append((utterance, result))
            report.false_accepts += accepted(result)
            report.taken_wrong += taken
            command = Commands.active(flow, flow_name).by_intent.get(result.intent or "")
            report.taken_wrong_goto += taken and command is not None and command.do == "goto" and not any(
                v is not None for v in result.slots.values())
    return report
