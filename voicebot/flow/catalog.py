"""Flow reload for a running server (SIGHUP or ``voicebot reload``): all or nothing, calls keep their flow.

Every flow the server answers with is compiled again from its file. If any fails to compile, nothing
changes (the errors are logged, one line each, and the old flows keep answering). Otherwise the new set
replaces the old in one assignment: a call looks its flow up once, when it starts, so calls in progress
finish on the version they started with and the next call gets the new one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voicebot.flow.errors import FlowError

if TYPE_CHECKING:
    from voicebot.telephony.server import VoicebotServer

log = logging.getLogger("voicebot.reload")

_reloading = threading.Lock()


@dataclass
class ReloadReport:
    ok: bool
    flows: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def reload_flows(server: VoicebotServer) -> ReloadReport:
    """Recompile the server's flows and swap them in, or keep the old ones if any has an error."""
    from voicebot.runtime.speech import grammars_of, prepare_recognizer
    from voicebot.tts.prompts import static_prompts

    with _reloading:  # two SIGHUPs in a row: one reload after the other, never interleaved
        sip = server.settings.sip
        paths: set[Path] = {sip.default_flow, *sip.flows.values()}
        try:
            fresh = {path: server.services.load(path) for path in sorted(paths)}
        except FlowError as exc:
            for issue in exc.issues:
                log.error("reload refused, flows unchanged: %s", issue)
            return ReloadReport(False, errors=[str(issue) for issue in exc.issues])
        for compiled in fresh.values():
            server.prompts.build(static_prompts(compiled))  # new prompts are ready before a call needs them
        known = {g for compiled in server.flows.values() for g in grammars_of(compiled)}
        if any(g not in known for compiled in fresh.values() for g in grammars_of(compiled)):
            prepare_recognizer(server.recognizer, fresh.values(), sip.max_calls)
        server.flows = fresh  # one assignment: a call starting now sees either the old set or the new one
        names = [f"{path} (version {compiled.flows[compiled.root].version})" for path, compiled in fresh.items()]
        log.info("flows reloaded: %s", ", ".join(names))
        return ReloadReport(True, flows=names)
