"""The recursive-descent parser of flow expressions: grammar in :mod:`voicebot.flow.expr`.

Every error names what was expected and points at the token where it went wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from voicebot.flow.expr_ast import (
    Arith,
    Attr,
    BoolOp,
    Call,
    Compare,
    Const,
    Index,
    ListExpr,
    Node,
    Operand,
    Path,
    Unary,
)
from voicebot.flow.expr_errors import ExprError
from voicebot.flow.expr_lexer import CONSTANTS, Lexer, Token
from voicebot.flow.expr_values import is_number, negate

MAX_DEPTH = 50
"""Deepest nesting of brackets, calls and unary operators: keeps parser and evaluator recursion
far from Python's recursion limit whatever the input."""


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


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class Parser:
    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.lexer = Lexer(text, start)
        self._tok: Token | None = None
        self.prev: Token | None = None
        self.depth = 0

    # -- token plumbing

    def peek(self) -> Token:
        if self._tok is None:
            self._tok = self.lexer.next_token()
        return self._tok

    def peek_char(self) -> str:
        """The next non-blank character, without tokenizing it (see :class:`Lexer`)."""
        if self._tok is not None:
            return self._tok.text[:1]
        return self.lexer.peek_char()

    def advance(self) -> Token:
        tok = self.peek()
        self._tok = None
        self.prev = tok
        return tok

    def error(self, message: str, pos: int) -> ExprError:
        return ExprError(message, self.text, pos)

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"expression is nested too deeply (the limit is {MAX_DEPTH} levels of brackets, "
                "function calls and 'not'/'-')",
                tok.pos,
            )

    def leave(self) -> None:
        self.depth -= 1

    def value_expected(self, tok: Token) -> ExprError:
        """The error for a token standing where a value should start."""
        if tok.kind == "end":
            if self.prev is None:
                return self.error("expression is empty", tok.pos)
            return self.error(f"expected a value after '{self.prev.text}', but the expression ended", tok.pos)
        if tok.is_kw("in", "and", "or", "is"):
            return self.error(f"unexpected '{tok.text}': a value is missing before it", tok.pos)
        return self.error(f"unexpected {tok.describe()}", tok.pos)

    def operator_expected(self, tok: Token, opener: Token | None = None) -> ExprError:
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
        if tok.kind in ("name", "num", "str") or tok.is_kw(*CONSTANTS):
            return self.error(f"unexpected {tok.describe()}; is an operator missing before it?", tok.pos)
        if tok.is_op("[", "."):
            return self.error(f"unexpected '{tok.text}': only a variable name can be followed by '{tok.text}'", tok.pos)
        if tok.is_op(")", "]"):
            return self.error(f"unexpected '{tok.text}': there is no opening bracket for it", tok.pos)
        return self.error(f"unexpected {tok.describe()}", tok.pos)

    def expect_close(self, opener: Token) -> None:
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

    def _comparison_op(self) -> tuple[str, Token] | None:
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
            raise self.error("comparisons cannot be chained; join them with 'and' (as in: a < b and b < c)", again.pos)
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
        if isinstance(operand, Const) and is_number(operand.value):
            # Fold "-5" into a constant: negative literals are common and need no evaluation.
            return Const(negate(operand.value), tok.pos)
        return Unary("-", operand, tok.pos)

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("num", "str") or tok.is_kw(*CONSTANTS):
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

    def parse_call(self, name_tok: Token) -> Call:
        name = name_tok.text
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(
                f"unknown function '{name}'{_did_you_mean(name, sorted(FUNCTIONS))}; the functions are: {known}",
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
                raise self.error(f"expected ',' or ')' after an argument of {name}(), found {tok.describe()}", tok.pos)
        self.expect_close(opener)
        self.leave()
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = plural(low, "argument") if high == low else f"at least {plural(low, 'argument')}"
            raise self.error(f"{name}() takes {wanted}, got {len(args)}", name_tok.pos)
        if name == "exists" and not isinstance(args[0], Path):
            raise self.error(
                "exists() needs a variable, as in: exists(customer.email)",
                getattr(args[0], "pos", opener.pos),
            )
        return Call(name, tuple(args), name_tok.pos)

    def _check_name(self, tok: Token) -> None:
        # Underscore names reach Python internals (__class__, _private state) on real objects;
        # rejecting them here means no value can ever expose them, whatever its type.
        if tok.text.startswith("_"):
            raise self.error(f"names starting with '_' are not allowed: '{tok.text}'", tok.pos)

    def parse_path_rest(self, root: Token) -> Path:
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
