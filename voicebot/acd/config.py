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

    queue: str | None = None
    callback: bool = False


class QueueSettings(_Strict):
    description: str = ""
    #: Skills every agent of this queue must have (the handoff node may require more).
    skills: tuple[str, ...] = ()
    strategy: Strategy = "longest-idle"
    #: Added to every entry's own priority (from the flow's handoff node).
    priority: int = 0
    #: Added when the customer is VIP (from the customer database).
    vip_priority: int = 10
    #: An entry gains one priority point per this many seconds waited, so none starves.
    priority_aging_seconds: float = Field(default=60.0, gt=0)
    #: The agent who last served this caller gets the call if available; the entry waits up to this
    #: long for them while they are busy (0: no sticky routing).
    sticky_agent_seconds: float = Field(default=0.0, ge=0)
    #: After this long waiting, overflow applies (None: wait for ever).
    max_wait_seconds: float | None = Field(default=None, gt=0)
    overflow: Overflow = Overflow()
    wrap_up_seconds: float = Field(default=10.0, ge=0)
    #: How long an agent's phone rings before the offer returns to the queue.
    offer_timeout_seconds: float = Field(default=15.0, gt=0)
    service_level_seconds: float = Field(default=20.0, gt=0)
    short_abandon_seconds: float = Field(default=5.0, ge=0)


class CallbackSettings(_Strict):
    #: Attempts to reach the caller before the callback fails.
    attempts: int = Field(default=3, ge=1)
    #: Wait between two attempts; the entry keeps its place meanwhile.
    retry_interval_seconds: float = Field(default=300.0, ge=0)
    #: A callback not completed within this long of the request fails as expired.
    expiry_seconds: float = Field(default=4 * 3600.0, gt=0)


class AgentSettings(_Strict):
    #: Presence lease: an agent whose console or phone does not renew it within this long is logged out.
    lease_seconds: float = Field(default=60.0, gt=0)
    #: An agent who lets an offer ring out goes on break with this reason (Asterisk's autopause).
    missed_offer_break: bool = True


class AcdSettings(_Strict):
    queues: dict[str, QueueSettings] = Field(default_factory=dict)
    callbacks: CallbackSettings = CallbackSettings()
    agents: AgentSettings = AgentSettings()

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
