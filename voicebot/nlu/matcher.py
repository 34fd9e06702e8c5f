"""Fuzzy intent matching: which grammar intent an utterance means, including paraphrases.

Grammars list a dozen wordings per intent; callers use others. Matching therefore works on content
words, not whole strings: both sides are normalised, stemmed, rewritten with the grammar's synonyms and
stripped of stop words, and each content word is weighted by how specific it is to one intent (an
inverse document frequency over intents). An intent scores well when one of its phrases is (nearly)
all present in the utterance *and* the intent's vocabulary explains the utterance; words no intent
knows count against every intent, which is what keeps out-of-domain requests below the threshold.
Near-verbatim utterances (ASR typos included) are also caught by a character-level ratio.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from voicebot.nlu.grammar import Intent
from voicebot.nlu.normalize import tokenize
from voicebot.nlu.numbers import digit_spans

__all__ = ["DEFAULT_THRESHOLD", "IntentMatcher", "IntentScore", "content_words", "phrases_for", "stem"]

DEFAULT_THRESHOLD = 0.72

# Function words and request carriers ("I would like to ..."): no evidence for any intent.
_STOP = frozenset({"a", "an", "the", "i", "me", "my", "mine", "myself", "we", "us", "our", "you", "your",
                   "it", "its", "is", "are", "am", "was", "were", "be", "been", "being", "this", "that",
                   "these", "those", "to", "of", "in", "on", "at", "for", "with", "about", "from", "by",
                   "as", "and", "or", "so", "just", "also", "really", "actually", "please", "pls", "kindly",
                   "would", "like", "want", "wanna", "need", "needs", "could", "can", "may", "might",
                   "will", "shall", "should", "do", "does", "did", "doing", "hi", "hello", "hey", "um",
                   "umm", "uh", "er", "erm", "ah", "hmm", "oh", "well", "then", "there", "here", "some",
                   "any", "very", "know", "tell", "let", "wondering", "wonder", "think"})
# Generic verbs and question words: some evidence for an intent, but weak on their own.
_LIGHT = frozenset({"check", "get", "give", "show", "see", "hear", "have", "has", "had", "go", "make",
                    "find", "what", "how", "when", "where", "which", "who", "no", "not", "never",
                    # "that's all" (goodbye) is matched as a phrase; "all" alone in a misheard request ("I want
                    # to all that edge" for "I want to order a large pizza") must not end the call.
                    "all"})
# Acknowledgements that open an utterance ("ok, bye") without being its point.
_DISCOURSE = frozenset({"ok", "okay", "alright", "so", "right", "great", "cool", "perfect", "fine"})
_LIGHT_FACTOR = 0.4
# Weight of a word no intent uses, relative to a word only one intent uses.
_UNKNOWN_SHARE = 0.45
# Share of the score from the recall/coverage balance; the rest prefers phrases that explain more words.
_FIT = 0.9
# Share of a phrase's missing words that other words of the same intent may stand in for.
_SUBSTITUTE = 0.7
_NEAR_VERBATIM = 90.0
# Score of an utterance whose content words are exactly a phrase's, in the same order, with other function
# words around them ("no think" for the phrase "no"; "can you say that again" for "say that again").
_SAME_CONTENT = 0.9
_FUZZY_WORD = 85.0
# A negated utterance ("absolutely not", "I don't want an agent") fits a phrase without negation worse;
# "no" is not a negator here: it usually answers the previous prompt ("no, I want an agent").
_NEGATORS = frozenset({"not", "never"})
_NEGATION_FACTOR = 0.8
_MIN_DIGITS_DROPPED = 3
_CACHE_LIMIT = 4096

_IRREGULAR = {"spent": "spend", "stole": "steal", "stolen": "steal", "lost": "lose", "losing": "lose",
              "bought": "buy", "paid": "pay", "found": "find", "said": "say",
              "took": "take", "taken": "take", "thanks": "thank", "thankyou": "thank", "people": "person",
              "cancelled": "cancel", "canceled": "cancel", "cancelling": "cancel", "canceling": "cancel"}

# Nouns that a suffix rule would turn into a different word ("checking" account is not "check").
_KEEP = frozenset({"checking", "savings", "nothing", "something", "anything", "everything", "morning",
                   "evening", "during", "news", "thing", "things"})


def stem(word: str) -> str:
    """A crude suffix-stripping stemmer; it only has to map both sides of a match to the same form."""
    word = _IRREGULAR.get(word, word)
    if len(word) <= 3 or not word.isalpha() or word in _KEEP:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif (word.endswith("ed") and len(word) >= 5) or (word.endswith("ly") and len(word) >= 6):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsaeiou":
        word = word[:-1]  # stopp(ed) -> stop
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]  # charge/charg(ed) agree
    return word


class _Synonyms:
    """Rewrites stemmed variant word sequences to their canonical word, longest variant first."""

    def __init__(self, synonyms: Mapping[str, Sequence[str]]) -> None:
        self.table: dict[tuple[str, ...], str] = {}
        for word, variants in synonyms.items():
            canonical = " ".join(stem(w) for w in tokenize(word))
            for variant in variants:
                key = tuple(stem(w) for w in tokenize(variant))
                if key and key != (canonical,):
                    self.table[key] = canonical
        self.longest = max((len(k) for k in self.table), default=0)

    def apply(self, stems: Sequence[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(stems):
            for size in range(min(self.longest, len(stems) - i), 0, -1):
                canonical = self.table.get(tuple(stems[i : i + size]))
                if canonical is not None:
                    out.extend(canonical.split())
                    i += size
                    break
            else:
                out.append(stems[i])
                i += 1
        return out


def content_words(text: str, synonyms: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The stemmed, synonym-canonicalised content words the matcher compares (for debugging grammars)."""
    stems = _Synonyms(synonyms or {}).apply([stem(w) for w in tokenize(text)])
    return [w for w in stems if w not in _STOP_STEMS]


_STOP_STEMS = frozenset(stem(w) for w in _STOP) | _STOP
_LIGHT_STEMS = frozenset(stem(w) for w in _LIGHT) | _LIGHT
_DISCOURSE_STEMS = frozenset(stem(w) for w in _DISCOURSE)


@dataclass(frozen=True)
class IntentScore:
    """An intent and how well an utterance fits it: 0..1, and 1.0 only for a grammar phrase as such."""

    name: str
    score: float


@dataclass(frozen=True)
class _Phrase:
    intent: int
    words: frozenset[str]
    weight: float
    negated: bool


def phrases_for(intents: Iterable[Intent]) -> tuple[str, ...]:
    """Every phrase of the intents, in order and without duplicates (for recogniser grammars)."""
    return tuple(dict.fromkeys(p for intent in intents for p in intent.phrases))


class IntentMatcher:
    """Scores utterances against a fixed set of intents; build once, match many times."""

    def __init__(
        self,
        intents: Iterable[Intent],
        synonyms: Mapping[str, Sequence[str]] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.threshold = threshold
        self._intents = list({intent.name: intent for intent in intents}.values())
        self._names = [intent.name for intent in self._intents]
        self._index = {name: i for i, name in enumerate(self._names)}
        self._synonyms = _Synonyms(synonyms or {})
        self._cache: dict[str, str] = {}
        self._verbatim: list[str] = []
        self._verbatim_owner: list[int] = []
        self._exact: dict[str, set[int]] = {}
        # Phrases by their content words alone: "no think" (a recognizer's "no thanks") says what "no" says.
        self._same_content: dict[str, set[int]] = {}
        phrase_words: list[tuple[int, frozenset[str]]] = []
        for i, intent in enumerate(self._intents):
            for phrase in intent.phrases:
                stems = self._stems(phrase)
                self._exact.setdefault(" ".join(stems), set()).add(i)
                content = " ".join(w for w in stems if w not in _STOP_STEMS)
                if content:
                    self._same_content.setdefault(content, set()).add(i)
                self._verbatim.append(" ".join(stems))
                self._verbatim_owner.append(i)
                words = frozenset(w for w in stems if w not in _STOP_STEMS)
                if words:
                    phrase_words.append((i, words))
        self._vocab: list[set[str]] = [set() for _ in self._intents]
        for i, words in phrase_words:
            self._vocab[i] |= words
        document_frequency: dict[str, int] = {}
        for vocab in self._vocab:
            for word in vocab:
                document_frequency[word] = document_frequency.get(word, 0) + 1
        count = max(len(self._intents), 1)
        self._strong = 1.0 + math.log(count)
        self._unknown = _UNKNOWN_SHARE * self._strong
        self._weights = {
            word: (1.0 + math.log(count / df)) * (_LIGHT_FACTOR if word in _LIGHT_STEMS else 1.0)
            for word, df in document_frequency.items()
        }
        # Misspelt words are matched against known words and single-word synonym variants alike.
        self._spellings = {word: word for word in self._weights}
        for variant, canonical in self._synonyms.table.items():
            if len(variant) == 1 and canonical in self._weights:
                self._spellings.setdefault(variant[0], canonical)
        for irregular in _IRREGULAR:
            if stem(irregular) in self._weights:
                self._spellings.setdefault(irregular, stem(irregular))
        self._spelling_list = list(self._spellings)
        self._by_intent: list[list[_Phrase]] = [[] for _ in self._intents]
        for i, words in phrase_words:
            self._by_intent[i].append(_Phrase(i, words, self._weight(words), bool(words & _NEGATORS)))

    def _weight(self, words: Iterable[str]) -> float:
        return sum(self._weights.get(w, self._unknown) for w in words)

    def _stems(self, text: str) -> list[str]:
        words = tokenize(text)
        # Account numbers and amounts said with the intent are slot values, not evidence for an intent.
        drop = {i for span in digit_spans(words) if len(span.digits) >= _MIN_DIGITS_DROPPED
                for i in range(span.start, span.end)}
        return self._synonyms.apply([stem(w) for i, w in enumerate(words) if i not in drop])

    def _known_word(self, word: str) -> str:
        """Map a word no intent uses onto a close known one, to absorb recogniser misspellings."""
        if word in self._weights or len(word) < 4:
            return word
        found = self._cache.get(word)
        if found is None:
            hit = process.extractOne(word, self._spelling_list, scorer=fuzz.ratio, score_cutoff=_FUZZY_WORD)
            found = self._spellings[hit[0]] if hit else word
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[word] = found
        return found

    def rank(self, text: str, allowed: Collection[str] | None = None, limit: int = 5) -> list[IntentScore]:
        """The best ``limit`` intents for ``text``, best first; only ``allowed`` ones if given.

        Names in ``allowed`` that the matcher does not know are ignored.
        """
        candidates = (range(len(self._intents)) if allowed is None
                      else sorted({self._index[n] for n in allowed if n in self._index}))
        scores = self._scores(text, candidates)
        ranked = sorted(candidates, key=lambda i: (-scores[i], i))
        return [IntentScore(self._names[i], round(scores[i], 4)) for i in ranked[: max(limit, 0)]]

    def match(self, text: str, allowed: Collection[str] | None = None) -> IntentScore | None:
        """The best intent if it scores at least :attr:`threshold`, else None."""
        best = self.rank(text, allowed, limit=1)
        return best[0] if best and best[0].score >= self.threshold else None

    def _scores(self, text: str, candidates: Iterable[int]) -> dict[int, float]:
        wanted = set(candidates)
        scores = dict.fromkeys(wanted, 0.0)
        stems = self._stems(text)
        joined = " ".join(stems)
        if not joined:
            return scores
        exact = self._exact.get(joined, set()) & wanted
        for i in exact:
            scores[i] = 1.0
        for _, ratio, index in process.extract(joined, self._verbatim, scorer=fuzz.ratio, limit=None,
                                               score_cutoff=_NEAR_VERBATIM):
            owner = self._verbatim_owner[index]
            if owner in wanted and owner not in exact:
                scores[owner] = max(scores[owner], min(ratio / 100.0, 0.99))
        content = [self._known_word(w) for w in stems if w not in _STOP_STEMS]
        for i in self._same_content.get(" ".join(content), set()) & (wanted - exact):
            scores[i] = max(scores[i], _SAME_CONTENT)
        if len(content) > 1 and content[0] in _DISCOURSE_STEMS:
            content = content[1:]
        words = set(content)
        total = self._weight(words)
        if not total:
            return scores
        for i in wanted - exact:
            scores[i] = max(scores[i], self._keyword_score(i, words, total))
        return scores

    def _keyword_score(self, i: int, words: set[str], total: float) -> float:
        known = words & self._vocab[i]
        explained = self._weight(known)
        if not explained:
            return 0.0
        # Words of other intents count against this one no more than unknown words do: they are
        # evidence for the other intent, which that intent's own score already reflects.
        unexplained = sum(min(self._weights.get(w, self._unknown), self._unknown) for w in words - known)
        coverage = explained / (explained + unexplained)
        best = 0.0
        negated = bool(words & _NEGATORS)
        for phrase in self._by_intent[i]:
            matched = self._weight(words & phrase.words)
            if not matched:
                continue
            missing = phrase.weight - matched
            stand_in = min(_SUBSTITUTE * min(missing, explained - matched), matched)
            recall = (matched + stand_in) / phrase.weight
            # Harmonic mean: a phrase fully present in an utterance that is mostly about something
            # else, or an utterance fully explained by scattered words, are both weak matches.
            score = _FIT * 2 * recall * coverage / (recall + coverage) + (1 - _FIT) * matched / total
            if negated and not phrase.negated:
                score *= _NEGATION_FACTOR
            best = max(best, score)
        # Only generic words in common ("what ...") are weak evidence whatever the proportions.
        evidence = min(1.0, explained / self._strong)
        return min(best * (0.5 + 0.5 * evidence), 0.99)
