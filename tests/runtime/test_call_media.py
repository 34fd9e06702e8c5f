"""A call's IVR phase through its owner (:class:`voicebot.runtime.call.Call`) on virtual time, with fast fakes:
energy VAD, scripted recognizer, tone voice.

Caller speech here is a loud tone (the energy VAD calls it speech); what it "says" is scripted in the
fake recognizer. Real recognizers and voices are exercised by the speech integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from tests.runtime.call_harness import (
    ROOT,
    SILENCE,
    SPEECH,
    Call,
    engine,
    kinds,
    make_media,
    new_call,
    run,
    until_listening,
)
from voicebot.asr.base import RecognitionResult
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import EnergyVad
from voicebot.config import load_config
from voicebot.events import Utterance
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.pools import synthesis_pool
from voicebot.runtime.session import MASK, CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

__all__ = ["engine"]  # the fixture


def test_prompts_play_then_the_call_listens(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, [])
    assert media.speaking and media.listen is not None and media.listen.node == "main_menu"
    out = run(media, 10)
    assert all(np.abs(frame).max() > 0 for frame in out)  # prompt audio, frame after frame
    until_listening(media)
    assert not media.speaking


def test_speech_barges_in_and_is_recognized(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, ["balance"])
    run(media, 25)  # half a second into the greeting
    assert media.speaking
    run(media, 15, SPEECH)  # 300 ms of caller speech
    assert "barge_in" in kinds(media) and not media.speaking
    barge = next(e for e in media.events if e.kind == "barge_in")
    onset = next(e for e in media.events if e.kind == "speech_started")
    assert barge.at_ms - onset.data["speech_start_ms"] <= 200  # stopped within 200 ms of speech onset
    run(media, 80)  # silence: the endpointer ends the utterance
    recognized = next(e for e in media.events if e.kind == "recognized")
    assert recognized.data["text"] == "balance"
    assert media.listen is not None and media.listen.node == "ask_pin" and media.listen.secure


def test_a_key_barges_in_immediately(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, [])
    run(media, 10)
    run(media, 1, keys="1")
    assert "barge_in" in kinds(media)
    assert media.listen is not None and media.listen.node == "ask_pin"


def test_no_input_counts_from_the_end_of_the_prompt(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, [])
    prompt_ticks = until_listening(media)
    assert prompt_ticks * 20 > 5000  # the menu prompt is longer than the no-input timeout
    run(media, 245)
    assert "no_input" not in kinds(media)
    run(media, 10)
    no_input = next(e for e in media.events if e.kind == "no_input")
    assert 4980 <= no_input.at_ms - prompt_ticks * 20 <= 5100


def test_the_pin_is_masked_in_media_events_and_the_call_completes(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, ["no"])
    run(media, 1, keys="1")
    for key in "1234":
        run(media, 5, keys=key)
    dtmf = [e.data["keys"] for e in media.events if e.kind == "dtmf"]
    assert dtmf[0] == "1" and dtmf[1:] == ["*", "*", "*", "*"]
    until_listening(media)
    run(media, 15, SPEECH)
    run(media, 80)
    until_listening(media)
    assert media.finished
    record = media.session.store.get_call(media.session.call_id)
    assert record is not None and record.outcome == "self_served" and record.authenticated


def test_caller_hang_up_mid_prompt_finishes_the_record(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, [])
    run(media, 20)
    media.hang_up()
    assert media.finished and media.tick(SILENCE).max() == 0
    record = media.session.store.get_call(media.session.call_id)
    assert record is not None and record.ended_at is not None and record.outcome == "abandoned"


def test_a_recorded_prompt_plays_at_phone_rate(engine: Engine, tmp_path: Path) -> None:
    from voicebot.audio.pcm import write_stereo_wav

    tone = (6000 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.int16)  # 1 s at 16 kHz
    (tmp_path / "prompts").mkdir()
    write_stereo_wav(tmp_path / "prompts" / "welcome.wav", tone, tone, 16000)
    (tmp_path / "f.yaml").write_text("""
flow: rec
start: hello
nodes:
  hello: {kind: say, play: prompts/welcome.wav, prompt: "Welcome (recorded).", next: bye}
  bye: {kind: hangup}
""")
    flow = load_flow_with(tmp_path / "f.yaml", load_config(), default_registry())
    clock = ManualClock()
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), clock)
    cache = PromptCache(tmp_path / "cache", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    media = new_call(session, cache, FakeRecognizer([]), EnergyVad(), {})
    media.start("+1")
    out = np.concatenate(run(media, 60))
    played = np.flatnonzero(np.abs(out) > 1000)
    span = (played[-1] - played[0] + 1) / PHONE_RATE
    assert 0.98 <= span <= 1.02  # one second of the recording, resampled to 8 kHz
    assert media.finished and any(e.kind == "play" for e in media.events)


def slow_media(engine: Engine, tmp_path: Path, delay: float) -> tuple[Call, FakeSynthesizer]:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), ManualClock())
    voice = FakeSynthesizer(sample_rate=PHONE_RATE, delay=delay)
    cache = PromptCache(tmp_path / "slow-prompts", voice, rate=PHONE_RATE)
    media = new_call(session, cache, FakeRecognizer([]), EnergyVad(), phrases_by_intent(flow),
                     synthesis=synthesis_pool())
    return media, voice


class GatedSynthesizer(FakeSynthesizer):
    """Synthesis that waits until the test opens the gate (a voice busy with other calls)."""

    def __init__(self) -> None:
        import threading

        super().__init__(sample_rate=PHONE_RATE)
        self.gate = threading.Event()

    def _sentence(self, sentence: str) -> np.ndarray:
        assert self.gate.wait(10)
        return super()._sentence(sentence)


def test_background_synthesis_never_stalls_the_tick(engine: Engine, tmp_path: Path) -> None:
    import time

    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), ManualClock())
    voice = GatedSynthesizer()
    cache = PromptCache(tmp_path / "gated-prompts", voice, rate=PHONE_RATE)
    media = new_call(session, cache, FakeRecognizer([]), EnergyVad(), phrases_by_intent(flow),
                     synthesis=synthesis_pool())
    media.start("+15550100001", "+18005550100")  # returns with the greeting queued, not synthesized
    assert media.speaking  # pending synthesis counts as speaking: no-input does not run yet
    silent = [media.tick(SILENCE) for _ in range(10)]  # the voice is stuck: every tick returns, with silence
    assert all(np.abs(frame).max() == 0 for frame in silent) and media.speaking
    voice.gate.set()
    deadline = time.monotonic() + 10
    heard = False
    while not heard and time.monotonic() < deadline:
        heard = np.abs(media.tick(SILENCE)).max() > 0
        time.sleep(0.005)
    assert heard and voice.calls >= 1  # the first sentence plays as soon as it is ready


def test_background_prompts_keep_their_order_and_barge_in_cancels(engine: Engine, tmp_path: Path) -> None:
    import time

    from voicebot.runtime.playout import PromptQueue

    voice = FakeSynthesizer(sample_rate=PHONE_RATE, delay=0.05)
    cache = PromptCache(tmp_path / "q", voice, rate=PHONE_RATE)
    queue = PromptQueue(cache, synthesis_pool())
    marker = np.full(80, 7, dtype=np.int16)
    queue.put("One. Two.")
    queue.put(marker)  # ready audio queued behind a prompt still being made
    queue.put("Three.")
    got = []
    deadline = time.monotonic() + 5
    while queue.pending and time.monotonic() < deadline:
        chunk = queue.take()
        if chunk is not None:
            got.append(chunk)
        time.sleep(0.005)
    assert voice.sentences == ["One.", "Two.", "Three."]
    assert len(got) == 4 and got[2] is marker
    assert [len(c) for c in got[:2]] == [len(cache.render("One.")), len(cache.render("Two."))]

    queue.put("Four. Five. Six.")
    time.sleep(0.01)
    queue.cancel()  # barge-in: "Four." may finish, but nothing after it is made or played
    deadline = time.monotonic() + 2
    while queue.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not queue.pending and queue.take() is None
    assert "Five." not in voice.sentences and "Six." not in voice.sentences


def test_speech_late_in_a_long_prompt_still_barges_in(engine: Engine, tmp_path: Path) -> None:
    media = make_media(engine, tmp_path, ["balance"])
    run(media, 300)  # six seconds into the menu prompt: longer than the no-input timeout
    assert media.speaking and "no_input" not in kinds(media)
    run(media, 15, SPEECH)
    assert "barge_in" in kinds(media)
    run(media, 80)
    assert next(e for e in media.events if e.kind == "recognized").data["text"] == "balance"


def speech_media(engine: Engine, tmp_path: Path, recognizer: FakeRecognizer, **kwargs: Executor) -> Call:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), ManualClock())
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    media = new_call(session, cache, recognizer, EnergyVad(), phrases_by_intent(flow), **kwargs)
    media.start("+15550100001", "+18005550100")
    return media


def say_and_wait(media: Call, speech_frames: int = 15) -> int:
    """Speak, then stay silent until the utterance is recognized; the silence it took (ms)."""
    until_listening(media)
    run(media, speech_frames, SPEECH)
    seen = sum(1 for e in media.events if e.kind == "recognized")
    for silent in range(1, 200):
        run(media, 1)
        if sum(1 for e in media.events if e.kind == "recognized") > seen:
            return silent * 20
    raise AssertionError("the utterance was never recognized")


def recognized(media: Call) -> list[dict[str, object]]:
    """The recognized events, with the text the engine was given: at a secure step (the PIN) the published
    event is masked, so the text comes from the session's in-memory history of utterances, in order."""
    heard = [step.event.text for step in media.session.history if isinstance(step.event, Utterance)]
    out = []
    for index, event in enumerate(e for e in media.events if e.kind == "recognized"):
        data = dict(event.data)
        if data["text"] == MASK and index < len(heard):
            data["text"] = heard[index]
        out.append(data)
    return out


def test_without_previews_an_engine_without_partials_waits_the_incomplete_timeout(
        engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two three four"])
    media = speech_media(engine, tmp_path, recognizer)
    assert say_and_wait(media) >= 1200
    assert say_and_wait(media) >= 1200
    assert [r["text"] for r in recognized(media)] == ["balance", "one two three four"]
    # What the caller said at the PIN never leaves the call in an event (logs, transcripts, console, metrics).
    assert [e.data["text"] for e in media.events if e.kind == "recognized"] == ["balance", MASK]


def test_a_preview_that_completes_the_grammar_ends_the_turn_on_the_complete_timeout(
        engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two three four"], previews=True)
    media = speech_media(engine, tmp_path, recognizer)
    assert 800 <= say_and_wait(media) <= 860  # the intent: complete at once
    assert media.listen is not None and media.listen.node == "ask_pin"
    assert 800 <= say_and_wait(media) <= 860  # the fourth PIN digit completes the grammar
    assert [(r["text"], r["previewed"]) for r in recognized(media)] == [
        ("balance", True), ("one two three four", True)]
    assert all(not stream.results for stream in recognizer.streams)  # nothing was decoded a second time
    assert all(turn.previewed for turn in media.turns)


def test_each_spoken_turn_reports_where_its_time_went(engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two three four"], previews=True)
    media = speech_media(engine, tmp_path, recognizer)
    say_and_wait(media)
    say_and_wait(media)
    answered = [e.data for e in media.events if e.kind == "answered"]
    assert len(answered) == 2
    for data in answered:
        assert data["recognize_ms"] >= 0 and 0 <= data["step_ms"] <= data["first_audio_ms"]
    assert [turn.step_wall_ms <= turn.first_audio_wall_ms for turn in media.turns] == [True, True]


def test_an_incomplete_preview_waits_the_incomplete_timeout_and_stands_as_the_result(
        engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two"], previews=True)
    media = speech_media(engine, tmp_path, recognizer)
    say_and_wait(media)
    assert say_and_wait(media) >= 1200  # two digits of four: not complete
    assert recognized(media)[-1]["text"] == "one two" and recognized(media)[-1]["previewed"] is True
    assert all(not stream.results for stream in recognizer.streams)


def test_speech_after_a_preview_makes_it_stale(engine: Engine, tmp_path: Path) -> None:
    # A pause long enough for a preview ("one two"), then more digits: the first preview must not stand.
    recognizer = FakeRecognizer(["balance", "one two", "one two three four"], previews=True)
    media = speech_media(engine, tmp_path, recognizer)
    say_and_wait(media)
    until_listening(media)
    run(media, 15, SPEECH)
    run(media, 15)  # 300 ms pause: previewed as "one two", incomplete
    run(media, 15, SPEECH)
    for _ in range(100):
        run(media, 1)
    assert [r["text"] for r in recognized(media)] == ["balance", "one two three four"]


class BlockingRecognizer(FakeRecognizer):
    """Finishing an utterance waits until the test lets it go (a slow decoder)."""

    def __init__(self, texts: list[str]) -> None:
        import threading

        super().__init__(texts)
        self.release = threading.Event()

    def next_result(self, audio: bytes) -> RecognitionResult:
        assert self.release.wait(10)
        return super().next_result(audio)


def test_recognition_runs_off_the_tick_and_keys_wait_for_its_result(engine: Engine, tmp_path: Path) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    recognizer = BlockingRecognizer(["balance"])
    with ThreadPoolExecutor(1) as pool:
        media = speech_media(engine, tmp_path, recognizer, recognition=pool)
        until_listening(media)
        run(media, 15, SPEECH)
        run(media, 62)  # the utterance ends (1200 ms of silence); its decoding is blocked
        assert media.recognizing and not recognized(media)
        run(media, 10, keys="9")  # a key while recognizing: held, not sent to the flow yet
        assert media.recognizing  # the ticks returned while the recognizer is still blocked
        assert not any(e.kind == "dtmf" for e in media.events)
        recognizer.release.set()
        deadline = time.monotonic() + 5
        while media.recognizing and time.monotonic() < deadline:
            run(media, 1)
        assert [r["text"] for r in recognized(media)] == ["balance"]
        kinds_after = kinds(media)
        assert kinds_after.index("recognized") < kinds_after.index("dtmf")  # the key came after the speech
        assert recognizer.streams[0].closed  # the job closed the detached stream


class ManualPool(Executor):
    """An executor whose jobs run only when the test says so (a recognizer busy with other calls)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[object, Future[RecognitionResult]]] = []

    def submit(self, job: Callable[..., RecognitionResult], /, *args: object,  # type: ignore[override]
               **kwargs: object) -> Future[RecognitionResult]:
        future: Future[RecognitionResult] = Future()
        self.jobs.append((job, future))
        return future

    def run_all(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job, future in jobs:
            future.set_result(job())  # type: ignore[operator]


def at_the_pin_with_a_manual_pool(engine: Engine, tmp_path: Path,
                                  recognizer: FakeRecognizer) -> tuple[Call, ManualPool]:
    """A call whose recognition jobs wait for the test, past the menu ("balance") and at the PIN prompt."""
    pool = ManualPool()
    media = speech_media(engine, tmp_path, recognizer, recognition=pool)
    until_listening(media)
    run(media, 15, SPEECH)
    run(media, 50)
    pool.run_all()  # "balance"
    run(media, 2)
    until_listening(media)
    assert media.listen is not None and media.listen.node == "ask_pin"
    return media, pool


def test_a_preview_that_arrives_after_more_speech_is_ignored(engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two three four", "one two three four five"], previews=True)
    media, pool = at_the_pin_with_a_manual_pool(engine, tmp_path, recognizer)
    run(media, 15, SPEECH)
    run(media, 15)  # a pause: a preview is taken ...
    assert len(pool.jobs) == 1
    run(media, 10, SPEECH)  # ... the caller goes on ...
    run(media, 45)
    assert len(pool.jobs) == 1  # (one preview at a time)
    pool.run_all()  # ... and 900 ms into the next pause the preview ("one two three four", complete) is back
    silence = 45
    while not recognized(media)[1:] and silence < 100:
        run(media, 1)
        silence += 1
        pool.run_all()
    assert silence * 20 >= 1200  # the stale preview did not shorten the timeout
    assert recognized(media)[-1]["text"] == "one two three four five"


def test_the_end_of_an_utterance_waits_for_the_preview_of_all_of_it(engine: Engine, tmp_path: Path) -> None:
    recognizer = FakeRecognizer(["balance", "one two", "one two three four"], previews=True)
    media, pool = at_the_pin_with_a_manual_pool(engine, tmp_path, recognizer)
    run(media, 15, SPEECH)
    run(media, 15)
    pool.run_all()  # the first pause's preview: "one two"
    run(media, 15, SPEECH)  # more digits, then silence; the second preview is slow ...
    run(media, 65)  # ... the incomplete timeout ends the utterance before it is back
    assert media.recognizing and not recognized(media)[1:]
    assert len(pool.jobs) == 1  # the preview of all of it, not a second decoding of the same audio
    pool.run_all()
    run(media, 1)
    assert recognized(media)[-1]["text"] == "one two three four"
    assert all(not stream.results for stream in recognizer.streams)


def test_a_slow_database_delays_the_answer_but_never_the_audio(engine: Engine, tmp_path: Path) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    store = CallStore(engine, tmp_path / "spool")
    log_step = store.log_step
    database = threading.Event()  # another call holds the database until the test lets it go

    def slow_log_step(*args: object, **kwargs: object) -> None:
        assert database.wait(10)
        log_step(*args, **kwargs)  # type: ignore[arg-type]

    store.log_step = slow_log_step  # type: ignore[method-assign]
    session = CallSession(flow, default_registry(), store, ManualClock())
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    with ThreadPoolExecutor(2) as pool:
        media = new_call(session, cache, FakeRecognizer([]), EnergyVad(), phrases_by_intent(flow), session=pool)
        media.start("+15550100001", "+18005550100")
        for keys in ["", "1", "1", "2", "3", "4"]:  # the greeting, then the menu key and the PIN, keyed ahead
            media.tick(SILENCE, keys)
        assert media.busy  # every tick returned while the database is still held
        database.set()
        deadline = time.monotonic() + 10
        while media.busy and time.monotonic() < deadline:
            media.tick(SILENCE)
            time.sleep(0.005)
        prompts = [str(e.data.get("text", "")) for e in media.events if e.kind == "prompt"]
        assert any("dollars and sixty-seven cents" in text for text in prompts), prompts  # every key got there
        media.hang_up()
        record = store.get_call(session.call_id)
        assert record is not None and record.authenticated
        assert record is not None and record.ended_at is not None


def test_the_silence_timer_starts_where_the_words_end_not_where_their_decay_does(
        engine: Engine, tmp_path: Path) -> None:
    # A VAD that hears anything above -70 dBFS as speech (as webrtcvad hears a voice's low-level tail).
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), ManualClock())
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    media = new_call(session, cache, FakeRecognizer(["balance", "one two three four"]), EnergyVad(-70.0),
                     phrases_by_intent(flow))
    media.start("+15550100001", "+18005550100")
    tail = (SPEECH // 200).astype(np.int16)  # 46 dB below the words: the decay of the last one
    until_listening(media)
    run(media, 15, SPEECH)
    run(media, 10, tail)  # 200 ms of decay
    run(media, 80)
    ended = recognized(media)[0]
    words_end = ended["speech_start_ms"] + 15 * 20  # type: ignore[operator]
    assert ended["speech_end_ms"] == words_end  # not 200 ms later, at the end of the decay
    # A quiet caller is heard all the same: the floor is relative to the utterance's own loudest frame.
    quiet = (SPEECH // 100).astype(np.int16)
    until_listening(media)
    run(media, 15, quiet)
    run(media, 80)
    assert [r["text"] for r in recognized(media)] == ["balance", "one two three four"]
