"""Data actions a flow can run: the registry, the demo bank's actions and the ``http`` action."""

from voicebot.services.registry import (
    ActionContext,
    ActionFailed,
    ActionFn,
    ActionRegistry,
    default_registry,
)

__all__ = ["ActionContext", "ActionFailed", "ActionFn", "ActionRegistry", "default_registry"]
