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

The language lives in small modules: ``expr_errors`` (errors and their display), ``expr_ast``
(syntax tree), ``expr_lexer`` and ``expr_parse`` (text to tree), ``expr_values`` (operations on
values), ``expr_functions`` (built-in functions); this module evaluates and is the public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicebot.flow.expr_ast import Arith, Attr, BoolOp, Call, Compare, Const, Index, ListExpr, Node, Path, Unary
from voicebot.flow.expr_errors import EvalError, ExprError, Failure, MissingVariable
from voicebot.flow.expr_functions import call_function
from voicebot.flow.expr_parse import FUNCTIONS, MAX_DEPTH, Parser, plural
from voicebot.flow.expr_values import (
    MISSING,
    arith,
    contains,
    equal,
    get_field,
    get_item,
    is_number,
    key_text,
    kind,
    negate,
    num,
    order,
    show,
    truthy,
)

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


class _Evaluator:
    def __init__(self, source: str, variables: Mapping[str, Any]) -> None:
        self.source = source
        self.variables = variables

    def fail(self, message: str, pos: int) -> EvalError:
        return EvalError(message, self.source, pos)

    def eval(self, node: Node) -> Any:
        try:
            return self._eval(node)
        except Failure as failure:
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
            if not is_number(value):
                raise self.fail(f"'-' needs a number, got {kind(value)}: {show(value)}", node.pos)
            return negate(num(value))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Arith):
            result = self.eval(node.first)
            for step in node.rest:
                right = self.eval(step.node)
                try:
                    result = arith(step.op, result, right)
                except Failure as failure:
                    raise self.fail(failure.message, step.pos) from None
            return result
        if isinstance(node, ListExpr):
            return [self.eval(item) for item in node.items]
        if node.name == "exists":
            arg = node.args[0]
            assert isinstance(arg, Path)  # checked by the parser
            return self.resolve(arg, lenient=True) is not MISSING
        return call_function(node.name, [self.eval(arg) for arg in node.args])

    def compare(self, node: Compare) -> bool:
        left = self.eval(node.left)
        right = self.eval(node.right)
        try:
            if node.op == "==":
                return equal(left, right, node.op)
            if node.op == "!=":
                return not equal(left, right, node.op)
            if node.op == "in":
                return contains(left, right, node.op)
            if node.op == "not in":
                return not contains(left, right, node.op)
            return order(node.op, left, right)
        except Failure as failure:
            raise self.fail(failure.message, node.pos) from None

    def resolve(self, path: Path, lenient: bool) -> Any:
        """The value at ``path``; with ``lenient`` (for exists()) a missing part, or a null part
        that a later step reads through, gives ``MISSING`` instead of an error."""
        if path.root not in self.variables:
            if lenient:
                return MISSING
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
                key_desc = f"no key {key_text(index)}"
            if value is None:
                if lenient:
                    return MISSING
                raise self.fail(f"cannot read {here}: {shown} is null", step.pos)
            try:
                found = get_field(value, step.name) if isinstance(step, Attr) else get_item(value, index)
            except Failure as failure:
                raise self.fail(failure.message, step.pos) from None
            if found is MISSING:
                if lenient:
                    return MISSING
                if isinstance(step, Index) and kind(value) in ("list", "str"):
                    count = plural(len(value), "item") if kind(value) == "list" else f"{len(value)} characters"
                    reason = f"{shown} has {count}, so [{show(index)}] is out of range"
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
    return _make(source, Parser(source).parse_all())


def scan_path(text: str, start: int = 0) -> int:
    """Read a variable path (``a.b[0]["c"]``) starting at ``text[start]`` and return the index just
    after it; nothing after the path is looked at. Used by templates to find placeholders.
    Raises :class:`ExprError` with positions relative to the whole of ``text``."""
    parser = Parser(text, start)
    tok = parser.advance()
    if tok.kind != "name":
        raise parser.error(f"expected a variable name, found {tok.describe()}", tok.pos)
    parser.parse_path_rest(tok)
    return parser.lexer.pos if parser._tok is None else parser._tok.pos


def compile_path(source: str) -> Expr:
    """Compile a string that must be exactly one variable path (no operators or calls)."""
    parser = Parser(source)
    tok = parser.advance()
    if tok.kind != "name":
        raise parser.error(f"expected a variable name, found {tok.describe()}", tok.pos)
    path = parser.parse_path_rest(tok)
    rest = parser.peek()
    if rest.kind != "end":
        raise parser.error(f"unexpected {rest.describe()} after the variable name", rest.pos)
    return _make(source, path)
