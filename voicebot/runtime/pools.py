"""Where a call's off-tick work runs: the executor policy injected into every call.

A call has three kinds of work that must not run inside its 20 ms tick on a real-time line: prompt synthesis,
recognition (finishing and previewing utterances) and session steps (engine, records, data actions, and the
ACD port's writes: enqueue, cancel, complete, requeue). On the
SIP endpoint each kind goes to a small pool shared by every call (:meth:`Executors.shared`); on virtual time
(the simulator, fast tests) everything runs inline, at the same points, so simulated calls are deterministic
(:meth:`Executors.inline`). The call never asks which clock it runs on: it is given one of these.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from voicebot.runtime.serial_work import run_now

P = ParamSpec("P")
T = TypeVar("T")

SYNTH_WORKERS = 2  # one per core: synthesis is CPU-bound, more threads would only add contention
RECOGNITION_WORKERS = 2  # likewise for decoding utterances (the engines release the GIL while they decode)
SESSION_WORKERS = 6  # engine steps and database writes: mostly waiting on I/O, shared by every call

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _shared_pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        return pool


def synthesis_pool() -> ThreadPoolExecutor:
    """The process-wide pool that renders dynamic prompts for every call (created on first use)."""
    return _shared_pool("prompt-synth", SYNTH_WORKERS)


def session_pool() -> ThreadPoolExecutor:
    """The process-wide pool that runs every call's session work, each call in order (created on first use)."""
    return _shared_pool("session", SESSION_WORKERS)


def recognition_pool(workers: int = RECOGNITION_WORKERS) -> ThreadPoolExecutor:
    """The process-wide pool that finishes (and previews) every call's utterances (created on first use).

    ``workers``: a recognizer that batches utterances across calls needs more of them in flight than it has
    cores (its ``parallel_jobs``, see :mod:`voicebot.asr.batching`); one pool per size.
    """
    return _shared_pool("recognize" if workers == RECOGNITION_WORKERS else f"recognize{workers}", workers)


class InlineExecutor(Executor):
    """Runs each job at once on the caller's thread; the future it returns is already done."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return run_now(lambda: fn(*args, **kwargs))


INLINE = InlineExecutor()


@dataclass(frozen=True)
class Executors:
    """The executor of each kind of a call's off-tick work."""

    synthesis: Executor
    recognition: Executor
    session: Executor
    #: The ACD port's database writes (enqueue, cancel, complete, requeue); None: on the session pool.
    acd_writes: Executor | None = None

    @classmethod
    def shared(cls, recognition_workers: int = RECOGNITION_WORKERS) -> Executors:
        """Real time: the process-wide pools (created on first use)."""
        return cls(synthesis_pool(), recognition_pool(recognition_workers), session_pool())

    @classmethod
    def inline(cls, **overrides: Executor) -> Executors:
        """Virtual time: everything at once, in the tick that asked for it (``overrides`` replace some)."""
        return cls(**{"synthesis": INLINE, "recognition": INLINE, "session": INLINE, **overrides})


def submit(executor: Executor, job: Callable[[], Any]) -> Future[Any]:
    """``executor.submit(job)``, or run it here when the pool is shut down (interpreter exit) rather than drop it."""
    try:
        return executor.submit(job)
    except RuntimeError:
        return run_now(job)
