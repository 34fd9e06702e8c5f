"""The ACD's reconciler, run by the console process too.

Presence leases lapse and offers expire whether or not a SIP node is up: an agent who closed the tab must be
logged out and the caller whose offer they left ringing put back in line. ``reconcile()`` is idempotent and
one claim transaction, so running it here as well as in ``voicebot serve`` is safe (docs/acd.md).
"""

from __future__ import annotations

import logging
import threading

from voicebot.acd.service import AcdService

log = logging.getLogger("voicebot.web")


class Reconciler:
    def __init__(self, acd: AcdService, interval_seconds: float) -> None:
        self.acd = acd
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voicebot-web-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.acd.reconcile()
            except Exception:  # a database hiccup must not end the loop: log it, try again next time
                log.exception("ACD reconciler")
