"""Tokens of the flow expression language, produced on demand from the expression text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from voicebot.flow.expr_ast import Value
from voicebot.flow.expr_errors import ExprError

_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "true", "false", "null", "True", "False", "None"})
CONSTANTS: dict[str, Value] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
}
_OPERATORS_2 = ("==", "!=", "<=", ">=")
_OPERATORS_1 = "<>+-*/%()[],.:{}"
# Operators from other languages that authors reach for, with what to write instead.
_HINTS: tuple[tuple[str, str], ...] = (
    ("===", "'===' is not supported; use '=='"),
    ("!==", "'!==' is not supported; use '!='"),
    ("&&", "'&&' is not supported; use 'and'"),
    ("||", "'||' is not supported; use 'or'"),
    ("**", "'**' (power) is not supported"),
    ("//", "'//' is not supported; use '/' and int(...)"),
    ("=>", "'=>' is not an operator; did you mean '>='?"),
    ("=<", "'=<' is not an operator; did you mean '<='?"),
    ("<>", "'<>' is not supported; use '!='"),
    ("=", "'=' is not a comparison; use '==' to test equality"),
    ("!", "'!' is not supported; use 'not' (or '!=' to test that two values differ)"),
    ("&", "'&' is not supported; use 'and'"),
    ("|", "'|' is not supported; use 'or'"),
)
_WHITESPACE = " \t\r\n"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A number token runs over letters and dots too, so "3rd" or "1.2.3" is reported whole.
_NUMBER_RUN_RE = re.compile(r"[0-9A-Za-z_.]*")
_NUMBER_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "str", "name", "kw", "op", "end"
    text: str  # exactly as written
    value: Value
    pos: int

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    def is_kw(self, *words: str) -> bool:
        return self.kind == "kw" and self.text in words

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        text = self.text if len(self.text) <= 20 else self.text[:17] + "..."
        # A string token already carries its quotes; say "text" so it is not read as a name.
        return f"text {text}" if self.kind == "str" else f"'{text}'"


class Lexer:
    """Produces tokens on demand, so a template can stop reading where a placeholder's path ends
    without the prose after it (apostrophes and all) ever being tokenized."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def peek_char(self) -> str:
        self._skip_whitespace()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _error(self, message: str, pos: int) -> ExprError:
        return ExprError(message, self.text, pos)

    def next_token(self) -> Token:
        self._skip_whitespace()
        text, start = self.text, self.pos
        if start >= len(text):
            return Token("end", "", None, start)
        char = text[start]
        if "0" <= char <= "9":  # not str.isdigit(): that accepts "²" and other scripts' digits
            return self._number(start)
        if char in "'\"":
            return self._string(start)
        name = _NAME_RE.match(text, start)
        if name:
            self.pos = name.end()
            word = name.group()
            if word in _KEYWORDS:
                return Token("kw", word, CONSTANTS.get(word), start)
            return Token("name", word, None, start)
        for hint_op, hint in _HINTS:
            # A real operator at least as long wins: "==" is not the "=" mistake, "!=" not "!".
            if text.startswith(hint_op, start) and not any(
                text.startswith(op, start) and len(op) >= len(hint_op) for op in _OPERATORS_2
            ):
                raise self._error(hint, start)
        for op in _OPERATORS_2:
            if text.startswith(op, start):
                self.pos = start + 2
                return Token("op", op, None, start)
        if char in _OPERATORS_1:
            self.pos = start + 1
            return Token("op", char, None, start)
        raise self._error(f"unexpected character '{char}'", start)

    def _number(self, start: int) -> Token:
        run = _NUMBER_RUN_RE.match(self.text, start)
        assert run is not None  # the pattern accepts the empty string
        word = run.group()
        if not _NUMBER_RE.fullmatch(word):
            raise self._error(f"invalid number '{word}'", start)
        self.pos = run.end()
        value: Value = Decimal(word) if "." in word else int(word)
        return Token("num", word, value, start)

    def _string(self, start: int) -> Token:
        text, quote = self.text, self.text[start]
        chars: list[str] = []
        i = start + 1
        while True:
            if i >= len(text):
                raise self._error("unterminated string: this quote is never closed", start)
            char = text[i]
            if char == quote:
                break
            if char == "\\":
                if i + 1 >= len(text):
                    raise self._error("unterminated string: this quote is never closed", start)
                escaped = text[i + 1]
                if escaped not in _ESCAPES:
                    raise self._error(f"unknown escape '\\{escaped}' in a string; write '\\\\' for a backslash", i)
                chars.append(_ESCAPES[escaped])
                i += 2
                continue
            chars.append(char)
            i += 1
        self.pos = i + 1
        return Token("str", text[start : i + 1], "".join(chars), start)
