"""What the caller hears: one call's prompt audio (and hold audio), 20 ms at a time.

Prompts are queued in order as texts or ready audio. Text that is not already cached is synthesized off the
tick on the injected synthesis executor, sentence by sentence, into the call's queue; the tick only takes
what is ready (silence until the first sentence arrives). Order is kept across sentences and prompts (each
call has an ordered lane on the shared pool); barge-in (:meth:`Playout.cancel`) clears the queue and cancels
synthesis not yet started. With an inline executor (virtual time) synthesis happens when the prompt is queued.

Each prompt has a number; :meth:`Playout.was_played` tells whether it played to its end (not cut by barge-in),
which is what decides whether a caller heard their answer. Hold audio loops under nothing else: it plays
whenever no prompt is queued, until :meth:`Playout.stop_hold`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from voicebot.audio.pcm import PHONE_RATE, frame_samples
from voicebot.runtime.serial_work import SerialWork
from voicebot.tts.cache import PromptCache

log = logging.getLogger("voicebot.playout")

FRAME = frame_samples(PHONE_RATE)


@dataclass(frozen=True)
class PromptEnd:
    """Marks, in the queue, the end of prompt number ``seq``: reaching it means the prompt played in full."""

    seq: int
    node: str = ""


Item = np.ndarray | PromptEnd


class PromptQueue:
    """One call's prompt audio in order: texts waiting to be synthesized, audio made ready by a worker.

    Items are texts (synthesized on the executor, one sentence at a time), ready arrays (recorded or cached
    audio queued behind a prompt still being made) and :class:`PromptEnd` markers. They are rendered on the
    call's ordered lane of the executor (:class:`SerialWork`), so order holds. ``cancel`` (barge-in, hang-up)
    drops everything queued; a sentence already being synthesized is finished by its worker but discarded.
    """

    def __init__(self, prompts: PromptCache, executor: Executor) -> None:
        self.prompts = prompts
        self._lane = SerialWork(executor)
        self._lock = threading.Lock()
        self._ready: deque[Item] = deque()
        self._generation = 0  # items put before the last cancel() belong to an older one and are dropped
        self.failed = 0

    def put(self, item: str | np.ndarray | PromptEnd) -> None:
        """Queue behind everything before it (through the lane, even ready audio, to keep the order)."""
        with self._lock:
            generation = self._generation
        self._lane.submit(lambda: self._render(item, generation))

    def put_ready(self, item: np.ndarray | PromptEnd) -> None:
        """Queue ready audio: straight to the ready side when nothing is being made, else behind it."""
        with self._lock:
            if self._lane.idle:
                self._ready.append(item)
                return
        self.put(item)

    @property
    def pending(self) -> bool:
        with self._lock:
            ready = bool(self._ready)
        return ready or not self._lane.idle

    def take(self) -> Item | None:
        with self._lock:
            return self._ready.popleft() if self._ready else None

    def take_ends(self) -> list[PromptEnd]:
        """The end markers at the head of the queue (the prompts before them have been taken in full)."""
        ends: list[PromptEnd] = []
        with self._lock:
            while self._ready and isinstance(self._ready[0], PromptEnd):
                ends.append(self._ready.popleft())  # type: ignore[arg-type]
        return ends

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1
            self._ready.clear()

    def _render(self, item: str | np.ndarray | PromptEnd, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
        chunks: Iterable[Item] = self.prompts.stream(item) if isinstance(item, str) else (item,)
        try:
            for chunk in chunks:
                with self._lock:
                    if generation != self._generation:
                        break
                    self._ready.append(chunk)
        except Exception:
            log.exception("prompt synthesis failed: %r", item)
            self.failed += 1


class Playout:
    def __init__(self, prompts: PromptCache, executor: Executor) -> None:
        self.prompts = prompts
        self.queue = PromptQueue(prompts, executor)
        self.barge_in = True  # whether the prompt queued last may be interrupted
        self.queued_seq = 0  # the number of the last prompt queued
        self.chunk_started = False  # set by next_frame() when a new piece of prompt audio began in that frame
        self._played: set[int] = set()
        self._head = 1  # the number of the prompt at the head of the queue (the one playing, or next)
        self._head_started = False  # some of the head prompt's audio has been played
        self._playing: np.ndarray | None = None
        self._pos = 0
        self._hold: np.ndarray | None = None
        self._hold_pos = 0

    # ----- queueing ------------------------------------------------------------------------------

    def say(self, text: str, node: str = "", barge_in: bool = True) -> int:
        """Queue a prompt by its text (cached audio at once, else synthesized off the tick); its number."""
        self.barge_in = barge_in
        cached = self.prompts.get(text)
        if cached is not None:
            self.queue.put_ready(cached)
        else:
            self.queue.put(text)
        return self._end(node)

    def play(self, audio: np.ndarray, node: str = "", barge_in: bool = True) -> int:
        """Queue ready audio (a recorded prompt at phone rate) behind what is queued; its number."""
        self.barge_in = barge_in
        self.queue.put_ready(audio)
        return self._end(node)

    def _end(self, node: str) -> int:
        self.queued_seq += 1
        self.queue.put_ready(PromptEnd(self.queued_seq, node))
        return self.queued_seq

    def cancel(self) -> int | None:
        """Barge-in or hang-up: drop what is playing and queued (hold audio, if any, goes on).

        Returns the number of the prompt whose audio was being played (heard in part), if one was."""
        cut = self._head if self._head_started else None
        self.queue.cancel()
        self._playing = None
        self._pos = 0
        self._head, self._head_started = self.queued_seq + 1, False
        return cut

    def hold(self, clip: np.ndarray) -> None:
        """Loop ``clip`` whenever no prompt plays, until :meth:`stop_hold`."""
        if len(clip) == 0:
            raise ValueError("hold audio is empty")
        self._hold, self._hold_pos = clip, 0

    def stop_hold(self) -> None:
        self._hold = None

    # ----- state ---------------------------------------------------------------------------------

    @property
    def speaking(self) -> bool:
        """A prompt is playing or queued (hold audio does not count: it is not something to listen after)."""
        return self._playing is not None or self.queue.pending

    @property
    def holding(self) -> bool:
        return self._hold is not None

    def was_played(self, seq: int) -> bool:
        """Prompt ``seq`` played to its end."""
        return seq in self._played

    @property
    def played(self) -> list[int]:
        return sorted(self._played)

    # ----- output --------------------------------------------------------------------------------

    def next_frame(self) -> tuple[np.ndarray, list[PromptEnd]]:
        """One frame of audio, and the prompts that finished playing in it."""
        out = np.zeros(FRAME, dtype=np.int16)
        finished: list[PromptEnd] = []
        filled = 0
        self.chunk_started = False
        while filled < FRAME:
            if self._playing is None:
                self._reached_ends(finished)
                item = self.queue.take()
                if item is None:
                    break
                assert not isinstance(item, PromptEnd)
                self._playing, self._pos = item, 0
                self.chunk_started = self._head_started = True
            take = min(FRAME - filled, len(self._playing) - self._pos)
            out[filled:filled + take] = self._playing[self._pos:self._pos + take]
            filled += take
            self._pos += take
            if self._pos >= len(self._playing):
                self._playing = None
        if self._playing is None:
            self._reached_ends(finished)  # a prompt that ended with this frame is over now, not a frame later
            if filled < FRAME and self._hold is not None and not self.queue.pending:
                self._fill_hold(out, filled)
        return out, finished

    def _reached_ends(self, finished: list[PromptEnd]) -> None:
        for end in self.queue.take_ends():
            self._played.add(end.seq)
            finished.append(end)
            self._head, self._head_started = end.seq + 1, False

    def _fill_hold(self, out: np.ndarray, filled: int) -> None:
        clip = self._hold
        assert clip is not None
        while filled < FRAME:
            take = min(FRAME - filled, len(clip) - self._hold_pos)
            out[filled:filled + take] = clip[self._hold_pos:self._hold_pos + take]
            filled += take
            self._hold_pos = (self._hold_pos + take) % len(clip)
