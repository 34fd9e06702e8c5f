"""The flow language: pydantic models that YAML and JSON flows load into.

One model per node kind, discriminated by ``kind``. ``extra="forbid"`` everywhere so a typo in a flow
("promt:") is an error that names the node instead of a silently ignored key. The JSON Schema committed
as ``flows/schema.json`` is generated from these models (``voicebot schema``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SlotTypeName = Literal["digits", "number", "currency", "date", "yes_no", "intent", "phrase", "pattern"]
DTMF_KEYS = "0123456789*#ABCD"

#: A prompt: one text, or a list chosen by attempt count (the last one repeats).
Prompts = str | list[str]


def prompt_list(value: Prompts | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


#: Descriptions for the JSON Schema (editor hover text) of properties that do not carry their own, by
#: "Model.property" first, then by property name alone. A test checks that every property has one.
PROPERTY_DOCS: dict[str, str] = {
    "description": "Free text for people reading the flow; never spoken.",
    "kind": "The node kind; decides which other keys the node takes.",
    "next": "The node to go to next.",
    "prompt": "What the IVR says: a template, or a list chosen by attempt count (the last one repeats).",
    "help": "Said when the caller asks for help here (the flow's help if absent).",
    "max_attempts": "How many no-input/no-match attempts before on_fail (the flow's max_attempts if absent).",
    "timeouts": "Listening timeouts for this node; unset ones come from settings.timeouts.",
    "barge_in": "Whether the caller may interrupt the prompt by speaking or keying.",
    "slot": "The variable that receives the caller's answer.",
    "Flow.version": "The flow's own version number, for your change control; recorded with each call.",
    "Flow.description": "What the flow is for; shown by tools, never spoken.",
    "Flow.start": "The node every call starts at.",
    "Flow.settings": "Flow-wide defaults: attempts, confirmation, timeouts, error handling, messages.",
    "Flow.commands": "Global commands, recognised at every listening node (agent, repeat, main menu...).",
    "Flow.nodes": "The nodes, by id (letters, digits and underscores).",
    "Flow.$schema": "The JSON Schema this file follows (for editors); ignored by voicebot.",
    "AskNode.type": "What to collect: digits, number, currency, date, yes_no, intent, phrase or pattern.",
    "AskNode.min_length": "Fewest digits (or characters, for pattern) accepted.",
    "AskNode.max_length": "Most digits (or characters, for pattern) accepted.",
    "AskNode.terminator": "The key that ends keypad entry early.",
    "AskNode.confirm": "auto: confirm below settings.confirm.threshold; always; never.",
    "AskNode.next": "The node after a successful answer (for type intent: for intents without a route).",
    "AskNode.pattern": "For type pattern: a regular expression the whole answer must match (letters are "
                       "upper-cased, spoken letters and digits joined first: 'S W one A' is 'SW1A').",
    "BranchCase.goto": "The node to go to when the condition holds.",
    "BranchNode.cases": "Conditions tried in order; the first that holds decides.",
    "BranchNode.else": "The node to go to when no condition holds.",
    "Command.intent": "The intent that triggers the command.",
    "Command.do": "goto: go to target; repeat: say the last prompt again; help: say the help text.",
    "Confirmation.retry_prompt": "Said when the caller says the confirmed value is wrong, before asking again.",
    "Confirmation.secure_prompt": "Said instead of reading back a low-confidence secure answer (a PIN).",
    "ErrorPolicy.queue": "The queue a call is handed to when the flow fails at run time.",
    "ErrorPolicy.priority": "The priority of that handoff (0-100, higher first).",
    "ErrorPolicy.prompt": "Said before that handoff.",
    "GotoNode.target": "The node to go to.",
    "HandoffNode.queue": "The ACD queue the call is handed to (a key of acd.queues in voicebot.yaml).",
    "HandoffNode.priority": "Priority in the queue (0-100, higher first).",
    "HandoffNode.skills": "Agent skills the call needs.",
    "HandoffNode.prompt": "Said before the transfer.",
    "HangupNode.prompt": "Said before hanging up.",
    "HttpSpec.url": "The http:// or https:// URL the JSON body is POSTed to.",
    "HttpSpec.headers": "Extra request headers (e.g. an API key).",
    "ActionNode.timeout_ms": "How long the action may take before it fails (100-60000 ms).",
    "MenuNode.options": "The choices, each an intent with its key and the node it leads to.",
    "MenuNode.slot": "The variable that receives the chosen intent.",
    "MenuOption.intent": "The intent that chooses this option.",
    "MenuOption.next": "The node this option leads to.",
    "SayNode.prompt": "What to say (or the fallback text of play).",
    "SetNode.clear": "Variables to remove.",
    "Settings.language": "The flow's language (BCP 47), for prompts and recognition.",
    "Settings.max_attempts": "No-input/no-match attempts at a node before its on_fail.",
    "Settings.confirm": "When and how low-confidence answers are read back for confirmation.",
    "Settings.on_error": "Where a call goes when the flow itself fails at run time.",
    "Settings.timeouts": "Default listening timeouts of every node.",
    "Settings.no_input": "Escalating messages when the caller says nothing.",
    "Settings.no_match": "Escalating messages when the answer is not understood.",
    "Settings.help": "Said when the caller asks for help at a node without its own help.",
    "SubflowNode.next": "The node after the subflow returns.",
}


def _describe_properties(schema: dict[str, Any], model: type[BaseModel]) -> None:
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and "description" not in prop:
            text = PROPERTY_DOCS.get(f"{model.__name__}.{name}") or PROPERTY_DOCS.get(name)
            if text:
                prop["description"] = text


class _Model(BaseModel):
    # Numbers become text where text is expected, so "dtmf: 1" means the key 1.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True,
                              json_schema_extra=_describe_properties)


class Timeouts(_Model):
    """Listening timeouts in milliseconds (VoiceXML's names); a node may override any of them."""

    no_input_ms: int | None = Field(None, ge=500, le=60000, description="Silence before a no-input event.")
    complete_silence_ms: int | None = Field(
        None, ge=100, le=10000, description="End-of-speech silence once the input matches the grammar."
    )
    incomplete_silence_ms: int | None = Field(
        None, ge=100, le=10000, description="End-of-speech silence while the input is still incomplete."
    )
    max_speech_ms: int | None = Field(None, ge=1000, le=120000, description="Longest utterance accepted.")
    interdigit_ms: int | None = Field(None, ge=500, le=30000, description="Wait between keypad digits.")


class Confirmation(_Model):
    """Confidence-driven confirmation, declared once per flow."""

    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Spoken input below this confidence is confirmed.")
    prompt: str = Field("I heard {value}. Is that right?", description="Template; {value} is the heard value.")
    retry_prompt: str = "Let's try that again."
    #: Secure inputs (PINs) are never read back: below the threshold they are asked again instead.
    secure_prompt: str = "Sorry, I didn't catch that clearly."
    #: A misheard goto command costs more than a misheard answer (a caller hung up on, or sent to an
    #: agent), and a command is otherwise never read back: below this, it is confirmed first.
    command_threshold: float = Field(
        0.6, ge=0.0, le=1.0,
        description="Goto commands (goodbye, agent, main menu) heard below this confidence are confirmed "
                    "before they are acted on; repeat and help are taken at any confidence.")
    command_prompt: str = Field(
        "Did you say {value}?",
        description="Template asked before a low-confidence goto command; {value} is the command's first phrase.")


class ErrorPolicy(_Model):
    """Where a call goes when the flow itself fails at run time (missing variable, failing action)."""

    queue: str = "general"
    priority: int = 0
    prompt: str = "I'm sorry, something went wrong on our side. Let me connect you to someone who can help."


class Settings(_Model):
    language: str = "en-US"
    max_steps: int = Field(100, ge=5, le=10000, description="Nodes visited without input before the breaker trips.")
    max_attempts: int = Field(3, ge=1, le=10)
    confirm: Confirmation = Field(default_factory=Confirmation)
    on_error: ErrorPolicy = Field(default_factory=ErrorPolicy)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    no_input: Prompts = ["Sorry, I didn't hear anything.", "Sorry, I still didn't hear you."]
    no_match: Prompts = ["Sorry, I didn't understand.", "Sorry, I still didn't get that."]
    help: str = "You can say agent at any time to speak to a person, or repeat to hear that again."
    intent_threshold: float | None = Field(None, ge=0.0, le=1.0, description="Overrides the NLU threshold.")


class Command(_Model):
    """A global command: recognised at any listen step of the flow."""

    intent: str
    dtmf: str | None = Field(None, description="Key; defaults to the intent's key in its grammar.")
    do: Literal["goto", "repeat", "help"] = "goto"
    target: str | None = Field(None, description="Node to go to when do is goto.")
    confirm: str | None = Field(
        None, description="The yes/no question asked when this goto command is heard below "
                          "settings.confirm.command_threshold (settings.confirm.command_prompt if absent).")

    @model_validator(mode="after")
    def _target_for_goto(self) -> Command:
        if self.do == "goto" and not self.target:
            raise ValueError("a goto command needs a target")
        if self.do != "goto" and self.target:
            raise ValueError(f"a {self.do} command takes no target")
        if self.do != "goto" and self.confirm:
            raise ValueError(f"a {self.do} command is never confirmed: it takes no confirm")
        return self

    @field_validator("dtmf")
    @classmethod
    def _one_key(cls, value: str | None) -> str | None:
        return _check_key(value)


def _check_key(value: str | None) -> str | None:
    if value is not None and (len(value) != 1 or value not in DTMF_KEYS):
        raise ValueError(f"dtmf must be one key of {DTMF_KEYS}, not {value!r}")
    return value


class _Node(_Model):
    description: str = ""


class _Listening(_Node):
    """What every node that listens shares: escalation, attempts, timeouts, barge-in."""

    prompt: Prompts = Field(..., description="Chosen by attempt count; the last entry repeats.")
    no_input: Prompts | None = Field(None, description="Escalating no-input messages (flow default if absent).")
    no_match: Prompts | None = Field(None, description="Escalating no-match messages (flow default if absent).")
    help: str | None = None
    max_attempts: int | None = Field(None, ge=1, le=10)
    on_fail: str | None = Field(None, description="Node after max attempts; safe handoff if absent.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    barge_in: bool = True
    commands: bool = Field(True, description="Global commands (agent, repeat, goodbye...) are heard here; "
                                             "false turns them off (a free-text message, for example).")
    command_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Overrides settings.confirm.command_threshold here (higher where a misheard goto "
                    "command would cost more, 0 to act on every command heard).")


class SayNode(_Node):
    kind: Literal["say"]
    prompt: Prompts | None = None
    play: str | None = Field(None, description="Recorded WAV prompt, relative to the flow file.")
    next: str
    barge_in: bool = True

    @model_validator(mode="after")
    def _something_to_say(self) -> SayNode:
        if self.prompt is None and self.play is None:
            raise ValueError("a say node needs a prompt or a play file")
        return self


class AskNode(_Listening):
    kind: Literal["ask"]
    slot: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: SlotTypeName
    intents: list[str] = Field(default_factory=list, description="For type intent: intents accepted.")
    routes: dict[str, str] = Field(default_factory=dict, description="For type intent: intent -> node.")
    dtmf: dict[str, str | None] = Field(
        default_factory=dict, description="For type intent: intent -> key, overriding the grammar; null: no key."
    )
    next: str | None = None
    min_length: int | None = Field(None, ge=1, le=32)
    max_length: int | None = Field(None, ge=1, le=32)
    pattern: str | None = None
    terminator: str = "#"
    confirm: Literal["auto", "always", "never"] = "auto"
    secure: bool = Field(False, description="PINs: never read back, masked in logs, recording paused.")
    always_ask: bool = Field(False, description="Ask even when the slot is already filled.")

    @model_validator(mode="after")
    def _consistent(self) -> AskNode:
        if self.min_length and self.max_length and self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        for key in self.dtmf.values():
            _check_key(key)
        if self.type == "pattern":
            if not self.pattern:
                raise ValueError("a pattern ask needs pattern: a regular expression, e.g. '[A-Z]{1,2}[0-9][A-Z0-9]?'")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        elif self.pattern:
            raise ValueError(f"pattern is only for type pattern, not {self.type}")
        if self.type == "intent":
            if not self.intents and not self.routes:
                raise ValueError("an intent ask needs intents or routes")
            if not self.next and set(self.intents) - set(self.routes):
                raise ValueError("an intent ask needs next for intents without a route")
        else:
            if self.intents or self.routes or self.dtmf:
                raise ValueError(f"intents, routes and dtmf are only for type intent, not {self.type}")
            if not self.next:
                raise ValueError("an ask node needs next")
        _check_key(self.terminator)
        return self


class MenuOption(_Model):
    intent: str
    dtmf: str | None = Field(None, description="Key; defaults to the intent's key in its grammar.")
    label: str | None = Field(None, description='Spoken as "For {label}, ..."; defaults from the intent name.')
    say: str | None = Field(None, description="The word to say; defaults to the intent's first phrase.")
    next: str

    @field_validator("dtmf")
    @classmethod
    def _one_key(cls, value: str | None) -> str | None:
        return _check_key(value)


class MenuNode(_Listening):
    kind: Literal["menu"]
    prompt: Prompts = ""
    slot: str = Field("menu_choice", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    options: list[MenuOption] = Field(..., min_length=1)


class HttpSpec(_Model):
    url: str = Field(..., pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)


class ActionNode(_Node):
    kind: Literal["action"]
    function: str | None = Field(None, description="A registered data action, e.g. bank.balance.")
    http: HttpSpec | None = Field(None, description="A JSON POST to a backend; args are the body.")
    args: dict[str, Any] = Field(default_factory=dict, description='Values may be templates: "{caller_id}".')
    result: str | None = Field(None, description="Variable that receives the whole result.")
    assign: dict[str, str] = Field(default_factory=dict, description="variable -> field path in the result.")
    timeout_ms: int = Field(5000, ge=100, le=60000)
    next: str
    on_error: str | None = Field(None, description="Node when the action fails; safe handoff if absent.")

    @model_validator(mode="after")
    def _one_target(self) -> ActionNode:
        if (self.function is None) == (self.http is None):
            raise ValueError("an action node needs exactly one of function or http")
        return self


class BranchCase(_Model):
    when: str = Field(..., alias="if", description="A condition in the expression language.")
    goto: str


class BranchNode(_Node):
    kind: Literal["branch"]
    cases: list[BranchCase] = Field(..., min_length=1)
    otherwise: str = Field(..., alias="else")


class SetNode(_Node):
    kind: Literal["set"]
    values: dict[str, Any] = Field(default_factory=dict, description="Strings are expressions; others literal.")
    clear: list[str] = Field(default_factory=list)
    next: str


class GotoNode(_Node):
    kind: Literal["goto"]
    target: str


class SubflowNode(_Node):
    kind: Literal["subflow"]
    flow: str = Field(..., description="Flow name or file, relative to this flow's folder.")
    next: str


class ReturnNode(_Node):
    kind: Literal["return"]


class HandoffNode(_Node):
    kind: Literal["handoff"]
    queue: str
    priority: int = Field(0, ge=0, le=100)
    skills: list[str] = Field(default_factory=list)
    attach: list[str] = Field(default_factory=list, description="Variables attached for the agent.")
    reason: str = Field("", description="Template shown to the agent.")
    prompt: Prompts | None = None


class HangupNode(_Node):
    kind: Literal["hangup"]
    prompt: Prompts | None = None
    outcome: str | None = Field(None, description="Call outcome; defaults to the outcome variable.")


Node = Annotated[
    SayNode
    | AskNode
    | MenuNode
    | ActionNode
    | BranchNode
    | SetNode
    | GotoNode
    | SubflowNode
    | ReturnNode
    | HandoffNode
    | HangupNode,
    Field(discriminator="kind"),
]

NODE_KINDS = ("say", "ask", "menu", "action", "branch", "set", "goto", "subflow", "return", "handoff", "hangup")


class Flow(_Model):
    """A whole flow file."""

    schema_: str | None = Field(None, alias="$schema")

    flow: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", description="The flow's name.")
    version: int = 1
    description: str = ""
    start: str
    grammars: list[str] = Field(default_factory=list, description="Grammar names from grammars/.")
    settings: Settings = Field(default_factory=Settings)
    commands: list[Command] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict, description="Initial values.")
    nodes: dict[str, Node]

    @field_validator("nodes")
    @classmethod
    def _node_ids(cls, nodes: dict[str, Any]) -> dict[str, Any]:
        import re

        for node_id in nodes:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node_id):
                raise ValueError(f"node id {node_id!r} must be letters, digits and underscores")
        return nodes


def node_targets(node: BaseModel) -> list[tuple[str, str]]:
    """(field, target node id) pairs a node can continue to, for validation and reachability."""
    out: list[tuple[str, str]] = []
    for name in ("next", "on_fail", "on_error", "target"):
        value = getattr(node, name, None)
        if isinstance(value, str):
            out.append((name, value))
    if isinstance(node, AskNode):
        out += [(f"routes.{intent}", target) for intent, target in node.routes.items()]
    if isinstance(node, MenuNode):
        out += [(f"options[{i}].next", o.next) for i, o in enumerate(node.options)]
    if isinstance(node, BranchNode):
        out += [(f"cases[{i}].goto", c.goto) for i, c in enumerate(node.cases)]
        out.append(("else", node.otherwise))
    return out


#: Nodes that wait for the caller or the outside world; a loop through none of these never ends.
WAITING_KINDS = (AskNode, MenuNode, ActionNode)


def ask_intents(node: AskNode) -> list[str]:
    return list(dict.fromkeys([*node.intents, *node.routes]))


def intent_keys(default_key: Callable[[str], str | None], node: AskNode) -> dict[str, str]:
    """Key -> intent at an intent ask: the grammar's keys, overridden (or turned off) by the node.

    The first intent listed wins a shared key; validation reports such clashes as errors.
    """
    keys: dict[str, str] = {}
    for intent in ask_intents(node):
        key = node.dtmf[intent] if intent in node.dtmf else default_key(intent)
        if key and key not in keys:
            keys[key] = intent
    return keys
