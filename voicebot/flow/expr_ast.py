"""The syntax tree of a compiled flow expression: frozen nodes, each with its column for errors."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

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
