"""Speech recognition: engine-neutral grammars and results, and adapters for PocketSphinx and Vosk.

Each third-party engine is imported by exactly one adapter module, lazily, so nothing here needs
``vosk`` or ``pocketsphinx`` until a recognizer of that kind is created.
"""

from voicebot.asr.base import (
    GrammarSpec,
    RecognitionResult,
    Recognizer,
    RecognizerError,
    RecognizerStream,
)

__all__ = ["GrammarSpec", "RecognitionResult", "Recognizer", "RecognizerError", "RecognizerStream"]
