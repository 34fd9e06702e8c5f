"""Spoken letters and digits joined into one code: "S W one A" -> "SW1A", for postcodes, references, plates.

Understood: single letters ("s", "w"), letter names as recognizers write them ("ess", "double u", "zed",
"aitch"), the NATO alphabet ("sierra whiskey"), digit words ("one", "oh" for zero), "double"/"triple" before
a letter or digit ("double five" -> "55"), and digits or codes already written together ("SW1A", "1A").
Everything else (fillers such as "it's", "my postcode is") is dropped, so only the code is left.
"""

from __future__ import annotations

import re

_LETTER_NAMES = {
    "ay": "A", "bee": "B", "be": "B", "cee": "C", "see": "C", "sea": "C", "dee": "D", "ee": "E", "eff": "F",
    "ef": "F", "gee": "G", "aitch": "H", "haitch": "H", "eye": "I", "jay": "J", "kay": "K", "el": "L",
    "ell": "L", "em": "M", "en": "N", "oh": "0", "pee": "P", "cue": "Q", "queue": "Q", "ar": "R", "are": "R",
    "ess": "S", "tee": "T", "tea": "T", "you": "U", "vee": "V", "ex": "X", "why": "Y", "wye": "Y", "zed": "Z",
    "zee": "Z", "doubleu": "W", "doubleyou": "W",
}
_NATO = {
    "alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F",
    "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J", "kilo": "K", "lima": "L",
    "mike": "M", "november": "N", "oscar": "O", "papa": "P", "quebec": "Q", "romeo": "R", "sierra": "S",
    "tango": "T", "uniform": "U", "victor": "V", "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y",
    "zulu": "Z",
}
_DIGITS = {"zero": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
           "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_REPEAT = {"double": 2, "triple": 3}


def _words(text: str) -> list[str]:
    text = text.lower().replace("double-u", "doubleu").replace("double u ", "doubleu ").replace("x-ray", "xray")
    if text.endswith("double u"):
        text = text[: -len("double u")] + "doubleu"
    text = re.sub(r"(?<=[a-z])['’](?=[a-z])", "", text)  # "it's" is one word, not "it" and the letter S
    return re.findall(r"[a-z0-9]+", text)


def _symbol(word: str) -> str | None:
    if len(word) == 1 and word.isalpha():
        return word.upper()
    if word.isdigit():
        return word
    for table in (_DIGITS, _NATO, _LETTER_NAMES):
        if word in table:
            return table[word]
    if re.fullmatch(r"[a-z]*\d[a-z0-9]*", word):
        return word.upper()  # a code written together ("sw1a", "1a")
    return None


def spoken_code(text: str) -> str:
    """The letters and digits spoken in ``text``, upper-case, joined; "" if there are none."""
    out: list[str] = []
    repeat = 1
    for word in _words(text):
        if word in _REPEAT:
            repeat = _REPEAT[word]
            continue
        symbol = _symbol(word)
        if symbol is not None:
            out.append(symbol * repeat if len(symbol) == 1 else symbol)
        repeat = 1
    return "".join(out)
