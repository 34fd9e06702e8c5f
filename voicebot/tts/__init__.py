"""Text to speech: engines behind one protocol, the prompt cache, and what a flow needs pre-rendered.

Nothing is re-exported here on purpose: importing :mod:`voicebot.tts.base` or the cache must not load
Piper (:mod:`voicebot.tts.piper_engine` is the only module that imports it).
"""
