"""The start-up lines of ``voicebot serve``: what an operator checks first when calls do not arrive."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicebot.telephony.server import VoicebotServer

log = logging.getLogger("voicebot.serve")


def log_startup(server: VoicebotServer, version: str) -> None:
    sip = server.settings.sip
    services = server.services
    log.info("voicebot %s listening: SIP %s:%d/udp (%s mode), RTP %d-%d, at most %d calls", version, sip.host,
             server.sip_port, sip.mode, sip.rtp_port_low, sip.rtp_port_high, sip.max_calls)
    if sip.mode == "register":
        log.info("registering as %s at %s:%d", sip.username, sip.registrar_host, sip.registrar_port)
    routes = ", ".join(f"{number} -> {path}" for number, path in sorted(sip.flows.items()))
    log.info("flows: default %s%s", sip.default_flow, f"; {routes}" if routes else "")
    log.info("speech: recognizer %s; prompts cached in %s", server.recognizer.name, server.prompts.directory)
    url = services.engine.url.render_as_string(hide_password=True)
    log.info("database: %s; spool %s (replayed at start and every 30 s); configuration: %s", url,
             services.store.spool_dir, services.config.source)
