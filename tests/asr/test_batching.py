"""The batcher behind Whisper's decoding (voicebot.asr.batching), with a plain function in place of the model."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import pytest

from voicebot.asr.base import RecognizerError
from voicebot.asr.batching import BatchedWhisper, Batcher, BatcherClosed, BatcherFull, _Encode, _Generate

DEADLINE_S = 10.0  # bounded waits: a loaded machine is slow, never this slow


class Gate:
    """A run function that records each batch and holds the first one until released (items pile up)."""

    def __init__(self, fail: Callable[[str], bool] = lambda value: False) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, values: Sequence[str]) -> list[str]:
        self.batches.append(list(values))
        self.started.set()
        assert self.release.wait(DEADLINE_S)
        bad = [v for v in values if self.fail(v)]
        if bad:
            raise ValueError(f"cannot decode {bad[0]}")
        return [v.upper() for v in values]


def first_letter(value: str) -> str:
    return value[0]


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release.set()


def held(gate: Gate, **options: float) -> Batcher[str, str]:
    """A batcher whose owner is busy with a first item "a0" (so what is submitted next waits together)."""
    batcher: Batcher[str, str] = Batcher(gate, first_letter, **options)  # type: ignore[arg-type]
    batcher.submit("a0")
    assert gate.started.wait(DEADLINE_S)
    return batcher


def results(futures: Sequence[Future[str]]) -> list[str]:
    done, _ = wait(futures, DEADLINE_S)
    assert len(done) == len(futures)
    return [f.result() for f in futures]


def test_each_caller_gets_its_own_result_and_batches_keep_arrival_order(gate: Gate) -> None:
    batcher = held(gate)
    futures = [batcher.submit(v) for v in ("a1", "a2", "a3")]
    gate.release.set()
    assert results(futures) == ["A1", "A2", "A3"]
    assert gate.batches == [["a0"], ["a1", "a2", "a3"]]
    batcher.close()


def test_items_of_another_key_wait_for_their_own_batch_oldest_key_first(gate: Gate) -> None:
    batcher = held(gate)
    futures = [batcher.submit(v) for v in ("b1", "a1", "b2", "a2", "c1")]
    gate.release.set()
    assert results(futures) == ["B1", "A1", "B2", "A2", "C1"]
    assert gate.batches == [["a0"], ["b1", "b2"], ["a1", "a2"], ["c1"]]
    batcher.close()


def test_a_batch_holds_at_most_max_batch_items(gate: Gate) -> None:
    batcher = held(gate, max_batch=2)
    futures = [batcher.submit(f"a{i}") for i in range(1, 6)]
    gate.release.set()
    assert results(futures) == ["A1", "A2", "A3", "A4", "A5"]
    assert gate.batches == [["a0"], ["a1", "a2"], ["a3", "a4"], ["a5"]]
    batcher.close()


def test_a_full_batch_does_not_wait_out_the_gathering_window() -> None:
    """A gathering window longer than the test's deadline: the batch goes as soon as it is full."""
    gate = Gate()
    gate.release.set()
    batcher: Batcher[str, str] = Batcher(gate, first_letter, max_batch=3, gather_s=3600)
    futures = [batcher.submit(v) for v in ("a1", "a2", "a3")]
    assert results(futures) == ["A1", "A2", "A3"]
    assert gate.batches == [["a1", "a2", "a3"]]
    batcher.close()


def test_callers_on_many_threads_each_get_their_own_result() -> None:
    def run(values: Sequence[int]) -> list[int]:
        return [v * v for v in values]

    batcher: Batcher[int, int] = Batcher(run, lambda v: v % 3, gather_s=0.002)
    with ThreadPoolExecutor(8) as pool:
        squares = list(pool.map(batcher, range(200)))
    batcher.close()
    assert squares == [v * v for v in range(200)]
    assert sum(batcher.batches) == 200


def test_one_failing_item_fails_only_its_caller() -> None:
    gate = Gate(fail=lambda value: value == "a2")
    batcher = held(gate)
    futures = [batcher.submit(v) for v in ("a1", "a2", "a3")]
    gate.release.set()
    wait(futures, DEADLINE_S)
    assert futures[0].result() == "A1"
    assert futures[2].result() == "A3"
    with pytest.raises(ValueError, match="cannot decode a2"):
        futures[1].result()
    # the batch, then each of its items again on its own
    assert gate.batches[1:] == [["a1", "a2", "a3"], ["a1"], ["a2"], ["a3"]]
    # the owner is still serving
    assert batcher("a4") == "A4"
    batcher.close()


def test_a_run_that_miscounts_its_results_is_an_error_for_each_caller_alone() -> None:
    batcher: Batcher[str, str] = Batcher(lambda values: ["x"], first_letter)
    assert batcher("a1") == "x"  # one value, one result
    batcher.close()
    broken: Batcher[str, str] = Batcher(lambda values: [], first_letter)
    with pytest.raises(RecognizerError, match="gave 0 results"):
        broken("a1")
    broken.close()


def test_close_drains_what_is_queued_then_refuses_new_items(gate: Gate) -> None:
    batcher = held(gate)
    futures = [batcher.submit(v) for v in ("a1", "b1", "a2")]
    closing = threading.Thread(target=batcher.close)
    closing.start()
    gate.release.set()
    closing.join(DEADLINE_S)
    assert not closing.is_alive()
    assert batcher.closed
    assert [f.result(timeout=0) for f in futures] == ["A1", "B1", "A2"]
    with pytest.raises(BatcherClosed):
        batcher.submit("a3")


def test_the_queue_is_bounded(gate: Gate) -> None:
    batcher = held(gate, max_queue=2)
    futures = [batcher.submit("a1"), batcher.submit("a2")]
    with pytest.raises(BatcherFull):
        batcher.submit("a3")
    gate.release.set()
    assert results(futures) == ["A1", "A2"]
    batcher.close()


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(lambda values: values, first_letter, max_batch=0)


# ----- the stand-in for CTranslate2's Whisper --------------------------------------------------------------


class FakeEncoded:
    """Shaped like a CTranslate2 StorageView (matched by its type name)."""

    def __init__(self, batch: int, frames: int) -> None:
        self.shape = [batch, frames, 4]


FakeEncoded.__name__ = "StorageView"


class FakeWhisper:
    is_multilingual = False

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.asynchronous: list[bool] = []

    def encode(self, features: object, to_cpu: bool = False) -> str:
        return "encoded"

    def generate(self, encoded: object, prompts: list[list[int]], *, max_length: int, asynchronous: bool = False,
                 **options: object) -> list[str]:
        self.calls.append((len(prompts), max_length))
        self.asynchronous.append(asynchronous)
        return [f"decoded {p}" for p in prompts]


def test_batched_whisper_passes_other_calls_and_attributes_through() -> None:
    model = FakeWhisper()
    batched = BatchedWhisper(model)
    try:
        assert batched.is_multilingual is False
        # two prompts at once, features instead of an encoder output: not batched, the model's own call
        assert batched.generate(FakeEncoded(2, 500), [[1], [2]], max_length=9) == ["decoded [1]", "decoded [2]"]
        assert batched.generate([[0.0]], [[3]], max_length=9) == ["decoded [3]"]
        assert model.calls == [(2, 9), (1, 9)]
        assert batched.encode([[0.0]], to_cpu=False) == "encoded"  # an array, not one utterance's storage
        assert batched.batcher.batches == []
    finally:
        batched.close()


def test_batched_whisper_keys_on_window_prompt_and_options() -> None:
    key = BatchedWhisper._key

    def item(frames: int = 500, prompt: tuple[int, ...] = (1, 2), max_length: int = 40,
             **options: object) -> _Generate:
        return _Generate(FakeEncoded(1, frames), prompt, max_length,
                         tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())))

    assert key(item(max_length=40)) == key(item(max_length=60))  # the token limit may differ in a batch
    assert key(item(frames=500)) != key(item(frames=1500))  # the 10 s and the 30 s windows
    assert key(item(prompt=(1, 2))) != key(item(prompt=(1, 3)))
    assert key(item(suppress_tokens=[5, 6])) != key(item(suppress_tokens=[-1]))
    assert key(item(beam_size=5)) != key(item(beam_size=1))


def test_decodings_go_before_encodings() -> None:
    from voicebot.asr.batching import ENCODE_BATCH, MAX_BATCH, _limit, _rank

    features = FakeEncoded(1, 80)
    features.shape = [1, 80, 1000]  # mel bins, frames: the 10 s window
    encode_key = BatchedWhisper._key(_Encode(features, ()))
    generate_key = BatchedWhisper._key(_Generate(FakeEncoded(1, 500), (1, 2), 40, ()))
    assert _rank(generate_key) < _rank(encode_key)
    assert (_limit(encode_key), _limit(generate_key)) == (ENCODE_BATCH, MAX_BATCH)
    features.shape = [1, 80, 3000]  # the 30 s window is encoded alone (memory)
    assert _limit(BatchedWhisper._key(_Encode(features, ()))) == 1


def test_rank_takes_a_key_first_and_limit_caps_its_batches(gate: Gate) -> None:
    batcher = held(gate)
    batcher._rank = lambda key: 0 if key == "c" else 1  # type: ignore[assignment]
    batcher._limit = lambda key: 2 if key == "b" else 8  # type: ignore[assignment]
    futures = [batcher.submit(v) for v in ("b1", "b2", "b3", "c1", "a1")]
    gate.release.set()
    assert results(futures) == ["B1", "B2", "B3", "C1", "A1"]
    assert gate.batches == [["a0"], ["c1"], ["b1", "b2"], ["b3"], ["a1"]]
    batcher.close()


def holding(held: str) -> tuple[Callable[[Sequence[str]], list[str]], threading.Event, threading.Event]:
    """A batch runner that upper-cases its values, but holds the batch with ``held`` in it: ``started`` is set
    once that batch runs, and it ends when ``release`` is set."""
    started, release = threading.Event(), threading.Event()

    def run(values: Sequence[str]) -> list[str]:
        if held in values:
            started.set()
            assert release.wait(DEADLINE_S)
        return [v.upper() for v in values]

    return run, started, release


def test_lanes_decode_other_batches_while_one_is_busy() -> None:
    run, started, release = holding("a0")
    batcher: Batcher[str, str] = Batcher(run, first_letter, lanes=2)
    held_item = batcher.submit("a0")
    assert started.wait(DEADLINE_S)
    # the other lane serves these while the first is held
    assert results([batcher.submit("b1"), batcher.submit("a1")]) == ["B1", "A1"]
    assert not held_item.done()
    release.set()
    assert results([held_item]) == ["A0"]
    batcher.close()


def test_a_batch_waits_for_items_on_their_way_but_not_forever() -> None:
    """While ``coming()`` counts items (utterances being encoded), the first item waits for them (bounded)."""
    gate = Gate()
    gate.release.set()
    coming = [1]
    batcher: Batcher[str, str] = Batcher(gate, first_letter, gather_s=0, wait_coming_s=3600,
                                         coming=lambda: coming[0])
    first = batcher.submit("a1")
    second = batcher.submit("a2")  # "arrives" while a1 waits for it
    assert not first.done()
    coming[0] = 0
    batcher.poke()  # nothing more is coming: the batch goes now
    assert results([first, second]) == ["A1", "A2"]
    assert gate.batches == [["a1", "a2"]]
    waited: Batcher[str, str] = Batcher(gate, first_letter, gather_s=0, wait_coming_s=0.01, coming=lambda: 1)
    assert waited("b1") == "B1"  # something is always coming: the bound still ends the wait
    waited.close()
    batcher.close()


def test_a_callers_own_running_decodings_do_not_make_it_wait() -> None:
    """With ``wait_running`` a batch being run makes the next item wait for more of its kind, unless every item
    in it is the next item's own caller's (one utterance's decodings run at once)."""
    run, started, release = holding("a0")
    batcher: Batcher[str, str] = Batcher(run, first_letter, lanes=2, gather_s=0, wait_coming_s=3600,
                                         wait_running=True)
    own = batcher.submit("a0")
    assert started.wait(DEADLINE_S)
    me = threading.get_ident()
    assert batcher.running_besides(me) == 0
    # This thread's second item goes on the free lane at once (waiting would take an hour).
    assert results([batcher.submit("b1")]) == ["B1"]
    assert not own.done()
    # Another caller's item waits for the batch being run (its caller may send more of its kind)...
    with ThreadPoolExecutor(1) as other:
        theirs = other.submit(batcher.submit, "c1").result(DEADLINE_S)
        assert other.submit(batcher.running_besides, me).result(DEADLINE_S) == 0
        assert other.submit(lambda: batcher.running_besides(threading.get_ident())).result(DEADLINE_S) == 1
    with pytest.raises(TimeoutError):
        theirs.result(timeout=0.2)  # still waiting, though a lane is free
    # ... and goes once it ends.
    release.set()
    assert results([own, theirs]) == ["A0", "C1"]
    batcher.close()


def test_batched_whisper_generates_asynchronously() -> None:
    """``asynchronous=True`` as in CTranslate2: the call returns at once, ``result()`` waits."""
    model = FakeWhisper()
    batched = BatchedWhisper(model)
    try:
        pending = batched.generate(FakeEncoded(1, 500), [[1]], max_length=9, asynchronous=True)
        assert [p.result(DEADLINE_S) for p in pending] == ["decoded [1]"]
        assert batched.batcher.batches == [1]
        # not one utterance's call: the model's own, asked to be asynchronous
        assert batched.generate(FakeEncoded(2, 500), [[1], [2]], max_length=9, asynchronous=True) == [
            "decoded [1]", "decoded [2]"]
        assert model.asynchronous == [False, True]
    finally:
        batched.close()


def test_the_batch_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicebot.asr.select import BATCH_VARIABLE, WHISPER_BATCH, whisper_batch

    monkeypatch.delenv(BATCH_VARIABLE, raising=False)
    assert whisper_batch() == WHISPER_BATCH
    monkeypatch.setenv(BATCH_VARIABLE, " 8 ")
    assert whisper_batch() == 8
    for bad in ("0", "-2", "eight"):
        monkeypatch.setenv(BATCH_VARIABLE, bad)
        with pytest.raises(RecognizerError, match=BATCH_VARIABLE):
            whisper_batch()
