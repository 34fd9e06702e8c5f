"""Conversation tests: the runner is :mod:`voicebot.runtime.conversations` (``voicebot test`` runs it, and
production code never imports ``voicebot.testing``); this name is kept for the pytest plugin and older imports."""

from voicebot.runtime.conversations import (
    LINES,
    ConversationResult,
    ConversationSpecError,
    load_conversations,
    run_conversation,
    run_file,
)

__all__ = ["LINES", "ConversationResult", "ConversationSpecError", "load_conversations", "run_conversation", "run_file"]
