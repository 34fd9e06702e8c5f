"""Global commands heard below ``settings.confirm.command_threshold`` are not acted on blindly.

A misheard goodbye hangs up on the caller and a misheard agent sends them away, and neither is read back
like an answer: below the threshold a goto command is confirmed first ("Did you want to end the call?").
repeat and help, which only replay the question, are taken at any confidence: a false one costs a turn, as
the no-match would, and most true one-word ones are heard faintly. Keys are never in doubt.
"""

from __future__ import annotations

import pytest

from tests.flow.engine_harness import Call, compile_yaml
from voicebot.events import Hypothesis, Utterance
from voicebot.flow.compile import CompiledFlow

FLOW = """
flow: t
start: menu
grammars: [common, banking]
settings:
  confirm: {command_threshold: 0.6}
commands:
  - {intent: speak_to_agent, target: agent, confirm: "Did you want to speak to an agent?"}
  - {intent: repeat, do: repeat}
  - {intent: main_menu, target: menu}
  - {intent: help, do: help}
  - {intent: goodbye, target: bye, confirm: "Did you want to end the call?"}
nodes:
  menu:
    kind: menu
    prompt: "Main menu."
    options:
      - {intent: check_balance, label: balances, say: balance, next: pin}
      - {intent: report_lost_card, label: cards, say: lost card, next: strict}
    on_fail: agent
  pin:
    kind: ask
    slot: pin
    type: digits
    min_length: 4
    max_length: 4
    secure: true
    prompt: "PIN?"
    next: lenient
  strict:
    kind: ask
    slot: card
    type: digits
    min_length: 4
    max_length: 4
    command_threshold: 0.9
    prompt: "Card?"
    next: note
  note:
    kind: ask
    slot: message
    type: phrase
    commands: false
    prompt: "Say your message."
    next: bye
  lenient:
    kind: ask
    slot: anything
    type: yes_no
    command_threshold: 0
    prompt: "Anything else?"
    next: bye
  bye:
    kind: hangup
    prompt: "Goodbye."
  agent:
    kind: handoff
    queue: general
    prompt: "Transferring."
"""


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> CompiledFlow:
    return compile_yaml(tmp_path_factory.mktemp("command_confidence"), FLOW)


def at_pin(flow: CompiledFlow) -> Call:
    call = Call(flow)
    call.start()
    call.say("balance")
    assert call.state.node == "pin"
    return call


def test_a_command_heard_clearly_is_acted_on(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("goodbye", confidence=0.6)  # the threshold itself is clear enough
    assert call.hangup is not None and call.said == ["Goodbye."]


def test_a_faint_goodbye_is_confirmed_and_yes_ends_the_call(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("goodbye", confidence=0.4)
    assert call.hangup is None and call.said == ["Did you want to end the call?"]
    assert call.state.waiting == "confirm" and call.listen is not None and call.listen.slot_type == "yes_no"
    call.say("yes")
    assert call.hangup is not None and call.said == ["Goodbye."]
    assert call.state.intents[-1] == "goodbye"


def test_no_to_a_faint_goodbye_asks_the_question_again(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("goodbye", confidence=0.4)
    call.say("no")
    assert call.hangup is None and call.state.node == "pin" and call.state.waiting == "input"
    assert call.said == ["Let's try that again.", "PIN?"]
    assert "goodbye" not in call.state.intents
    call.keys("1234")  # the call goes on where it was
    assert call.state.slots["pin"] == "1234" and call.state.node == "lenient"


def test_a_faint_agent_request_is_confirmed_by_key(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("agent", confidence=0.3)
    assert call.said == ["Did you want to speak to an agent?"] and call.handoff is None
    call.keys("1")  # yes
    assert call.handoff is not None


def test_a_command_without_its_own_question_gets_the_flow_default(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("main menu", confidence=0.3)
    assert call.said == ["Did you say main menu?"] and call.state.node == "pin"
    call.say("yes")
    assert call.state.node == "menu" and call.said == ["Main menu.", call.said[1]]


def test_goodbye_from_a_faint_alternative_is_confirmed_not_taken(flow: CompiledFlow) -> None:
    """The measured false accept: nothing in the top hypothesis, goodbye in a low-confidence alternative."""
    call = Call(flow)
    call.start()
    call.send(Utterance("tell me about the weather", 0.7, (Hypothesis("good bye", 0.2),), call.tick()))
    assert call.hangup is None and call.said == ["Did you want to end the call?"]


def test_a_faint_help_or_repeat_is_taken(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.say("help", confidence=0.2)
    assert call.said[-1] == "PIN?" and call.state.intents[-1] == "help"
    call.say("repeat", confidence=0.2)  # the last turn again (the help and the question)
    assert call.said[-1] == "PIN?" and call.state.intents[-1] == "repeat"
    assert "pin:no_match" not in call.state.counters and call.state.waiting == "input"


def test_a_faint_goodbye_in_an_alternative_does_not_hide_a_clear_answer_before_it(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.send(Utterance("one two three four", 0.8, (Hypothesis("goodbye", 0.3),), call.tick()))
    assert call.state.slots["pin"] == "1234"


def test_keys_are_never_in_doubt(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.keys("*")  # repeat
    assert call.said == ["PIN?"]
    call.keys("0")  # a lone 0 at a PIN: the agent, when the inter-digit timer runs out
    call.timer()
    assert call.handoff is not None


def test_a_node_can_raise_the_threshold(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("lost card")
    assert call.state.node == "strict"
    call.say("goodbye", confidence=0.8)  # clear enough elsewhere, not here
    assert call.hangup is None and call.said == ["Did you want to end the call?"]


def test_a_node_can_act_on_every_command(flow: CompiledFlow) -> None:
    call = at_pin(flow)
    call.keys("1234")
    assert call.state.node == "lenient"  # its own threshold: 0
    call.say("goodbye", confidence=0.05)
    assert call.hangup is not None


def test_a_faint_command_while_confirming_an_answer_is_confirmed_too(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("lost card")
    call.say("one two three four", confidence=0.3)
    assert call.said == ["I heard 1 2 3 4. Is that right?"]
    call.say("goodbye", confidence=0.3)
    assert call.hangup is None and call.said == ["Did you want to end the call?"]
    call.say("no")
    assert call.state.node == "strict" and call.said == ["Let's try that again.", "Card?"]


def test_a_node_with_commands_off_hears_no_command_at_any_confidence(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("lost card")
    call.keys("1234")
    assert call.state.node == "note"
    call.say("goodbye", confidence=0.3)  # the message (read back as any faint answer), not a command
    assert call.said == ["I heard goodbye. Is that right?"]
    call.say("yes")
    assert call.state.vars["message"] == "goodbye" and call.said == ["Goodbye."]
