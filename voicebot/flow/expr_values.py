"""Operations on flow-expression values: kinds, display, exact arithmetic, comparison, field access.

Helpers here raise :class:`~voicebot.flow.expr_errors.Failure` without a position; the evaluator
adds the column of the node it was computing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import fields, is_dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from enum import Enum
from typing import Any

from pydantic import BaseModel

from voicebot.flow.expr_errors import Failure

# Integers are unbounded in Python; an expression multiplying big variables together could build
# a number whose decimal form Python refuses to print (and no caller could use). 512 bits is ~154
# digits, far beyond any amount or count a flow handles.
_MAX_INT_BITS = 512

# Decimal arithmetic uses a private context instead of the thread's current one, so results never
# depend on what other code did to ``decimal.getcontext()``; traps turn NaN/overflow into errors.
DECIMAL_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


MISSING: Any = object()


def is_number(value: object) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def negate(value: Any) -> Any:
    return DECIMAL_CONTEXT.minus(value) if isinstance(value, Decimal) else -value


def kind(value: object) -> str:
    """The type name used in error messages, in the language's own terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def show(value: object, limit: int = 40, depth: int = 0) -> str:
    """A value written the way an author would write it in an expression (for error messages)."""
    text: str
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum) and not isinstance(value, str):
        text = show(value.value, limit, depth)
    elif isinstance(value, str):
        text = "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    elif isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list | tuple):
        text = "[...]" if depth > 2 else "[" + ", ".join(show(v, 0, depth + 1) for v in value) + "]"
    elif isinstance(value, Mapping):
        inner = ", ".join(f"{show(k, 0, depth + 1)}: {show(v, 0, depth + 1)}" for k, v in value.items())
        text = "{...}" if depth > 2 else "{" + inner + "}"
    else:
        text = f"<{type(value).__name__}>"
    if limit and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def num(value: Any) -> int | Decimal:
    """A number as int or Decimal; floats (from Python callers) go through their shortest repr so
    that 0.1 stays 0.1 instead of becoming 0.1000000000000000055511151231257827."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Failure(f"{show(value)} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise Failure(f"{value} is not a finite number")
    assert isinstance(value, int | Decimal)
    return value


def _check_int(value: int | Decimal, op: str) -> int | Decimal:
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise Failure(f"the result of '{op}' is too large")
    return value


def truthy(value: Any) -> bool:
    """Whether a value counts as true in a condition: null, false, zero, empty text and empty
    lists/dicts are false; everything else is true."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if is_number(value):
        return bool(value != 0)
    if isinstance(value, Sized):
        return len(value) > 0
    return True


def equal(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None:
        return a is None and b is None
    ka, kb = kind(a), kind(b)
    if ka != kb:
        raise Failure(_mismatch(a, b, op))
    if ka == "number":
        return bool(num(a) == num(b))
    if ka == "list":
        return list(a) == list(b)
    return bool(a == b)


def _mismatch(a: Any, b: Any, op: str) -> str:
    ka, kb = kind(a), kind(b)
    hint = ""
    if {ka, kb} == {"str", "number"}:
        hint = " (convert one side first with number(...) or str(...))"
    return f"cannot compare {ka} with {kb}: {show(a)} {op} {show(b)}{hint}"


def order(op: str, a: Any, b: Any) -> bool:
    ka, kb = kind(a), kind(b)
    if ka != kb:
        raise Failure(_mismatch(a, b, op))
    if ka in ("null", "bool", "list", "dict"):
        raise Failure(f"'{op}' cannot compare {ka} values: {show(a)} {op} {show(b)}")
    x, y = (num(a), num(b)) if ka == "number" else (a, b)
    try:
        if op == "<":
            return bool(x < y)
        if op == "<=":
            return bool(x <= y)
        if op == ">":
            return bool(x > y)
        return bool(x >= y)
    except TypeError:
        raise Failure(f"'{op}' cannot compare {ka} values: {show(a)} {op} {show(b)}") from None


def contains(item: Any, container: Any, op: str) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise Failure(f"cannot look for {kind(item)} in str: {show(item)} {op} {show(container)}")
        return item in container
    if isinstance(container, Mapping):
        candidates: Any = container.keys()
    elif isinstance(container, list | tuple):
        candidates = container
    else:
        raise Failure(
            f"'{op}' needs text, a list or a dict on its right, got {kind(container)}: "
            f"{show(item)} {op} {show(container)}"
        )
    comparable = item is None
    for candidate in candidates:
        if candidate is None or item is None:
            comparable = True
            if candidate is item:
                return True
        elif kind(candidate) == kind(item):
            comparable = True
            if equal(item, candidate, "=="):
                return True
    if candidates and not comparable:
        # Every element has another type: "5" in [5, 6] is a type slip, not a "no".
        kinds = " and ".join(sorted({kind(c) for c in candidates}))
        where = "the keys of a dict" if isinstance(container, Mapping) else "a list"
        raise Failure(f"cannot look for {kind(item)} among {kinds} in {where}: {show(item)} {op} {show(container)}")
    return False


_ARITH_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}


def arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and kind(a) == "list" and kind(b) == "list":
        return [*a, *b]
    if not (is_number(a) and is_number(b)):
        shown = f"{show(a)} {op} {show(b)}"
        if op == "+" and "str" in (kind(a), kind(b)):
            raise Failure(f"cannot add {kind(a)} and {kind(b)}: {shown} (use str(...) to turn a number into text)")
        raise Failure(f"cannot {_ARITH_VERBS[op]} {kind(a)} and {kind(b)}: {shown}")
    x, y = num(a), num(b)
    if op in "/%" and y == 0:
        raise Failure(f"division by zero: {show(a)} {op} {show(b)}")
    try:
        if op == "/":
            return DECIMAL_CONTEXT.divide(Decimal(x), Decimal(y))
        if isinstance(x, int) and isinstance(y, int):
            if op == "+":
                return _check_int(x + y, op)
            if op == "-":
                return _check_int(x - y, op)
            if op == "*":
                return _check_int(x * y, op)
            return x % y
        if op == "+":
            return DECIMAL_CONTEXT.add(x, y)
        if op == "-":
            return DECIMAL_CONTEXT.subtract(x, y)
        if op == "*":
            return DECIMAL_CONTEXT.multiply(x, y)
        # Decimal's % keeps the dividend's sign; match int's (the divisor's) so one rule holds.
        rest = DECIMAL_CONTEXT.remainder(x, y)
        if rest != 0 and (rest < 0) != (y < 0):
            rest = DECIMAL_CONTEXT.add(rest, y)
        return rest
    except ArithmeticError:
        raise Failure(f"the result of '{op}' is too large: {show(a)} {op} {show(b)}") from None


def get_field(value: Any, name: str) -> Any:
    """``value.name``: a dict key, or a declared field of a dataclass or pydantic model."""
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if isinstance(value, BaseModel):
        return getattr(value, name) if name in type(value).model_fields else MISSING
    if is_dataclass(value) and not isinstance(value, type):
        return getattr(value, name) if name in {f.name for f in fields(value)} else MISSING
    raise Failure(f"cannot read '.{name}' of {kind(value)} {show(value)}: it has no fields")


def _as_position(index: Any) -> int:
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    if isinstance(index, Decimal) and index.is_finite() and index == index.to_integral_value():
        return int(index)
    raise Failure(f"a list position must be a whole number, got {kind(index)}: {show(index)}")


def get_item(value: Any, index: Any) -> Any:
    if isinstance(value, Mapping):
        try:
            return value.get(index, MISSING)
        except TypeError:
            raise Failure(f"a {kind(index)} cannot be used as a dict key: {show(index)}") from None
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        position = _as_position(index)
        return value[position] if -len(value) <= position < len(value) else MISSING
    raise Failure(f"cannot use [ ] on {kind(value)} {show(value)}")


def key_text(index: Any) -> str:
    if isinstance(index, str):
        return '"' + index.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return show(index)
