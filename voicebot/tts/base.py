"""What every text-to-speech engine offers, and the sentence splitter streaming is built on.

Engines return 16-bit mono PCM (1-D ``int16`` numpy arrays) at their *native* rate; converting to the
telephone's 8 kHz is the prompt cache's job, so an engine never resamples and a cache key can name
the native rate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from voicebot.audio.pcm import Pcm

__all__ = ["Pcm", "Synthesizer", "split_sentences"]


@runtime_checkable
class Synthesizer(Protocol):
    """A loaded voice. Implementations must be safe to call from several threads at once."""

    #: Voice name, e.g. "en_US-joe-medium": part of every cache key.
    voice: str
    #: Native output rate in Hz.
    sample_rate: int
    #: Every other setting that changes the audio ("length_scale=1.0"), also part of the cache key,
    #: so a cache never serves audio made with different settings.
    settings: str

    def synthesize(self, text: str) -> Pcm:
        """The whole text as one array at :attr:`sample_rate` (empty for text with nothing to say)."""
        ...

    def stream(self, text: str) -> Iterator[Pcm]:
        """The text sentence by sentence: the first array is ready before later sentences are made."""
        ...


# --- sentence splitting -------------------------------------------------------------------------------------
#
# Only a few prompts per call are split, so clarity beats speed here. The splitter errs towards *not*
# splitting: a missed boundary only delays the first audio of a long prompt a little, while a wrong one
# ("Mr." | "Smith") puts a sentence-final fall and a pause in the middle of a phrase.

#: Words whose period never ends a sentence (titles, "for example"), lower case without the final period.
_NEVER_FINAL = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "st", "mt", "ft", "vs", "v", "e.g", "i.e", "cf",
    "approx", "appt", "apt", "dept", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "tel", "ext",
})
#: Words whose period ends a sentence only when a capitalised word follows ("open at 9 a.m. Call us").
_MAYBE_FINAL = frozenset({"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "jr", "sr"})
# A dotted acronym such as "U.S." or "U.K.": like titles, assumed to go on ("the U.S. Army").
_ACRONYM = re.compile(r"(?:[A-Za-z]\.){2,}$")
# A candidate boundary: terminal punctuation (with closing quotes/brackets), then whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)")
_PARAGRAPH = re.compile(r"\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, stripped, in order; whitespace inside a sentence is kept as written.

    Decimals ("2.50") never split because a boundary needs whitespace after the punctuation; "!" and
    "?" always end a sentence; a period ends one unless the word before it is a known abbreviation or
    a dotted acronym, or the next word starts in lower case. Blank lines always separate sentences.
    """
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        start = 0
        for match in _BOUNDARY.finditer(paragraph):
            end = match.end()
            if _ends_sentence(paragraph[start:end], paragraph[end:].lstrip()):
                _add(sentences, paragraph[start:end])
                start = end
        _add(sentences, paragraph[start:])
    return sentences


def _add(sentences: list[str], piece: str) -> None:
    piece = piece.strip()
    if piece:
        sentences.append(piece)


def _ends_sentence(before: str, after: str) -> bool:
    if not after:
        return True
    mark = before.rstrip("\"'”’)]")
    if not mark.endswith("."):
        return True  # "!", "?" and "…" end a sentence whatever follows
    next_starts_sentence = after[0].isupper() or after[0].isdigit() or after[0] in "\"'“‘(["
    if not next_starts_sentence:
        return False
    words = mark.split()
    word = words[-1].lstrip("\"'“‘([") if words else ""
    bare = word.rstrip(".").lower()
    if bare in _MAYBE_FINAL:
        return after[0].isupper()
    if bare in _NEVER_FINAL or _ACRONYM.search(word):
        return False
    if word in ("No.", "Nos.") and after[0].isdigit():
        return False  # "No. 5"; a lower-case "no." is the answer, and ends its sentence
    # A single capital letter and a period is an initial ("John F. Kennedy"), not a sentence end.
    return not (len(bare) == 1 and word[0].isupper())


# --- clauses of long sentences --------------------------------------------------------------------------------
#
# A synthesizer renders a whole sentence before its first sample, so a long dynamic sentence ("For your checking
# account ending in zero nine two three, the balance is two thousand ... cents.") keeps the caller waiting
# (Piper, one thread: 313 ms for that sentence as one piece, 123 ms for its first clause; the second clause is
# made while the first plays). Long sentences are therefore synthesized clause by clause, at a comma, semicolon
# or colon where a speaker pauses anyway; short sentences and short clauses are never split.

#: A sentence of fewer words is never split.
LONG_SENTENCE_WORDS = 12
#: Neither side of a clause boundary may have fewer words.
MIN_CLAUSE_WORDS = 4
_CLAUSE_BOUNDARY = re.compile(r"[,;:](?=\s)")


def split_clauses(sentence: str) -> list[str]:
    """``sentence`` cut after commas, semicolons or colons into clauses of at least :data:`MIN_CLAUSE_WORDS`
    words, if it has :data:`LONG_SENTENCE_WORDS` words or more; otherwise ``[sentence]``. Each cut is made as
    early as possible, so the first clause (the first audio a caller hears) is short."""
    if len(sentence.split()) < LONG_SENTENCE_WORDS:
        return [sentence]
    clauses: list[str] = []
    rest = sentence
    while True:
        cut = next((m.end() for m in _CLAUSE_BOUNDARY.finditer(rest)
                    if len(rest[:m.end()].split()) >= MIN_CLAUSE_WORDS
                    and len(rest[m.end():].split()) >= MIN_CLAUSE_WORDS), None)
        if cut is None:
            clauses.append(rest.strip())
            return clauses
        clauses.append(rest[:cut].strip())
        rest = rest[cut:]
