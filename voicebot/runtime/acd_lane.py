"""The call's side of the ACD port, off the media tick: enqueue, cancel, complete and agent_dropped in order.

Each of these writes to the database (the queue entry, the agent, the call record). On a real-time line the call's
20 ms tick must never wait for them: a database busy with another node's claim, or a slow disk, would stop the
caller's audio. :class:`AcdLane` runs them one after another on the injected session executor
(:mod:`voicebot.runtime.pools`; at once on virtual time, so simulated calls stay deterministic). The ticket is
the future of ``enqueue``: later jobs wait for it in the lane, so a caller who hangs up before the enqueue has
finished is still cancelled, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future

from voicebot.actions import Handoff
from voicebot.runtime.ports import AcdPort, CallControl
from voicebot.runtime.serial_work import SerialWork

log = logging.getLogger("voicebot.call")


class AcdLane:
    def __init__(self, acd: AcdPort, executor: Executor, call_id: str) -> None:
        self.acd = acd
        self.call_id = call_id
        self._work = SerialWork(executor)
        self._ticket: Future[str] | None = None

    def enqueue(self, handoff: Handoff, call: CallControl) -> None:
        self._ticket = self._work.submit(lambda: self.acd.enqueue(self.call_id, handoff, call))

    @property
    def queued(self) -> bool:
        """An enqueue was asked for (and the entry was not turned into a callback since)."""
        return self._ticket is not None

    @property
    def ticket(self) -> str | None:
        """The ACD's ticket once the enqueue has finished (None before, or when it failed)."""
        future = self._ticket
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    @property
    def failure(self) -> BaseException | None:
        """Why the enqueue failed, once it has."""
        future = self._ticket
        return future.exception() if future is not None and future.done() else None

    def forget(self) -> None:
        """The entry became a callback: the caller leaving no longer cancels it."""
        self._ticket = None

    def cancel(self) -> None:
        self._then("cancel", self.acd.cancel)

    def complete(self, reason: str) -> None:
        self._then("complete", lambda ticket: self.acd.complete(ticket, reason))

    def agent_dropped(self) -> None:
        self._then("requeue", self.acd.agent_dropped)

    def _then(self, what: str, job: Callable[[str], None]) -> None:
        future = self._ticket
        if future is None:
            return

        def run() -> None:
            if future.exception() is not None:  # never queued: nothing to undo (the failure was logged)
                return
            ticket = future.result()
            try:
                job(ticket)
            except Exception:
                log.exception("call %s: the ACD failed to %s ticket %s", self.call_id, what, ticket)

        self._work.submit(run)
