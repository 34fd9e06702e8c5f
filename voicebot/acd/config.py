"""Queue settings: the typed form of the ``acd:`` section of the configuration.

These models parse the raw mapping (``Config`` keeps it as ``AcdSettings``); unknown keys are errors,
so a misspelt setting fails at start-up instead of silently routing with a default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: How a queue picks among the eligible agents (docs/acd.md, "Strategies").
Strategy = Literal["longest-idle", "fewest-calls", "least-talk-time", "round-robin", "ring-all", "skills"]
STRATEGIES: tuple[Strategy, ...] = (
    "longest-idle", "fewest-calls", "least-talk-time", "round-robin", "ring-all", "skills",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Overflow(_Strict):
    """Where a caller goes after ``max_wait_seconds``: another queue, or a callback offer (or both:
    the queue first, the callback offer if that queue also overflows)."""

    queue: str | None = Field(None, description="The queue a caller moves to after max_wait_seconds.")
    callback: bool = Field(False, description="Offer a callback (keeping the place) after max_wait_seconds.")


class QueueSettings(_Strict):
    description: str = Field("", description="What the queue is for (shown to agents and in reports).")
    skills: tuple[str, ...] = Field(
        (), description="Skills every agent of this queue must have (the handoff node may require more).")
    strategy: Strategy = Field("longest-idle", description="How an agent is picked: " + ", ".join(STRATEGIES) + ".")
    priority: int = Field(0, description="Added to every entry's own priority (from the flow's handoff node).")
    vip_priority: int = Field(10, description="Added when the customer is VIP (from the customer database).")
    priority_aging_seconds: float = Field(
        60.0, gt=0, description="An entry gains one priority point per this many seconds waited, so none starves.")
    sticky_agent_seconds: float = Field(
        0.0, ge=0, description="The agent who last served this caller gets the call if available; the entry "
                               "waits up to this long for them while they are busy (0: no sticky routing).")
    max_wait_seconds: float | None = Field(
        None, gt=0, description="After this long waiting, overflow applies (null: wait for ever).")
    overflow: Overflow = Field(Overflow(), description="Where a caller goes after max_wait_seconds.")
    wrap_up_seconds: float = Field(10.0, ge=0, description="After-call work time before the agent is offered again.")
    offer_timeout_seconds: float = Field(
        15.0, gt=0, description="How long an agent's phone rings before the offer returns to the queue.")
    service_level_seconds: float = Field(
        20.0, gt=0, description="Answered within this long counts towards the service level.")
    short_abandon_seconds: float = Field(
        5.0, ge=0, description="Callers who give up within this long are short abandons, reported apart.")
    requeue_if_agent_leaves_within_seconds: float = Field(
        10.0, ge=0, description="An agent's leg that ends within this long of the answer is a lost leg (a slip, a "
                                "dropped phone): the caller goes back to the front of the queue. Later, the agent "
                                "hanging up ends the call (closing prompt, BYE, outcome answered).")
    agent_media_timeout_seconds: float = Field(
        20.0, gt=0, description="No audio from the agent's phone for this long while bridged is a lost leg: BYE to "
                                "that phone, and the caller goes back to the front of the queue.")


class CallbackSettings(_Strict):
    attempts: int = Field(3, ge=1, description="Attempts to reach the caller before the callback fails.")
    retry_interval_seconds: float = Field(
        300.0, ge=0, description="Wait between two attempts; the entry keeps its place meanwhile.")
    expiry_seconds: float = Field(
        4 * 3600.0, gt=0, description="A callback not completed within this long of the request fails as expired.")


class AgentSettings(_Strict):
    lease_seconds: float = Field(
        60.0, gt=0, description="Presence lease: an agent whose console or phone does not renew it within this "
                                "long is logged out.")
    missed_offer_break: bool = Field(
        True, description="An agent who lets an offer ring out goes on break (Asterisk's autopause).")


class LiveSettings(_Strict):
    """The live side (``voicebot serve``): callers wait on the line and are bridged to agents' phones."""

    enabled: bool = Field(
        True, description="Callers handed off wait on the line and are bridged to an agent's SIP phone; "
                          "false: a handoff ends the call after its prompt (the handoff row is stored).")
    first_announcement_seconds: float = Field(
        4.0, ge=0, description="The first position announcement comes this long after the caller is queued.")
    announce_every_seconds: float = Field(
        30.0, gt=0, description="Position and estimated wait are announced this often while the caller waits.")
    comfort_prompt: str = Field(
        "Thank you for waiting. An agent will be with you shortly.",
        description="Said between position announcements (every other announcement).")
    callback_offer: bool = Field(
        True, description='Waiting callers are offered "press 1 for a callback, keeping your place".')
    callback_uri: str = Field(
        "sip:{number}@127.0.0.1:5060",
        description="Where a callback is dialled ({number}: the caller's number); in register mode the INVITE "
                    "goes through the registrar/proxy whatever the host.")
    callback_ring_seconds: float = Field(30.0, gt=0, description="How long a callback rings the caller.")
    estimate_min_samples: int = Field(
        3, ge=1, description="Recent handled calls needed before an estimated wait is said (else: silent).")
    route_interval_seconds: float = Field(0.25, gt=0, description="How often the router runs.")
    reconcile_interval_seconds: float = Field(1.0, gt=0, description="How often the reconciler runs.")
    closing_prompt: str = Field(
        "Thank you for calling. Goodbye.",
        description="Said to the caller when the agent ends the conversation (hangs up after talking), before BYE.")
    transfer_prompt: str = Field(
        "Please hold while I transfer your call.",
        description="Said to the caller when their agent transfers them to another queue from the console.")
    agent_caller_id: str = Field(
        "voicebot", description="The user part of From on calls to agents when the caller's number is unknown.")


class AcdSettings(_Strict):
    queues: dict[str, QueueSettings] = Field(
        default_factory=dict, description="Queue name -> its settings; flows hand callers to these.")
    callbacks: CallbackSettings = Field(CallbackSettings(), description="Callbacks that keep the caller's place.")
    agents: AgentSettings = Field(AgentSettings(), description="Agents' presence and missed offers.")
    live: LiveSettings = Field(LiveSettings(), description="Waiting on the line and bridging to agents' phones.")

    @model_validator(mode="after")
    def _overflow_targets_exist(self) -> AcdSettings:
        for name, queue in self.queues.items():
            target = queue.overflow.queue
            if target is not None and target not in self.queues:
                raise ValueError(f"queue {name}: overflow queue {target!r} is not defined")
            if target == name:
                raise ValueError(f"queue {name}: overflows into itself")
            if (target or queue.overflow.callback) and queue.max_wait_seconds is None:
                raise ValueError(f"queue {name}: overflow needs max_wait_seconds")
        return self

    def queue(self, name: str) -> QueueSettings:
        """The settings of ``name``; an unknown queue (e.g. a flow naming one not configured) gets the
        defaults, because a caller must never be dropped over configuration."""
        return self.queues.get(name) or QueueSettings()


def parse_acd(raw: dict[str, Any] | None) -> AcdSettings:
    """The ``acd:`` section (a mapping from YAML) as settings; raises pydantic's ValidationError."""
    return AcdSettings.model_validate(raw or {})


def load_acd_settings() -> AcdSettings:
    """The ``acd:`` section of the effective configuration (defaults, file, environment), checked with the rest."""
    from voicebot.config import load_settings

    settings, _source = load_settings()
    return settings.acd
