"""The speech accuracy corpus, generated at test time: what callers say to the demo bank.

Four categories, each recognized exactly as its node in ``flows/banking.yaml`` would during a call:

- ``intent``: requests at the main menu, mostly paraphrases that are not grammar phrases;
- ``yes_no``: answers to a yes/no question;
- ``pin4``: four-digit PINs, spoken digit by digit (sometimes "oh" for zero, sometimes a carrier phrase);
- ``acct8``: eight-digit account numbers, likewise.

Voices: Piper and espeak-ng voices are "seen" (they may be used to tune grammars and thresholds); flite
voices are "unseen" and only ever measured. Every utterance goes through a G.711 mu-law round trip at
8 kHz, and a fixed share gets white noise. Generation is deterministic and cached on disk by content.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voicebot.audio.pcm import PHONE_RATE, read_wav, write_wav
from voicebot.testing.voices import ESPEAK_VOICES, FLITE_VOICES, PIPER_VOICES, Voice, add_noise, available, synthesize

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

INTENT_UTTERANCES: tuple[tuple[str, str], ...] = (
    ("what's my balance", "check_balance"),
    ("how much money do I have", "check_balance"),
    ("I'd like to check my account balance please", "check_balance"),
    ("balance", "check_balance"),
    ("show me my recent transactions", "recent_transactions"),
    ("what did I spend last week", "recent_transactions"),
    ("transactions", "recent_transactions"),
    ("I lost my card", "report_lost_card"),
    ("my credit card was stolen", "report_lost_card"),
    ("I need to block my debit card", "report_lost_card"),
    ("let me talk to a person", "speak_to_agent"),
    ("operator", "speak_to_agent"),
    ("can I speak to a representative", "speak_to_agent"),
    ("repeat that please", "repeat"),
    ("main menu", "main_menu"),
)
YES_NO_UTTERANCES: tuple[tuple[str, bool], ...] = (
    ("yes", True), ("yes please", True), ("that's right", True), ("correct", True), ("yeah", True),
    ("no", False), ("no thanks", False), ("nope", False), ("that's wrong", False),
)
CARRIERS = ("", "", "my pin is ", "it's ")
ACCOUNT_CARRIERS = ("", "", "my account number is ", "it's ")


@dataclass(frozen=True)
class Utterance:
    category: str  # intent | yes_no | pin4 | acct8
    text: str
    expected: str  # intent name, "true"/"false", or the digit string
    voice: Voice
    noise_db: float | None  # signal-to-noise ratio, None for clean

    @property
    def seen(self) -> bool:
        return self.voice.family != "flite"

    @property
    def key(self) -> str:
        raw = json.dumps([self.category, self.text, self.voice.label, self.noise_db]).encode()
        return hashlib.sha256(raw).hexdigest()[:20]


def spoken_digits(digits: str, rng: random.Random) -> str:
    zero = rng.choice(("zero", "oh"))
    return " ".join(zero if d == "0" else DIGIT_WORDS[int(d)] for d in digits)


def _digit_items(rng: random.Random, count: int, length: int, carriers: tuple[str, ...]) -> list[tuple[str, str]]:
    items = []
    for _ in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        items.append((rng.choice(carriers) + spoken_digits(digits, rng), digits))
    return items


def build_corpus(seed: int = 20261123, per_voice_digits: int = 3) -> list[Utterance]:
    """The list of utterances (not yet synthesized). Voices that are not installed are left out."""
    rng = random.Random(seed)
    voices = [v for v in (*PIPER_VOICES, *ESPEAK_VOICES, *FLITE_VOICES) if available(v)]
    out: list[Utterance] = []
    for index, voice in enumerate(voices):
        def noise() -> float | None:
            return rng.choice((None, None, 20.0))

        # Each voice speaks a rotating share of the phrases, so every phrase is heard from several voices.
        for text, intent in INTENT_UTTERANCES[index % 3::3]:
            out.append(Utterance("intent", text, intent, voice, noise()))
        for text, answer in YES_NO_UTTERANCES[index % 3::3]:
            out.append(Utterance("yes_no", text, str(answer).lower(), voice, noise()))
        for text, digits in _digit_items(rng, per_voice_digits, 4, CARRIERS):
            out.append(Utterance("pin4", text, digits, voice, noise()))
        for text, digits in _digit_items(rng, per_voice_digits, 8, ACCOUNT_CARRIERS):
            out.append(Utterance("acct8", text, digits, voice, noise()))
    return out


def audio_for(utterance: Utterance, cache_dir: Path) -> np.ndarray:
    """8 kHz phone audio of one utterance, from the cache or synthesized now."""
    path = cache_dir / f"{utterance.key}.wav"
    if path.is_file():
        return read_wav(path)[0]
    pcm = synthesize(utterance.voice, utterance.text)
    if utterance.noise_db is not None:
        seed = int(utterance.key[:8], 16)
        pcm = add_noise(pcm, utterance.noise_db, seed)
    pad = np.zeros(PHONE_RATE // 4, dtype=np.int16)  # a quarter second of line silence either side
    pcm = np.concatenate([pad, pcm, pad])
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    write_wav(tmp, pcm, PHONE_RATE)
    tmp.replace(path)
    return pcm


def materialize(corpus: list[Utterance], cache_dir: Path) -> Iterator[tuple[Utterance, Path]]:
    for utterance in corpus:
        audio_for(utterance, cache_dir)
        yield utterance, cache_dir / f"{utterance.key}.wav"


def manifest(corpus: list[Utterance]) -> list[dict[str, object]]:
    return [{**asdict(u), "voice": u.voice.label, "seen": u.seen, "key": u.key} for u in corpus]
