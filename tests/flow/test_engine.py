"""Engine behaviour on small inline flows: one test per rule of the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flow.engine_harness import Call, compile_yaml
from voicebot.actions import CancelTimer, Listen, RunAction
from voicebot.events import event_from_dict, event_to_dict
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.engine import step

BASE = """
flow: t
start: menu
grammars: [common, banking]
commands:
  - {intent: speak_to_agent, target: agent}
  - {intent: repeat, do: repeat}
  - {intent: main_menu, target: menu}
  - {intent: help, do: help}
nodes:
  menu:
    kind: menu
    prompt: "Main menu."
    options:
      - {intent: check_balance, label: balances, say: balance, next: account}
      - {intent: report_lost_card, label: cards, say: lost card, next: done}
    on_fail: agent
  account:
    kind: ask
    slot: account_number
    type: digits
    min_length: 8
    max_length: 8
    prompt: ["Account number?", "Key your account number."]
    no_input: ["No input one.", "No input two."]
    no_match: ["No match one.", "No match two."]
    help: "Account help."
    on_fail: failed
    next: pin
  pin:
    kind: ask
    slot: pin
    type: digits
    min_length: 4
    max_length: 4
    secure: true
    prompt: "PIN?"
    next: done
  done:
    kind: hangup
    prompt: "Bye {caller_id}."
  failed:
    kind: hangup
    prompt: "Failed."
    outcome: failed
  agent:
    kind: handoff
    queue: general
    prompt: "Agent."
    reason: "asked"
    attach: [account_number]
"""


@pytest.fixture
def flow(tmp_path: Path) -> CompiledFlow:
    return compile_yaml(tmp_path, BASE)


def at_account(flow: CompiledFlow) -> Call:
    call = Call(flow)
    call.start()
    call.say("balance")
    assert call.state.node == "account"
    return call


# ----- menus and prompts ----------------------------------------------------------------------------


def test_menu_generates_prompt_keys_and_grammar(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    assert call.said == [
        "Main menu.",
        "For balances, say balance or press 1. For cards, say lost card or press 3.",
    ]
    listen = call.listen
    assert listen is not None and listen.slot_type == "intent"
    assert set(listen.dtmf_keys) == {"1", "3", "0", "*", "9"}
    assert listen.intents[:2] == ("check_balance", "report_lost_card")
    assert call.state.waiting == "input"


def test_menu_by_key_and_by_paraphrase(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.keys("3")
    assert call.hangup is not None and call.state.slots["menu_choice"] == "report_lost_card"
    call = Call(flow)
    call.start()
    call.say("I'd like to know how much money is in my account")
    assert call.state.node == "account"
    assert call.state.intents == ["check_balance"]


def test_prompt_list_is_chosen_by_attempt(flow: CompiledFlow) -> None:
    call = at_account(flow)
    assert call.said == ["Account number?"]
    call.say("purple")
    assert call.said == ["No match one.", "Key your account number."]


# ----- counters and escalation -----------------------------------------------------------------------


def test_no_input_escalates_then_fails_to_on_fail(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.silence()
    assert call.said == ["No input one.", "Key your account number."]
    call.silence()
    assert call.said == ["No input two.", "Key your account number."]
    call.silence()
    assert call.said == ["Failed."]
    assert call.state.outcome == "failed" and call.state.vars["failed_node"] == "account"


def test_no_input_and_no_match_share_the_attempt_budget(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.silence()
    call.say("purple elephant")
    assert call.said == ["No match one.", "Key your account number."]
    assert call.state.counters == {"account:no_input": 1, "account:no_match": 1, "account:attempts": 2}
    call.say("4417 0923")
    assert call.state.node == "pin" and "account:attempts" not in call.state.counters


def test_max_attempts_without_on_fail_is_a_safe_handoff(tmp_path: Path) -> None:
    text = BASE.replace("    on_fail: failed\n", "")
    text = text.replace("say: lost card, next: done}", "say: lost card, next: failed}")
    flow = compile_yaml(tmp_path, text)
    call = at_account(flow)
    for _ in range(3):
        call.say("purple")
    assert call.handoff is not None and call.handoff.queue == "general"
    assert "no valid input after 3 attempts" in (call.state.error or "")
    assert call.said[0].startswith("I'm sorry, something went wrong")
    assert call.state.outcome == "handoff"


def test_counters_reset_when_the_node_is_entered_again(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.silence()
    call.keys("9")  # a digit here, not the main-menu key: digits win in a digits ask
    assert call.state.node == "account" and call.state.collecting
    call.say("main menu")
    assert call.state.node == "menu" and not call.state.collecting and call.state.dtmf_buffer == ""
    assert isinstance(call.actions[0], CancelTimer)
    assert call.state.intents == ["check_balance", "main_menu"]
    call.say("balance")
    assert call.said == ["Account number?"]
    assert call.state.counters.get("account:attempts") is None


# ----- confirmation --------------------------------------------------------------------------------


def test_low_confidence_is_confirmed_then_accepted(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.say("four four one seven oh nine two three", confidence=0.3)
    assert call.said == ["I heard 4 4 1 7 0 9 2 3. Is that right?"]
    assert call.state.waiting == "confirm"
    assert call.listen is not None and call.listen.slot_type == "yes_no"
    call.say("yes that's right")
    assert call.state.node == "pin" and call.state.slots["account_number"] == "44170923"


def test_confirmation_denied_reasks_and_counts_an_attempt(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.say("44170923", confidence=0.2)
    call.keys("2")  # no
    assert call.said == ["Let's try that again.", "Key your account number."]
    assert call.state.counters["account:attempts"] == 1
    assert "account_number" not in call.state.slots


def test_high_confidence_and_keys_are_never_confirmed(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.say("44170923", confidence=0.9)
    assert call.state.node == "pin"
    call = at_account(flow)
    call.keys("44170923")
    assert call.state.node == "pin"


def test_confirm_always_and_never(tmp_path: Path) -> None:
    always = compile_yaml(tmp_path, BASE.replace("    on_fail: failed\n", "    on_fail: failed\n    confirm: always\n"))
    call = at_account(always)
    call.say("44170923", confidence=0.99)
    assert call.state.waiting == "confirm"
    never = compile_yaml(tmp_path, BASE.replace("    on_fail: failed\n", "    on_fail: failed\n    confirm: never\n"))
    call = at_account(never)
    call.say("44170923", confidence=0.05)
    assert call.state.node == "pin"


def test_secure_input_is_never_read_back(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("44170923")
    call.say("one two three four", confidence=0.2)
    assert "1 2 3 4" not in call.text and "one two" not in call.text
    assert call.said == ["Sorry, I didn't catch that clearly.", "PIN?"]
    assert call.listen is not None and call.listen.secure
    call.say("one two three four", confidence=0.9)
    assert call.state.recorded_slots()["pin"] == "***"
    assert call.state.vars["pin"] == "1234"


# ----- global commands -----------------------------------------------------------------------------


def test_agent_by_voice_from_a_digits_ask(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.say("can I talk to a real person")
    assert call.handoff is not None and call.handoff.queue == "general"
    assert call.state.intents == ["check_balance", "speak_to_agent"]


def test_zero_is_a_digit_in_a_digits_ask_but_agent_in_a_menu(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("01234567")
    assert call.state.slots["account_number"] == "01234567" and call.handoff is None
    call = Call(flow)
    call.start()
    call.keys("0")
    assert call.handoff is not None


def test_repeat_says_the_last_prompts_again_without_counting(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    first = call.said
    call.say("say that again")
    assert call.said == first
    call.keys("*")
    assert call.said == first
    assert call.state.counters == {}


def test_help_says_the_node_help_then_the_prompt(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.say("help")
    assert call.said == ["Account help.", "Account number?"]


def test_star_repeats_in_a_digits_ask(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("*")
    assert call.said == ["Account number?"] and call.state.node == "account"


# ----- type-ahead and keypad collection -------------------------------------------------------------


def test_type_ahead_answers_the_next_asks_without_prompting(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.keys("1441709231234")
    assert call.hangup is not None
    assert "Account number?" not in call.text and "PIN?" not in call.text
    assert call.state.vars["account_number"] == "44170923"


def test_keys_during_a_data_action_are_kept_for_the_next_ask(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: look
        nodes:
          look: {kind: action, function: lookup, args: {key: "{caller_id}"}, result: r, next: ask}
          ask: {kind: ask, slot: code, type: digits, min_length: 2, max_length: 2, prompt: "Code?", next: bye}
          bye: {kind: hangup, prompt: "Got {code}."}
        """)
    call = Call(flow)
    call.start()
    assert call.run_action is not None and call.run_action.args == {"key": "+15550100001"}
    call.keys("42")
    assert call.actions == [] and call.state.dtmf_buffer == "42"
    call.result(data={"x": 1})
    assert call.said == ["Got 42."]


def test_partial_keys_wait_for_the_interdigit_timer(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("4417")
    assert [t.name for t in call.timers] == ["interdigit"] and call.state.collecting
    call.keys("0923")
    assert call.state.node == "pin"
    assert any(isinstance(a, CancelTimer) for a in call.actions)


def test_interdigit_timeout_with_too_few_digits_is_a_no_match(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("44")
    call.timer()
    assert call.said == ["No match one.", "Key your account number."]
    assert call.state.dtmf_buffer == ""


def test_terminator_ends_a_variable_length_entry(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: ask
        nodes:
          ask: {kind: ask, slot: amount, type: currency, prompt: "Amount?", next: bye}
          bye: {kind: hangup, prompt: "{amount:currency}."}
        """)
    call = Call(flow)
    call.start()
    call.keys("20*50#")
    assert call.said == ["twenty dollars and fifty cents."]


# ----- mixed initiative, subflows, data ------------------------------------------------------------


def test_mixed_initiative_fills_the_intent_and_the_account(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("balance for account 4417 0923")
    assert call.state.node == "pin"
    assert call.said == ["PIN?"]
    assert call.state.slots["account_number"] == "44170923"


def test_nbest_alternative_is_used_when_the_first_does_not_match(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    call.say("bell lance", nbest=("bell lance", "balance"))
    assert call.state.node == "account"


SUB_MAIN = """
flow: main
start: greet
nodes:
  greet: {kind: say, prompt: "Hello.", next: auth}
  auth: {kind: subflow, flow: sub, next: after}
  after: {kind: hangup, prompt: "Back with {token} after {tries} tries."}
"""
SUB = """
flow: sub
start: count
variables: {tries: 0}
nodes:
  count: {kind: set, values: {tries: "tries + 1", token: "'abc'"}, next: done}
  done: {kind: return}
"""


def test_subflow_runs_and_returns_with_variables(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, SUB_MAIN, extra={"sub.yaml": SUB})
    call = Call(flow)
    call.start()
    assert call.said == ["Hello.", "Back with abc after 1 tries."]
    assert call.state.stack == [] and call.state.flow == "main"
    assert "sub.count" in call.state.path


def test_a_root_command_inside_a_subflow_leaves_the_subflow(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: main
        start: auth
        grammars: [common]
        commands: [{intent: main_menu, target: top}]
        nodes:
          auth: {kind: subflow, flow: sub, next: top}
          top: {kind: hangup, prompt: "Top."}
        """, extra={"sub.yaml": """
        flow: sub
        start: q
        nodes:
          q: {kind: ask, slot: x, type: digits, prompt: "X?", next: r}
          r: {kind: return}
        """})
    call = Call(flow)
    call.start()
    assert call.state.flow == "sub" and len(call.state.stack) == 1
    call.say("main menu")
    assert call.said == ["Top."] and call.state.stack == [] and call.state.flow == "main"


def test_action_results_go_into_variables_and_failures_to_on_error(tmp_path: Path) -> None:
    text = """
        flow: t
        start: look
        nodes:
          look:
            kind: action
            function: lookup
            args: {key: "{caller_id}"}
            result: r
            assign: {name: person.first, missing: person.nothing}
            next: ok
            on_error: oops
          ok: {kind: hangup, prompt: "Hi {name}."}
          oops: {kind: hangup, prompt: "Oops: {last_error}."}
        """
    flow = compile_yaml(tmp_path, text)
    call = Call(flow)
    call.start()
    assert isinstance(call.actions[-1], RunAction) and call.state.waiting == "action"
    call.result(data={"person": {"first": "Ann"}})
    assert call.said == ["Hi Ann."] and call.state.vars["missing"] is None
    call = Call(flow)
    call.start()
    call.result(ok=False, error="database down")
    assert call.said == ["Oops: database down."]


def test_a_stale_action_result_is_ignored(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: look
        nodes:
          look: {kind: action, function: lookup, args: {key: a}, next: ok}
          ok: {kind: hangup, prompt: "Done."}
        """)
    call = Call(flow)
    call.start()
    from voicebot.events import ActionResult

    call.send(ActionResult("someone-else:9", True, {}, at=call.tick()))
    assert call.actions == [] and call.state.waiting == "action"


def test_failing_action_without_on_error_apologises_and_hands_off(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: look
        nodes:
          look: {kind: action, function: fail, next: ok}
          ok: {kind: hangup}
        """)
    call = Call(flow)
    call.start()
    call.result(ok=False, error="boom")
    assert call.handoff is not None
    assert call.handoff.reason == "self-service error at look: action fail failed: boom"
    assert call.state.error == "node 'look': action fail failed: boom"


def test_missing_variable_at_run_time_is_a_safe_handoff(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: hi
        nodes:
          hi: {kind: say, prompt: "Hello {customer.first_name}.", next: bye}
          bye: {kind: hangup}
        """)
    call = Call(flow)
    call.start()
    assert call.handoff is not None and call.handoff.queue == "general"
    assert call.state.error == "node 'hi': variable 'customer.first_name' is not set"
    assert call.handoff.payload["caller_id"] == "+15550100001"


def test_step_limit_breaks_a_loop_that_never_waits(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: spin
        settings: {max_steps: 20}
        variables: {n: 0}
        nodes:
          spin: {kind: set, values: {n: "n + 1"}, next: check}
          check:
            kind: branch
            cases: [{if: "n < 0", goto: out}]
            else: spin
          out: {kind: hangup}
        """)
    call = Call(flow)
    call.start()
    assert call.handoff is not None
    assert "step limit reached: 20 nodes without input" in (call.state.error or "")
    assert call.state.vars["n"] == 10


# ----- handoff payload, hang-up, purity --------------------------------------------------------------


def test_handoff_payload_carries_what_was_collected_but_not_secrets(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("44170923")
    call.keys("1234")
    # at "done" the call hangs up; go back and ask for an agent instead
    call = at_account(flow)
    call.keys("44170923")
    call.say("operator")
    payload = call.handoff.payload if call.handoff else {}
    assert payload["attached"] == {"account_number": "44170923"}
    assert payload["intents"] == ["check_balance", "speak_to_agent"]
    assert payload["slots"] == {"menu_choice": "check_balance", "account_number": "44170923"}
    assert payload["reason"] == "asked" and payload["last_node"] == "agent"


def test_hang_up_mid_ask_ends_the_call_as_abandoned(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.hang_up()
    assert call.state.ended and call.state.outcome == "abandoned"
    assert call.keys("1") == [] and call.state.ended


def test_step_is_pure_and_deterministic(flow: CompiledFlow) -> None:
    call = at_account(flow)
    before = call.state.model_copy(deep=True)
    from voicebot.events import Utterance

    event = Utterance("44170923", 1.0, at=call.tick())
    first = step(flow, call.state, event)
    second = step(flow, call.state, event)
    assert call.state == before
    assert first == second


def test_events_round_trip_through_the_log_format() -> None:
    from voicebot.events import Dtmf, Hypothesis, Utterance

    for event in (Utterance("hi", 0.5, (Hypothesis("high", 0.4),), 3.0), Dtmf("12#", 4.0)):
        assert event_from_dict(event_to_dict(event)) == event


def test_listen_carries_node_timeouts_over_flow_defaults(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: ask
        settings: {timeouts: {no_input_ms: 7000, complete_silence_ms: 600}}
        nodes:
          ask:
            kind: ask
            slot: x
            type: yes_no
            prompt: "Yes or no?"
            timeouts: {no_input_ms: 4000}
            barge_in: false
            next: bye
          bye: {kind: hangup}
        """)
    call = Call(flow)
    call.start()
    listen = call.listen
    assert isinstance(listen, Listen)
    assert (listen.no_input_ms, listen.complete_silence_ms, listen.barge_in) == (4000, 600, False)
    assert listen.dtmf_keys == ("1", "2")


def test_a_lone_command_key_that_times_out_in_a_digits_ask_is_the_command(flow: CompiledFlow) -> None:
    call = at_account(flow)
    call.keys("0")
    assert call.handoff is None and call.state.collecting
    call.timer()
    assert call.handoff is not None and call.state.intents == ["check_balance", "speak_to_agent"]
    call = at_account(flow)
    call.keys("0#")  # ended with the terminator: the same lone key
    assert call.handoff is not None


def test_a_prefilled_intent_ask_without_a_route_for_its_value_asks(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: q
        grammars: [common]
        variables: {answer: maybe}
        nodes:
          q: {kind: ask, slot: answer, type: intent, routes: {yes: bye, no: bye}, prompt: "Yes or no?"}
          bye: {kind: hangup, prompt: "Bye."}
        """)
    call = Call(flow)
    call.start()
    assert call.said == ["Yes or no?"] and call.state.error is None
    call.say("yes")
    assert call.said == ["Bye."]


def test_root_commands_work_by_voice_at_a_menu_inside_a_subflow(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: main
        start: sub
        grammars: [common, banking]
        commands: [{intent: speak_to_agent, target: agent}]
        nodes:
          sub: {kind: subflow, flow: inner, next: agent}
          agent: {kind: handoff, queue: general}
        """, extra={"inner.yaml": """
        flow: inner
        start: m
        grammars: [common, banking]
        nodes:
          m:
            kind: menu
            options: [{intent: check_balance, next: r}]
          r: {kind: return}
        """})
    call = Call(flow)
    call.start()
    call.say("I want to talk to an agent")
    assert call.handoff is not None and call.state.stack == []


def test_counters_of_subflow_nodes_do_not_mix_with_root_nodes_of_the_same_id(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: main
        start: intro
        nodes:
          intro: {kind: say, prompt: ["Root first.", "Root again."], next: sub}
          sub: {kind: subflow, flow: inner, next: bye}
          bye: {kind: hangup}
        """, extra={"inner.yaml": """
        flow: inner
        start: intro
        nodes:
          intro: {kind: say, prompt: ["Sub first.", "Sub again."], next: r}
          r: {kind: return}
        """})
    call = Call(flow)
    call.start()
    assert call.said == ["Root first.", "Sub first."]
    assert call.state.counters == {"intro:visits": 1, "inner.intro:visits": 1}


def test_uh_huh_is_yes_not_repeat(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: q
        grammars: [common]
        commands: [{intent: repeat, do: repeat}]
        nodes:
          q: {kind: ask, slot: more, type: intent, intents: ["yes", "no"], routes: {yes: y, no: n}, prompt: "More?"}
          y: {kind: hangup, prompt: "Yes."}
          n: {kind: hangup, prompt: "No."}
        """)
    for answer in ("uh huh", "mm hmm"):
        call = Call(flow)
        call.start()
        call.say(answer)
        assert call.said == ["Yes."], answer


def test_static_marks_the_prompt_actually_chosen(tmp_path: Path) -> None:
    flow = compile_yaml(tmp_path, """
        flow: t
        start: hi
        variables: {name: Alice, n: 0}
        nodes:
          hi: {kind: say, prompt: ["Hello.", "Hello again, {name}."], next: count}
          count: {kind: set, values: {n: "n + 1"}, next: again}
          again:
            kind: branch
            cases: [{if: "n < 2", goto: hi}]
            else: bye
          bye: {kind: hangup}
        """)
    call = Call(flow)
    call.start()
    from voicebot.actions import Say

    says = [(a.text, a.static) for a in call.actions if isinstance(a, Say)]
    assert says == [("Hello.", True), ("Hello again, Alice.", False)]


def test_a_menu_of_fixed_words_is_static(flow: CompiledFlow) -> None:
    call = Call(flow)
    call.start()
    from voicebot.actions import Say

    assert all(a.static for a in call.actions if isinstance(a, Say))


def _flow_with_grammar(tmp_path: Path, grammar: str, flow: str, extra_grammar: str = "") -> CompiledFlow:
    from voicebot.flow.compile import load_flow

    grammars = tmp_path / "grammars"
    grammars.mkdir()
    (grammars / "claims.yaml").write_text(grammar)
    if extra_grammar:
        (grammars / "more.yaml").write_text(extra_grammar)
    (tmp_path / "f.yaml").write_text(flow)
    return load_flow(tmp_path / "f.yaml", actions={}, queues=["general"], grammars_dir=grammars)


CLAIMS = """
grammar: claims
synonyms: {claim: [complaint]}
intents:
  file_claim:
    phrases: [file a claim, make a claim]
    slots:
      amount: {type: currency}
      policy: {type: digits, min_length: 6, max_length: 6}
"""
CLAIM_FLOW = """
flow: f
start: m
grammars: [claims]
nodes:
  m: {kind: ask, slot: what, type: intent, intents: [file_claim], prompt: "How can I help?", next: bye}
  bye: {kind: hangup, prompt: "Claim for {amount:currency} on policy {policy:digits}."}
"""


def test_mixed_initiative_fills_currency_slots_as_well_as_digits(tmp_path: Path) -> None:
    flow = _flow_with_grammar(tmp_path, CLAIMS, CLAIM_FLOW)
    call = Call(flow)
    call.start()
    call.say("I want to file a claim for five hundred dollars on policy 123456")
    assert call.said == ["Claim for five hundred dollars on policy one two three four five six."]


def test_synonym_clashes_across_grammars_are_load_errors(tmp_path: Path) -> None:
    from voicebot.flow.errors import FlowError

    more = "grammar: more\nsynonyms: {grievance: [complaint]}\nintents:\n  other: {phrases: [something else]}\n"
    flow = CLAIM_FLOW.replace("grammars: [claims]", "grammars: [claims, more]")
    with pytest.raises(FlowError, match="synonym 'complaint' maps to 'grievance' here but to 'claim'"):
        _flow_with_grammar(tmp_path, CLAIMS, flow, more)
