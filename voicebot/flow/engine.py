"""The flow engine: ``step(flow, state, event) -> (state, actions)``, a pure function.

No clock, socket, thread or database is touched here: time arrives in events, data arrives as
``ActionResult`` events, and everything the call needs done leaves as actions. The same engine runs
under SIP, in the text console, in conversation tests and in the benchmark.

Vocabulary follows VoiceXML's form interpretation: a listening node is *visited*, input *fills* its
slot or is a no-input / no-match that escalates, and after ``max_attempts`` failures the node fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from voicebot.actions import (
    Action,
    CancelTimer,
    Handoff,
    Hangup,
    Listen,
    Play,
    RunAction,
    Say,
    StartTimer,
)
from voicebot.events import ActionResult, CallStarted, Dtmf, Event, HangUp, NoInput, TimerFired, Utterance
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.errors import FlowRuntimeError
from voicebot.flow.expr import EvalError, MissingVariable, truthy
from voicebot.flow.interpret import (
    Commands,
    Filled,
    interpret_key,
    interpret_speech,
    keyed_value,
    match_command,
    menu_is_static,
    menu_text,
    option_key,
    parse_confirmation,
    spoken_form,
    yes_no_keys,
)
from voicebot.flow.schema import (
    ActionNode,
    AskNode,
    BranchNode,
    Command,
    GotoNode,
    HandoffNode,
    HangupNode,
    MenuNode,
    ReturnNode,
    SayNode,
    SetNode,
    SubflowNode,
    ask_intents,
    intent_keys,
    prompt_list,
)
from voicebot.flow.state import CallState, Frame, PendingConfirmation
from voicebot.flow.template import RenderError

INTERDIGIT_TIMER = "interdigit"
MAX_PATH = 500
_SINGLE_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\[\]\"']*)\}")

Listening = AskNode | MenuNode


def new_state(flow: CompiledFlow) -> CallState:
    root = flow.flows[flow.root]
    return CallState(flow=flow.root, node=root.start, vars=dict(root.variables))


def listen_at(flow: CompiledFlow, flow_name: str, node_id: str, *, confirming: bool = False) -> Listen:
    """The Listen action a listening node issues, so tools recognize audio exactly as that node would.

    ``confirming``: the Listen of the node's yes/no confirmation turn instead.
    """
    node = flow.flows[flow_name].nodes.get(node_id) if flow_name in flow.flows else None
    if not isinstance(node, (AskNode, MenuNode)):
        raise ValueError(f"{flow_name}.{node_id} is not an ask or menu node")
    state = CallState(flow=flow_name, node=node_id, waiting="confirm" if confirming else "input")
    return _Step(flow, state, NoInput(at=0.0))._listen_action(node, confirming=confirming)


def listens_of(flow: CompiledFlow) -> list[Listen]:
    """Every Listen the flow (and its subflows) can issue: each ask and menu node, and its confirmation turn."""
    found: list[Listen] = []
    for flow_name, sub in flow.flows.items():
        for node_id, node in sub.nodes.items():
            if isinstance(node, (AskNode, MenuNode)):
                found.append(listen_at(flow, flow_name, node_id))
                found.append(listen_at(flow, flow_name, node_id, confirming=True))
    return found


def step(flow: CompiledFlow, state: CallState, event: Event) -> tuple[CallState, list[Action]]:
    """Advance one call by one event. ``state`` is not modified; a new state is returned."""
    run = _Step(flow, state.model_copy(deep=True), event)
    run.handle()
    return run.s, run.actions


class _Step:
    def __init__(self, flow: CompiledFlow, state: CallState, event: Event) -> None:
        self.flow = flow
        self.s = state
        self.event = event
        self.actions: list[Action] = []
        self.budget = flow.flows[flow.root].settings.max_steps
        self.moving = False

    # ----- dispatch -------------------------------------------------------------------------------

    def handle(self) -> None:
        s, event = self.s, self.event
        if s.ended:
            return
        s.events += 1
        try:
            if isinstance(event, CallStarted):
                if s.waiting == "start":
                    self._start(event)
            elif s.waiting == "start":
                return
            elif isinstance(event, HangUp):
                self._caller_hung_up()
            elif isinstance(event, ActionResult):
                if s.waiting == "action" and event.request_id == s.pending_request:
                    self._action_result(event)
            elif isinstance(event, Dtmf):
                s.dtmf_buffer += event.keys
                if s.waiting in ("input", "confirm"):
                    self._consume_keys(self._listening())
            elif s.waiting in ("input", "confirm"):
                self._input(event)
        except FlowRuntimeError as exc:
            self._safe_handoff(exc)

    def _input(self, event: Event) -> None:
        node = self._listening()
        if isinstance(event, Utterance):
            self._utterance(node, event)
        elif isinstance(event, NoInput):
            if self.s.collecting:
                self._complete_keys(node, final=True)
            else:
                self._failure(node, "no_input")
        elif isinstance(event, TimerFired) and event.name == INTERDIGIT_TIMER and self.s.collecting:
            self._complete_keys(node, final=True)

    def _start(self, event: CallStarted) -> None:
        s = self.s
        s.call_id = event.call_id
        s.started_at = event.at
        s.vars.update(caller_id=event.caller_id, dialled=event.dialled, call_id=event.call_id)
        s.vars.setdefault("authenticated", False)
        self._goto(s.node)

    # ----- moving through nodes -------------------------------------------------------------------

    def _goto(self, node_id: str) -> None:
        """Continue at ``node_id`` and run nodes until one waits or the call ends."""
        s = self.s
        s.node = node_id
        s.waiting = "input"  # provisional; nodes that do not wait move on immediately
        self.moving = True
        while self.moving:
            self.budget -= 1
            if self.budget < 0:
                limit = self.flow.flows[self.flow.root].settings.max_steps
                raise FlowRuntimeError(s.node, f"step limit reached: {limit} nodes without input (a loop?)")
            if len(s.path) < MAX_PATH:
                s.path.append(s.node if s.flow == self.flow.root else f"{s.flow}.{s.node}")
            self._visit(self.flow.node(s.flow, s.node))

    def _next(self, node_id: str) -> None:
        self.s.node = node_id

    def _stop(self, waiting: str) -> None:
        self.s.waiting = waiting  # type: ignore[assignment]
        self.moving = False

    def _visit(self, node: Any) -> None:
        s = self.s
        node_id = s.node
        if isinstance(node, SayNode):
            visits = self._count(node_id, "visits")
            if node.play:
                fallback = self._render_choice(prompt_list(node.prompt), visits - 1) if node.prompt else ""
                self.actions.append(Play(node.play, node_id, node.barge_in, fallback))
            elif node.prompt is not None:
                self._say(prompt_list(node.prompt), visits - 1, node.barge_in)
            self._next(node.next)
        elif isinstance(node, (AskNode, MenuNode)):
            self._enter_listening(node_id, node)
        elif isinstance(node, ActionNode):
            self._run_action(node_id, node)
        elif isinstance(node, BranchNode):
            target = node.otherwise
            for case in node.cases:
                if truthy(self._evaluate(case.when)):
                    target = case.goto
                    break
            self._next(target)
        elif isinstance(node, SetNode):
            for name in node.clear:
                s.vars.pop(name, None)
                s.slots.pop(name, None)
            for name, value in node.values.items():
                s.vars[name] = self._evaluate(value) if isinstance(value, str) else value
            self._next(node.next)
        elif isinstance(node, GotoNode):
            self._next(node.target)
        elif isinstance(node, SubflowNode):
            s.stack.append(Frame(flow=s.flow, node=node_id))
            s.flow = self.flow.subflow_names[s.flow][node.flow]
            for name, value in self.flow.flows[s.flow].variables.items():
                s.vars.setdefault(name, value)  # a subflow's variables are defaults, not resets
            self._next(self.flow.flows[s.flow].start)
        elif isinstance(node, ReturnNode):
            if not s.stack:
                raise FlowRuntimeError(node_id, "return outside a subflow")
            frame = s.stack.pop()
            s.flow = frame.flow
            caller = self.flow.node(frame.flow, frame.node)
            assert isinstance(caller, SubflowNode)
            self._next(caller.next)
        elif isinstance(node, HandoffNode):
            self._handoff_node(node_id, node)
        elif isinstance(node, HangupNode):
            if node.prompt is not None:
                self._say(prompt_list(node.prompt), 0, barge_in=False)
            s.outcome = node.outcome or str(s.vars.get("outcome") or "completed")
            self.actions.append(Hangup(s.outcome, "flow ended", node_id))
            self._stop("ended")

    def _counter(self, node_id: str, suffix: str) -> str:
        """Counter names: "node:suffix" in the root flow, "subflow.node:suffix" in a subflow (ids may repeat)."""
        prefix = node_id if self.s.flow == self.flow.root else f"{self.s.flow}.{node_id}"
        return f"{prefix}:{suffix}"

    def _count(self, node_id: str, suffix: str) -> int:
        key = self._counter(node_id, suffix)
        self.s.counters[key] = self.s.counters.get(key, 0) + 1
        return self.s.counters[key]

    # ----- listening ------------------------------------------------------------------------------

    def _listening(self) -> Listening:
        node = self.flow.node(self.s.flow, self.s.node)
        assert isinstance(node, (AskNode, MenuNode))
        return node

    def _enter_listening(self, node_id: str, node: Listening) -> None:
        s = self.s
        if isinstance(node, AskNode) and not node.always_ask and s.vars.get(node.slot) is not None:
            # Already filled (mixed initiative or an earlier turn): VoiceXML skips filled fields.
            value = s.vars[node.slot]
            target = (node.routes.get(str(value)) if node.type == "intent" else None) or node.next
            if target is not None:
                self._next(target)
                return
            # A value this intent ask has no route for: ask, rather than guess.
        self._reset_counters(node_id)
        self._stop("input")
        if s.dtmf_buffer and self._consume_keys(node):
            return  # type-ahead answered the node before its prompt was needed
        if s.collecting:
            # Part of an entry was keyed ahead: listen for the rest without prompting again.
            self.actions.insert(len(self.actions) - 1, self._listen_action(node, confirming=False))
        else:
            self._prompt_turn(node, None)

    def _reset_counters(self, node_id: str) -> None:
        for suffix in ("no_input", "no_match", "attempts"):
            self.s.counters.pop(self._counter(node_id, suffix), None)
        self.s.confirmation = None
        self.s.collecting = False

    def _prompt_turn(self, node: Listening, message: str | None) -> None:
        """Say an escalation message (if any) and the node's prompt for this attempt, then listen."""
        attempt = self.s.counters.get(self._counter(self.s.node, "attempts"), 0)
        said: list[str] = []
        static: set[str] = set()
        if message:
            said.append(self._render(message))
        prompts = prompt_list(node.prompt)
        if prompts and any(prompts):
            said.append(self._render_choice(prompts, attempt))
        if isinstance(node, MenuNode):
            options = menu_text(self.flow, node, self._render)
            said.append(options)
            if menu_is_static(self.flow, node):
                static.add(options)
        self._emit_turn([t for t in said if t], node, static=static)

    def _emit_turn(
        self, texts: list[str], node: Listening, confirming: bool = False, static: set[str] | None = None
    ) -> None:
        for text in texts:
            fixed = text in (static or ()) or self._is_static(text)
            self.actions.append(Say(text, self.s.node, node.barge_in, fixed))
        self.s.last_prompts = texts
        self.actions.append(self._listen_action(node, confirming))
        self._stop("confirm" if confirming else "input")

    def _is_static(self, text: str) -> bool:
        template = self.flow.templates.get(text)
        return template is not None and template.is_static

    def _listen_action(self, node: Listening, confirming: bool) -> Listen:
        settings = self.flow.flows[self.s.flow].settings.timeouts
        commands = Commands.active(self.flow, self.s.flow, node)

        def timeout(name: str, default: int) -> int:
            value = getattr(node.timeouts, name) or getattr(settings, name)
            return int(value) if value else default

        keys: list[str] = list(commands.by_key)
        if confirming or (isinstance(node, AskNode) and node.type == "yes_no"):
            slot_type = "yes_no"
            keys += list(yes_no_keys(self.flow))
            intents: list[str] = ["yes", "no"]
        elif isinstance(node, MenuNode):
            slot_type = "intent"
            intents = [o.intent for o in node.options]
            keys += [k for o in node.options if (k := option_key(self.flow, o.intent, o.dtmf))]
        else:
            slot_type = node.type
            intents = ask_intents(node)
            keys += list(intent_keys(self.flow.intent_key, node))
        is_ask = isinstance(node, AskNode)
        return Listen(
            node=self.s.node,
            slot_type=slot_type,  # type: ignore[arg-type]
            intents=tuple(intents + [c for c in commands.by_intent if c not in intents]),
            min_digits=(node.min_length or 1) if is_ask else 1,  # type: ignore[union-attr]
            max_digits=(node.max_length or 32) if is_ask else 1,  # type: ignore[union-attr]
            terminator=node.terminator if isinstance(node, AskNode) else "#",
            dtmf_keys=tuple(dict.fromkeys(keys)),
            no_input_ms=timeout("no_input_ms", 5000),
            complete_silence_ms=timeout("complete_silence_ms", 800),
            incomplete_silence_ms=timeout("incomplete_silence_ms", 1200),
            max_speech_ms=timeout("max_speech_ms", 15000),
            interdigit_ms=timeout("interdigit_ms", 3000),
            barge_in=node.barge_in,
            secure=isinstance(node, AskNode) and node.secure,
        )

    # ----- input ----------------------------------------------------------------------------------

    def _today(self) -> date:
        return datetime.fromtimestamp(self.event.at, UTC).date()

    def _abandon_keys(self) -> None:
        """Speech (or a command) replaces a half-keyed entry: drop its digits and stop its timer."""
        if self.s.collecting:
            self.s.collecting = False
            self.s.dtmf_buffer = ""
            self.actions.append(CancelTimer(INTERDIGIT_TIMER))

    def _utterance(self, node: Listening, event: Utterance) -> None:
        self._abandon_keys()
        commands = Commands.active(self.flow, self.s.flow, node)
        candidates = [(event.text, event.confidence)]
        candidates += [(h.text, h.confidence) for h in event.nbest if h.text != event.text]
        if self.s.waiting == "confirm":
            for text, _ in candidates:
                answer = parse_confirmation(text)
                if answer is not None:
                    self._confirmation_answer(node, answer)
                    return
            command = self._command_in(candidates, commands)
            if command is not None:
                self._command(node, command)
            else:
                self._failure(node, "no_match")
            return
        for text, confidence in candidates:
            if not text.strip():
                continue
            found = interpret_speech(self.flow, self.s.flow, self.s.node, node, text, self._today(), commands)
            if isinstance(found, Filled):
                self._filled(node, found, confidence, spoken=True)
                return
            if isinstance(found, Command):
                self._command(node, found)
                return
        self._failure(node, "no_match")

    def _command_in(self, candidates: Sequence[tuple[str, float]], commands: Commands) -> Command | None:
        for text, _ in candidates:
            command = match_command(self.flow, commands, text)
            if command is not None:
                return command
        return None

    def _consume_keys(self, node: Listening) -> bool:
        """Use buffered keys at this node. True when the node resolved (filled, failed or commanded)."""
        s = self.s
        commands = Commands.active(self.flow, s.flow, node)
        if s.waiting == "confirm":
            key, s.dtmf_buffer = s.dtmf_buffer[0], s.dtmf_buffer[1:]
            yes, no = yes_no_keys(self.flow)
            if key in (yes, no):
                self._confirmation_answer(node, key == yes)
            elif key in commands.by_key:
                self._command(node, commands.by_key[key])
            else:
                self._failure(node, "no_match")
            return True
        if isinstance(node, MenuNode) or node.type in ("intent", "yes_no"):
            key, s.dtmf_buffer = s.dtmf_buffer[0], s.dtmf_buffer[1:]
            found = interpret_key(self.flow, node, key, commands)
            if isinstance(found, Filled):
                self._filled(node, found, 1.0, spoken=False)
            elif isinstance(found, Command):
                self._command(node, found)
            else:
                self._failure(node, "no_match")
            return True
        first = s.dtmf_buffer[0]
        if not s.collecting and first in commands.by_key and not first.isdigit() and first != node.terminator:
            s.dtmf_buffer = s.dtmf_buffer[1:]
            self._command(node, commands.by_key[first])
            return True
        return self._complete_keys(node, final=False)

    def _complete_keys(self, node: Listening, final: bool) -> bool:
        """Digit collection: complete on the terminator, at max length, or (final) when time is up."""
        s = self.s
        assert isinstance(node, AskNode)
        limit = node.max_length or 32
        buffer = s.dtmf_buffer
        end = buffer.find(node.terminator) if node.terminator else -1
        if end != -1 and end <= limit:
            keys, rest = buffer[:end], buffer[end + 1 :]
        elif len(buffer) >= limit:
            keys, rest = buffer[:limit], buffer[limit:]
        elif final:
            keys, rest = buffer, ""
        else:
            s.collecting = True
            ms = node.timeouts.interdigit_ms or self.flow.flows[s.flow].settings.timeouts.interdigit_ms or 3000
            self.actions.append(StartTimer(INTERDIGIT_TIMER, int(ms)))
            return False
        if s.collecting:
            self.actions.append(CancelTimer(INTERDIGIT_TIMER))
        s.collecting = False
        s.dtmf_buffer = rest
        value = keyed_value(node, keys)
        commands = Commands.active(self.flow, s.flow, node)
        if value is None and keys in commands.by_key:
            # A lone command key that timed out (0 for an agent during a PIN) is the command, as
            # callers expect from "press 0 at any time"; as part of a longer entry it stays a digit.
            self._command(node, commands.by_key[keys])
        elif value is None:
            self._failure(node, "no_match")
        else:
            self._filled(node, Filled(value), 1.0, spoken=False)
        return True

    def _filled(self, node: Listening, found: Filled, confidence: float, spoken: bool) -> None:
        settings = self.flow.flows[self.s.flow].settings.confirm
        policy = node.confirm if isinstance(node, AskNode) else "auto"
        needs = policy == "always" or (policy == "auto" and spoken and confidence < settings.threshold)
        if not needs:
            self._accept(node, found)
            return
        if isinstance(node, AskNode) and node.secure:
            # A PIN is never read back: ask again instead, as a failed attempt.
            self._failure(node, "no_match", message=settings.secure_prompt)
            return
        heard = spoken_form(node, found.value, self.flow)
        self.s.confirmation = PendingConfirmation(
            value=found.value, heard=heard, intent=found.intent, entities=found.entities
        )
        text = self.flow.template(settings.prompt).render({**self.s.vars, "value": heard})
        self._emit_turn([text], node, confirming=True)

    def _confirmation_answer(self, node: Listening, yes: bool) -> None:
        pending = self.s.confirmation
        assert pending is not None
        self.s.confirmation = None
        if yes:
            target = None
            if isinstance(node, MenuNode):
                target = next(o.next for o in node.options if o.intent == pending.intent)
            elif node.type == "intent" and pending.intent:
                target = node.routes.get(pending.intent)
            self._accept(node, Filled(pending.value, pending.intent, pending.entities, target))
        else:
            settings = self.flow.flows[self.s.flow].settings.confirm
            self._failure(node, "no_match", message=settings.retry_prompt)

    def _accept(self, node: Listening, found: Filled) -> None:
        s = self.s
        node_id = s.node
        s.slots[node.slot] = found.value
        s.vars[node.slot] = found.value
        if isinstance(node, AskNode) and node.secure and node.slot not in s.secure_slots:
            s.secure_slots.append(node.slot)
        if found.intent:
            s.intents.append(found.intent)
            s.vars["last_intent"] = found.intent
        for name, value in found.entities.items():
            s.slots[name] = value
            s.vars[name] = value
        self._reset_counters(node_id)
        target = found.target or (node.next if isinstance(node, AskNode) else None)
        if target is None:
            raise FlowRuntimeError(node_id, f"no route for '{found.value}'")
        self._goto(target)

    def _failure(self, node: Listening, kind: str, message: str | None = None) -> None:
        s = self.s
        node_id = s.node
        s.collecting = False
        s.confirmation = None
        count = self._count(node_id, kind)
        attempts = self._count(node_id, "attempts")
        settings = self.flow.flows[s.flow].settings
        if attempts >= (node.max_attempts or settings.max_attempts):
            self._reset_counters(node_id)
            s.vars["failed_node"] = node_id
            if node.on_fail:
                self._goto(node.on_fail)
                return
            raise FlowRuntimeError(node_id, f"no valid input after {attempts} attempts")
        if message is None:
            own = getattr(node, kind)
            messages = prompt_list(own if own is not None else getattr(settings, kind))
            message = messages[min(count, len(messages)) - 1] if messages else None
        self._prompt_turn(node, message)

    def _command(self, node: Listening, command: Command) -> None:
        s = self.s
        s.intents.append(command.intent)
        self._abandon_keys()
        if command.do == "repeat":
            self._emit_turn(list(s.last_prompts), node, confirming=s.waiting == "confirm")
            return
        if command.do == "help":
            settings = self.flow.flows[s.flow].settings
            help_text = self._render(node.help or settings.help)
            self._emit_turn([help_text, *s.last_prompts], node, confirming=s.waiting == "confirm")
            return
        s.confirmation = None
        self._reset_counters(s.node)
        owner = Commands.active(self.flow, s.flow).owner
        if owner != s.flow:
            s.stack.clear()  # a root command leaves every subflow
            s.flow = owner
        assert command.target is not None
        self._goto(command.target)

    # ----- actions, handoff, errors ---------------------------------------------------------------

    def _run_action(self, node_id: str, node: ActionNode) -> None:
        s = self.s
        args = {name: self._argument(value) for name, value in node.args.items()}
        name = node.function or "http"
        if node.http is not None:
            args = {"url": node.http.url, "headers": dict(node.http.headers), "body": args,
                    "timeout_ms": node.timeout_ms}
        s.request_seq += 1
        request = f"{s.call_id}:{s.request_seq}"
        s.pending_request = request
        self.actions.append(RunAction(request, name, args, node.timeout_ms, node_id))
        self._stop("action")

    def _argument(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        single = _SINGLE_PLACEHOLDER.fullmatch(value)
        if single:
            return self._evaluate(single.group(1))  # keep the value's type (numbers, dicts)
        return self._render(value)

    def _action_result(self, event: ActionResult) -> None:
        s = self.s
        node = self.flow.node(s.flow, s.node)
        assert isinstance(node, ActionNode)
        s.pending_request = None
        if event.ok:
            if node.result:
                s.vars[node.result] = dict(event.data)
            for var, path in node.assign.items():
                s.vars[var] = _lookup(event.data, path)
            self._goto(node.next)
            return
        s.vars["last_error"] = event.error
        if node.on_error:
            self._goto(node.on_error)
            return
        raise FlowRuntimeError(s.node, f"action {node.function or 'http'} failed: {event.error}")

    def _handoff_node(self, node_id: str, node: HandoffNode) -> None:
        s = self.s
        if node.prompt is not None:
            self._say(prompt_list(node.prompt), 0, barge_in=False)
        reason = self._render(node.reason) if node.reason else ""
        payload = self._payload(reason, node.attach)
        s.handoff = {"queue": node.queue, "priority": node.priority, "skills": list(node.skills), **payload}
        s.outcome = "handoff"
        self.actions.append(Handoff(node.queue, node.priority, tuple(node.skills), reason, payload, node_id))
        self._stop("ended")

    def _payload(self, reason: str, attach: Sequence[str]) -> dict[str, Any]:
        """Everything collected, for the agent: the caller never repeats themselves."""
        s = self.s
        attached = {
            name: ("***" if name in s.secure_slots else s.vars.get(name)) for name in attach
        }
        return {
            "call_id": s.call_id,
            "caller_id": s.vars.get("caller_id", ""),
            "dialled": s.vars.get("dialled", ""),
            "flow": self.flow.root,
            "reason": reason,
            "authenticated": s.authenticated,
            "customer": s.vars.get("customer"),
            "intents": list(s.intents),
            "slots": s.recorded_slots(),
            "last_node": s.node,
            "attached": attached,
        }

    def _safe_handoff(self, exc: FlowRuntimeError) -> None:
        """A flow that fails mid-call apologises and hands the caller to a person, with what it has."""
        s = self.s
        policy = self.flow.flows[self.flow.root].settings.on_error
        s.error = f"{s.flow}.{exc.node}: {exc.message}" if s.flow != self.flow.root else str(exc)
        self.actions.append(Say(policy.prompt, exc.node, barge_in=False, static=True))
        reason = f"self-service error at {exc.node}: {exc.message}"
        payload = self._payload(reason, [])
        s.handoff = {"queue": policy.queue, "priority": policy.priority, "skills": [], **payload}
        s.outcome = "handoff"
        self.actions.append(Handoff(policy.queue, policy.priority, (), reason, payload, exc.node))
        s.waiting = "ended"
        self.moving = False

    def _caller_hung_up(self) -> None:
        s = self.s
        s.vars["ended_by"] = "caller"
        s.outcome = str(s.vars.get("outcome") or "abandoned")
        s.waiting = "ended"

    # ----- rendering ------------------------------------------------------------------------------

    def _say(self, prompts: list[str], index: int, barge_in: bool) -> None:
        text = self._render_choice(prompts, index)
        if text:
            # static describes the prompt actually chosen: a prompt cache may store it, so it must not
            # hold caller data ("Hello." first, "Hello again, {name}." later is static only once).
            source = prompts[max(0, min(index, len(prompts) - 1))]
            self.actions.append(Say(text, self.s.node, barge_in, self._is_static(source)))

    def _render_choice(self, prompts: list[str], index: int) -> str:
        if not prompts:
            return ""
        return self._render(prompts[max(0, min(index, len(prompts) - 1))])

    def _render(self, source: str) -> str:
        try:
            return self.flow.template(source).render(self.s.vars)
        except MissingVariable as exc:
            raise FlowRuntimeError(self.s.node, f"variable '{exc.name}' is not set") from None
        except RenderError as exc:
            raise FlowRuntimeError(self.s.node, str(exc)) from None

    def _evaluate(self, source: str) -> Any:
        try:
            return self.flow.expr(source).evaluate(self.s.vars)
        except MissingVariable as exc:
            raise FlowRuntimeError(self.s.node, f"variable '{exc.name}' is not set") from None
        except EvalError as exc:
            raise FlowRuntimeError(self.s.node, f"cannot evaluate {source!r}: {exc.message}") from None


def _lookup(data: Any, path: str) -> Any:
    """A dotted field of an action result; a missing field is None (results may omit optional data)."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current

