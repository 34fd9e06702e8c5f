"""Recognition batched across calls: several callers' decodings in one CTranslate2 ``generate`` call.

Whisper's decoder (beam search, the n-best) costs far less per utterance in a batch: measured with tiny.en
int8 on one thread, the grammar-masked 5-beam decoding costs 34 ms of CPU alone and 15 ms per utterance in a
batch of 4; the prompted one 72 ms against 29 ms; the greedy check 27 ms against 11 ms. The encoder gains
little (30 ms per 10 s window alone or in 4, more in 8: batches of at most :data:`ENCODE_BATCH`), but
encoding the utterances of a burst together brings their decodings to the batcher together.

* :class:`Batcher` is the generic part: owner threads (one per model worker), a bounded queue, a short
  gathering window, items grouped by a key (only items whose key is equal can share one call), results and
  errors routed back to the caller that submitted each item. A batch that fails is decoded again item by
  item, so one bad item fails only its own caller. :meth:`Batcher.close` stops taking items and drains
  those queued.
* :class:`BatchedWhisper` stands in for the CTranslate2 ``Whisper`` model inside faster-whisper's
  ``WhisperModel`` (its ``model`` attribute): ``encode`` and ``generate`` of one utterance go through the
  batcher, decodings first; every other attribute is the model's own. The adapter's decoding code calls
  them as before.
* What may differ within a batch: the encoder output (same shape: one window length) and the token limit.
  What may not (CTranslate2 takes one value for the batch): the prompt (tokens), the suppressed tokens, the
  beam size, the number of hypotheses and the other options, so those form the key: callers at the same
  node (same grammar) share a batch, others wait for the next one. The token limit of a batch is its largest
  (a limit only cuts a hypothesis that loops, which the grammar filter drops anyway); the results are
  otherwise bit for bit those of separate calls (checked on the test corpus).
* No gathering window for a lone caller: a call waits for others (at most :data:`WAIT_COMING_S`) only while
  other callers' work is under way (encodings, batches being run) whose callers will call again soon. A
  caller's own decodings running at the same time (a digit turn's two masked decodings and its greedy
  check, ``generate(..., asynchronous=True)``) do not make it wait. Under load, items queue while the owners
  work, and the next batch takes them without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from voicebot.asr.base import RecognizerError, import_engine

__all__ = ["GATHER_S", "MAX_BATCH", "MAX_QUEUE", "BatchedWhisper", "Batcher", "BatcherClosed", "BatcherFull",
           "storage_view"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: How long the first item of a batch waits for others (seconds).
GATHER_S = 0.004
#: How long the first item of a batch waits at most while more items are on their way (``coming``).
WAIT_COMING_S = 0.03
#: Items decoded in one call at most (CPU per item stops falling past ~8 with tiny.en).
MAX_BATCH = 8
#: Encodings in one call at most (CPU per utterance flat up to 4 windows, higher at 8), for windows of at most
#: :data:`ENCODE_BATCH_FRAMES` mel frames (10 s). Longer windows (the 30 s fallback) are encoded alone: their
#: attention matrices grow with the square of the window, and a batch of four took hundreds of MB.
ENCODE_BATCH = 4
ENCODE_BATCH_FRAMES = 1000
#: Items waiting at most; one more is refused with :class:`BatcherFull` rather than queued without bound.
MAX_QUEUE = 64


class BatcherClosed(RecognizerError):
    """The batcher is closed: no new items."""


class BatcherFull(RecognizerError):
    """The batcher's queue is full."""


@dataclass
class _Item(Generic[T, R]):
    value: T
    key: Hashable
    arrived: float
    #: The thread that submitted it: items of one caller (one utterance's concurrent decodings) never wait
    #: for each other to gather a batch.
    origin: int = field(default_factory=threading.get_ident)
    result: Future[R] = field(default_factory=Future)


class Batcher(Generic[T, R]):
    """Runs ``run(values)`` on batches of submitted values, on ``lanes`` owner threads (one batch each at a
    time: as many as the model decodes at once, so batching never decodes fewer utterances at once than
    calling the model from each caller's thread did).

    ``run`` gets the values of items with equal ``key(value)`` (at most ``max_batch``, or ``limit(key)`` if
    lower; oldest first) and returns one result per value, in order. The first item of a batch waits
    ``gather_s`` for others, or up to ``wait_coming_s`` while ``coming()`` says more items are on their way
    (utterances being encoded: under load, waiting for them makes larger batches; a lone caller has none
    coming and does not wait). With ``wait_running`` the batches being run count as coming too, except
    those holding only items of the first item's own caller (its thread): a caller whose decodings run at
    once does not make its own next one wait. The next batch is the oldest item's key, so no key starves;
    ``rank(key)`` puts some keys first (lowest rank first, then the oldest item).
    """

    def __init__(self, run: Callable[[Sequence[T]], Sequence[R]], key: Callable[[T], Hashable], *,
                 max_batch: int = MAX_BATCH, gather_s: float = GATHER_S, max_queue: int = MAX_QUEUE,
                 lanes: int = 1, coming: Callable[[], int] | None = None, wait_coming_s: float = WAIT_COMING_S,
                 rank: Callable[[Hashable], int] | None = None, limit: Callable[[Hashable], int] | None = None,
                 wait_running: bool = False, name: str = "batcher") -> None:
        if max_batch < 1 or max_queue < 1 or lanes < 1 or gather_s < 0:
            raise ValueError("max_batch, max_queue and lanes must be at least 1, gather_s at least 0")
        self._run = run
        self._key = key
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.wait_coming_s = wait_coming_s
        self._coming = coming
        self.wait_running = wait_running
        self._running = 0
        self._running_from: Counter[int] = Counter()  # items being run, by the thread that submitted them
        self._rank = rank
        self._limit = limit
        self.max_queue = max_queue
        self._queue: deque[_Item[T, R]] = deque()
        self._changed = threading.Condition()
        self._closed = False
        #: Sizes of the batches run so far (for measurements and tests).
        self.batches: list[int] = []
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(lanes)]
        for thread in self._threads:
            thread.start()

    # ----- callers -------------------------------------------------------------------------------

    def submit(self, value: T) -> Future[R]:
        """Queue ``value``; its future gets its result or the error of its own run."""
        item: _Item[T, R] = _Item(value, self._key(value), time.monotonic())
        with self._changed:
            if self._closed:
                raise BatcherClosed("the recognition batcher is closed")
            if len(self._queue) >= self.max_queue:
                raise BatcherFull(f"the recognition batcher has {self.max_queue} items waiting")
            self._queue.append(item)
            self._changed.notify()
        return item.result

    def __call__(self, value: T) -> R:
        """The result of ``value``, decoded in some batch (waits for it)."""
        return self.submit(value).result()

    def close(self, timeout: float = 10.0) -> None:
        """Take no more items; those queued are still run (drained) before the owner threads end."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def poke(self) -> None:
        """What ``coming()`` counts has changed: a gathering owner looks again."""
        with self._changed:
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    # ----- the owner -----------------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Items in the batches being run now."""
        return self._running

    def running_besides(self, origin: int) -> int:
        """Items being run now that the thread ``origin`` did not submit."""
        with self._changed:  # reentrant (the condition's RLock): also asked while a batch is chosen
            return self._running - self._running_from[origin]

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            origins = Counter(item.origin for item in batch)
            with self._changed:
                self._running += len(batch)
                self._running_from.update(origins)
            try:
                self._deliver(batch)
            finally:
                with self._changed:
                    self._running -= len(batch)
                    self._running_from.subtract(origins)
                    self._running_from += Counter()  # drops the origins back at zero
                    self._changed.notify_all()

    def _next_batch(self) -> list[_Item[T, R]] | None:
        """The oldest item and the queued items of its key, after the gathering window; None when closed
        and drained."""
        with self._changed:
            while True:  # re-read the queue after every wait: another lane may have taken the oldest item
                if not self._queue:
                    if self._closed:
                        return None
                    self._changed.wait()
                    continue
                first = self._queue[0] if self._rank is None else min(self._queue, key=self._first_rank)
                coming = (self._coming is not None and self._coming() > 0) or (
                    self.wait_running and self.running_besides(first.origin) > 0)
                gather = max(self.gather_s, self.wait_coming_s) if coming else self.gather_s
                left = first.arrived + gather - time.monotonic()
                most = self.max_batch if self._limit is None else min(self.max_batch, self._limit(first.key))
                if self._closed or left <= 0 or self._count(first.key) >= most:
                    break
                self._changed.wait(left)
            batch: list[_Item[T, R]] = []
            kept: deque[_Item[T, R]] = deque()
            for item in self._queue:
                (batch if item.key == first.key and len(batch) < most else kept).append(item)
            self._queue = kept
            return batch

    def _first_rank(self, item: _Item[T, R]) -> int:
        assert self._rank is not None
        return self._rank(item.key)

    def _count(self, key: Hashable) -> int:
        return sum(1 for item in self._queue if item.key == key)

    def _deliver(self, batch: list[_Item[T, R]]) -> None:
        self.batches.append(len(batch))
        try:
            results = self._run([item.value for item in batch])
            if len(results) != len(batch):
                raise RecognizerError(f"a batch of {len(batch)} gave {len(results)} results")
        except Exception as exc:  # routed to the callers below
            if len(batch) == 1:
                batch[0].result.set_exception(exc)
                return
            # Decode each alone: only the item that fails gets an error.
            log.warning("a batch of %d failed (%s): decoding them one by one", len(batch), exc)
            for item in batch:
                self._deliver([item])
            return
        for item, result in zip(batch, results, strict=True):
            item.result.set_result(result)


# ----- CTranslate2 Whisper ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encode:
    """One utterance's ``encode`` call."""

    features: Any  # a CTranslate2 StorageView of shape (1, mel bins, frames)
    options: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Generate:
    """One utterance's ``generate`` call: its encoder output, prompt and options."""

    encoded: Any  # a CTranslate2 StorageView of shape (1, frames, width)
    prompt: tuple[int, ...]
    max_length: int
    options: tuple[tuple[str, Any], ...]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class BatchedWhisper:
    """A CTranslate2 ``Whisper`` model whose one-utterance ``generate`` calls are batched across threads.

    Stands in for ``WhisperModel.model`` (faster-whisper); every attribute but ``encode`` and ``generate`` is
    the model's. Encodings go through the same owner threads, one at a time, after the decodings waiting:
    an utterance already encoded is finished before another is started. (Left to CTranslate2's own queue,
    ten callers' encodings ran before the first decoding, and every caller got its result at the end of the
    burst instead of one after the other; and decodings rarely met in a batch.)
    """

    def __init__(self, model: Any, *, max_batch: int = MAX_BATCH, gather_s: float = 0.0,
                 max_queue: int = MAX_QUEUE, lanes: int = 1) -> None:
        self._model = model
        self._encoding = 0  # encoder calls under way: their decodings will come to the batcher next
        self._lock = threading.Lock()
        self.batcher: Batcher[_Encode | _Generate, Any] = Batcher(
            self._run, self._key, max_batch=max_batch, gather_s=gather_s, max_queue=max_queue, lanes=lanes,
            coming=self._coming, wait_running=True, rank=_rank, limit=_limit, name="whisper-batch")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _coming(self) -> int:
        """Encodings under way: their decodings come next. The batches being run count too (a 5-best is
        followed by the greedy check; ``wait_running``), except a caller's own: with neither, a lone caller's
        call goes at once (no gathering window: ``gather_s`` 0), also while its other decodings run."""
        return self._encoding

    def encode(self, features: Any, **options: Any) -> Any:
        """``Whisper.encode`` of one utterance, on an owner thread once no decoding is waiting."""
        if not _is_encoded(features) or features.shape[0] != 1:
            return self._model.encode(features, **options)
        return self.batcher(_Encode(features, tuple(sorted(options.items()))))

    def generate(self, encoded: Any, prompts: Sequence[Sequence[int]], *, max_length: int = 448,
                 asynchronous: bool = False, **options: Any) -> list[Any]:
        """``Whisper.generate``; a call with one prompt over one encoder output goes into a batch.

        ``asynchronous``: as CTranslate2's, the result's ``result()`` waits for it (here a future).
        """
        if len(prompts) != 1 or not _is_encoded(encoded) or encoded.shape[0] != 1:
            return list(self._model.generate(encoded, prompts, max_length=max_length, asynchronous=asynchronous,
                                             **options))
        item = _Generate(encoded, tuple(prompts[0]), max_length,
                         tuple(sorted((k, _hashable(v)) for k, v in options.items())))
        return [self.batcher.submit(item) if asynchronous else self.batcher(item)]

    def close(self) -> None:
        self.batcher.close()

    @staticmethod
    def _key(item: _Encode | _Generate) -> Hashable:
        if isinstance(item, _Encode):
            return "encode", tuple(item.features.shape[1:]), item.options
        return "generate", tuple(item.encoded.shape[1:]), item.prompt, item.options

    def _run(self, items: Sequence[_Encode | _Generate]) -> list[Any]:
        first = items[0]
        if isinstance(first, _Encode):
            # Counted while it runs: its decoding comes next, worth a short wait by a batch of the same node.
            with self._lock:
                self._encoding += 1
            try:
                if len(items) == 1:
                    return [self._model.encode(first.features, **dict(first.options))]
                stacked = _stacked([item.features for item in items])  # type: ignore[union-attr]
                encoded = np.asarray(self._model.encode(stacked, **dict(first.options)))
                return [storage_view(encoded[i:i + 1]) for i in range(len(items))]
            finally:
                with self._lock:
                    self._encoding -= 1
                self.batcher.poke()
        return self._generate_batch(items)  # type: ignore[arg-type]  # a key holds one kind

    def _generate_batch(self, items: Sequence[_Generate]) -> list[Any]:
        first = items[0]
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in first.options}
        # Stacked on the CPU (tiny.en: 0.75 MB per 10 s window).
        encoded = first.encoded if len(items) == 1 else _stacked([item.encoded for item in items])
        return list(self._model.generate(encoded, [list(item.prompt) for item in items],
                                         max_length=max(item.max_length for item in items), **options))


def _rank(key: Hashable) -> int:
    """Decodings before encodings: an utterance already encoded finishes before another one starts."""
    return 1 if isinstance(key, tuple) and key[0] == "encode" else 0


def _limit(key: Hashable) -> int:
    if isinstance(key, tuple) and key[0] == "encode":
        return ENCODE_BATCH if key[1][-1] <= ENCODE_BATCH_FRAMES else 1
    return MAX_BATCH


def storage_view(array: np.ndarray) -> Any:
    """A CTranslate2 storage of ``array`` (copied contiguous, on the CPU)."""
    return import_engine("ctranslate2", "faster-whisper", "faster-whisper").StorageView.from_array(
        np.ascontiguousarray(array))


def _stacked(storages: Sequence[Any]) -> Any:
    """One storage of the utterances' storages, along the batch dimension (copied on the CPU)."""
    return storage_view(np.concatenate([np.asarray(storage) for storage in storages]))


def _is_encoded(value: Any) -> bool:
    """A CTranslate2 storage of 3 dimensions: an encoder output, or features in ``encode`` (an array given to
    ``generate`` is encoded by it)."""
    return type(value).__name__ == "StorageView" and len(getattr(value, "shape", ())) == 3
