"""Caller voices for tests: the production module is :mod:`voicebot.tts.caller_voices` (the simulator and the
demo speak as the caller with it); this name is kept for the test suites that import it."""

from voicebot.tts.caller_voices import (
    ESPEAK_VOICES,
    FLITE_VOICES,
    HELD_OUT_VOICES,
    PIPER_VOICES,
    Voice,
    VoiceUnavailable,
    add_noise,
    available,
    phone_line,
    speak,
    synthesize,
)

__all__ = ["ESPEAK_VOICES", "FLITE_VOICES", "HELD_OUT_VOICES", "PIPER_VOICES", "Voice", "VoiceUnavailable",
           "add_noise", "available", "phone_line", "speak", "synthesize"]
