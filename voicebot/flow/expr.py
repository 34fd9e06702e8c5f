"""A small, safe expression language for ``branch`` conditions and ``set`` values in flows.

Flow authors (not programmers) write these expressions in YAML, so the language is deliberately
small and strict:

* it is parsed by hand (never ``eval``/``exec``/``ast``), so user text can only ever do what the
  grammar below allows: read variables, compare, do arithmetic and call a fixed set of functions;
* numbers are exact (``int`` or :class:`~decimal.Decimal`), because ``0.1 + 0.2`` must equal
  ``0.3`` when the numbers are amounts of money;
* there is no implicit conversion between text and numbers: a DTMF entry ``'5'`` compared with
  ``5`` is a type error instead of a silently false condition;
* every error names the column and shows the expression with a caret.

Grammar (lowest precedence first)::

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not" not | comparison
    comparison  := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") sum]
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/" | "%") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null" | "(" expression ")"
                 | "[" [expression ("," expression)* [","]] "]"
                 | FUNCTION "(" [expression ("," expression)*] ")"
                 | path
    path        := NAME ("." NAME | "[" expression "]")*
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import Enum
from typing import Any, TypeAlias

from pydantic import BaseModel

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "EvalError",
    "Expr",
    "ExprError",
    "MissingVariable",
    "compile_expr",
    "compile_path",
    "scan_path",
    "truthy",
]

MAX_LENGTH = 500
"""Longest expression accepted: anything longer belongs in code (an action), not in a flow file."""

MAX_DEPTH = 50
"""Deepest nesting of brackets, calls and unary operators: keeps parser and evaluator recursion
far from Python's recursion limit whatever the input."""

# Integers are unbounded in Python; an expression multiplying big variables together could build
# a number whose decimal form Python refuses to print (and no caller could use). 512 bits is ~154
# digits, far beyond any amount or count a flow handles.
_MAX_INT_BITS = 512

# Decimal arithmetic uses a private context instead of the thread's current one, so results never
# depend on what other code did to ``decimal.getcontext()``; traps turn NaN/overflow into errors.
_CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


# --------------------------------------------------------------------------------------------- errors


def _display(source: str) -> str:
    # Tabs and newlines (YAML block scalars) would break the caret's alignment.
    return source.replace("\t", " ").replace("\r", " ").replace("\n", " ")


_WINDOW = 60  # characters of context shown on each side of the caret


def _window(text: str, position: int) -> tuple[str, int]:
    """The part of a long expression around ``position``, and the caret's offset in it."""
    start = max(0, position - _WINDOW)
    end = position + _WINDOW
    shown = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
    return shown, position - start + (3 if start else 0)


class ExprError(ValueError):
    """The expression text is not valid; raised when compiling, never when evaluating.

    ``position`` is a 0-based index into ``source``; the message says "column N" counting from 1,
    as an editor does, and ``str()`` adds a caret under the offending character.
    """

    def __init__(self, message: str, source: str, position: int) -> None:
        self.message = message
        self.source = source
        self.position = position
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-rich exceptions do not pickle by default (args holds only the message).
        return (type(self), (self.message, self.source, self.position))

    def __str__(self) -> str:
        head = f"{self.message} at column {self.position + 1} in: "
        shown, caret = _window(_display(self.source), self.position)
        return f"{head}{shown}\n{' ' * (len(head) + caret)}^"


class MissingVariable(LookupError):
    """A variable, field or list item the expression reads does not exist.

    ``name`` is the whole path the expression asked for (``customer.first_name``), even when an
    earlier part (``customer``) is the one that is missing; ``reason`` says which part.
    """

    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason
        super().__init__(name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.reason))

    def __str__(self) -> str:
        return f"variable {self.name} is not set" + (f" ({self.reason})" if self.reason else "")


class EvalError(ValueError):
    """The expression is valid but cannot be computed with these values (types, division by zero)."""

    def __init__(self, message: str, source: str = "", position: int | None = None) -> None:
        self.message = message
        self.source = source
        self.position = position
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.source, self.position))

    def __str__(self) -> str:
        if not self.source:
            return self.message
        where = f"column {self.position + 1} of " if self.position is not None else ""
        return f"{self.message} (at {where}{_display(self.source)})"


class _Fail(Exception):
    """Raised by value helpers that do not know where they are; the evaluator adds the position."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# ------------------------------------------------------------------------------------------------ AST

Value: TypeAlias = "int | Decimal | str | bool | None"


@dataclass(frozen=True)
class Const:
    value: Value
    pos: int


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Attr:
    name: str
    pos: int


@dataclass(frozen=True)
class Index:
    index: Node
    pos: int
    text: str  # the index as written, so error messages can show the path the author wrote


@dataclass(frozen=True)
class Path:
    root: str
    steps: tuple[Attr | Index, ...]
    pos: int
    text: str  # canonical spelling (no spaces), used in MissingVariable.name


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: Node
    pos: int


@dataclass(frozen=True)
class BoolOp:
    # Chains are kept flat (``a and b and c`` is one node) so that depth measures real nesting
    # and evaluation of long chains does not recurse.
    op: str  # "and" or "or"
    operands: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int  # the operator's position


@dataclass(frozen=True)
class Operand:
    op: str
    pos: int
    node: Node


@dataclass(frozen=True)
class Arith:
    first: Node
    rest: tuple[Operand, ...]
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


Node: TypeAlias = "Const | ListExpr | Path | Unary | BoolOp | Compare | Arith | Call"


# ---------------------------------------------------------------------------------------------- lexer

_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "true", "false", "null", "True", "False", "None"})
_CONSTANTS: dict[str, Value] = {
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
class _Token:
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


class _Lexer:
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

    def next_token(self) -> _Token:
        self._skip_whitespace()
        text, start = self.text, self.pos
        if start >= len(text):
            return _Token("end", "", None, start)
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
                return _Token("kw", word, _CONSTANTS.get(word), start)
            return _Token("name", word, None, start)
        for hint_op, hint in _HINTS:
            # A real operator at least as long wins: "==" is not the "=" mistake, "!=" not "!".
            if text.startswith(hint_op, start) and not any(
                text.startswith(op, start) and len(op) >= len(hint_op) for op in _OPERATORS_2
            ):
                raise self._error(hint, start)
        for op in _OPERATORS_2:
            if text.startswith(op, start):
                self.pos = start + 2
                return _Token("op", op, None, start)
        if char in _OPERATORS_1:
            self.pos = start + 1
            return _Token("op", char, None, start)
        raise self._error(f"unexpected character '{char}'", start)

    def _number(self, start: int) -> _Token:
        run = _NUMBER_RUN_RE.match(self.text, start)
        assert run is not None  # the pattern accepts the empty string
        word = run.group()
        if not _NUMBER_RE.fullmatch(word):
            raise self._error(f"invalid number '{word}'", start)
        self.pos = run.end()
        value: Value = Decimal(word) if "." in word else int(word)
        return _Token("num", word, value, start)

    def _string(self, start: int) -> _Token:
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
                    raise self._error(
                        f"unknown escape '\\{escaped}' in a string; write '\\\\' for a backslash", i
                    )
                chars.append(_ESCAPES[escaped])
                i += 2
                continue
            chars.append(char)
            i += 1
        self.pos = i + 1
        return _Token("str", text[start : i + 1], "".join(chars), start)


# --------------------------------------------------------------------------------------------- parser

# name -> (minimum arguments, maximum arguments or None for "any number")
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "empty": (1, 1),
    "exists": (1, 1),
    "int": (1, 1),
    "len": (1, 1),
    "lower": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "number": (1, 1),
    "str": (1, 1),
    "upper": (1, 1),
}
"""The only functions an expression can call, with their argument counts."""

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Parser:
    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.lexer = _Lexer(text, start)
        self._tok: _Token | None = None
        self.prev: _Token | None = None
        self.depth = 0

    # -- token plumbing

    def peek(self) -> _Token:
        if self._tok is None:
            self._tok = self.lexer.next_token()
        return self._tok

    def peek_char(self) -> str:
        """The next non-blank character, without tokenizing it (see :class:`_Lexer`)."""
        if self._tok is not None:
            return self._tok.text[:1]
        return self.lexer.peek_char()

    def advance(self) -> _Token:
        tok = self.peek()
        self._tok = None
        self.prev = tok
        return tok

    def error(self, message: str, pos: int) -> ExprError:
        return ExprError(message, self.text, pos)

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"expression is nested too deeply (the limit is {MAX_DEPTH} levels of brackets, "
                "function calls and 'not'/'-')",
                tok.pos,
            )

    def leave(self) -> None:
        self.depth -= 1

    def value_expected(self, tok: _Token) -> ExprError:
        """The error for a token standing where a value should start."""
        if tok.kind == "end":
            if self.prev is None:
                return self.error("expression is empty", tok.pos)
            return self.error(f"expected a value after '{self.prev.text}', but the expression ended", tok.pos)
        if tok.is_kw("in", "and", "or", "is"):
            return self.error(f"unexpected '{tok.text}': a value is missing before it", tok.pos)
        return self.error(f"unexpected {tok.describe()}", tok.pos)

    def operator_expected(self, tok: _Token, opener: _Token | None = None) -> ExprError:
        """The error for a token following a complete value where an operator or closer belongs."""
        if opener is not None:
            closer = ")" if opener.text == "(" else "]"
            if tok.kind == "end":
                # Point at the opener: that is the bracket the author has to pair up.
                return self.error(f"'{opener.text}' is never closed (add '{closer}')", opener.pos)
            if tok.is_op(")", "]"):
                return self.error(f"unexpected '{tok.text}' where '{closer}' was expected", tok.pos)
        if tok.is_kw("is"):
            return self.error("'is' is not supported; use '==' or '!=' (e.g. x == null)", tok.pos)
        if tok.kind in ("name", "num", "str") or tok.is_kw(*_CONSTANTS):
            return self.error(f"unexpected {tok.describe()}; is an operator missing before it?", tok.pos)
        if tok.is_op("[", "."):
            return self.error(
                f"unexpected '{tok.text}': only a variable name can be followed by '{tok.text}'", tok.pos
            )
        if tok.is_op(")", "]"):
            return self.error(f"unexpected '{tok.text}': there is no opening bracket for it", tok.pos)
        return self.error(f"unexpected {tok.describe()}", tok.pos)

    def expect_close(self, opener: _Token) -> None:
        closer = ")" if opener.text == "(" else "]"
        tok = self.peek()
        if not tok.is_op(closer):
            raise self.operator_expected(tok, opener)
        self.advance()

    # -- grammar

    def parse_all(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise self.operator_expected(tok)
        return node

    def parse_or(self) -> Node:
        return self._bool_chain("or", self.parse_and)

    def parse_and(self) -> Node:
        return self._bool_chain("and", self.parse_not)

    def _bool_chain(self, word: str, operand: Callable[[], Node]) -> Node:
        first_pos = self.peek().pos
        operands = [operand()]
        while self.peek().is_kw(word):
            self.advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(word, tuple(operands), first_pos)

    def parse_not(self) -> Node:
        tok = self.peek()
        if not tok.is_kw("not"):
            return self.parse_comparison()
        self.advance()
        self.enter(tok)
        operand = self.parse_not()
        self.leave()
        return Unary("not", operand, tok.pos)

    def _comparison_op(self) -> tuple[str, _Token] | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARISONS:
            self.advance()
            return tok.text, tok
        if tok.is_kw("in"):
            self.advance()
            return "in", tok
        if tok.is_kw("not"):
            self.advance()
            after = self.peek()
            if not after.is_kw("in"):
                raise self.error("expected 'in' after 'not' (as in: x not in [1, 2])", after.pos)
            self.advance()
            return "not in", tok
        return None

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        found = self._comparison_op()
        if found is None:
            return left
        op, op_tok = found
        right = self.parse_sum()
        again = self.peek()
        if self._comparison_op() is not None:
            raise self.error(
                "comparisons cannot be chained; join them with 'and' (as in: a < b and b < c)", again.pos
            )
        return Compare(op, left, right, op_tok.pos)

    def parse_sum(self) -> Node:
        return self._arith_chain("+-", self.parse_product)

    def parse_product(self) -> Node:
        return self._arith_chain("*/%", self.parse_unary)

    def _arith_chain(self, ops: str, operand: Callable[[], Node]) -> Node:
        first_pos = self.peek().pos
        first = operand()
        rest: list[Operand] = []
        while (tok := self.peek()).kind == "op" and tok.text in ops:
            self.advance()
            rest.append(Operand(tok.text, tok.pos, operand()))
        return Arith(first, tuple(rest), first_pos) if rest else first

    def parse_unary(self) -> Node:
        tok = self.peek()
        if not tok.is_op("-"):
            return self.parse_primary()
        self.advance()
        self.enter(tok)
        operand = self.parse_unary()
        self.leave()
        if isinstance(operand, Const) and _is_number(operand.value):
            # Fold "-5" into a constant: negative literals are common and need no evaluation.
            return Const(_negate(operand.value), tok.pos)
        return Unary("-", operand, tok.pos)

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("num", "str") or tok.is_kw(*_CONSTANTS):
            self.advance()
            return Const(tok.value, tok.pos)
        if tok.is_op("("):
            self.advance()
            self.enter(tok)
            node = self.parse_or()
            self.expect_close(tok)
            self.leave()
            return node
        if tok.is_op("["):
            return self.parse_list()
        if tok.kind == "name":
            self.advance()
            if self.peek_char() == "(":
                return self.parse_call(tok)
            path = self.parse_path_rest(tok)
            if self.peek_char() == "(":
                raise self._method_call_error(path)
            return path
        raise self.value_expected(tok)

    def parse_list(self) -> ListExpr:
        opener = self.advance()
        self.enter(opener)
        items: list[Node] = []
        while not self.peek().is_op("]"):
            items.append(self.parse_or())
            tok = self.peek()
            if tok.is_op(","):
                self.advance()
            elif not tok.is_op("]"):
                if tok.kind == "end":
                    raise self.operator_expected(tok, opener)
                raise self.error(f"expected ',' or ']' in the list, found {tok.describe()}", tok.pos)
        self.advance()
        self.leave()
        return ListExpr(tuple(items), opener.pos)

    def parse_call(self, name_tok: _Token) -> Call:
        name = name_tok.text
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(
                f"unknown function '{name}'{_did_you_mean(name, sorted(FUNCTIONS))}; "
                f"the functions are: {known}",
                name_tok.pos,
            )
        opener = self.advance()
        self.enter(name_tok)
        args: list[Node] = []
        if not self.peek().is_op(")"):
            while True:
                args.append(self.parse_or())
                tok = self.peek()
                if tok.is_op(","):
                    self.advance()
                    continue
                if tok.is_op(")") or tok.kind == "end":
                    break
                raise self.error(
                    f"expected ',' or ')' after an argument of {name}(), found {tok.describe()}", tok.pos
                )
        self.expect_close(opener)
        self.leave()
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = _plural(low, "argument") if high == low else f"at least {_plural(low, 'argument')}"
            raise self.error(f"{name}() takes {wanted}, got {len(args)}", name_tok.pos)
        if name == "exists" and not isinstance(args[0], Path):
            raise self.error(
                "exists() needs a variable, as in: exists(customer.email)",
                getattr(args[0], "pos", opener.pos),
            )
        return Call(name, tuple(args), name_tok.pos)

    def _check_name(self, tok: _Token) -> None:
        # Underscore names reach Python internals (__class__, _private state) on real objects;
        # rejecting them here means no value can ever expose them, whatever its type.
        if tok.text.startswith("_"):
            raise self.error(f"names starting with '_' are not allowed: '{tok.text}'", tok.pos)

    def parse_path_rest(self, root: _Token) -> Path:
        self._check_name(root)
        steps: list[Attr | Index] = []
        text = [root.text]
        while (char := self.peek_char()) in (".", "["):
            opener = self.advance()
            if char == ".":
                tok = self.advance()
                if tok.kind == "num":
                    raise self.error(
                        f"expected a name after '.', found {tok.describe()}; "
                        f"to pick an item by position write [{tok.text}]",
                        tok.pos,
                    )
                if tok.kind == "end":
                    raise self.error("expected a name after '.', but the expression ended", tok.pos)
                if tok.kind != "name":
                    raise self.error(f"expected a name after '.', found {tok.describe()}", tok.pos)
                self._check_name(tok)
                steps.append(Attr(tok.text, tok.pos))
                text.append("." + tok.text)
            else:
                self.enter(opener)
                if self.peek().is_op("]"):
                    raise self.error("expected an index or key inside '[ ]'", self.peek().pos)
                index = self.parse_or()
                close_pos = self.peek().pos
                self.expect_close(opener)
                self.leave()
                written = self.text[opener.pos + 1 : close_pos].strip()
                steps.append(Index(index, opener.pos, written))
                text.append(f"[{written}]")
        return Path(root.text, tuple(steps), root.pos, "".join(text))

    def _method_call_error(self, path: Path) -> ExprError:
        pos = self.peek().pos
        last = path.steps[-1] if path.steps else None
        if isinstance(last, Attr) and last.name in FUNCTIONS:
            owner = path.text[: -len(last.name) - 1]
            return self.error(f"methods are not supported; write {last.name}({owner})", last.pos)
        known = ", ".join(sorted(FUNCTIONS))
        return self.error(f"'{path.text}' is not a function; the functions are: {known}", pos)


# ------------------------------------------------------------------------------------------ evaluator

_MISSING: Any = object()


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _negate(value: Any) -> Any:
    return _CTX.minus(value) if isinstance(value, Decimal) else -value


def _kind(value: object) -> str:
    """The type name used in error messages, in the language's own terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _show(value: object, limit: int = 40, depth: int = 0) -> str:
    """A value written the way an author would write it in an expression (for error messages)."""
    text: str
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum) and not isinstance(value, str):
        text = _show(value.value, limit, depth)
    elif isinstance(value, str):
        text = "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    elif isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list | tuple):
        text = "[...]" if depth > 2 else "[" + ", ".join(_show(v, 0, depth + 1) for v in value) + "]"
    elif isinstance(value, Mapping):
        inner = ", ".join(f"{_show(k, 0, depth + 1)}: {_show(v, 0, depth + 1)}" for k, v in value.items())
        text = "{...}" if depth > 2 else "{" + inner + "}"
    else:
        text = f"<{type(value).__name__}>"
    if limit and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _num(value: Any) -> int | Decimal:
    """A number as int or Decimal; floats (from Python callers) go through their shortest repr so
    that 0.1 stays 0.1 instead of becoming 0.1000000000000000055511151231257827."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Fail(f"{_show(value)} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise _Fail(f"{value} is not a finite number")
    assert isinstance(value, int | Decimal)
    return value


def _check_int(value: int | Decimal, op: str) -> int | Decimal:
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise _Fail(f"the result of '{op}' is too large")
    return value


def truthy(value: Any) -> bool:
    """Whether a value counts as true in a condition: null, false, zero, empty text and empty
    lists/dicts are false; everything else is true."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if _is_number(value):
        return bool(value != 0)
    if isinstance(value, Sized):
        return len(value) > 0
    return True


def _equal(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None:
        return a is None and b is None
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise _Fail(_mismatch(a, b, op))
    if ka == "number":
        return bool(_num(a) == _num(b))
    if ka == "list":
        return list(a) == list(b)
    return bool(a == b)


def _mismatch(a: Any, b: Any, op: str) -> str:
    ka, kb = _kind(a), _kind(b)
    hint = ""
    if {ka, kb} == {"str", "number"}:
        hint = " (convert one side first with number(...) or str(...))"
    return f"cannot compare {ka} with {kb}: {_show(a)} {op} {_show(b)}{hint}"


def _order(op: str, a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise _Fail(_mismatch(a, b, op))
    if ka in ("null", "bool", "list", "dict"):
        raise _Fail(f"'{op}' cannot compare {ka} values: {_show(a)} {op} {_show(b)}")
    x, y = (_num(a), _num(b)) if ka == "number" else (a, b)
    try:
        if op == "<":
            return bool(x < y)
        if op == "<=":
            return bool(x <= y)
        if op == ">":
            return bool(x > y)
        return bool(x >= y)
    except TypeError:
        raise _Fail(f"'{op}' cannot compare {ka} values: {_show(a)} {op} {_show(b)}") from None


def _contains(item: Any, container: Any, op: str) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise _Fail(f"cannot look for {_kind(item)} in str: {_show(item)} {op} {_show(container)}")
        return item in container
    if isinstance(container, Mapping):
        candidates: Any = container.keys()
    elif isinstance(container, list | tuple):
        candidates = container
    else:
        raise _Fail(
            f"'{op}' needs text, a list or a dict on its right, got {_kind(container)}: "
            f"{_show(item)} {op} {_show(container)}"
        )
    comparable = item is None
    for candidate in candidates:
        if candidate is None or item is None:
            comparable = True
            if candidate is item:
                return True
        elif _kind(candidate) == _kind(item):
            comparable = True
            if _equal(item, candidate, "=="):
                return True
    if candidates and not comparable:
        # Every element has another type: "5" in [5, 6] is a type slip, not a "no".
        kinds = " and ".join(sorted({_kind(c) for c in candidates}))
        where = "the keys of a dict" if isinstance(container, Mapping) else "a list"
        raise _Fail(
            f"cannot look for {_kind(item)} among {kinds} in {where}: {_show(item)} {op} {_show(container)}"
        )
    return False


_ARITH_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and _kind(a) == "list" and _kind(b) == "list":
        return [*a, *b]
    if not (_is_number(a) and _is_number(b)):
        shown = f"{_show(a)} {op} {_show(b)}"
        if op == "+" and "str" in (_kind(a), _kind(b)):
            raise _Fail(
                f"cannot add {_kind(a)} and {_kind(b)}: {shown} (use str(...) to turn a number into text)"
            )
        raise _Fail(f"cannot {_ARITH_VERBS[op]} {_kind(a)} and {_kind(b)}: {shown}")
    x, y = _num(a), _num(b)
    if op in "/%" and y == 0:
        raise _Fail(f"division by zero: {_show(a)} {op} {_show(b)}")
    try:
        if op == "/":
            return _CTX.divide(Decimal(x), Decimal(y))
        if isinstance(x, int) and isinstance(y, int):
            if op == "+":
                return _check_int(x + y, op)
            if op == "-":
                return _check_int(x - y, op)
            if op == "*":
                return _check_int(x * y, op)
            return x % y
        if op == "+":
            return _CTX.add(x, y)
        if op == "-":
            return _CTX.subtract(x, y)
        if op == "*":
            return _CTX.multiply(x, y)
        # Decimal's % keeps the dividend's sign; match int's (the divisor's) so one rule holds.
        rest = _CTX.remainder(x, y)
        if rest != 0 and (rest < 0) != (y < 0):
            rest = _CTX.add(rest, y)
        return rest
    except ArithmeticError:
        raise _Fail(f"the result of '{op}' is too large: {_show(a)} {op} {_show(b)}") from None


def _get_field(value: Any, name: str) -> Any:
    """``value.name``: a dict key, or a declared field of a dataclass or pydantic model."""
    if isinstance(value, Mapping):
        return value.get(name, _MISSING)
    if isinstance(value, BaseModel):
        return getattr(value, name) if name in type(value).model_fields else _MISSING
    if is_dataclass(value) and not isinstance(value, type):
        return getattr(value, name) if name in {f.name for f in fields(value)} else _MISSING
    raise _Fail(f"cannot read '.{name}' of {_kind(value)} {_show(value)}: it has no fields")


def _as_position(index: Any) -> int:
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    if isinstance(index, Decimal) and index.is_finite() and index == index.to_integral_value():
        return int(index)
    raise _Fail(f"a list position must be a whole number, got {_kind(index)}: {_show(index)}")


def _get_item(value: Any, index: Any) -> Any:
    if isinstance(value, Mapping):
        try:
            return value.get(index, _MISSING)
        except TypeError:
            raise _Fail(f"a {_kind(index)} cannot be used as a dict key: {_show(index)}") from None
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        position = _as_position(index)
        return value[position] if -len(value) <= position < len(value) else _MISSING
    raise _Fail(f"cannot use [ ] on {_kind(value)} {_show(value)}")


def _key_text(index: Any) -> str:
    if isinstance(index, str):
        return '"' + index.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _show(index)


# -- functions (each takes evaluated arguments; ``exists`` is handled by the evaluator)


def _fn_len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _Fail(f"len() needs text, a list or a dict, got {_kind(value)}: {_show(value)}")


def _fn_text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    raise _Fail(f"{name}() needs text, got {_kind(value)}: {_show(value)}")


def _fn_str(value: Any) -> str:
    if isinstance(value, Enum):
        return _fn_str(value.value)
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | list | tuple | Mapping):
        return _show(value, limit=0)
    if _is_number(value):
        number = _num(value)
        return format(number, "f") if isinstance(number, Decimal) else str(number)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


_INT_TEXT_RE = re.compile(r"[+-]?[0-9]{1,100}")
_DECIMAL_TEXT_RE = re.compile(r"[+-]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})")


def _fn_int(value: Any) -> int:
    if _is_number(value):
        return int(_num(value))
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT_RE.fullmatch(text):
            return int(text)
        if _DECIMAL_TEXT_RE.fullmatch(text):
            raise _Fail(f"int() cannot read {_show(value)} as a whole number; use number() for decimals")
        raise _Fail(f"int() cannot read {_show(value)} as a whole number")
    raise _Fail(f"int() needs a number or text, got {_kind(value)}: {_show(value)}")


def _fn_number(value: Any) -> Decimal:
    if _is_number(value):
        return Decimal(_num(value))
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL_TEXT_RE.fullmatch(text):
            return Decimal(text)
        raise _Fail(f"number() cannot read {_show(value)} as a number")
    raise _Fail(f"number() needs a number or text, got {_kind(value)}: {_show(value)}")


def _fn_abs(value: Any) -> int | Decimal:
    if _is_number(value):
        number = _num(value)
        return _CTX.abs(number) if isinstance(number, Decimal) else abs(number)
    raise _Fail(f"abs() needs a number, got {_kind(value)}: {_show(value)}")


def _fn_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _fn_extreme(name: str, args: list[Any]) -> Any:
    items: Sequence[Any] = args
    if len(args) == 1:
        if _kind(args[0]) != "list":
            raise _Fail(f"{name}() of one value needs a list, got {_kind(args[0])}: {_show(args[0])}")
        items = args[0]
        if not items:
            raise _Fail(f"{name}() of an empty list")
    kinds = sorted({_kind(item) for item in items})
    if kinds == ["number"]:
        numbers = [_num(item) for item in items]
        return min(numbers) if name == "min" else max(numbers)
    if kinds == ["str"]:
        return min(items) if name == "min" else max(items)
    raise _Fail(f"{name}() needs all numbers or all text, got {' and '.join(kinds)}")


def _call(name: str, args: list[Any]) -> Any:
    if name == "len":
        return _fn_len(args[0])
    if name in ("lower", "upper"):
        text = _fn_text(args[0], name)
        return text.lower() if name == "lower" else text.upper()
    if name == "str":
        return _fn_str(args[0])
    if name == "int":
        return _fn_int(args[0])
    if name == "number":
        return _fn_number(args[0])
    if name == "abs":
        return _fn_abs(args[0])
    if name == "empty":
        return _fn_empty(args[0])
    if name in ("min", "max"):
        return _fn_extreme(name, args)
    raise AssertionError(f"function {name} is in FUNCTIONS but not implemented")


class _Evaluator:
    def __init__(self, source: str, variables: Mapping[str, Any]) -> None:
        self.source = source
        self.variables = variables

    def fail(self, message: str, pos: int) -> EvalError:
        return EvalError(message, self.source, pos)

    def eval(self, node: Node) -> Any:
        try:
            return self._eval(node)
        except _Fail as failure:
            raise self.fail(failure.message, node.pos) from None

    def _eval(self, node: Node) -> Any:
        if isinstance(node, Const):
            return node.value
        if isinstance(node, Path):
            return self.resolve(node, lenient=False)
        if isinstance(node, BoolOp):
            # Short-circuit, and always a bool: "a or b" must not leak b's value into a `set`.
            want = node.op == "or"
            for operand in node.operands:
                if truthy(self.eval(operand)) == want:
                    return want
            return not want
        if isinstance(node, Unary):
            value = self.eval(node.operand)
            if node.op == "not":
                return not truthy(value)
            if not _is_number(value):
                raise self.fail(f"'-' needs a number, got {_kind(value)}: {_show(value)}", node.pos)
            return _negate(_num(value))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Arith):
            result = self.eval(node.first)
            for step in node.rest:
                right = self.eval(step.node)
                try:
                    result = _arith(step.op, result, right)
                except _Fail as failure:
                    raise self.fail(failure.message, step.pos) from None
            return result
        if isinstance(node, ListExpr):
            return [self.eval(item) for item in node.items]
        if node.name == "exists":
            arg = node.args[0]
            assert isinstance(arg, Path)  # checked by the parser
            return self.resolve(arg, lenient=True) is not _MISSING
        return _call(node.name, [self.eval(arg) for arg in node.args])

    def compare(self, node: Compare) -> bool:
        left = self.eval(node.left)
        right = self.eval(node.right)
        try:
            if node.op == "==":
                return _equal(left, right, node.op)
            if node.op == "!=":
                return not _equal(left, right, node.op)
            if node.op == "in":
                return _contains(left, right, node.op)
            if node.op == "not in":
                return not _contains(left, right, node.op)
            return _order(node.op, left, right)
        except _Fail as failure:
            raise self.fail(failure.message, node.pos) from None

    def resolve(self, path: Path, lenient: bool) -> Any:
        """The value at ``path``; with ``lenient`` (for exists()) a missing part, or a null part
        that a later step reads through, gives ``_MISSING`` instead of an error."""
        if path.root not in self.variables:
            if lenient:
                return _MISSING
            reason = "" if not path.steps else f"{path.root} does not exist"
            raise MissingVariable(path.text, reason)
        value = self.variables[path.root]
        shown = path.root
        for step in path.steps:
            index: Any = None
            if isinstance(step, Attr):
                here = f"{shown}.{step.name}"
                key_desc = f"no field '{step.name}'"
            else:
                index = self.eval(step.index)
                here = f"{shown}[{step.text}]"
                key_desc = f"no key {_key_text(index)}"
            if value is None:
                if lenient:
                    return _MISSING
                raise self.fail(f"cannot read {here}: {shown} is null", step.pos)
            try:
                found = _get_field(value, step.name) if isinstance(step, Attr) else _get_item(value, index)
            except _Fail as failure:
                raise self.fail(failure.message, step.pos) from None
            if found is _MISSING:
                if lenient:
                    return _MISSING
                if isinstance(step, Index) and _kind(value) in ("list", "str"):
                    count = (
                        _plural(len(value), "item") if _kind(value) == "list" else f"{len(value)} characters"
                    )
                    reason = f"{shown} has {count}, so [{_show(index)}] is out of range"
                else:
                    reason = f"{shown} has {key_desc}"
                raise MissingVariable(path.text, reason)
            value = found
            shown = here
        return value


# -------------------------------------------------------------------------------------------- public


def _root_names(node: Node, into: set[str]) -> None:
    if isinstance(node, Path):
        into.add(node.root)
        for step in node.steps:
            if isinstance(step, Index):
                _root_names(step.index, into)
    elif isinstance(node, Unary):
        _root_names(node.operand, into)
    elif isinstance(node, BoolOp):
        for child in node.operands:
            _root_names(child, into)
    elif isinstance(node, ListExpr):
        for child in node.items:
            _root_names(child, into)
    elif isinstance(node, Call):
        for child in node.args:
            _root_names(child, into)
    elif isinstance(node, Compare):
        _root_names(node.left, into)
        _root_names(node.right, into)
    elif isinstance(node, Arith):
        _root_names(node.first, into)
        for operand in node.rest:
            _root_names(operand.node, into)


@dataclass(frozen=True)
class Expr:
    """A compiled expression: immutable, reusable and safe to share between calls."""

    source: str
    node: Node = field(repr=False)
    _names: frozenset[str] = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The expression's value with these variables.

        Raises :class:`MissingVariable` when a variable/field/item it reads is absent and
        :class:`EvalError` when values have the wrong type for an operation.
        """
        return _Evaluator(self.source, variables).eval(self.node)

    def names(self) -> frozenset[str]:
        """The root variable names the expression reads (``customer`` for ``customer.name``)."""
        return self._names


def _make(source: str, node: Node) -> Expr:
    names: set[str] = set()
    _root_names(node, names)
    return Expr(source, node, frozenset(names))


def compile_expr(source: str) -> Expr:
    """Parse an expression; raises :class:`ExprError` describing the first problem found."""
    if not isinstance(source, str):
        raise TypeError(f"an expression must be a string, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExprError(
            f"expression is too long: {len(source)} characters (the limit is {MAX_LENGTH})",
            source,
            MAX_LENGTH,
        )
    return _make(source, _Parser(source).parse_all())


def scan_path(text: str, start: int = 0) -> int:
    """Read a variable path (``a.b[0]["c"]``) starting at ``text[start]`` and return the index just
    after it; nothing after the path is looked at. Used by templates to find placeholders.
    Raises :class:`ExprError` with positions relative to the whole of ``text``."""
    parser = _Parser(text, start)
    tok = parser.advance()
    if tok.kind != "name":
        raise parser.error(f"expected a variable name, found {tok.describe()}", tok.pos)
    parser.parse_path_rest(tok)
    return parser.lexer.pos if parser._tok is None else parser._tok.pos


def compile_path(source: str) -> Expr:
    """Compile a string that must be exactly one variable path (no operators or calls)."""
    parser = _Parser(source)
    tok = parser.advance()
    if tok.kind != "name":
        raise parser.error(f"expected a variable name, found {tok.describe()}", tok.pos)
    path = parser.parse_path_rest(tok)
    rest = parser.peek()
    if rest.kind != "end":
        raise parser.error(f"unexpected {rest.describe()} after the variable name", rest.pos)
    return _make(source, path)
