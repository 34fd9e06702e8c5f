"""One call's jobs, run one after another on a shared thread pool (or at once, on virtual time).

A call's session work (engine steps, call-record writes, data actions) must keep its order, but must not run
on the call's 20 ms media tick: a database that is busy with another call's write, or a slow bank lookup,
would stop the call's audio. :class:`SerialWork` gives each call an ordered lane on a pool shared by all
calls, so twenty calls need a handful of threads, not twenty more.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class SerialWork:
    """Submitted jobs run in submission order, never two at once; ``executor`` None runs each one at once."""

    def __init__(self, executor: Executor | None) -> None:
        self.executor = executor
        self._lock = threading.Lock()
        self._todo: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._running = False

    def submit(self, job: Callable[[], Any]) -> Future[Any]:
        if self.executor is None:
            return run_now(job)
        future: Future[Any] = Future()
        # The job runs in the submitter's context, so the call's log fields (voicebot.logs) follow it.
        job = functools.partial(contextvars.copy_context().run, job)
        with self._lock:
            self._todo.append((job, future))
            if self._running:
                return future
            self._running = True
        try:
            self.executor.submit(self._drain)
        except RuntimeError:  # the pool is shut down (interpreter exit): run here rather than drop the work
            self._drain()
        return future

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._running and not self._todo

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._todo:
                    self._running = False
                    return
                job, future = self._todo.popleft()
            _run(job, future)


def run_now(job: Callable[[], T]) -> Future[T]:
    """Run ``job`` here and now; a future that is already done, with its result or its exception."""
    future: Future[T] = Future()
    _run(job, future)
    return future


def _run(job: Callable[[], Any], future: Future[Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(job())
    except BaseException as exc:  # handed to whoever takes the result (the call's tick re-raises it)
        future.set_exception(exc)
