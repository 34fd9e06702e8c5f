"""How a listening node speaks and listens: its prompt turns and the Listen action it issues."""

from __future__ import annotations

from voicebot.actions import Listen, Say
from voicebot.flow.engine_step import Listening, StepBase
from voicebot.flow.interpret import Commands, menu_is_static, menu_text, option_key, yes_no_keys
from voicebot.flow.schema import AskNode, MenuNode, ask_intents, intent_keys, prompt_list


class PromptSteps(StepBase):
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
