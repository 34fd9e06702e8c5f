"""What a turn can accept: the one filter every engine's n-best goes through before it leaves the adapter.

A recognizer must never hand the flow a transcript its node cannot use when an alternative it also
heard would do: a digit node of length 4 gets the first hypothesis with exactly four digits ("oh" and
"double four" counted as the NLU counts them), a yes/no node the first with a yes or a no, and every
constrained node keeps hypotheses that may be one of its commands ("agent", "save that again" for
"say that again": the flow's fuzzy matcher decides). Looping transcripts ("one one one one one one ...",
"thank you thank you thank you") are dropped: they are Whisper's hallucination on noise, not speech.

:func:`rank` applies this to an engine's n-best (best first): hypotheses that the grammar cannot accept
are removed, the first acceptable one becomes the result, and a result that was not the engine's own
first choice gets a lower confidence (:data:`ALTERNATIVE_FACTOR`), so the flow confirms it rather than
taking it as heard (an alternative once turned a rejection into a wrong answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from voicebot.asr.base import CURRENCY_WORDS, DATE_WORDS, GrammarSpec, RecognitionResult
from voicebot.asr.grammars import grammar_phrases, normalize_phrase
from voicebot.events import Hypothesis
from voicebot.nlu.slots import interpret_value

__all__ = [
    "ALTERNATIVE_FACTOR", "COMMAND_FLOOR", "DIGIT_WORDS", "MAX_REPEATS", "PROMOTE_SHARE", "accepts", "looping", "rank",
    "resembles", "screened", "unloop",
]

#: Confidence of a hypothesis that was not the engine's first choice, relative to its own score.
ALTERNATIVE_FACTOR = 0.7
#: The same word or phrase said more than this many times in a row is a decoding loop, not speech
#: (digit words excepted up to the grammar's length: "nine nine nine nine" is a PIN).
MAX_REPEATS = 3
#: An alternative that is a phrase of the grammar goes first if it scores at least this share of the first.
PROMOTE_SHARE = 0.5
#: Lowest confidence at which a digit or yes/no turn's transcript is taken as one of its commands. A
#: constrained decoder forces speech outside the grammar onto command words ("thank goodbye" for "I have a
#: question about interest rates", confidence 0.12), and a wrong command (goodbye hangs up) costs far more
#: than asking again. Measured on the corpus: false commands at 0.10-0.31, true ones mostly above 0.35.
COMMAND_FLOOR = 0.3
#: Words too common to tie a transcript to a command phrase.
_STOP_WORDS = frozenset({
    "a", "an", "the", "to", "i", "me", "my", "you", "it", "is", "please", "that", "this", "of", "and", "do",
    "can", "would", "like", "want", "be", "for", "with", "on", "in", "at", "what", "yes", "no", "have", "has",
    "had", "about", "there", "here", "just", "so", "get", "got", "go", "make", "let", "us", "we", "our", "your",
    "up", "out", "all", "tell", "how", "does", "did", "will", "should", "know",
})
#: The words of a single digit, as recognizers write them ("oh" and "o" for zero).
DIGIT_WORDS = frozenset({"zero", "oh", "o", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"})
#: A fixed day for parsing dates: only whether a date parses matters here, not which day it is.
_SOME_DAY = date(2000, 1, 1)


def _slot_type(grammar: GrammarSpec) -> str:
    extra = set(grammar.extra_words)
    if not extra:
        return "digits"
    if extra & set(CURRENCY_WORDS):
        return "currency"
    if extra & set(DATE_WORDS):
        return "date"
    return "number"


def looping(text: str, max_digits: int = 32) -> bool:
    """Whether ``text`` repeats a word, or a phrase of up to three words, more than :data:`MAX_REPEATS`
    times in a row (digit words: more than ``max_digits`` times)."""
    words = text.split()
    for size in (1, 2, 3):
        run = 1
        for i in range(size, len(words) - size + 1):
            if words[i:i + size] == words[i - size:i]:
                run += 1
                limit = max_digits if size == 1 and words[i] in DIGIT_WORDS else MAX_REPEATS
                if run > limit:
                    return True
            else:
                run = 1
    return False


def unloop(text: str, digits_too: bool = False) -> str:
    """``text`` with every word or phrase said twice or more in a row said once ("yes please yes please" ->
    "yes please", "yes yes" -> "yes"): Whisper's loop on a padded window. Repeated digit words are kept
    ("nine nine"), and so are repeated groups of digit words unless ``digits_too`` ("one two one two" is a
    PIN)."""
    words = text.split()
    changed = True
    while changed:
        changed = False
        for size in range(min(8, len(words) // 2), 0, -1):
            for i in range(len(words) - 2 * size + 1):
                chunk = words[i:i + size]
                digits = set(chunk) <= DIGIT_WORDS
                if chunk != words[i + size:i + 2 * size] or (digits and (size == 1 or not digits_too)):
                    continue
                end = i + 2 * size
                while words[end:end + size] == chunk:
                    end += size
                words = words[:i + size] + words[end:]
                changed = True
                break
            if changed:
                break
    return " ".join(words)


def _may_be_command(grammar: GrammarSpec, text: str) -> bool:
    """Whether ``text`` shares a meaningful word with one of the grammar's (command) phrases; digit words
    never count (a digit string of the wrong length is not "one more time")."""
    ignored = _STOP_WORDS | DIGIT_WORDS | set(grammar.extra_words)
    words = set(text.split()) - ignored
    if not words:
        return False
    return any(words & (set(phrase.split()) - ignored) for phrase in grammar_phrases(grammar))


def accepts(grammar: GrammarSpec, text: str, command: bool = True) -> bool:
    """Whether the node listening with ``grammar`` can use ``text`` (an engine's normalized transcript);
    with ``command`` False, only as its value (not as one of its commands)."""
    text = normalize_phrase(text)
    if not text:
        return False
    if looping(text, grammar.max_digits if grammar.kind == "digits" else 32):
        return False
    if grammar.kind in ("free", "phrases"):
        # Phrase lists are matched by the flow's fuzzy NLU, which knows paraphrases the recognizer does not.
        return True
    if grammar.kind == "yes_no":
        value = interpret_value("yes_no", text, today=_SOME_DAY)
    else:
        value = interpret_value(_slot_type(grammar), text, today=_SOME_DAY,
                                min_length=grammar.min_digits, max_length=grammar.max_digits)
    return value is not None or (command and _may_be_command(grammar, text))


def resembles(grammar: GrammarSpec, text: str) -> bool:
    """Whether ``text`` (an unconstrained transcript) is the kind of answer the node wants, loosely: for a
    digit turn, at least half the digits it needs (said or written) or a command's word; for a yes/no turn,
    a yes, a no or a command's word; any words for other turns. Used to tell speech outside the grammar
    from speech a grammar-constrained decoder heard right but an unconstrained one heard wrongly."""
    text = normalize_phrase(text)
    if grammar.kind in ("free", "phrases"):
        return bool(text)
    if grammar.kind == "digits" and not grammar.extra_words:
        heard = sum(1 for w in text.split() if w in DIGIT_WORDS or w.isdigit())
        if heard >= max(1, grammar.min_digits // 2):
            return True
    elif accepts(grammar, text):
        return True
    return _may_be_command(grammar, text)


def _grammar_first(grammar: GrammarSpec, hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
    """``hypotheses`` with the first one that is a phrase of the grammar moved to the front, when the first
    is not one and it scores at least :data:`PROMOTE_SHARE` of the first (phrase and yes/no turns only).

    Unconstrained decoding of a turn with a closed list: "no think" 0.55 then "no thanks" 0.45 for the
    caller's "no thanks" cut short by the endpointer. The grammar picks among the n-best, as a grammar-
    constrained engine would have; the promoted phrase keeps its own confidence.
    """
    ordered = list(hypotheses)
    if grammar.kind not in ("phrases", "yes_no") or len(ordered) < 2:
        return ordered
    phrases = set(grammar_phrases(grammar))
    if normalize_phrase(ordered[0].text) in phrases:
        return ordered
    for index, hypothesis in enumerate(ordered[1:], 1):
        if (normalize_phrase(hypothesis.text) in phrases
                and hypothesis.confidence >= PROMOTE_SHARE * ordered[0].confidence):
            return [hypothesis, *ordered[:index], *ordered[index + 1:]]
    return ordered


def rank(grammar: GrammarSpec, hypotheses: Sequence[Hypothesis]) -> tuple[Hypothesis, ...]:
    """The acceptable ``hypotheses`` (best first, duplicates merged), with lowered confidence for a result
    that was not the first; empty when none is acceptable.

    A hypothesis that loops is first read once (:func:`unloop`); in a digit turn, a digit string that is
    not acceptable is also tried with its repeated digit groups read once ("4417 4417" for a PIN). In
    digit and yes/no turns only the first hypothesis may be a command, at :data:`COMMAND_FLOOR` or more;
    alternatives must be values. In phrase and yes/no turns, a phrase of the grammar among the alternatives
    comes first when the engine's first choice is none (:func:`_grammar_first`).
    """
    hypotheses = _grammar_first(grammar, hypotheses)
    kept: list[Hypothesis] = []
    seen: set[str] = set()
    for index, hypothesis in enumerate(hypotheses):
        # A command may come from the engine's first choice only: in a constrained turn, alternatives are
        # where out-of-grammar speech lands on command words ("please bye" for "please update my number").
        command = index == 0 and hypothesis.confidence >= COMMAND_FLOOR
        text = unloop(normalize_phrase(hypothesis.text))
        if not accepts(grammar, text, command) and grammar.kind == "digits":
            text = unloop(text, digits_too=True)
        if text in seen or not accepts(grammar, text, command):
            continue
        seen.add(text)
        confidence = hypothesis.confidence if index == 0 else hypothesis.confidence * ALTERNATIVE_FACTOR
        if kept:
            confidence = min(confidence, kept[-1].confidence)
        kept.append(Hypothesis(text, round(confidence, 4)))
    return tuple(kept)


def screened(grammar: GrammarSpec, result: RecognitionResult) -> RecognitionResult:
    """An engine's final result with its n-best through :func:`rank`: the first acceptable hypothesis as the
    text, only acceptable alternatives, or an empty result when none is acceptable."""
    if not result.text and not result.nbest:
        return result
    heard = result.nbest or (Hypothesis(result.text, result.confidence),)
    kept = rank(grammar, heard)
    if not kept:
        return RecognitionResult.empty(result.engine, result.final)
    return RecognitionResult(kept[0].text, kept[0].confidence, kept, result.final, result.engine)
