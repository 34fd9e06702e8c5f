"""Errors of the flow expression language, and how they show the expression with a caret.

Kept apart from the parser and evaluator so that callers (validator, templates, engine) and pickling
(errors cross process boundaries in the validator's worker pool and in tests) need only this module.
"""

from __future__ import annotations

from typing import Any


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


class Failure(Exception):
    """Raised by value helpers that do not know where they are; the evaluator adds the position."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
