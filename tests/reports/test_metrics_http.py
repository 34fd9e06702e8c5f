"""/metrics over real HTTP (uvicorn on loopback, as the web app serves it), fed by the composition root:
calls made by ``Services.new_call`` on the services' event bus, queued through a real AcdService."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.reports.scenario import ACD, ROOT, T0, ServiceAcd
from voicebot.acd.config import parse_acd
from voicebot.acd.service import AcdService
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.metrics import for_services, metrics_app
from voicebot.runtime.app import open_services
from voicebot.runtime.call import Call
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.pools import Executors
from voicebot.storage.seed import seed_demo
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

uvicorn = pytest.importorskip("uvicorn")

pytestmark = pytest.mark.integration


def get(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        body = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_scraped_over_http_while_composition_root_calls_are_in_the_ivr_and_queued(tmp_path: Path) -> None:
    services = open_services(database_url=f"sqlite:///{tmp_path / 'vb.db'}", spool_dir=tmp_path / "spool")
    seed_demo(services.engine)
    services.use_prompts(PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE))
    clock = ManualClock(T0)
    acd = AcdService(services.engine, parse_acd(ACD), clock=clock.now, node="test")
    services.acd = ServiceAcd(acd)
    metrics = for_services(services.bus, acd, sip=False, errors=False)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        # What the web app does: /metrics mounted on its port.
        if scope["type"] == "http" and scope["path"].startswith("/metrics"):
            await metrics_app(metrics)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        flow = services.load(ROOT / "flows" / "banking.yaml")

        def call() -> Call:
            made = services.new_call(flow, recognizer=FakeRecognizer(), clock=clock, executors=Executors.inline())
            made.start("+15550100001", "+18005550100")
            return made

        queued, browsing = call(), call()
        queued.tick(None, "0")
        for _ in range(3000):
            if queued.phase == "queued":
                break
            queued.tick(None)
            browsing.tick(None)
            clock.advance(0.02)
        assert queued.phase == "queued" and browsing.phase == "ivr"
        clock.advance(7)
        s = get(port)
        assert s[("voicebot_calls_active", frozenset({("phase", "queued")}))] == 1
        assert s[("voicebot_calls_active", frozenset({("phase", "ivr")}))] == 1
        assert s[("voicebot_queue_depth", frozenset({("queue", "general")}))] == 1
        assert s[("voicebot_queue_longest_wait_seconds", frozenset({("queue", "general")}))] >= 7
        queued.hang_up()
        browsing.hang_up()
        s = get(port)
        assert s[("voicebot_calls_active", frozenset({("phase", "queued")}))] == 0
        assert s[("voicebot_queue_depth", frozenset({("queue", "general")}))] == 0
        assert s[("voicebot_calls_ended_total", frozenset({("outcome", "handoff")}))] == 1
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
    finally:
        server.should_exit = True
        thread.join(10)
        metrics.close()
        services.engine.dispose()
