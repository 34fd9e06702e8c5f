"""The flow expression language: values, precedence, errors (with exact messages and columns)."""

from __future__ import annotations

import dataclasses
import decimal
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from voicebot.flow.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    EvalError,
    ExprError,
    MissingVariable,
    compile_expr,
    compile_path,
    scan_path,
    truthy,
)


@dataclass(frozen=True)
class Account:
    number: str
    balance: Decimal
    _secret: str = "hidden"

    def close(self) -> str:  # a method must never be reachable from an expression
        return "closed"


class Profile(BaseModel):
    tier: str
    since: int


VARS: dict[str, Any] = {
    "pin_attempts": 2,
    "digits": "42",
    "intent": "balance",
    "balance": Decimal("10.00"),
    "confidence": 0.85,
    "tenth": 0.1,
    "customer": {"first_name": "Ann", "last_name": "Lee", "middle_name": None},
    "slots": {"account_number": "12345678"},
    "transactions": [{"amount": Decimal("12.50")}, {"amount": Decimal("3.00")}],
    "account": Account("998877", Decimal("250.75")),
    "profile": Profile(tier="gold", since=2019),
    "empty_list": [],
}


def run(source: str, variables: dict[str, Any] | None = None) -> Any:
    return compile_expr(source).evaluate(VARS if variables is None else variables)


# ------------------------------------------------------------------------------------------- values

VALUE_CASES: list[tuple[str, Any]] = [
    # precedence and associativity
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("2 * 3 % 4", 2),
    ("-2 * 3", -6),
    ("- (2 + 3)", -5),
    ("--4", 4),
    ("not true or true", True),
    ("not (true or true)", False),
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("1 + 1 == 2 and 3 > 2", True),
    ("not 1 == 2", True),
    # exact decimals
    ("0.1 + 0.2 == 0.3", True),
    ("0.1 + 0.2", Decimal("0.3")),
    ("7 / 2", Decimal("3.5")),
    ("6 / 3 == 2", True),
    ("1.5 * 2", Decimal("3.0")),
    ("balance - 0.99", Decimal("9.01")),
    ("1 + 2.5", Decimal("3.5")),
    ("-7 % 3", 2),
    ("-7.5 % 2", Decimal("0.5")),
    ("confidence > 0.8", True),
    ("tenth == 0.1", True),
    # text
    ("'ab' + \"cd\"", "abcd"),
    (r"""'it\'s' + "\\" + '\n'""", "it's\\\n"),
    ("customer.first_name + ' ' + customer.last_name", "Ann Lee"),
    ("'apple' < 'banana'", True),
    # comparisons
    ("pin_attempts >= 3", False),
    ("pin_attempts != 2", False),
    ("pin_attempts <= 2.0", True),
    ("null == null", True),
    ("customer.middle_name == null", True),
    ("null != 0", True),
    ("None == null and True and not False", True),
    # in / not in
    ("intent in ['balance', 'transfer']", True),
    ("intent not in ['balance', 'transfer',]", False),
    ("'nn' in customer.first_name", True),
    ("'account_number' in slots", True),
    ("3 not in [1, 2]", True),
    ("null in [1, null]", True),
    ("1 in []", False),
    # and/or short-circuit and always give a bool
    ("false and missing_var", False),
    ("true or 1 / 0", True),
    ("exists(customer.email) and customer.email == 'x'", False),
    ("1 and 'x'", True),
    ("0 or ''", False),
    # paths
    ("transactions[0].amount", Decimal("12.50")),
    ("transactions[-1].amount", Decimal("3.00")),
    ('slots["account_number"]', "12345678"),
    ("customer['first_name']", "Ann"),
    ("transactions[pin_attempts - 1].amount", Decimal("3.00")),
    ("transactions [ 0 ] . amount", Decimal("12.50")),
    ("account.balance > 100", True),
    ("profile.tier == 'gold' and profile.since < 2020", True),
    # functions
    ("len(transactions)", 2),
    ("len('abc') + len(slots)", 4),
    ("lower('AbC') + upper('d')", "abcD"),
    ("str(12.50) + ' dollars'", "12.50 dollars"),
    ("str(pin_attempts) == '2'", True),
    ("str(true) + str(null)", "truenull"),
    ("int(digits) + 1", 43),
    ("int(-2.7)", -2),
    ("number('4.50') * 2", Decimal("9.00")),
    ("number(digits) == 42", True),
    ("abs(-3) + abs(-0.5)", Decimal("3.5")),
    ("min(3, 1, 2)", 1),
    ("max([1.5, 2])", 2),
    ("max('a', 'b')", "b"),
    ("empty(customer.middle_name) and empty('') and empty([]) and empty(empty_list)", True),
    ("empty('x') or empty(0)", False),
    ("exists(customer.first_name)", True),
    ("exists(nothing)", False),
    ("exists(transactions[5].amount)", False),
    ("exists(customer.middle_name.x)", False),
    ("exists(account.nickname)", False),
    ("[1, 2] + [pin_attempts]", [1, 2, 2]),
    ("len([])", 0),
]


@pytest.mark.parametrize(("source", "expected"), VALUE_CASES)
def test_values(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_decimal_results_do_not_depend_on_the_callers_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        assert run("1 / 3") == Decimal("0.3333333333333333333333333333")


def test_compiled_expression_is_immutable_and_reusable() -> None:
    expr = compile_expr("x * 2")
    assert expr.source == "x * 2"
    assert expr.evaluate({"x": 2}) == 4
    assert expr.evaluate({"x": Decimal("1.5")}) == Decimal("3.0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expr.source = "y"  # type: ignore[misc]


def test_long_flat_chains_are_not_nesting() -> None:
    source = " + ".join(["1"] * 120)
    assert len(source) <= MAX_LENGTH
    assert run(source) == 120
    assert run(" and ".join(["true"] * 50)) is True


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("1 + 2", set()),
        ("customer.first_name == x", {"customer", "x"}),
        ("len(transactions[i]) > 0 or exists(y) and not z", {"transactions", "i", "y", "z"}),
        ("[a, b[c]] == d['e']", {"a", "b", "c", "d"}),
    ],
)
def test_names(source: str, names: set[str]) -> None:
    assert compile_expr(source).names() == frozenset(names)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (0, False),
        (Decimal("0.00"), False),
        (0.0, False),
        ("", False),
        ([], False),
        ({}, False),
        ((), False),
        (True, True),
        (1, True),
        (Decimal("0.01"), True),
        ("0", True),
        ([0], True),
        (Account("1", Decimal(0)), True),
    ],
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


# ----------------------------------------------------------------------------------- missing values

MISSING_CASES: list[tuple[str, str, str]] = [
    ("nothing", "nothing", ""),
    ("customer.email", "customer.email", "customer has no field 'email'"),
    ("nobody.first_name", "nobody.first_name", "nobody does not exist"),
    (
        "transactions[5].amount",
        "transactions[5].amount",
        "transactions has 2 items, so [5] is out of range",
    ),
    (
        "transactions[pin_attempts + 3]",
        "transactions[pin_attempts + 3]",
        "transactions has 2 items, so [5] is out of range",
    ),
    ('slots["pin"]', 'slots["pin"]', 'slots has no key "pin"'),
    ('slots["__class__"]', 'slots["__class__"]', 'slots has no key "__class__"'),
    ("account.nickname", "account.nickname", "account has no field 'nickname'"),
    ("account.close", "account.close", "account has no field 'close'"),
    ("1 + nothing", "nothing", ""),
    ("len(nothing.items)", "nothing.items", "nothing does not exist"),
    ("true and nothing", "nothing", ""),
]


@pytest.mark.parametrize(("source", "name", "reason"), MISSING_CASES)
def test_missing_variables(source: str, name: str, reason: str) -> None:
    with pytest.raises(MissingVariable) as caught:
        run(source)
    assert caught.value.name == name
    assert caught.value.reason == reason


def test_missing_variable_message() -> None:
    with pytest.raises(MissingVariable) as caught:
        run("customer.email")
    assert str(caught.value) == "variable customer.email is not set (customer has no field 'email')"
    assert isinstance(caught.value, LookupError)


# ------------------------------------------------------------------------------------ type errors

EVAL_ERRORS: list[tuple[str, str]] = [
    (
        "digits < 3",
        "cannot compare str with number: '42' < 3 (convert one side first with number(...) or str(...))",
    ),
    (
        "digits == 42",
        "cannot compare str with number: '42' == 42 (convert one side first with number(...) or str(...))",
    ),
    ("true == 1", "cannot compare bool with number: true == 1"),
    ("'a' + 1", "cannot add str and number: 'a' + 1 (use str(...) to turn a number into text)"),
    ("'a' - 'b'", "cannot subtract str and str: 'a' - 'b'"),
    ("true * 2", "cannot multiply bool and number: true * 2"),
    ("1 / 0", "division by zero: 1 / 0"),
    ("balance % 0.0", "division by zero: 10.00 % 0.0"),
    ("-'a'", "'-' needs a number, got str: 'a'"),
    ("true < false", "'<' cannot compare bool values: true < false"),
    ("null >= 1", "cannot compare null with number: null >= 1"),
    ("'5' in [5, 6]", "cannot look for str among number in a list: '5' in [5, 6]"),
    ("1 in 5", "'in' needs text, a list or a dict on its right, got number: 1 in 5"),
    ("1 in 'abc'", "cannot look for number in str: 1 in 'abc'"),
    ("customer.middle_name.x", "cannot read customer.middle_name.x: customer.middle_name is null"),
    ("pin_attempts.x", "cannot read '.x' of number 2: it has no fields"),
    ("transactions['a']", "a list position must be a whole number, got str: 'a'"),
    ("pin_attempts[0]", "cannot use [ ] on number 2"),
    ("len(5)", "len() needs text, a list or a dict, got number: 5"),
    ("lower(5)", "lower() needs text, got number: 5"),
    ("int('4.5')", "int() cannot read '4.5' as a whole number; use number() for decimals"),
    ("int('abc')", "int() cannot read 'abc' as a whole number"),
    ("number('1e3')", "number() cannot read '1e3' as a number"),
    ("abs('x')", "abs() needs a number, got str: 'x'"),
    ("min([])", "min() of an empty list"),
    ("min(5)", "min() of one value needs a list, got number: 5"),
    ("max(1, 'a')", "max() needs all numbers or all text, got number and str"),
]


@pytest.mark.parametrize(("source", "message"), EVAL_ERRORS)
def test_eval_errors(source: str, message: str) -> None:
    with pytest.raises(EvalError) as caught:
        run(source)
    assert caught.value.message == message


def test_eval_error_points_at_the_operator() -> None:
    with pytest.raises(EvalError) as caught:
        run("pin_attempts + digits")
    error = caught.value
    assert error.position == 13
    assert error.source == "pin_attempts + digits"
    assert str(error) == (
        "cannot add number and str: 2 + '42' (use str(...) to turn a number into text)"
        " (at column 14 of pin_attempts + digits)"
    )


# ----------------------------------------------------------------------------------- syntax errors

FUNCTION_LIST = "abs, empty, exists, int, len, lower, max, min, number, str, upper"

SYNTAX_ERRORS: list[tuple[str, str, int]] = [
    ("pin_attempts >= )", "unexpected ')'", 16),
    ("", "expression is empty", 0),
    ("   ", "expression is empty", 3),
    ("(a + b", "'(' is never closed (add ')')", 0),
    ("len(a", "'(' is never closed (add ')')", 3),
    ("[1, 2", "'[' is never closed (add ']')", 0),
    ("(a]", "unexpected ']' where ')' was expected", 2),
    ("a)", "unexpected ')': there is no opening bracket for it", 1),
    ("a +", "expected a value after '+', but the expression ended", 3),
    ("1 +* 2", "unexpected '*'", 3),
    ("a = 1", "'=' is not a comparison; use '==' to test equality", 2),
    ("a === 1", "'===' is not supported; use '=='", 2),
    ("a && b", "'&&' is not supported; use 'and'", 2),
    ("a || b", "'||' is not supported; use 'or'", 2),
    ("!a", "'!' is not supported; use 'not' (or '!=' to test that two values differ)", 0),
    ("a => 1", "'=>' is not an operator; did you mean '>='?", 2),
    ("x is null", "'is' is not supported; use '==' or '!=' (e.g. x == null)", 2),
    ("name == 'abc", "unterminated string: this quote is never closed", 8),
    (r"'abc\q'", "unknown escape '\\q' in a string; write '\\\\' for a backslash", 4),
    ("1.2.3", "invalid number '1.2.3'", 0),
    ("3rd", "invalid number '3rd'", 0),
    ("a $ b", "unexpected character '$'", 2),
    ("a b", "unexpected 'b'; is an operator missing before it?", 2),
    ("a 'b'", "unexpected text 'b'; is an operator missing before it?", 2),
    ("and b", "unexpected 'and': a value is missing before it", 0),
    ("not", "expected a value after 'not', but the expression ended", 3),
    ("a not b", "expected 'in' after 'not' (as in: x not in [1, 2])", 6),
    ("a < b < c", "comparisons cannot be chained; join them with 'and' (as in: a < b and b < c)", 6),
    ("a == b != c", "comparisons cannot be chained; join them with 'and' (as in: a < b and b < c)", 7),
    ("foo(1)", f"unknown function 'foo'; the functions are: {FUNCTION_LIST}", 0),
    ("lenght(x)", f"unknown function 'lenght' (did you mean 'len'?); the functions are: {FUNCTION_LIST}", 0),
    ("len(a, b)", "len() takes 1 argument, got 2", 0),
    ("min()", "min() takes at least 1 argument, got 0", 0),
    ("len(a b)", "expected ',' or ')' after an argument of len(), found 'b'", 6),
    ("exists(1)", "exists() needs a variable, as in: exists(customer.email)", 7),
    ("exists(len(a))", "exists() needs a variable, as in: exists(customer.email)", 7),
    ("x.lower()", "methods are not supported; write lower(x)", 2),
    ("a.b.upper()", "methods are not supported; write upper(a.b)", 4),
    ("x.foo()", f"'x.foo' is not a function; the functions are: {FUNCTION_LIST}", 5),
    ("a[", "expected a value after '[', but the expression ended", 2),
    ("a[]", "expected an index or key inside '[ ]'", 2),
    ("a.", "expected a name after '.', but the expression ended", 2),
    ("a.0", "expected a name after '.', found '0'; to pick an item by position write [0]", 2),
    ("a.in", "expected a name after '.', found 'in'", 2),
    ("len(x)[0]", "unexpected '[': only a variable name can be followed by '['", 6),
    ("[1 2]", "expected ',' or ']' in the list, found '2'", 3),
    ("a : b", "unexpected ':'", 2),
]


@pytest.mark.parametrize(("source", "message", "position"), SYNTAX_ERRORS)
def test_syntax_errors(source: str, message: str, position: int) -> None:
    with pytest.raises(ExprError) as caught:
        compile_expr(source)
    assert (caught.value.message, caught.value.position) == (message, position)
    assert caught.value.source == source


def test_syntax_error_shows_column_and_caret() -> None:
    with pytest.raises(ExprError) as caught:
        compile_expr("pin_attempts >= )")
    assert str(caught.value) == (
        "unexpected ')' at column 17 in: pin_attempts >= )\n                                                ^"
    )
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("source", "position", "name"),
    [
        ("customer.__class__", 9, "__class__"),
        ("__import__", 0, "__import__"),
        ("_private + 1", 0, "_private"),
        ("account._secret", 8, "_secret"),
        ("x.__dict__.y", 2, "__dict__"),
        ("transactions[0].__class__.__mro__", 16, "__class__"),
        ("exists(a._b)", 9, "_b"),
    ],
)
def test_underscore_names_are_rejected_when_compiling(source: str, position: int, name: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile_expr(source)
    assert caught.value.message == f"names starting with '_' are not allowed: '{name}'"
    assert caught.value.position == position


def test_length_limit() -> None:
    at_limit = "1 + " * 124 + "1234"
    assert len(at_limit) == MAX_LENGTH
    compile_expr(at_limit)
    with pytest.raises(ExprError) as caught:
        compile_expr(at_limit + "5")
    assert caught.value.message == "expression is too long: 501 characters (the limit is 500)"
    assert caught.value.position == MAX_LENGTH


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("[", "]"), ("len(", ")"), ("not ", ""), ("-", "")],
)
def test_nesting_limit(opening: str, closing: str) -> None:
    compile_expr(opening * MAX_DEPTH + "1" + closing * MAX_DEPTH)
    source = opening * (MAX_DEPTH + 1) + "1" + closing * (MAX_DEPTH + 1)
    with pytest.raises(ExprError) as caught:
        compile_expr(source)
    assert caught.value.message.startswith("expression is nested too deeply (the limit is 50 levels")
    assert caught.value.position == MAX_DEPTH * len(opening)  # the first opener past the limit


def test_deepest_allowed_expression_evaluates() -> None:
    assert run("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1
    assert run("-" * MAX_DEPTH + "1") == 1
    assert run("not " * MAX_DEPTH + "true") is True


# ------------------------------------------------------------------------------------ path helpers


def test_compile_path_and_scan_path() -> None:
    assert compile_path('a.b[0]["c"]').evaluate({"a": {"b": [{"c": 5}]}}) == 5
    text = "Hello {customer.first_name}, it's me"
    assert scan_path(text, 7) == text.index("}")
    with pytest.raises(ExprError) as caught:
        compile_path("a + b")
    assert (caught.value.message, caught.value.position) == ("unexpected '+' after the variable name", 2)


# ------------------------------------------------------------------------------------------ fuzzing

# Whole tokens (so that a fair share of the strings are valid) mixed with stray characters.
_PIECES = [
    *("a", "b", "1", "0.5", "'s'", "x[0]", "y.a", "true", "null"),
    *("(", ")", "[", "]", ",", " + ", "-", "*", "/", "%", " == ", " < ", " >= ", " != "),
    *("not ", " and ", " or ", " in ", "len(", "exists(", "min("),
    *(".", "'", '"', "=", "!", "_", ":", "$", "\\", "{", " ", "3x", "é"),
]


def test_random_input_compiles_or_raises_expr_error_only() -> None:
    rng = random.Random(1234)
    variables: dict[str, Any] = {"a": 1, "b": "b", "x": [1, 2], "y": {"a": None}}
    compiled = 0
    for _ in range(800):
        source = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 8)))
        try:
            expr = compile_expr(source)
        except ExprError as error:
            assert 0 <= error.position <= len(source), source
            assert error.message and str(error)
            continue
        compiled += 1
        try:
            expr.evaluate(variables)
        except (EvalError, MissingVariable) as error:
            assert str(error)
    assert compiled > 25  # the pieces must produce valid expressions too, to evaluate them


def test_long_expression_error_shows_a_window_around_the_caret() -> None:
    source = "a + " * 40 + ")"
    with pytest.raises(ExprError) as caught:
        compile_expr(source)
    shown, caret = str(caught.value).split("\n")
    assert shown.startswith("unexpected ')' at column 161 in: ...a + ")
    assert shown[caret.index("^")] == ")"


def test_errors_survive_pickling() -> None:
    import pickle

    for error in (
        ExprError("unexpected ')'", "a )", 2),
        EvalError("division by zero: 1 / 0", "1 / 0", 2),
        MissingVariable("customer.email", "customer has no field 'email'"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
