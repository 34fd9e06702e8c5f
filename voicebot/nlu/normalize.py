"""Text normalisation shared by every parser, so they all see the same tokens.

Recognisers and typed console input disagree on case, apostrophes and punctuation; parsers should not
each have to cope with that. Punctuation that carries meaning inside a number ("$20.50", "1,205",
"12/03/2025", "2026-03-03", "4417-0923") is kept; everything else becomes a word break.
"""

from __future__ import annotations

import re

__all__ = ["expand_contractions", "normalize", "tokenize"]

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})

# Whole-word forms whose expansion is not a simple suffix rule.
_IRREGULAR = {
    "won't": "will not",
    "can't": "cannot",
    "shan't": "shall not",
    "ain't": "is not",
    "let's": "let us",
    "y'all": "you all",
    "'em": "them",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "gimme": "give me",
    "lemme": "let me",
    "dunno": "do not know",
    "o'clock": "oclock",
}

# "'s" is "is" only after these words; elsewhere it is a possessive ("card's") and is dropped.
_IS_HOSTS = frozenset(
    {"what", "that", "it", "he", "she", "there", "here", "who", "where", "how", "when", "why", "this",
     "everything", "nothing", "something"}
)

_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"),
             ("'m", " am"))

_WORD_WITH_APOSTROPHE = re.compile(r"[a-z]*'[a-z]*")
_SPACES = re.compile(r"\s+")
# Separators that only mean something between two digits.
_INNER = frozenset(".,/:-")


def _expand_word(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)] + replacement
    if word.endswith("'s") and len(word) > 2:
        stem = word[:-2]
        return f"{stem} is" if stem in _IS_HOSTS else stem
    return word


def expand_contractions(text: str) -> str:
    """Expand English contractions in lower-case text ("what's" -> "what is", "can't" -> "cannot")."""
    text = text.translate(_APOSTROPHES)
    text = re.sub(r"\b(?:wanna|gonna|gotta|gimme|lemme|dunno)\b", lambda m: _IRREGULAR[m.group(0)], text)
    return _WORD_WITH_APOSTROPHE.sub(lambda m: _expand_word(m.group(0)), text)


def _keep(text: str, i: int) -> bool:
    char = text[i]
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    if char in _INNER:
        if before.isdigit() and after.isdigit():
            return True
        # A leading minus sign on a typed number ("-4").
        return char == "-" and before.isspace() and after.isdigit()
    if char == "$":
        return after.isdigit()
    if char == "%":
        return before.isdigit()
    return False


def normalize(text: str) -> str:
    """Lower-case, expand contractions, drop punctuation that carries no meaning, collapse spaces."""
    text = expand_contractions(text.lower()).replace("&", " and ")
    # Apostrophes left over are inside names ("o'brien"); joining keeps the word whole.
    text = text.replace("'", "")
    chars = [c if c.isalnum() or c.isspace() or _keep(text, i) else " " for i, c in enumerate(text)]
    return _SPACES.sub(" ", "".join(chars)).strip()


def tokenize(text: str) -> list[str]:
    """The words of :func:`normalize`'d text."""
    return normalize(text).split()
