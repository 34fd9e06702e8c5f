"""Input at a listening node: speech, keys and confirmations fill its slot, escalate a no-input or
no-match, or run a global command (VoiceXML's form interpretation).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from voicebot.actions import CancelTimer, StartTimer
from voicebot.events import Utterance
from voicebot.flow.engine_prompts import PromptSteps
from voicebot.flow.engine_step import INTERDIGIT_TIMER, Listening
from voicebot.flow.errors import FlowRuntimeError
from voicebot.flow.interpret import (
    Commands,
    Filled,
    command_action,
    interpret_key,
    interpret_speech,
    keyed_value,
    match_command,
    needs_confirmation,
    parse_confirmation,
    spoken_form,
    yes_no_keys,
)
from voicebot.flow.schema import AskNode, Command, MenuNode, prompt_list
from voicebot.flow.state import PendingConfirmation


class InputSteps(PromptSteps):
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
            for text, confidence in candidates:
                command = match_command(self.flow, commands, text)
                if command is not None:
                    self._heard_command(node, command, confidence)
                    return
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
                self._heard_command(node, found, confidence)
                return
        self._failure(node, "no_match")

    def _heard_command(self, node: Listening, command: Command, confidence: float) -> None:
        """Act on a spoken command, or confirm it first when it is a goto command heard faintly."""
        if command_action(self.flow, self.s.flow, node, command, confidence) == "act":
            self._command(node, command)
        else:
            self._confirm_command(node, command)

    def _confirm_command(self, node: Listening, command: Command) -> None:
        """Ask "Did you want to end the call?" before a low-confidence goto command (yes/no, keys 1/2)."""
        settings = self.flow.flows[self.s.flow].settings.confirm
        intent = self.flow.intents.get(command.intent)
        heard = intent.phrases[0] if intent and intent.phrases else command.intent.replace("_", " ")
        self.s.confirmation = PendingConfirmation(value=heard, heard=heard, command=command.intent)
        text = self.flow.template(command.confirm or settings.command_prompt).render({**self.s.vars, "value": heard})
        self._emit_turn([text], node, confirming=True)

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
        if not needs_confirmation(self.flow, self.s.flow, node, confidence, spoken):
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
        if pending.command is not None:
            command = Commands.active(self.flow, self.s.flow, node).by_intent.get(pending.command)
            if yes and command is not None:
                self._command(node, command)
            else:
                # Not a command after all: the node's question again, as after any misheard answer.
                self._failure(node, "no_match", message=self.flow.flows[self.s.flow].settings.confirm.retry_prompt)
            return
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
