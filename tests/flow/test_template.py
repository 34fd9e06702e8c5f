"""Prompt templates: placeholders, say-as formats, literal braces and precise errors."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from voicebot.flow.expr import MissingVariable
from voicebot.flow.template import RenderError, TemplateError, compile_template


class Tier(Enum):
    GOLD = "gold"


VARS: dict[str, Any] = {
    "customer": {"first_name": "Ann", "middle_name": None, "tier": Tier.GOLD},
    "balance": Decimal("2345.67"),
    "amount": "12.5",
    "account": {"currency": "GBP", "number": "4417", "code": 5},
    "accounts": [{"last4": "1234"}, {"last4": "9876"}],
    "options": ["balance", "transfers", "cards"],
    "two": ["yes", "no"],
    "one": ["only"],
    "none_list": [],
    "verified": True,
    "locked": False,
    "count": 3,
    "rate": Decimal("4.50"),
    "ratio": 0.25,
    "due": date(2026, 11, 20),
    "at": datetime(2026, 11, 20, 14, 5),
    "opens": time(9, 0),
    "phone": "+15550100001",
    "slots": {"a:b}": "odd key"},
    "nothing": None,
}

RENDER_CASES: list[tuple[str, str]] = [
    ("Hello.", "Hello."),
    (
        "Welcome back, {customer.first_name}. Your balance is {balance:currency}.",
        "Welcome back, Ann. Your balance is two thousand three hundred forty-five dollars "
        "and sixty-seven cents.",
    ),
    ("{amount:currency:EUR}", "twelve euros and fifty cents"),
    ("{amount:currency:account.currency}", "twelve pounds and fifty pence"),
    ("{amount:currency:USD}", "twelve dollars and fifty cents"),
    ("{{literal}} and {{{count}}}", "{literal} and {3}"),
    ("Press {account.number:digits} now", "Press four four one seven now"),
    ("{accounts[1].last4:digits}", "nine eight seven six"),
    ("your {count:ordinal} try", "your third try"),
    ("{count:number} tries", "three tries"),
    ("due {due}", "due November twentieth, twenty twenty-six"),
    ("due {due:date}", "due November twentieth, twenty twenty-six"),
    ("{at}", "November twentieth, twenty twenty-six at two oh five PM"),
    ("opens at {opens}", "opens at nine AM"),
    ("{phone:phone}", "five five five, zero one zero, zero zero zero one"),
    ("{verified}/{locked}", "yes/no"),
    ("{count} {rate} {ratio}", "3 4.50 0.25"),
    ("Say {options}.", "Say balance, transfers and cards."),
    ("{two} / {one}", "yes and no / only"),
    ("{customer.tier}", "gold"),
    ("{ customer.first_name }", "Ann"),
    ("{ balance : currency : EUR }", "two thousand three hundred forty-five euros and sixty-seven cents"),
    ('{slots["a:b}"]}', "odd key"),
    ("It's {count:text}, isn't it", "It's 3, isn't it"),
]


@pytest.mark.parametrize(("source", "expected"), RENDER_CASES)
def test_render(source: str, expected: str) -> None:
    assert compile_template(source).render(VARS) == expected


def test_template_properties() -> None:
    template = compile_template("Hi {customer.first_name}, {amount:currency:account.currency} {{x}}")
    assert template.source == "Hi {customer.first_name}, {amount:currency:account.currency} {{x}}"
    assert template.names() == frozenset({"customer", "amount", "account"})
    assert not template.is_static
    assert compile_template("{accounts[i].last4}").names() == frozenset({"accounts", "i"})
    static = compile_template("Goodbye {{friend}}.")
    assert static.is_static
    assert static.names() == frozenset()
    assert static.render({}) == "Goodbye {friend}."
    assert compile_template("").render({}) == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.source = "x"  # type: ignore[misc]


FORMATS = "currency, date, digits, number, ordinal, phone, spell, text, time"

COMPILE_ERRORS: list[tuple[str, str, int, str]] = [
    ("Hi {name", "placeholder is never closed (add '}')", 3, "{name"),
    ("Hi }", "a lone '}' must be doubled: write '}}' for a literal brace", 3, "}"),
    ("{}", "empty placeholder; write '{{' for a literal '{'", 0, "{}"),
    (
        "{5}",
        "a placeholder must start with a variable name, as in {customer.first_name}; "
        "write '{{' for a literal '{'",
        0,
        "{5}",
    ),
    (
        "Balance: {balance:curency}.",
        f"unknown format 'curency' (did you mean 'currency'?); the formats are: {FORMATS}",
        18,
        "{balance:curency}",
    ),
    ("{b:Text}", f"unknown format 'Text' (did you mean 'text'?); the formats are: {FORMATS}", 3, "{b:Text}"),
    ("{due:date:EUR}", "the format 'date' takes no argument", 9, "{due:date:EUR}"),
    ("{a:}", "expected a format name after ':'", 3, "{a:}"),
    (
        "{amount:currency:}",
        "expected a currency code such as EUR or a variable after 'currency:'",
        17,
        "{amount:currency:}",
    ),
    (
        "{a + b}",
        "a placeholder holds a variable, not a calculation; compute the value in a 'set' node and say that "
        "variable",
        3,
        "{a + b}",
    ),
    ("{name's}", "unexpected \"'\" in the placeholder; expected ':' or '}'", 5, "{name's}"),
    ("{a.__class__}", "names starting with '_' are not allowed: '__class__'", 3, "{a.__class__}"),
    ("{a[}", "unexpected '}'", 3, "{a[}"),
    ("{a.}", "expected a name after '.', found '}'", 3, "{a.}"),
    ("{true}", "expected a variable name, found 'true'", 1, "{true}"),
]


@pytest.mark.parametrize(("source", "message", "position", "placeholder"), COMPILE_ERRORS)
def test_compile_errors(source: str, message: str, position: int, placeholder: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(source)
    error = caught.value
    assert (error.message, error.position, error.placeholder) == (message, position, placeholder)
    assert str(error) == f"{placeholder} at column {position + 1}: {message}"
    assert isinstance(error, ValueError)


RENDER_ERRORS: list[tuple[str, str]] = [
    ("{nothing}", "cannot say {nothing}: variable nothing is empty (null)"),
    (
        "{customer.middle_name:text}",
        "cannot say {customer.middle_name:text}: variable customer.middle_name is empty (null)",
    ),
    ("{none_list}", "cannot say {none_list}: variable none_list is an empty list"),
    (
        "{customer}",
        "cannot say {customer}: variable customer is a dict; say one of its fields, e.g. {customer.name}",
    ),
    ("{amount:currency:nothing}", "cannot say {amount:currency:nothing}: variable nothing is empty (null)"),
    (
        "{amount:currency:account.code}",
        "cannot say {amount:currency:account.code}: variable account.code must hold a currency code such as "
        "USD, got 5",
    ),
    (
        "{customer.first_name:number}",
        "cannot say {customer.first_name:number}: cannot read 'Ann' as a number",
    ),
    ("{count:date}", "cannot say {count:date}: cannot say an int as a date: 3"),
    ("{count.x}", "cannot say {count.x}: cannot read '.x' of number 3: it has no fields"),
]


@pytest.mark.parametrize(("source", "message"), RENDER_ERRORS)
def test_render_errors(source: str, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        compile_template(source).render(VARS)
    assert str(caught.value) == message
    assert caught.value.placeholder == source


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("Hi {first_name}", "first_name"),
        ("{customer.last_name}", "customer.last_name"),
        ("{accounts[2].last4:digits}", "accounts[2].last4"),
        ("{amount:currency:account.missing}", "account.missing"),
        # Lowercase is a variable, not a code: flow validation reports it as an unknown variable.
        ("{amount:currency:eur}", "eur"),
    ],
)
def test_missing_variables_propagate(source: str, name: str) -> None:
    with pytest.raises(MissingVariable) as caught:
        compile_template(source).render(VARS)
    assert caught.value.name == name


def test_errors_survive_pickling() -> None:
    import pickle

    for error in (
        TemplateError("empty placeholder", "{}", 0, "{}"),
        RenderError("{x}", "variable x is empty (null)"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
