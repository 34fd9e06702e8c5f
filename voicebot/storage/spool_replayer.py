"""A background thread that writes spooled call records back once the database works again.

Whoever opens the call store for a long-running process (``voicebot serve``) starts one: it replays at
once (records spooled before a crash or restart) and then every ``interval`` seconds, so a call that was
spooled while the database was read-only, moved away or locked is complete in the database soon after
the database is back, without waiting for a restart.
"""

from __future__ import annotations

import logging
import threading

from voicebot.storage.calls import CallStore

log = logging.getLogger("voicebot.storage")

#: Seconds between two replays while running; a replay of an empty spool folder costs one directory read.
DEFAULT_INTERVAL = 30.0


class SpoolReplayer:
    """``start()`` replays in a daemon thread now and every ``interval`` seconds until ``stop()``."""

    def __init__(self, store: CallStore, interval: float = DEFAULT_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("the replay interval must be positive")
        self.store = store
        self.interval = interval
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SpoolReplayer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spool-replayer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a replay in progress finishes first, bounded by ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> SpoolReplayer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            try:
                replayed = self.store.replay_spool()
                if replayed:
                    log.info("spool: %d call(s) written back to the database", replayed)
            except Exception:  # a bug here must not end the thread: the next round tries again
                log.exception("spool replay failed")
            self.rounds += 1
            if self._stop.wait(self.interval):
                return
