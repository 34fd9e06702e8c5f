"""The speech accuracy corpus, generated at test time: what callers say to the demo bank.

Categories, each recognized exactly as its node in ``flows/banking.yaml`` would during a call:

- ``intent``: requests at the main menu, mostly paraphrases that are not grammar phrases (and commands
  such as "no thanks, bye");
- ``yes_no``: answers to a yes/no question;
- ``pin4``: four-digit PINs, spoken digit by digit (sometimes "oh" for zero, sometimes a carrier phrase),
  plus the failure kinds seen on phone audio: repeated digits ("one nine nine nine"), "oh" pairs ("seven
  oh seven oh"), "double" ("four double seven one");
- ``acct8``: eight-digit account numbers, likewise;
- ``command``: global commands said at the PIN prompt ("say that again", "goodbye", and one word alone:
  "agent", "operator", "help", "repeat");
- ``reject``: requests the bank does not serve, at the main menu: nothing may be accepted;
- ``reject_pin``: the same kind of speech at the PIN prompt: no PIN and no command may be accepted.

Voices: Piper and the first espeak-ng voices are "seen" (they may be used to tune grammars and thresholds);
flite voices and the held-out voices (:data:`~voicebot.testing.voices.HELD_OUT_VOICES`: other espeak-ng
accents and variants, flite at other tempos) are "unseen" and only ever measured. Every utterance goes
through a G.711 mu-law round trip at 8 kHz, and a fixed share gets white noise. Generation is
deterministic and cached on disk by content.
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
from voicebot.testing.voices import (
    ESPEAK_VOICES,
    FLITE_VOICES,
    HELD_OUT_VOICES,
    PIPER_VOICES,
    Voice,
    add_noise,
    available,
    synthesize,
)

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
    ("no thanks, bye", "goodbye"),
    ("say that again", "repeat"),
)
YES_NO_UTTERANCES: tuple[tuple[str, bool], ...] = (
    ("yes", True), ("yes please", True), ("that's right", True), ("correct", True), ("yeah", True),
    ("no", False), ("no thanks", False), ("nope", False), ("that's wrong", False),
)
#: Digit strings that recognizers get wrong in typical ways: (what the caller says, the digits).
FAILURE_PINS: tuple[tuple[str, str], ...] = (
    ("one nine nine nine", "1999"), ("seven oh seven oh", "7070"), ("four double seven one", "4771"),
    ("my pin is two oh oh five", "2005"), ("five five five five", "5555"), ("it's eight double oh three", "8003"),
)
FAILURE_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("three double oh seven one two two nine", "30071229"),
    ("my account number is four four one seven oh nine two three", "44170923"),
    ("six six six one two oh oh eight", "66612008"),
)
#: Global commands at the PIN prompt: (what the caller says, the command's intent).
COMMAND_UTTERANCES: tuple[tuple[str, str], ...] = (
    ("say that again", "repeat"), ("agent please", "speak_to_agent"), ("goodbye", "goodbye"),
    ("main menu", "main_menu"), ("help", "help"), ("I want to talk to a person", "speak_to_agent"),
    ("can you repeat that", "repeat"), ("no thanks, bye", "goodbye"),
)
#: Commands said as one word, clearly: heard at the PIN prompt ("command") and at the main menu ("intent"),
#: where the flow must take them without asking the caller to confirm.
ONE_WORD_COMMANDS: tuple[tuple[str, str], ...] = (
    ("agent", "speak_to_agent"), ("operator", "speak_to_agent"), ("help", "help"), ("repeat", "repeat"),
)
#: Speech the bank does not serve: nothing may be accepted at the main menu or the PIN prompt.
REJECT_UTTERANCES: tuple[str, ...] = (
    "what's the weather like tomorrow", "I want to order a large pizza", "tell me a joke",
    "the train leaves at noon", "is the pharmacy open on sunday", "how do I apply for a mortgage",
    "where is the nearest branch", "I have a question about interest rates", "my dog ate my homework",
    "please update my phone number",
)
CARRIERS = ("", "", "my pin is ", "it's ")
ACCOUNT_CARRIERS = ("", "", "my account number is ", "it's ")


@dataclass(frozen=True)
class Utterance:
    category: str  # intent | yes_no | pin4 | acct8 | command | reject | reject_pin
    text: str
    expected: str  # intent name, "true"/"false", the digit string, or "" (nothing may be accepted)
    voice: Voice
    noise_db: float | None  # signal-to-noise ratio, None for clean

    @property
    def seen(self) -> bool:
        return self.voice.family != "flite" and not self.voice.held_out

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
    # The one-word commands came later: their own generator leaves every earlier utterance as it was.
    later = random.Random(seed + 1)
    voices = [v for v in (*PIPER_VOICES, *ESPEAK_VOICES, *FLITE_VOICES, *HELD_OUT_VOICES) if available(v)]
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
        for text, digits in FAILURE_PINS[index % 3::3]:
            out.append(Utterance("pin4", text, digits, voice, noise()))
        for text, digits in FAILURE_ACCOUNTS[index % 3::3]:
            out.append(Utterance("acct8", text, digits, voice, noise()))
        for text, intent in COMMAND_UTTERANCES[index % 4::4]:
            out.append(Utterance("command", text, intent, voice, noise()))
        for text in REJECT_UTTERANCES[index % 5::5]:
            out.append(Utterance("reject", text, "", voice, noise()))
        for text in REJECT_UTTERANCES[(index + 2) % 5::5]:
            out.append(Utterance("reject_pin", text, "", voice, noise()))
        for text, intent in ONE_WORD_COMMANDS[index % 2::2]:
            out.append(Utterance("command", text, intent, voice, later.choice((None, None, 20.0))))
        for text, intent in ONE_WORD_COMMANDS[(index + 1) % 2::2]:
            out.append(Utterance("intent", text, intent, voice, later.choice((None, None, 20.0))))
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
