"""What a flow asks the recognizer for: every listen it can issue, and their grammars."""

from __future__ import annotations

from tests.demo_bank import banking_flow
from voicebot.asr.base import GrammarSpec
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.engine import listens_of
from voicebot.runtime.speech import grammars_of, phrases_by_intent


def banking() -> CompiledFlow:
    return banking_flow()


def test_listens_of_covers_every_ask_and_menu_node_and_its_confirmation() -> None:
    flow = banking()
    listens = listens_of(flow)
    nodes = {listen.node for listen in listens}
    assert {"main_menu", "ask_pin", "anything_else"} <= nodes
    assert {listen.slot_type for listen in listens if listen.node == "ask_pin"} == {"digits", "yes_no"}
    pin = next(listen for listen in listens if listen.node == "ask_pin" and listen.slot_type == "digits")
    assert (pin.min_digits, pin.max_digits, pin.secure) == (4, 4, True)


def test_grammars_of_is_what_the_calls_will_open() -> None:
    flow = banking()
    grammars = grammars_of(flow)
    assert len(grammars) == len(set(grammars))
    phrases = phrases_by_intent(flow)
    for listen in listens_of(flow):
        assert GrammarSpec.for_listen(listen, phrases) in grammars
    assert any(g.kind == "digits" and (g.min_digits, g.max_digits) == (4, 4) for g in grammars)
