"""Whisper's text side, without the engine: grammar -> decoding prompt and token vocabulary, transcript -> words.

Pure functions used by :mod:`voicebot.asr.whisper_engine` (the adapter that imports faster-whisper);
see its docstring for why each exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from voicebot.asr.base import (
    CARRIER_PHRASES,
    CURRENCY_WORDS,
    DATE_WORDS,
    DIGIT_WORDS,
    MULTIPLIER_WORDS,
    NO_PHRASES,
    YES_PHRASES,
    GrammarSpec,
)
from voicebot.asr.grammars import grammar_phrases, normalize_phrase
from voicebot.flow.sayas import say_currency, say_digits, say_number, say_ordinal

__all__ = [
    "PROMPT_TOKENS",
    "PUNCTUATION",
    "DecodingBias",
    "grammar_words",
    "hotwords_for",
    "normalize_transcript",
    "numeral_style",
    "prompt_for",
]

#: Token budget of the decoding prompt (Whisper keeps at most 223 prompt tokens; long prompts get copied).
PROMPT_TOKENS = 96

_DIGIT_PROMPT = "Four four one seven. Oh nine nine two, three five eight eight eight six."
_NUMBER_PROMPT = "Three hundred forty two. Twelve point five."
_CURRENCY_PROMPT = "One hundred twenty five dollars and fifty cents."
_DATE_PROMPT = "March third. The twenty first of June."

# ----- grammar -> prompt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodingBias:
    """What steers the decoding of one grammar's turns (see :meth:`WhisperRecognizer.bias_for`)."""

    prompt: str | None
    hotwords: str | None
    #: Tokens the decoder may not produce (None: faster-whisper's default, non-speech symbols only).
    suppress: tuple[int, ...] | None
    #: How numerals of the transcript are spelled: digit by digit, as numbers, or by their form.
    numerals: Literal["digits", "numbers", "auto"]
    #: A digit turn's second mask, numerals suppressed too: the digits must be written as words (None: no
    #: second decoding).
    words_only: tuple[int, ...] | None = None


_PRONOUN_I = re.compile(r"\bi\b")


def _sentence(phrase: str) -> str:
    phrase = _PRONOUN_I.sub("I", phrase)
    return phrase[:1].upper() + phrase[1:]


def _fit(items: list[str], separator: str, budget: int, count: Callable[[str], int]) -> str:
    """``items`` joined by ``separator``, as many from the start as fit ``budget`` tokens."""
    kept: list[str] = []
    for item in items:
        if count(separator.join([*kept, item])) > budget:
            break
        kept.append(item)
    return separator.join(kept)


def _spread(items: list[str], separator: str, budget: int, count: Callable[[str], int]) -> str:
    """Every n-th item, n as small as fits ``budget`` tokens (the phrases of all intents, not the first's)."""
    for stride in range(1, len(items) + 1):
        text = separator.join(items[::stride])
        if count(text) <= budget:
            return text
    return _fit(items, separator, budget, count)


def prompt_for(grammar: GrammarSpec, count: Callable[[str], int] = lambda s: len(s.split()) * 2,
               budget: int = PROMPT_TOKENS, short_first: bool = True) -> str | None:
    """The decoding prompt that biases Whisper towards ``grammar`` (None for free speech).

    ``count`` measures a text in tokens (the model's tokenizer; a rough word count by default); with
    ``short_first`` the grammar's one-word phrases come before a spread of the longer ones (False: the
    spread of all phrases, the prompt before it).
    """
    if grammar.kind == "free":
        return None
    phrases = grammar_phrases(grammar)
    head = ""
    if grammar.kind == "digits":
        # An example of the expected answer, then the turn's commands ("agent" must not become "eight").
        extra = set(grammar.extra_words)
        head = (_DIGIT_PROMPT if not extra else _CURRENCY_PROMPT if extra & set(CURRENCY_WORDS) else
                _DATE_PROMPT if extra & set(DATE_WORDS) else _NUMBER_PROMPT)
        budget -= count(head)
    elif grammar.kind == "yes_no":
        # The answers first, in full; the commands of the turn share what is left.
        answers = {normalize_phrase(p) for p in (*YES_PHRASES, *NO_PHRASES)}
        head = _fit([_sentence(p) for p in phrases if p in answers], ". ", budget, count)
        phrases = [p for p in phrases if p not in answers]
        budget -= count(head)
    if short_first and budget > 0:
        # One-word phrases next ("operator", "balance", "help"): a word said alone has no context to be
        # heard by ("operator" came out as "the regular", "outreator"); longer phrases share what is left.
        single = _fit([_sentence(p) for p in phrases if " " not in p], ". ", budget // 2, count)
        head = ". ".join(t.rstrip(".") for t in (head, single) if t)
        budget -= count(single)
        phrases = [p for p in phrases if " " in p]
    rest = _spread([_sentence(p) for p in phrases], ". ", budget, count) if budget > 0 else ""
    text = ". ".join(t.rstrip(".") for t in (head, rest) if t)
    return f"{text}." if text else None


def hotwords_for(grammar: GrammarSpec, count: Callable[[str], int] = lambda s: len(s.split()) * 2,
                 budget: int = PROMPT_TOKENS) -> str | None:
    """The grammar's distinct words, as many as fit ``budget`` tokens (None for free speech)."""
    if grammar.kind == "free":
        return None
    words: dict[str, None] = {}
    if grammar.kind == "digits":
        words.update(dict.fromkeys(("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                    "nine", *grammar.extra_words)))
    for phrase in grammar_phrases(grammar):
        words.update(dict.fromkeys(phrase.split()))
    text = _fit(list(words), " ", budget, count)
    return text or None


_CONTRACTIONS = {"it is": "it's", "that is": "that's", "i am": "i'm", "do not": "don't", "did not": "didn't"}
#: Punctuation a constrained decoder may still write.
PUNCTUATION = (",", ".", "?", "!", "-", " -", "'s")


#: Words of command phrases that a digit turn's decoder may not write: short words that sound like digits
#: or like parts of them ("five" heard as "time", "nine" as "i need", "two" as "to", "oh oh" as "go").
#: Measured on the corpus: with them allowed, tiny.en wrote "it is time eight i need" for "it's five eight
#: nine eight". A command still comes through by its other words ("one more time" -> "more").
DIGIT_TURN_BLOCKED = frozenset({
    "i", "am", "a", "an", "to", "too", "do", "did", "not", "time", "go", "no", "know", "need", "you", "me",
    "the", "for", "on", "in", "at", "of", "can", "what", "with", "get", "would", "want", "like", "don't",
    "didn't", "i'm", "won", "ate", "ten", "then", "this", "and", "he", "how", "we", "from", "should", "does",
    # "oh" heard as "all" made "that's all" (goodbye) out of account numbers; the rest are goodbye and help
    # phrase words that out-of-grammar speech was forced onto.
    "all", "finished", "everything", "work", "have", "day", "nice", "will", "be", "done", "more",
})


def grammar_words(grammar: GrammarSpec) -> list[str]:
    """Every word ``grammar`` may produce, as Whisper could spell it (contractions too), lowercase.

    In a digit turn, the words of command phrases in :data:`DIGIT_TURN_BLOCKED` are left out.
    """
    words: dict[str, None] = {}
    blocked: frozenset[str] = frozenset()
    if grammar.kind == "digits":
        words.update(dict.fromkeys((*DIGIT_WORDS, "o", *MULTIPLIER_WORDS, *grammar.extra_words)))
        for carrier in CARRIER_PHRASES:
            words.update(dict.fromkeys(carrier.split()))
        words.update(dict.fromkeys(("it's", "that's")))
        blocked = DIGIT_TURN_BLOCKED - set(words)
    for phrase in grammar.phrases:
        text = phrase.lower()
        for long, short in _CONTRACTIONS.items():
            text = text.replace(long, short)
        for variant in (phrase.lower(), text, normalize_phrase(phrase)):
            words.update(dict.fromkeys(w for w in variant.replace(",", " ").split() if w not in blocked))
    return list(words)


def numeral_style(grammar: GrammarSpec) -> Literal["digits", "numbers", "auto"]:
    if grammar.kind == "digits":
        return "numbers" if grammar.extra_words else "digits"
    return "auto"


# ----- transcript -> words ----------------------------------------------------------------------------

_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]")
_DIGIT_JOIN = re.compile(r"(?<=\d)[-‐–—/.](?=\d)")
_CURRENCY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_NOT_WORD = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def _words(said: str) -> str:
    return said.replace("-", " ")


def _spell_number(token: str, style: Literal["digits", "numbers", "auto"]) -> str:
    plain = token.replace(",", "")
    # An identifier rather than a quantity: "4417", "0923" (but "0" and "25" are numbers).
    identifier = plain.isdigit() and (len(plain) >= 4 or (len(plain) > 1 and plain.startswith("0")))
    if style == "digits" or (style == "auto" and identifier):
        return say_digits("".join(c for c in plain if c.isdigit()))
    try:
        return _words(say_number(Decimal(plain)))
    except (InvalidOperation, ValueError):
        return say_digits("".join(c for c in plain if c.isdigit()))


def normalize_transcript(text: str, numerals: Literal["digits", "numbers", "auto"] = "auto") -> str:
    """Whisper's transcript as grammar words: lowercase, no punctuation, numerals spelled out."""
    text = _NOISE.sub(" ", text)
    if numerals == "digits":
        # "4-4-1-7", "4.417", "$4417" are all digit strings in a digits turn.
        text = _DIGIT_JOIN.sub(" ", text).replace("$", " ")
    else:
        text = _CURRENCY.sub(lambda m: f" {_words(say_currency(m.group(1).replace(',', '')))} ", text)
        text = _ORDINAL.sub(lambda m: f" {_words(say_ordinal(int(m.group(1))))} ", text)
        text = _PERCENT.sub(lambda m: f" {_spell_number(m.group(1), 'numbers')} percent ", text)
    text = _NUMBER.sub(lambda m: f" {_spell_number(m.group(0), numerals)} ", text)
    text = normalize_phrase(text.replace("-", " "))
    words = [w.strip("'") for w in _NOT_WORD.sub(" ", text.lower()).split()]
    words = [w for w in words if w]
    if numerals == "digits":
        words = ["oh" if w == "o" else w for w in words]
    return _SPACES.sub(" ", " ".join(words)).strip()
