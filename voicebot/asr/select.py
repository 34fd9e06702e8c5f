"""Choosing the speech engine: Vosk when an English model is installed, PocketSphinx otherwise; Whisper on request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from voicebot.asr.base import Recognizer, RecognizerError
from voicebot.asr.vosk_engine import is_vosk_model, resolve_model_path

__all__ = ["EngineSetting", "choose_engine"]

log = logging.getLogger(__name__)

EngineSetting = Literal["auto", "vosk", "pocketsphinx", "whisper"]
WHISPER_WORKERS = 2


def choose_engine(setting: EngineSetting, vosk_model_path: Path | None = None) -> Recognizer:
    """The recognizer for ``setting``; logs at INFO which engine was chosen and why.

    ``auto`` uses Vosk when a Vosk model folder is installed (``vosk_model_path``, else
    ``$VOSK_MODEL_PATH``, else ``models/vosk-model-small-en-us-0.15``) and the ``vosk`` package loads
    it, else PocketSphinx with the English model inside its wheel. ``vosk`` without a model raises
    :class:`~voicebot.asr.base.RecognizerError` saying how to fetch one.
    """
    if setting not in ("auto", "vosk", "pocketsphinx", "whisper"):
        raise ValueError(f"unknown speech engine {setting!r} (expected auto, vosk, pocketsphinx or whisper)")
    if setting == "pocketsphinx":
        return _pocketsphinx("asr.engine is pocketsphinx")
    if setting == "whisper":
        # Chosen explicitly: on 8 kHz phone audio it is far more accurate than PocketSphinx here
        # (docs/benchmarks.md), at ~0.3 s more latency and ~180 MB more memory.
        from voicebot.asr.whisper_engine import WhisperRecognizer

        log.info("speech engine: Whisper tiny.en (asr.engine is whisper)")
        # Two decodings at once (one per core, as the media loop's recognition pool): with one, calls queue
        # on the model. Measured: 6 utterances from 2 threads in 1.14 s against 1.63 s.
        return WhisperRecognizer(num_workers=WHISPER_WORKERS)
    path = resolve_model_path(vosk_model_path)
    if not is_vosk_model(path):
        if setting == "vosk":
            raise RecognizerError(
                f"asr.engine is vosk but no Vosk model is installed at {path}: run `voicebot models fetch vosk-en` "
                "(or set VOSK_MODEL_PATH / asr.vosk_model to an unpacked Vosk model folder)"
            )
        return _pocketsphinx(f"no Vosk model at {path} (run `voicebot models fetch vosk-en` to use Vosk)")
    from voicebot.asr.vosk_engine import VoskRecognizer

    try:
        recognizer = VoskRecognizer(path)
    except RecognizerError as exc:
        if setting == "vosk":
            raise
        log.warning("cannot use the Vosk model at %s (%s)", path, exc)
        return _pocketsphinx(f"the Vosk model at {path} could not be loaded")
    log.info("speech engine: Vosk with %s (%s)", path,
             "asr.engine is vosk" if setting == "vosk" else "auto: a Vosk model is installed")
    return recognizer


def _pocketsphinx(reason: str) -> Recognizer:
    from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

    recognizer = PocketSphinxRecognizer()
    log.info("speech engine: PocketSphinx with its built-in US English model (%s)", reason)
    return recognizer
