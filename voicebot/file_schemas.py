"""JSON Schemas for the other files authors write: grammars and conversation tests (editor completion).

These models describe the files for editors only; the grammar loader (voicebot/nlu/grammar.py) and the
conversation runner (voicebot/runtime/conversations.py) keep their own checks and messages. A test keeps
the models and the loaders' key lists in step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- grammars ----------------------------------------------------------------------------------------------


class EntitySlot(_Doc):
    type: Literal["digits", "number", "currency", "date"] = Field(..., description="What the entity is.")
    min_length: int | None = Field(None, description="Fewest digits (digits entities only).")
    max_length: int | None = Field(None, description="Most digits (digits entities only).")


class GrammarIntent(_Doc):
    phrases: list[str] = Field(..., description="Example utterances; matching is fuzzy, so list typical "
                                                "wordings rather than every variant.")
    dtmf: str | None = Field(None, description="The intent's default key, one of 0-9 * # (quote it in YAML).")
    slots: dict[str, EntitySlot] = Field(default_factory=dict,
                                         description="Entities a caller may say with the intent (mixed initiative).")


class GrammarFile(_Doc):
    """A grammar file (grammars/<name>.yaml): intents with their phrases and keys."""

    schema_: str | None = Field(None, alias="$schema", description="This schema (for editors); ignored.")
    grammar: str = Field(..., description="The grammar's name: the file name without its extension.")
    description: str = Field("", description="What the grammar covers.")
    synonyms: dict[str, list[str]] = Field(default_factory=dict,
                                           description="Canonical word -> variants rewritten to it before matching.")
    intents: dict[str, GrammarIntent] = Field(..., description="Intent name -> its phrases, key and entities.")


# -- conversation tests ------------------------------------------------------------------------------------


class Hypothesis(_Doc):
    text: str = Field(..., description="An alternative the recognizer heard.")
    confidence: float = Field(1.0, description="Its confidence, 0 to 1.")


class Expect(_Doc):
    says: list[str] = Field(default_factory=list, description="Texts the IVR says, in this order (substrings).")
    not_says: list[str] = Field(default_factory=list, description="Texts the IVR must not say.")
    node: str | None = Field(None, description="The node the call is at afterwards (subflow.node in a subflow).")
    vars: dict[str, Any] | None = Field(None, description="Variables afterwards (only the keys given are compared).")
    slots: dict[str, Any] | None = Field(None, description="Recorded slots afterwards (keys given compared).")
    listening: str | None = Field(None, description="The slot type the IVR listens for afterwards.")
    ended: bool | None = Field(None, description="Whether the call has ended.")
    secure: bool | None = Field(None, description="Whether the listen is secure (a PIN: masked, not recorded).")


class Turn(_Doc):
    say: str | None = Field(None, description="What the caller says.")
    confidence: float | None = Field(None, description="The recognition confidence of say (default 1.0).")
    nbest: list[Hypothesis] = Field(default_factory=list, description="Alternatives after say, best first.")
    dtmf: str | None = Field(None, description="Keys the caller presses, as one entry.")
    silence: bool | None = Field(None, description="The caller says nothing (a no-input).")
    wait: float | None = Field(None, description="Seconds that pass (timers fire).")
    hangup: bool | None = Field(None, description="The caller hangs up.")
    expect: Expect | None = Field(None, description="What must hold after this turn.")
    note: str | None = Field(None, description="A comment for people reading the test.")


class End(_Doc):
    outcome: str | None = Field(None, description="The call's outcome (self_served, handoff, ...).")
    authenticated: bool | None = Field(None, description="Whether the caller was authenticated.")
    vars: dict[str, Any] | None = Field(None, description="Variables at the end (keys given compared).")
    slots: dict[str, Any] | None = Field(None, description="Recorded slots in the call record.")
    intents: list[str] | None = Field(None, description="Intents recognised, in order.")
    handoff: dict[str, Any] | None = Field(None, description="The handoff payload (keys given compared); "
                                                             "null: no handoff.")
    error: str | None = Field(None, description="A text the record's error contains; null: no error.")
    nodes_include: list[str] = Field(default_factory=list, description="Nodes the call must have visited.")


class MockReply(_Doc):
    result: dict[str, Any] | None = Field(None, description="The action's result.")
    error: str | None = Field(None, description="The action fails with this message (the flow's on_error runs).")


class Conversation(_Doc):
    schema_: str | None = Field(None, alias="$schema", description="This schema (for editors); ignored.")
    name: str = Field(..., description="What the conversation shows; the test's name.")
    flow: str = Field(..., description="The flow file, relative to this file.")
    caller: str = Field("", description="The caller ID (E.164).")
    dialled: str = Field("", description="The dialled number.")
    database: Literal["demo", "bank_down"] = Field("demo", description="demo: a fresh seeded demo bank; "
                                                   "bank_down: the bank tables missing.")
    description: str = Field("", description="More about the test.")
    note: str = Field("", description="A comment for people reading the test.")
    mocks: dict[str, MockReply | list[MockReply]] = Field(
        default_factory=dict, description="Action name -> its reply, or one reply per call (the last repeats).")
    turns: list[Turn] = Field(..., description="The caller's turns; a first turn with only expect checks the "
                                               "call's start.")
    end: End | None = Field(None, description="What the call record must hold at the end.")


class ConversationList(_Doc):
    schema_: str | None = Field(None, alias="$schema", description="This schema (for editors); ignored.")
    conversations: list[Conversation] = Field(..., description="Several conversations in one file.")


class ConversationFile(RootModel[Conversation | ConversationList]):
    """A conversation test file (test_*.yaml): one conversation, or several under conversations."""


SCHEMAS: dict[str, type[BaseModel]] = {"grammar": GrammarFile, "conversation": ConversationFile}
