"""Prompt templates: text with ``{variable}`` placeholders and say-as formats.

::

    Welcome back, {customer.first_name}. Your balance is {balance:currency}.
    That is {amount:currency:EUR}, or {amount:currency:account.currency} in your account's currency.
    Write {{ and }} for literal braces.

A placeholder is a variable path (the same syntax as in expressions: ``a.b``, ``a[0]``,
``a["key"]``), optionally followed by ``:format`` from :data:`voicebot.flow.sayas.SAY_AS`, and for
``currency`` by ``:CODE`` (three capital letters, a literal ISO code) or ``:path`` (a variable that
holds the code). Templates are checked when the flow is loaded, so a typo in a format or a path is
reported then, with its column, not in the middle of a call.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from voicebot.flow.expr import EvalError, Expr, ExprError, compile_path, scan_path
from voicebot.flow.sayas import SAY_AS, say_date, say_time

__all__ = ["Placeholder", "RenderError", "Template", "TemplateError", "compile_template"]

# Formats that take an argument after a second colon. Only currency needs one today.
_FORMATS_WITH_ARGUMENT = frozenset({"currency"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_RE = re.compile(r"[A-Z]{3}(?=\s*\})")
_SNIPPET_LIMIT = 40


class TemplateError(ValueError):
    """A template cannot be compiled. ``position`` is 0-based; ``str()`` says the column from 1."""

    def __init__(self, message: str, source: str, position: int, placeholder: str) -> None:
        self.message = message
        self.source = source
        self.position = position
        self.placeholder = placeholder
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-rich exceptions do not pickle by default (args holds only the message).
        return (type(self), (self.message, self.source, self.position, self.placeholder))

    def __str__(self) -> str:
        return f"{self.placeholder} at column {self.position + 1}: {self.message}"


class RenderError(ValueError):
    """A placeholder's value cannot be spoken (empty, wrong type, rejected by its say-as format)."""

    def __init__(self, placeholder: str, message: str) -> None:
        self.placeholder = placeholder
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.placeholder, self.message))

    def __str__(self) -> str:
        return f"cannot say {self.placeholder}: {self.message}"


@dataclass(frozen=True)
class Placeholder:
    text: str  # exactly as written, braces included, for error messages
    position: int
    path: Expr
    format: str | None = None
    code: str | None = None  # a literal argument (currency code)
    code_path: Expr | None = None  # or a variable holding it


def _snippet(source: str, start: int) -> str:
    """The placeholder as written, for messages about one that could not be parsed."""
    end = source.find("}", start)
    text = source[start:] if end == -1 else source[start : end + 1]
    text = text.splitlines()[0] if text else text
    return text if len(text) <= _SNIPPET_LIMIT else text[: _SNIPPET_LIMIT - 3] + "..."


class _PlaceholderParser:
    def __init__(self, source: str, start: int) -> None:
        self.source = source
        self.start = start
        self.pos = start + 1
        self.snippet = _snippet(source, start)

    def error(self, message: str, position: int | None = None) -> TemplateError:
        return TemplateError(message, self.source, self.start if position is None else position, self.snippet)

    def skip_blanks(self) -> str:
        while self.pos < len(self.source) and self.source[self.pos] in " \t":
            self.pos += 1
        return self.source[self.pos] if self.pos < len(self.source) else ""

    def path(self) -> Expr:
        begin = self.pos
        try:
            self.pos = scan_path(self.source, begin)
            return compile_path(self.source[begin : self.pos].strip())
        except ExprError as error:
            # Positions from scan_path are already columns of the whole template.
            raise self.error(error.message, error.position) from None

    def parse(self) -> Placeholder:
        char = self.skip_blanks()
        if char == "}":
            raise self.error("empty placeholder; write '{{' for a literal '{'")
        if not _NAME_RE.match(char):
            raise self.error(
                "a placeholder must start with a variable name, as in {customer.first_name}; "
                "write '{{' for a literal '{'"
            )
        path = self.path()
        fmt: str | None = None
        code: str | None = None
        code_path: Expr | None = None
        if self.skip_blanks() == ":":
            self.pos += 1
            self.skip_blanks()
            name = _NAME_RE.match(self.source, self.pos)
            if not name:
                raise self.error("expected a format name after ':'", self.pos)
            fmt = name.group()
            if fmt not in SAY_AS:
                close = difflib.get_close_matches(fmt, sorted(SAY_AS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.error(
                    f"unknown format '{fmt}'{hint}; the formats are: {', '.join(sorted(SAY_AS))}", self.pos
                )
            self.pos = name.end()
            if self.skip_blanks() == ":":
                if fmt not in _FORMATS_WITH_ARGUMENT:
                    raise self.error(f"the format '{fmt}' takes no argument", self.pos)
                self.pos += 1
                self.skip_blanks()
                literal = _CODE_RE.match(self.source, self.pos)
                if literal:
                    code = literal.group()
                    self.pos = literal.end()
                elif _NAME_RE.match(self.source, self.pos):
                    code_path = self.path()
                else:
                    raise self.error(
                        f"expected a currency code such as EUR or a variable after '{fmt}:'", self.pos
                    )
        char = self.skip_blanks()
        if char == "":
            raise self.error("placeholder is never closed (add '}')")
        if char and char in "+-*/%<>=!()":
            raise self.error(
                "a placeholder holds a variable, not a calculation; "
                "compute the value in a 'set' node and say that variable",
                self.pos,
            )
        if char != "}":
            raise self.error(f"unexpected {char!r} in the placeholder; expected ':' or '}}'", self.pos)
        self.pos += 1
        text = self.source[self.start : self.pos]
        return Placeholder(text, self.start, path, fmt, code, code_path)


@dataclass(frozen=True)
class Template:
    """A compiled prompt: immutable and reusable. Build with :func:`compile_template`."""

    source: str
    parts: tuple[str | Placeholder, ...] = field(repr=False)

    @property
    def is_static(self) -> bool:
        """True when there are no placeholders (the text can be cached or pre-synthesized)."""
        return not any(isinstance(part, Placeholder) for part in self.parts)

    def names(self) -> frozenset[str]:
        """Root variable names the template reads, for checking flows against their variables."""
        names: set[str] = set()
        for part in self.parts:
            if isinstance(part, Placeholder):
                names |= part.path.names()
                if part.code_path is not None:
                    names |= part.code_path.names()
        return frozenset(names)

    def render(self, variables: Mapping[str, Any]) -> str:
        """The text to speak. A missing variable raises :class:`voicebot.flow.expr.MissingVariable`;
        a value that cannot be spoken raises :class:`RenderError` naming the placeholder."""
        out: list[str] = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _render(part, variables))
        return "".join(out)


def _evaluate(expr: Expr, placeholder: Placeholder, variables: Mapping[str, Any]) -> Any:
    try:
        return expr.evaluate(variables)
    except EvalError as error:
        raise RenderError(placeholder.text, error.message) from error


def _render(placeholder: Placeholder, variables: Mapping[str, Any]) -> str:
    value = _evaluate(placeholder.path, placeholder, variables)
    name = placeholder.path.source
    if placeholder.format is None:
        return _default_text(value, name, placeholder)
    if value is None:
        raise RenderError(placeholder.text, f"variable {name} is empty (null)")
    args: list[Any] = [value]
    if placeholder.code is not None:
        args.append(placeholder.code)
    elif placeholder.code_path is not None:
        code = _evaluate(placeholder.code_path, placeholder, variables)
        code_name = placeholder.code_path.source
        if code is None:
            raise RenderError(placeholder.text, f"variable {code_name} is empty (null)")
        if not isinstance(code, str):
            raise RenderError(
                placeholder.text, f"variable {code_name} must hold a currency code such as USD, got {code!r}"
            )
        args.append(code)
    try:
        return SAY_AS[placeholder.format](*args)
    except ValueError as error:
        raise RenderError(placeholder.text, str(error)) from error


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _default_text(value: Any, name: str, placeholder: Placeholder) -> str:
    """How a value without a format is spoken."""
    if value is None:
        # An empty string would make the prompt silently skip a word; fail instead.
        raise RenderError(placeholder.text, f"variable {name} is empty (null)")
    if isinstance(value, Enum):
        return _default_text(value.value, name, placeholder)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RenderError(placeholder.text, f"variable {name} is not a number: {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        return f"{say_date(value)} at {say_time(value)}"
    if isinstance(value, date):
        return say_date(value)
    if isinstance(value, time):
        return say_time(value)
    if isinstance(value, list | tuple):
        if not value:
            raise RenderError(placeholder.text, f"variable {name} is an empty list")
        return _join([_default_text(item, f"{name}[{i}]", placeholder) for i, item in enumerate(value)])
    if isinstance(value, Mapping):
        raise RenderError(
            placeholder.text, f"variable {name} is a dict; say one of its fields, e.g. {{{name}.name}}"
        )
    raise RenderError(
        placeholder.text, f"variable {name} is a {type(value).__name__}, which cannot be spoken"
    )


def compile_template(source: str) -> Template:
    """Parse a prompt template; raises :class:`TemplateError` for the first bad placeholder."""
    if not isinstance(source, str):
        raise TypeError(f"a template must be a string, got {type(source).__name__}")
    parts: list[str | Placeholder] = []
    text: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in "{}" and source.startswith(char * 2, i):
            text.append(char)
            i += 2
        elif char == "}":
            raise TemplateError("a lone '}' must be doubled: write '}}' for a literal brace", source, i, "}")
        elif char == "{":
            placeholder = _PlaceholderParser(source, i).parse()
            if text:
                parts.append("".join(text))
                text = []
            parts.append(placeholder)
            i += len(placeholder.text)
        else:
            text.append(char)
            i += 1
    if text:
        parts.append("".join(text))
    return Template(source, tuple(parts))
