"""The prompt cache: keys, memory and disk hits, sentence reuse, streaming, atomic writes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tts.conftest import Counting
from voicebot.audio.pcm import read_wav, rms_dbfs
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

GREETING = "Welcome to Open Bank. How can I help you today?"


@pytest.fixture
def fake() -> FakeSynthesizer:
    return FakeSynthesizer(sample_rate=16000)


@pytest.fixture
def cache(tmp_path: Path, fake: FakeSynthesizer) -> PromptCache:
    return PromptCache(tmp_path / "prompts", fake)


# --- with the real voice --------------------------------------------------------------------------------------


def test_piper_prompt_cached_at_8k_with_the_right_length(tmp_path: Path, piper_voice: Any) -> None:
    counting = Counting(piper_voice)
    cache = PromptCache(tmp_path, counting)
    audio = cache.render("Please key in your four digit PIN.")
    assert counting.calls == 1
    native = counting.outputs[0]
    assert len(audio) == round(len(native) * 8000 / 22050)
    assert rms_dbfs(audio) > -30.0
    stored, rate = read_wav(cache.path("Please key in your four digit PIN."))
    assert rate == 8000 and np.array_equal(stored, audio)


def test_piper_hit_is_identical_and_not_synthesized_again(tmp_path: Path, piper_voice: Any) -> None:
    counting = Counting(piper_voice)
    cache = PromptCache(tmp_path, counting)
    first = cache.render(GREETING)
    calls = counting.calls
    assert calls == 2  # one per sentence
    assert np.array_equal(cache.render(GREETING), first)
    got = cache.get(GREETING)
    assert got is not None and np.array_equal(got, first)
    assert counting.calls == calls
    # A new cache over the same folder (a restart) finds the files on disk.
    again = Counting(piper_voice)
    reopened = PromptCache(tmp_path, again)
    from_disk = reopened.get(GREETING)
    assert from_disk is not None and np.array_equal(from_disk, first)
    assert np.array_equal(reopened.render(GREETING), first) and again.calls == 0


def test_piper_stream_yields_first_sentence_before_the_rest_is_synthesized(
    tmp_path: Path, piper_voice: Any
) -> None:
    counting = Counting(piper_voice)
    cache = PromptCache(tmp_path, counting)
    stream = cache.stream("Welcome back, Alice. Your balance is twelve dollars. Anything else?")
    first = next(stream)
    assert counting.calls == 1 and 0.3 < len(first) / 8000 < 5
    rest = list(stream)
    assert len(rest) == 2 and counting.calls == 3


# --- behaviour, with the fake ---------------------------------------------------------------------------------


def test_get_never_synthesizes(cache: PromptCache, fake: FakeSynthesizer) -> None:
    assert cache.get("Not rendered yet.") is None
    assert fake.calls == 0


def test_render_resamples_to_the_output_rate(cache: PromptCache, fake: FakeSynthesizer) -> None:
    audio = cache.render("Hello there.")
    assert len(audio) == round(len(fake.synthesize("Hello there.")) / 2)  # 16 kHz -> 8 kHz


def test_hit_returns_the_same_read_only_audio(cache: PromptCache, fake: FakeSynthesizer) -> None:
    first = cache.render(GREETING)
    assert fake.calls == 2
    again = cache.render(GREETING)
    assert again is first and fake.calls == 2
    with pytest.raises(ValueError, match="read-only"):
        again[0] = 1


def test_whitespace_does_not_make_a_new_entry(cache: PromptCache, fake: FakeSynthesizer) -> None:
    cache.render("Hello   there.\n How are you?")
    assert cache.get("Hello there. How are you?") is not None


def test_key_covers_voice_settings_and_rates(tmp_path: Path) -> None:
    base = PromptCache(tmp_path, FakeSynthesizer()).key("Hi.")
    assert base == PromptCache(tmp_path, FakeSynthesizer()).key("Hi.")
    assert base != PromptCache(tmp_path, FakeSynthesizer(voice="other")).key("Hi.")
    assert base != PromptCache(tmp_path, FakeSynthesizer(sample_rate=22050)).key("Hi.")
    assert base != PromptCache(tmp_path, FakeSynthesizer(), rate=16000).key("Hi.")
    changed = FakeSynthesizer()
    changed.settings = "length_scale=1.2"
    assert base != PromptCache(tmp_path, changed).key("Hi.")
    assert base != PromptCache(tmp_path, FakeSynthesizer()).key("Hi!")


def test_sentences_are_cached_and_reused(cache: PromptCache, fake: FakeSynthesizer) -> None:
    cache.build(["Welcome to Open Bank.", "How can I help you today? Say agent at any time."])
    fake.sentences.clear()
    parts = list(cache.stream("Welcome back, Alice. How can I help you today? Say agent at any time."))
    assert len(parts) == 3
    assert fake.sentences == ["Welcome back, Alice."]


LONG = ("For your checking account ending in zero nine two three, the balance is two thousand three hundred "
        "forty-five dollars and sixty-seven cents.")


def test_a_long_dynamic_sentence_is_synthesized_clause_by_clause(cache: PromptCache, fake: FakeSynthesizer) -> None:
    parts = list(cache.stream(LONG + " Anything else?"))
    assert fake.sentences == ["For your checking account ending in", "zero", "nine", "two", "three",
                              "the balance is two thousand three hundred forty-five dollars and sixty-seven cents.",
                              "Anything else?"]
    assert len(parts) == 4  # the lead-in, the digit string, the balance clause, the question


def test_digit_strings_play_from_digit_recordings_and_the_lead_in_from_memory(
        cache: PromptCache, fake: FakeSynthesizer, tmp_path: Path) -> None:
    list(cache.stream(LONG))
    fake.sentences.clear()
    other = LONG.replace("zero nine two three", "four four one seven").replace("two thousand", "nine thousand")
    parts = list(cache.stream(other))
    # The next call's prompt: the lead-in is ready, each digit word is recorded once ever (four, one and
    # seven are new), and the amount is synthesized.
    assert fake.sentences == ["four", "one", "seven",
                              "the balance is nine thousand three hundred forty-five dollars and sixty-seven cents."]
    fake.sentences.clear()
    list(cache.stream(other))
    assert fake.sentences == ["the balance is nine thousand three hundred forty-five dollars and sixty-seven cents."]
    assert len(parts) == 3
    stored = {p.name for p in (tmp_path / "prompts").iterdir()}
    assert stored == {cache.path(word).name for word in ("zero", "nine", "two", "three", "four", "one", "seven")}
    assert cache.get("For your checking account ending in") is not None  # in memory, not on disk
    assert not cache.path("For your checking account ending in").exists()


def test_short_digit_strings_stay_in_their_sentence(cache: PromptCache, fake: FakeSynthesizer) -> None:
    list(cache.stream("You have two new messages."))
    assert fake.sentences == ["You have two new messages."]


def test_a_long_cached_sentence_is_played_whole(cache: PromptCache, fake: FakeSynthesizer) -> None:
    cache.build([LONG])  # a static prompt, rendered whole at build time (its prosody intact)
    fake.sentences.clear()
    parts = list(cache.stream(LONG + " Anything else?"))
    assert fake.sentences == ["Anything else?"] and len(parts) == 2


def test_dynamic_audio_is_not_stored(cache: PromptCache, fake: FakeSynthesizer, tmp_path: Path) -> None:
    list(cache.stream("Your balance is 12 dollars. Goodbye."))
    assert list((tmp_path / "prompts").iterdir()) == []
    assert cache.get("Your balance is 12 dollars.") is None


def test_stream_of_a_cached_prompt_is_one_chunk(cache: PromptCache, fake: FakeSynthesizer) -> None:
    whole = cache.render(GREETING)
    fake.sentences.clear()
    parts = list(cache.stream(GREETING))
    assert len(parts) == 1 and np.array_equal(parts[0], whole) and fake.calls == 0


def test_stream_is_lazy(tmp_path: Path) -> None:
    slow = FakeSynthesizer(delay=0.2)
    cache = PromptCache(tmp_path, slow)
    started = time.perf_counter()
    stream = cache.stream("One sentence here. Two sentences here. Three sentences here.")
    next(stream)
    assert slow.calls == 1 and time.perf_counter() - started < 0.5  # all three would take 0.6 s


def test_build_reports_rendered_and_cached(cache: PromptCache, fake: FakeSynthesizer) -> None:
    report = cache.build(["Hello.", "Goodbye.", "Hello."])
    assert (report.rendered, report.cached) == (2, 0) and report.seconds >= 0
    report = cache.build(["Hello.", "Goodbye.", "Press 1."])
    assert (report.rendered, report.cached) == (1, 2)
    assert fake.calls == 3


def test_memory_is_bounded(tmp_path: Path) -> None:
    # "Number one." is 11 characters: 0.77 s + 0.1 s gap = 6960 samples; a 2 s budget holds two.
    cache = PromptCache(tmp_path, FakeSynthesizer(sample_rate=8000), memory_seconds=2.0)
    for text in ("Number one.", "Number two.", "Number six."):
        cache.render(text)
    assert 0 < cache.memory_samples <= 16000
    cache.clear_memory()
    assert cache.memory_samples == 0
    assert all(cache.get(t) is not None for t in ("Number one.", "Number two.", "Number six."))  # on disk


def test_lru_evicts_the_oldest(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, FakeSynthesizer(sample_rate=8000), memory_seconds=2.0)
    for text in ("Number one.", "Number two."):
        cache.render(text)
    cache.get("Number one.")
    cache.render("Number six.")
    for path in tmp_path.glob("*.wav"):
        path.unlink()  # only memory can answer now
    assert cache.get("Number one.") is not None
    assert cache.get("Number six.") is not None
    assert cache.get("Number two.") is None


def test_unreadable_file_is_a_miss_and_is_replaced(cache: PromptCache, fake: FakeSynthesizer) -> None:
    cache.render("Hello.")
    cache.clear_memory()
    cache.path("Hello.").write_bytes(b"RIFF\x00\x00")
    assert cache.get("Hello.") is None
    assert cache.build(["Hello."]).rendered == 1
    audio = cache.render("Hello.")
    assert len(audio) > 0 and fake.calls == 2
    assert read_wav(cache.path("Hello."))[0].tolist() == audio.tolist()


def test_concurrent_builds_leave_complete_files_only(tmp_path: Path) -> None:
    texts = [f"Prompt number {n}. It has two sentences." for n in range(12)]
    errors: list[BaseException] = []

    def build() -> None:
        try:
            PromptCache(tmp_path, FakeSynthesizer(delay=0.001)).build(texts)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert not list(tmp_path.glob(".*.tmp"))
    reference = PromptCache(tmp_path / "ref", FakeSynthesizer())
    shared = PromptCache(tmp_path, FakeSynthesizer())
    for text in texts:
        stored = shared.get(text)
        assert stored is not None and np.array_equal(stored, reference.render(text))


def test_memory_hit_is_fast(cache: PromptCache) -> None:
    cache.render(GREETING)
    started = time.perf_counter()
    for _ in range(1000):
        cache.get(GREETING)
    # Microseconds in practice (see bench/prompts_latency.py); the bound only catches a regression to disk.
    assert (time.perf_counter() - started) / 1000 < 0.0005
