"""Natural-language understanding for the IVR: numbers, values, intent grammars and intent matching.

Everything here is pure and deterministic (no I/O beyond reading grammar files), so flows can be
tested and replayed exactly.
"""

from voicebot.nlu.grammar import (
    EntitySpec,
    Grammar,
    GrammarError,
    Intent,
    load_grammar,
    load_grammars,
    merge_grammars,
    merge_synonyms,
)
from voicebot.nlu.matcher import IntentMatcher, IntentScore, phrases_for
from voicebot.nlu.normalize import expand_contractions, normalize, tokenize
from voicebot.nlu.numbers import find_digit_strings, parse_digits, parse_number
from voicebot.nlu.slots import SLOT_TYPES, interpret_value
from voicebot.nlu.values import parse_currency, parse_date, parse_yes_no

__all__ = [
    "SLOT_TYPES",
    "EntitySpec",
    "Grammar",
    "GrammarError",
    "Intent",
    "IntentMatcher",
    "IntentScore",
    "expand_contractions",
    "find_digit_strings",
    "interpret_value",
    "load_grammar",
    "load_grammars",
    "merge_grammars",
    "merge_synonyms",
    "normalize",
    "parse_currency",
    "parse_date",
    "parse_digits",
    "parse_number",
    "parse_yes_no",
    "phrases_for",
    "tokenize",
]
