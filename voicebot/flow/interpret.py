"""What a caller's input means at one listening node: pure functions over the compiled flow.

The engine asks two questions: does this utterance or key fill the node (a :class:`Filled`), or is it
a global command (a :class:`Command`)? Everything else is a no-match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from voicebot.flow.compile import CompiledFlow
from voicebot.flow.schema import AskNode, Command, MenuNode, ask_intents, intent_keys
from voicebot.nlu.matcher import IntentMatcher
from voicebot.nlu.numbers import find_digit_strings
from voicebot.nlu.slots import interpret_value
from voicebot.nlu.values import parse_yes_no

DIGIT_TYPES = ("digits", "number", "currency", "date")
YES_KEY, NO_KEY = "1", "2"


@dataclass(frozen=True)
class Filled:
    value: Any
    intent: str | None = None
    entities: dict[str, Any] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class Commands:
    """The global commands active at a node: those of its flow, else the root flow's."""

    owner: str
    by_key: dict[str, Command]
    by_intent: dict[str, Command]

    @staticmethod
    def active(flow: CompiledFlow, current_flow: str, node: AskNode | MenuNode | None = None) -> Commands:
        """The commands heard at ``node`` of ``current_flow``: none when the node turns them off."""
        owner = current_flow if flow.flows[current_flow].commands else flow.root
        if node is not None and not node.commands:
            return Commands(owner, {}, {})
        commands = flow.flows[owner].commands
        return Commands(owner, flow.command_keys[owner], {c.intent: c for c in commands})


def yes_no_keys(flow: CompiledFlow) -> tuple[str, str]:
    return flow.intent_key("yes") or YES_KEY, flow.intent_key("no") or NO_KEY


def option_key(flow: CompiledFlow, option_intent: str, explicit: str | None) -> str | None:
    return explicit or flow.intent_key(option_intent)


def menu_text(flow: CompiledFlow, node: MenuNode, render: Callable[[str], str]) -> str:
    """The options sentence a menu generates: "For {label}, say {word} or press {key}." per option.

    One function for the engine (which speaks it) and the prompt builder (which pre-renders it).
    """
    parts = []
    for option in node.options:
        intent = flow.intents[option.intent]
        label = render(option.label) if option.label else option.intent.replace("_", " ")
        word = render(option.say) if option.say else intent.phrases[0]
        key = option_key(flow, option.intent, option.dtmf)
        parts.append(f"For {label}, say {word} or press {key}.")
    return " ".join(parts)


def menu_is_static(flow: CompiledFlow, node: MenuNode) -> bool:
    texts = [o.label for o in node.options] + [o.say for o in node.options]
    return all(flow.template(text).is_static for text in texts if text)


def entities_for(flow: CompiledFlow, intent: str, text: str, today: date) -> dict[str, Any]:
    """Mixed initiative: slots an intent declares, found in the same utterance."""
    found: dict[str, Any] = {}
    spec = flow.intents.get(intent)
    if spec is None:
        return found
    for entity in spec.slots:
        if entity.type == "digits":
            runs = find_digit_strings(text, entity.min_length or 1, entity.max_length or 32)
            if runs:
                found[entity.name] = runs[0]
        else:
            value = interpret_value(entity.type, text, today=today)
            if value is not None:
                found[entity.name] = value
    return found


CommandAction = Literal["act", "confirm"]


def command_action(flow: CompiledFlow, flow_name: str, node: AskNode | MenuNode, command: Command,
                   confidence: float) -> CommandAction:
    """What a spoken command heard at ``confidence`` does: a goto command (goodbye, agent, main menu: it
    ends the call or leaves the caller's place) below the threshold is confirmed first; everything else is
    acted on. repeat and help are taken at any confidence: a false one costs the caller one turn, as the
    no-match would, while ignoring a true one (measured: most one-word "help"/"repeat" on phone audio are
    heard below 0.6) fails the caller who asked.

    One rule for the engine and the accuracy measurement (``voicebot recognize``, ``bench/asr_engines.py``).
    """
    if command.do != "goto":
        return "act"
    threshold = node.command_threshold
    if threshold is None:
        threshold = flow.flows[flow_name].settings.confirm.command_threshold
    return "act" if confidence >= threshold else "confirm"


def needs_confirmation(flow: CompiledFlow, flow_name: str, node: AskNode | MenuNode, confidence: float,
                       spoken: bool) -> bool:
    """Whether a value or intent heard at ``confidence`` is checked before it is taken: the node's ``confirm``
    policy (``always``; ``auto``: spoken input below the flow's ``settings.confirm.threshold``; ``never``).
    At a secure node (a PIN) the check is asking again, never reading it back. One rule for the engine and
    ``voicebot recognize``."""
    threshold = flow.flows[flow_name].settings.confirm.threshold
    policy = node.confirm if isinstance(node, AskNode) else "auto"
    return policy == "always" or (policy == "auto" and spoken and confidence < threshold)


def intent_matching(flow: CompiledFlow, flow_name: str, node_id: str, node: AskNode | MenuNode,
                    commands: Commands) -> tuple[IntentMatcher, list[str]] | None:
    """The matcher an utterance is scored with at the node and the intents it may match: a menu's options or
    an intent question's intents, and the active commands; at other questions the commands alone (heard when
    the utterance is not the value asked for); None when nothing there is matched by intent."""
    if isinstance(node, MenuNode):
        return flow.menu_matchers[(flow_name, node_id)], [o.intent for o in node.options] + list(commands.by_intent)
    if node.type == "intent":
        return flow.matcher, ask_intents(node) + list(commands.by_intent)
    if commands.by_intent:
        return flow.matcher, list(commands.by_intent)
    return None


def match_command(flow: CompiledFlow, commands: Commands, text: str) -> Command | None:
    if not commands.by_intent:
        return None
    hit = flow.matcher.match(text, allowed=list(commands.by_intent))
    return commands.by_intent[hit.name] if hit else None


def interpret_speech(
    flow: CompiledFlow, flow_name: str, node_id: str, node: AskNode | MenuNode, text: str, today: date,
    commands: Commands,
) -> Filled | Command | None:
    if isinstance(node, MenuNode):
        matcher, allowed = intent_matching(flow, flow_name, node_id, node, commands) or (flow.matcher, [])
        hit = matcher.match(text, allowed=allowed)
        if hit is None:
            return None
        for option in node.options:
            if option.intent == hit.name:
                return Filled(hit.name, hit.name, entities_for(flow, hit.name, text, today), option.next)
        return commands.by_intent[hit.name]
    if node.type == "intent":
        own = ask_intents(node)
        matcher, allowed = intent_matching(flow, flow_name, node_id, node, commands) or (flow.matcher, [])
        hit = matcher.match(text, allowed=allowed)
        if hit is None:
            return None
        if hit.name in own:
            return Filled(hit.name, hit.name, entities_for(flow, hit.name, text, today), node.routes.get(hit.name))
        return commands.by_intent[hit.name]
    if node.type in ("phrase", "pattern"):
        command = match_command(flow, commands, text)
        if command is not None:
            return command
    value = interpret_value(node.type, text, today=today, min_length=node.min_length, max_length=node.max_length,
                            pattern=node.pattern)
    if value is not None:
        return Filled(value)
    if node.type == "digits" and find_digit_strings(text, 2, 64):
        # Digits said at a digits question are an attempt at the value (of the wrong length, or misheard
        # around: "it is all six seven ..."), not a command, which would end the entry ("that's all").
        return None
    return match_command(flow, commands, text)


def interpret_key(
    flow: CompiledFlow, node: AskNode | MenuNode, key: str, commands: Commands
) -> Filled | Command | None:
    """One key at a node that resolves on a single key (menu, intent, yes/no)."""
    if isinstance(node, MenuNode):
        for option in node.options:
            if option_key(flow, option.intent, option.dtmf) == key:
                return Filled(option.intent, option.intent, {}, option.next)
    elif node.type == "intent":
        intent = intent_keys(flow.intent_key, node).get(key)
        if intent is not None:
            return Filled(intent, intent, {}, node.routes.get(intent))
    elif node.type == "yes_no":
        yes, no = yes_no_keys(flow)
        if key in (yes, no):
            return Filled(key == yes)
    return commands.by_key.get(key)


def keyed_value(node: AskNode, keys: str) -> Any | None:
    """A completed keypad entry for a digits-like node, or None if it is not valid."""
    if node.type == "digits":
        low, high = node.min_length or 1, node.max_length or 32
        return keys if keys.isdigit() and low <= len(keys) <= high else None
    if node.type in ("number", "currency"):
        # On a keypad, star stands for the decimal point ("20*50" is 20.50).
        text = keys.replace("*", ".", 1)
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        return value.quantize(Decimal("0.01")) if node.type == "currency" else value
    if node.type == "date" and len(keys) == 8 and keys.isdigit():
        # Keyed dates are MMDDYYYY, as US banking IVRs ask for them.
        try:
            return date(int(keys[4:]), int(keys[:2]), int(keys[2:4]))
        except ValueError:
            return None
    if node.type == "phrase":
        return keys or None
    if node.type == "pattern":
        from voicebot.nlu.slots import pattern_value

        return pattern_value(keys, node.pattern, node.min_length, node.max_length)
    return None


def spoken_form(node: AskNode | MenuNode, value: Any, flow: CompiledFlow) -> str:
    """How a heard value is read back in a confirmation."""
    from voicebot.flow.sayas import say_currency, say_date

    if isinstance(node, MenuNode) or node.type == "intent":
        return str(value).replace("_", " ")
    if node.type == "digits":
        return " ".join(str(value))
    if node.type == "currency":
        return say_currency(value)
    if node.type == "date":
        return say_date(value)
    if node.type == "yes_no":
        return "yes" if value else "no"
    return str(value)


def parse_confirmation(text: str) -> bool | None:
    return parse_yes_no(text)
