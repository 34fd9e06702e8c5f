"""The built-in functions a flow expression can call (their names and argument counts are
:data:`voicebot.flow.expr_parse.FUNCTIONS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from voicebot.flow.expr_errors import Failure
from voicebot.flow.expr_values import DECIMAL_CONTEXT, is_number, kind, num, show

# -- functions (each takes evaluated arguments; ``exists`` is handled by the evaluator)


def _fn_len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise Failure(f"len() needs text, a list or a dict, got {kind(value)}: {show(value)}")


def _fn_text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    raise Failure(f"{name}() needs text, got {kind(value)}: {show(value)}")


def _fn_str(value: Any) -> str:
    if isinstance(value, Enum):
        return _fn_str(value.value)
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | list | tuple | Mapping):
        return show(value, limit=0)
    if is_number(value):
        number = num(value)
        return format(number, "f") if isinstance(number, Decimal) else str(number)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


_INT_TEXT_RE = re.compile(r"[+-]?[0-9]{1,100}")
_DECIMAL_TEXT_RE = re.compile(r"[+-]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})")


def _fn_int(value: Any) -> int:
    if is_number(value):
        return int(num(value))
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT_RE.fullmatch(text):
            return int(text)
        if _DECIMAL_TEXT_RE.fullmatch(text):
            raise Failure(f"int() cannot read {show(value)} as a whole number; use number() for decimals")
        raise Failure(f"int() cannot read {show(value)} as a whole number")
    raise Failure(f"int() needs a number or text, got {kind(value)}: {show(value)}")


def _fn_number(value: Any) -> Decimal:
    if is_number(value):
        return Decimal(num(value))
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL_TEXT_RE.fullmatch(text):
            return Decimal(text)
        raise Failure(f"number() cannot read {show(value)} as a number")
    raise Failure(f"number() needs a number or text, got {kind(value)}: {show(value)}")


def _fn_abs(value: Any) -> int | Decimal:
    if is_number(value):
        number = num(value)
        return DECIMAL_CONTEXT.abs(number) if isinstance(number, Decimal) else abs(number)
    raise Failure(f"abs() needs a number, got {kind(value)}: {show(value)}")


def _fn_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _fn_extreme(name: str, args: list[Any]) -> Any:
    items: Sequence[Any] = args
    if len(args) == 1:
        if kind(args[0]) != "list":
            raise Failure(f"{name}() of one value needs a list, got {kind(args[0])}: {show(args[0])}")
        items = args[0]
        if not items:
            raise Failure(f"{name}() of an empty list")
    kinds = sorted({kind(item) for item in items})
    if kinds == ["number"]:
        numbers = [num(item) for item in items]
        return min(numbers) if name == "min" else max(numbers)
    if kinds == ["str"]:
        return min(items) if name == "min" else max(items)
    raise Failure(f"{name}() needs all numbers or all text, got {' and '.join(kinds)}")


def call_function(name: str, args: list[Any]) -> Any:
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
