"""Scoring recognition against expected answers: what ``voicebot recognize --expected labels.tsv`` prints.

A labels file has one recording per line, tab-separated: the audio file (relative to the labels file), the
expected answer, and its kind, which names the row's group in the summary and, without a flow, how the
recording is heard::

    pin1.wav        4417            4-digit
    acct.wav        44170923        8-digit
    yes.wav         yes             yes_no
    menu.wav        check_balance   intent
    noise.wav       -               reject

* an expected digit string is compared with the digits heard (``builtin:digits`` of exactly that length
  without a flow); ``yes``/``no`` (or ``true``/``false``) with the yes/no answer; an intent name with the
  intent the node matched (needs ``--flow`` and ``--node``); ``-`` or an empty answer means the caller said
  nothing the node should accept (out of grammar): anything accepted is a false accept;
* any other expected text is a transcript: compared word for word with what was recognized.

Per kind: exact matches, rejections (nothing accepted) and false accepts (something accepted that is not
the expected answer). Word error rate is over rows whose expected answer has words (digits are spelled
"zero" ... "nine"; "oh" counts as "zero").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.actions import Listen
from voicebot.nlu.normalize import normalize
from voicebot.nlu.numbers import parse_digits

__all__ = ["Label", "Outcome", "Scoreboard", "judge", "listen_for", "read_labels", "word_errors"]

_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_YES = frozenset({"yes", "true", "y"})
_NO = frozenset({"no", "false", "n"})
_NOTHING = frozenset({"", "-", "none", "reject"})


@dataclass(frozen=True)
class Label:
    """One row of a labels file."""

    path: Path
    expected: str
    kind: str
    line: int

    @property
    def rejects(self) -> bool:
        """The recording holds nothing the node should accept."""
        return self.expected.strip().lower() in _NOTHING

    @property
    def digits(self) -> str | None:
        compact = self.expected.replace(" ", "").replace("-", "")
        return compact if compact.isdigit() else None

    @property
    def yes_no(self) -> bool | None:
        word = self.expected.strip().lower()
        return True if word in _YES else False if word in _NO else None

    def reference_words(self) -> list[str]:
        """The words a perfect recognizer would write (empty for an intent name or a rejection)."""
        if self.rejects:
            return []
        if self.digits is not None:
            return [_DIGIT_NAMES[int(d)] for d in self.digits]
        if "_" in self.expected and " " not in self.expected.strip():
            return []  # an intent name, not a transcript
        return _words(self.expected)


def listen_for(label: Label, fallback: Listen) -> Listen | None:
    """How a row is heard without a flow: digits of the expected length, a yes/no answer, free speech for a
    transcript, ``fallback`` for a rejection row; None for an intent name (that needs a flow's node)."""
    if label.rejects:
        return fallback
    if label.digits is not None:
        length = len(label.digits)
        return Listen(node="builtin:digits", slot_type="digits", min_digits=length, max_digits=length)
    if label.yes_no is not None:
        return Listen(node="builtin:yes_no", slot_type="yes_no", intents=("yes", "no"))
    if label.reference_words():
        return Listen(node="builtin:free", slot_type="phrase")
    return None


def read_labels(path: Path) -> list[Label]:
    """The rows of a labels file (blank lines and lines starting with # are skipped).

    Raises ``ValueError`` naming the line for a row with fewer than three fields.
    """
    rows: list[Label] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            if len(fields) < 3:
                raise ValueError(f"{path}:{number}: expected file<TAB>expected<TAB>kind, got {fields!r}")
            audio = Path(fields[0].strip())
            rows.append(Label(audio if audio.is_absolute() else path.parent / audio, fields[1].strip(),
                              fields[2].strip(), number))
    return rows


def _words(text: str) -> list[str]:
    return ["zero" if w == "oh" else w for w in normalize(text).split()]


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions, insertions and deletions between two word lists (Levenshtein distance)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


@dataclass
class Outcome:
    """How one recording fared: ``correct``, ``accepted`` (anything at all), and the words heard."""

    correct: bool
    accepted: bool
    heard: str


def judge(label: Label, text: str, intent: str | None, slots: Mapping[str, Any]) -> Outcome:
    """Compare what the node made of a recording (its text, intent and slot values) with the label."""
    values = [v for v in slots.values() if v is not None]
    accepted = intent is not None or bool(values)
    if label.rejects:
        return Outcome(not accepted, accepted, text)
    if label.digits is not None:
        correct = any(str(v) == label.digits for v in values)
    elif label.yes_no is not None:
        correct = any(isinstance(v, bool) and v is label.yes_no for v in values)
    elif label.reference_words():
        accepted = bool(text.strip())
        correct = _words(text) == label.reference_words()
    else:
        correct = intent == label.expected
    return Outcome(correct, accepted, text)


@dataclass
class _Tally:
    total: int = 0
    correct: int = 0
    rejected: int = 0
    false_accepts: int = 0
    errors: int = 0


@dataclass
class Scoreboard:
    """Exact matches, rejections and false accepts per kind, and the word error rate over all rows."""

    kinds: dict[str, _Tally] = field(default_factory=dict)
    word_errors: int = 0
    reference_words: int = 0

    def add(self, label: Label, outcome: Outcome | None) -> None:
        """Count one row; ``outcome`` None for a recording that could not be read or recognized."""
        tally = self.kinds.setdefault(label.kind, _Tally())
        tally.total += 1
        reference = label.reference_words()
        self.reference_words += len(reference)
        if outcome is None:
            tally.errors += 1
            self.word_errors += len(reference)
            return
        if reference:
            self.word_errors += word_errors(reference, self._heard_words(label, outcome.heard))
        if outcome.correct:
            tally.correct += 1
        elif outcome.accepted:
            tally.false_accepts += 1
        else:
            tally.rejected += 1

    @staticmethod
    def _heard_words(label: Label, heard: str) -> list[str]:
        """The words heard, as the reference spells them: for a digit string, its digits one by one (a
        carrier phrase is no error, "double four" is "four four")."""
        if label.digits is None:
            return _words(heard)
        digits = parse_digits(heard)
        return [_DIGIT_NAMES[int(d)] for d in digits] if digits else _words(heard)

    def summary(self) -> dict[str, Any]:
        total = sum(t.total for t in self.kinds.values())
        false_accepts = sum(t.false_accepts for t in self.kinds.values())
        return {
            "kinds": {kind: {"total": t.total, "correct": t.correct, "exact_match": _rate(t.correct, t.total),
                             "rejected": t.rejected, "false_accepts": t.false_accepts, "errors": t.errors}
                      for kind, t in sorted(self.kinds.items())},
            "files": total,
            "false_accepts": false_accepts,
            "false_accept_rate": _rate(false_accepts, total),
            "word_error_rate": _rate(self.word_errors, self.reference_words),
        }

    def table(self) -> Iterable[str]:
        """The summary as aligned text lines."""
        yield f"{'kind':<14} {'exact match':>16} {'rejected':>9} {'false acc.':>10} {'errors':>7}"
        for kind, t in sorted(self.kinds.items()):
            rate = _rate(t.correct, t.total)
            shown = f"{t.correct}/{t.total} ({100 * rate:.1f}%)" if rate is not None else "-"
            yield f"{kind:<14} {shown:>16} {t.rejected:>9} {t.false_accepts:>10} {t.errors:>7}"
        summary = self.summary()
        wer = summary["word_error_rate"]
        yield (f"false accepts {summary['false_accepts']}/{summary['files']} "
               f"({100 * (summary['false_accept_rate'] or 0):.1f}%); word error rate "
               + (f"{100 * wer:.1f}% over {self.reference_words} words" if wer is not None else "-"))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
