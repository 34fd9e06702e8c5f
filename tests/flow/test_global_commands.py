"""Global commands (goodbye, agent, repeat, help, main menu) at every listening node, unless it turns them off.

Hits and false accepts are both measured: near-misses a recognizer writes ("save that again") must reach
their command, and out-of-grammar requests must reach none (the node re-prompts instead).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.flow.engine_harness import Call, compile_yaml
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.interpret import Commands, match_command

ROOT = Path(__file__).resolve().parents[2]

FLOW = """
flow: t
start: menu
grammars: [common, banking]
commands:
  - {intent: speak_to_agent, target: agent}
  - {intent: repeat, do: repeat}
  - {intent: main_menu, target: menu}
  - {intent: help, do: help}
  - {intent: goodbye, target: bye}
nodes:
  menu:
    kind: menu
    prompt: "Main menu."
    options:
      - {intent: check_balance, label: balances, say: balance, next: pin}
      - {intent: report_lost_card, label: cards, say: lost card, next: note}
    on_fail: agent
  pin:
    kind: ask
    slot: pin
    type: digits
    min_length: 4
    max_length: 4
    secure: true
    prompt: "PIN?"
    next: bye
  note:
    kind: ask
    slot: message
    type: phrase
    commands: false
    prompt: "Say your message."
    next: bye
  bye:
    kind: hangup
    prompt: "Goodbye."
  agent:
    kind: handoff
    queue: general
    prompt: "Transferring."
"""

#: What callers said for a command, including what recognizers wrote for it, and the command it is.
NEAR_MISSES = [
    ("save that again", "repeat"),
    ("say that again", "repeat"),
    ("can you say that again", "repeat"),
    ("no thanks, bye", "goodbye"),
    ("that's all, goodbye", "goodbye"),
    ("bye bye", "goodbye"),
    ("agent please", "speak_to_agent"),
    ("let me talk to an operator", "speak_to_agent"),
    ("take me back to the main menu", "main_menu"),
    ("what can I say", "help"),
]
#: Requests that are no command of the flow: none may be taken for one.
OUT_OF_GRAMMAR = [
    "what's the weather like tomorrow", "I want to order a large pizza", "tell me a joke",
    "the train leaves at noon", "hello can you hear me", "I'm just looking around", "please change my address",
    "my dog ate my homework", "is the pharmacy open on sunday", "I want to go home", "open a new savings account",
    "what time do you close", "how do I apply for a mortgage", "I'd like to pay my electricity bill",
    "where is the nearest branch", "can I get a loan", "send me a new checkbook", "what's your address",
    "I have a question about interest rates", "update my phone number",
]


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> CompiledFlow:
    return compile_yaml(tmp_path_factory.mktemp("commands"), FLOW)


def at_pin(flow: CompiledFlow) -> Call:
    call = Call(flow)
    call.start()
    call.say("balance")
    assert call.state.node == "pin"
    return call


@pytest.mark.parametrize(("text", "intent"), NEAR_MISSES)
def test_near_misses_reach_their_command_at_the_pin(flow: CompiledFlow, text: str, intent: str) -> None:
    commands = Commands.active(flow, "t", flow.flows["t"].nodes["pin"])  # type: ignore[arg-type]
    found = match_command(flow, commands, text)
    assert found is not None and found.intent == intent


def test_no_thanks_bye_at_the_main_menu_ends_the_call(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("no thanks, bye")
    assert call.hangup is not None and call.said == ["Goodbye."]


def test_save_that_again_repeats_the_pin_prompt(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("save that again")
    assert call.said == ["PIN?"] and call.state.node == "pin"


def test_out_of_grammar_requests_are_no_command(flow: CompiledFlow) -> None:
    for node in ("menu", "pin"):
        commands = Commands.active(flow, "t", flow.flows["t"].nodes[node])  # type: ignore[arg-type]
        accepted = [(t, c.intent) for t in OUT_OF_GRAMMAR if (c := match_command(flow, commands, t)) is not None]
        # False accepts <= 1% of the phrases: with 20 phrases, none.
        assert accepted == [], node


def test_a_node_can_turn_the_commands_off(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("lost card")
    assert call.state.node == "note"
    assert call.listen is not None and call.listen.intents == () and call.listen.dtmf_keys == ()
    call.say("agent")  # a message that happens to be a command word is the message
    assert call.hangup is not None and call.state.vars["message"] == "agent"


def test_the_demo_bank_hears_goodbye_everywhere() -> None:
    spec = yaml.safe_load((ROOT / "flows" / "banking.yaml").read_text())
    intents = {c["intent"] for c in spec["commands"]}
    assert {"goodbye", "speak_to_agent", "repeat", "help", "main_menu"} <= intents


def test_digits_at_a_digits_question_are_no_command(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("it is all six seven three")  # "oh" heard as "all": not "that's all" (goodbye)
    assert call.hangup is None and call.state.node == "pin"
    call.say("one more time")  # one digit word in a command phrase is still the command
    assert call.state.intents[-1] == "repeat" and call.said[-1] == "PIN?" and call.state.node == "pin"
