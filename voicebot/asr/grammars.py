"""Compiling a :class:`~voicebot.asr.base.GrammarSpec` for the engines: Vosk phrase lists and JSGF.

Both compilers normalise phrases the way the NLU does (lowercase, contractions expanded, punctuation
dropped: "That's right!" becomes "that is right"), so what an engine returns parses like typed text.
A word the engine cannot recognise would silently change a phrase (Vosk drops it, PocketSphinx refuses
the whole grammar), so when a ``known_word`` check is given, a phrase with an unknown word is skipped
rather than shortened, and unknown vocabulary words are left out.

Vosk (runtime grammars, models with a lookahead graph ``graph/HCLr.fst`` + ``graph/Gr.fst``): the
grammar is a JSON list of phrases from which Vosk estimates a small bigram language model. Digit strings
are therefore given as every pair of digit words, so any digit may follow any other with the same
weight. ``"[unk]"`` is always added so speech outside the grammar comes back as ``[unk]`` instead of
being forced onto the nearest phrase. The JSON is written with ``ensure_ascii=False``: Vosk's JSON
reader does not decode ``\\uXXXX`` escapes, so escaped non-ASCII words (Korean, accented letters) would
all be "missing in vocabulary".

PocketSphinx (JSGF): digit strings are a loop over the digit words after an optional carrier phrase,
bounded in length when the turn expects a short string of known length (``min_digits``..``max_digits``
of at most :data:`MAX_BOUNDED_DIGITS`); phrase lists are alternatives. JSGF has no ``[unk]``; a loop of
:data:`GARBAGE_WORDS` (short common words that sound like none of the grammar's words) stands in for it,
so out-of-grammar speech comes back as garbage words, which :func:`in_grammar` then rejects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from voicebot.asr.base import CARRIER_PHRASES, DIGIT_WORDS, MULTIPLIER_WORDS, GrammarSpec
from voicebot.nlu.normalize import normalize

__all__ = [
    "GARBAGE_WORDS",
    "MAX_BOUNDED_DIGITS",
    "UNK",
    "KnownWord",
    "digit_vocabulary",
    "grammar_phrases",
    "in_grammar",
    "jsgf",
    "normalize_phrase",
    "vosk_grammar_json",
    "vosk_phrases",
]

KnownWord = Callable[[str], bool]

UNK = "[unk]"
#: Longest digit string whose length is written into a JSGF grammar; longer ones use a loop.
MAX_BOUNDED_DIGITS = 16
#: Above this many digit-grammar words, Vosk gets single words (plus digit pairs) instead of all pairs.
_MAX_PAIR_VOCABULARY = 48
#: Out-of-grammar filler for JSGF. Homophones of digits and yes/no words ("for", "to", "know", "won",
#: "ate", "write") are deliberately absent; words that are also grammar words are removed per grammar.
GARBAGE_WORDS: tuple[str, ...] = (
    "the", "of", "and", "a", "in", "is", "it", "you", "that", "he", "was", "on", "are", "as", "with",
    "his", "they", "at", "be", "this", "have", "from", "or", "had", "by", "but", "what", "some", "we",
    "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an",
    "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them",
    "would", "like", "so", "these", "her", "long", "make", "thing", "see", "him", "has", "look", "more",
    "day", "go", "come", "did", "my", "sound", "call", "who", "may", "down", "side", "been", "now", "find",
)
_TOKEN = re.compile(r"[\w']+")


def normalize_phrase(phrase: str) -> str:
    """The phrase as engines spell it: the NLU's normalisation ("That's right!" -> "that is right")."""
    return normalize(phrase)


def _usable(words: Sequence[str], known_word: KnownWord | None) -> bool:
    return bool(words) and all(
        _TOKEN.fullmatch(w) and (known_word is None or known_word(w)) for w in words
    )


def _phrases(phrases: Iterable[str], known_word: KnownWord | None) -> list[str]:
    out: dict[str, None] = {}
    for phrase in phrases:
        text = normalize_phrase(phrase)
        if _usable(text.split(), known_word):
            out[text] = None
    return list(out)


def grammar_phrases(spec: GrammarSpec, known_word: KnownWord | None = None) -> list[str]:
    """The spec's phrases, normalised, deduplicated, without those that have an unknown word."""
    return _phrases(spec.phrases, known_word)


def digit_vocabulary(spec: GrammarSpec, known_word: KnownWord | None = None) -> list[str]:
    """The words of a digits grammar: digit words, ``double``/``triple``, then ``spec.extra_words``."""
    words = dict.fromkeys([*DIGIT_WORDS, *MULTIPLIER_WORDS, *spec.extra_words])
    return [w for w in words if _usable([w], known_word)]


def _carriers(known_word: KnownWord | None) -> list[str]:
    return _phrases(CARRIER_PHRASES, known_word)


# ----- Vosk -------------------------------------------------------------------------------------------


def vosk_phrases(spec: GrammarSpec, known_word: KnownWord | None = None) -> list[str] | None:
    """Vosk's runtime phrase list for ``spec`` (always ending in ``"[unk]"``), or None for free speech.

    None also when no phrase of a ``phrases`` grammar survives the vocabulary check: the caller then
    recognises free speech and leaves the choice to the NLU.
    """
    if spec.kind == "free":
        return None
    phrases = grammar_phrases(spec, known_word)
    if spec.kind == "digits":
        vocabulary = digit_vocabulary(spec, known_word)
        digits = [w for w in vocabulary if w in DIGIT_WORDS or w in MULTIPLIER_WORDS]
        if len(vocabulary) <= _MAX_PAIR_VOCABULARY:
            body = [f"{a} {b}" for a in vocabulary for b in vocabulary]
        else:
            body = vocabulary + [f"{a} {b}" for a in digits for b in digits]
        carried = [f"{c} {d}" for c in _carriers(known_word) for d in digits if d in DIGIT_WORDS]
        phrases = [*body, *carried, *phrases]
    if not phrases:
        return None
    return [*dict.fromkeys(phrases), UNK]


def vosk_grammar_json(spec: GrammarSpec, known_word: KnownWord | None = None) -> str | None:
    """:func:`vosk_phrases` as the JSON string ``KaldiRecognizer.SetGrammar`` takes (not ASCII-escaped)."""
    phrases = vosk_phrases(spec, known_word)
    return None if phrases is None else json.dumps(phrases, ensure_ascii=False)


# ----- JSGF (PocketSphinx) ----------------------------------------------------------------------------


def _alternatives(items: Sequence[str]) -> str:
    return " | ".join(items)


def _bounded(unit: str, low: int, high: int) -> str:
    """``low`` required then ``high - low`` nested optional repetitions of ``unit``."""
    required = " ".join([unit] * low)
    optional = ""
    for _ in range(high - low):
        optional = f"[{unit}{' ' + optional if optional else ''}]"
    return f"{required} {optional}".strip()


def jsgf(
    spec: GrammarSpec,
    known_word: KnownWord | None = None,
    *,
    garbage: Sequence[str] = (),
    name: str = "voicebot",
) -> str | None:
    """A JSGF grammar (public rule ``<root>``) for ``spec``, or None for free speech.

    ``garbage`` words (see :data:`GARBAGE_WORDS`) add an alternative ``<garbage>+`` that absorbs
    out-of-grammar speech; words that belong to the grammar or fail ``known_word`` are left out of it.
    """
    if spec.kind == "free":
        return None
    phrases = grammar_phrases(spec, known_word)
    rules: list[str] = []
    roots: list[str] = []
    vocabulary: set[str] = {w for p in phrases for w in p.split()}
    words = digit_vocabulary(spec, known_word) if spec.kind == "digits" else []
    digits = [w for w in words if w in DIGIT_WORDS]
    if digits:
        multipliers = [w for w in words if w in MULTIPLIER_WORDS]
        extra = [w for w in words if w not in DIGIT_WORDS and w not in MULTIPLIER_WORDS]
        vocabulary.update(words)
        rules.append(f"<digit> = {_alternatives(digits)};")
        unit = "<digit>"
        if multipliers:
            rules.append(f"<unit> = <digit> | ({_alternatives(multipliers)}) <digit>;")
            unit = "<unit>"
        if extra:
            rules.append(f"<word> = {unit} | {_alternatives(extra)};")
            body = "<word>+"
        elif spec.max_digits <= MAX_BOUNDED_DIGITS:
            low = math.ceil(spec.min_digits / 3) if multipliers else spec.min_digits
            body = _bounded(unit, low, spec.max_digits)
        else:
            body = f"{unit}+"
        carriers = _carriers(known_word)
        vocabulary.update(w for c in carriers for w in c.split())
        if carriers:
            rules.append(f"<carrier> = {_alternatives(carriers)};")
            body = f"[<carrier>] {body}"
        rules.append(f"<digits> = {body};")
        roots.append("<digits>")
    if phrases:
        rules.append(f"<phrase> = {_alternatives(phrases)};")
        roots.append("<phrase>")
    if not roots:
        return None
    filler = [w for w in dict.fromkeys(garbage) if w not in vocabulary and _usable([w], known_word)]
    if filler:
        rules.append(f"<garbage> = {_alternatives(filler)};")
        roots.append("<garbage>+")
    lines = ["#JSGF V1.0;", f"grammar {name};", *rules, f"public <root> = {_alternatives(roots)};", ""]
    return "\n".join(lines)


def in_grammar(spec: GrammarSpec, text: str) -> bool:
    """Whether ``text`` (as an engine returned it) is a sentence of ``spec``.

    Used to reject what a grammar-constrained engine returns when the caller said something else: the
    garbage loop's words, or (PocketSphinx) the best partial path when no complete sentence fit.
    """
    if spec.kind == "free":
        return bool(text.strip())
    normalized = normalize_phrase(text)
    if not normalized:
        return False
    phrases, vocabulary = _sentences(spec)
    if normalized in phrases:
        return True
    if spec.kind != "digits":
        return False
    words = normalized.split()
    for carrier in sorted(_carriers(None), key=len, reverse=True):
        if normalized.startswith(carrier + " "):
            words = words[len(carrier.split()):]
            break
    if not all(w in vocabulary for w in words) or all(w in _CONNECTORS for w in words):
        return False
    if spec.extra_words:
        return True
    return spec.min_digits <= _digit_count(words) <= spec.max_digits


def _digit_count(words: Sequence[str]) -> int:
    """Digits said by digit words: "double four one" is three."""
    count = 0
    repeat = 1
    for word in words:
        if word in MULTIPLIER_WORDS:
            repeat = 2 if word == "double" else 3
        elif word in DIGIT_WORDS:
            count += repeat
            repeat = 1
    return count


# Words of a digits grammar that say no number on their own.
_CONNECTORS = frozenset({"and", "point", "minus", "the", "of", *MULTIPLIER_WORDS})


@lru_cache(maxsize=256)
def _sentences(spec: GrammarSpec) -> tuple[frozenset[str], frozenset[str]]:
    """(normalised phrases, digit vocabulary) of a spec, for :func:`in_grammar`."""
    return frozenset(grammar_phrases(spec)), frozenset(digit_vocabulary(spec))
