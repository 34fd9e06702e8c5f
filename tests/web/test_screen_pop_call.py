"""Issue 10's "Shown by", for real: ``voicebot serve``'s parts in-process (the SIP server with the live ACD, and
the console started beside it as ``serve`` starts it) and the console in Debian's chromium.

- A sipp caller who is a known customer keys the balance and their PIN, then says "agent"; the agent's SIP phone
  (baresip, answered by hand) rings while the screen pop shows who, why and what was verified; answering the
  phone turns the pop into the live call (no click on Accept); the agent writes the ticket; it is stored with
  the call.
- The supervisor's page follows a real caller who waits (nobody available) and hangs up: waiting, the longest
  wait growing, then the abandon, without a reload.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from tests.telephony.harness import SIPP, free_udp_ports, voicebot_server, wait_for
from tests.telephony.test_live_queue import start_caller
from tests.web.browser import click, present, text_of
from tests.web.browser import wait_for as browser_wait
from tests.web.conftest import PASSWORD
from tests.web.test_browser import save, sign_in
from voicebot.telephony.demo_caller import keyed

pytestmark = pytest.mark.integration

BARESIP = shutil.which("baresip")
CALLER = "+15550100001"  # Alice Johnson of the demo bank (voicebot/storage/seed.py), PIN 1234
PCAPS = Path("/usr/share/sip-tester")

CONFIG = """
acd:
  live:
    enabled: true
    first_announcement_seconds: 2
    callback_uri: "sip:{number}@127.0.0.1:9"
  queues:
    general:
      skills: [banking]
      offer_timeout_seconds: 40
      wrap_up_seconds: 60
      sticky_agent_seconds: 0
web:
  port: 0
  secret: screen-pop-test
  push_seconds: 0.3
  heartbeat_seconds: 1
"""

#: The caller: key 1 (balance) over the greeting, the PIN by RFC 2833, "agent" said over the balance read-out
#: (barge-in), then on hold and talking until the BYE after ``stay_ms``.
SCRIPT = """  <pause milliseconds="2500"/>
  <nop><action><exec play_pcap_audio="{pcaps}/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="4000"/>
""" + keyed("1234") + """
  <pause milliseconds="{ask_after_ms}"/>
  <nop><action><exec rtp_stream="{ask},1,0"/></action></nop>
  <pause milliseconds="{stay_ms}"/>
"""


def caller_scenario_file(folder: Path, ask_after_ms: int, stay_ms: int) -> Path:
    from voicebot.telephony.demo import write_speech
    from voicebot.telephony.demo_caller import caller_scenario

    ask = folder / "agent.ulaw"
    write_speech(ask, "agent")
    text = caller_scenario("screen_pop_caller", "A known caller keys the balance and the PIN, says agent, talks, "
                           "hangs up.", SCRIPT, CALLER, "Test Caller", hangs_up=True)
    for key, value in {"pcaps": str(PCAPS), "ask": str(ask), "ask_after_ms": str(ask_after_ms),
                       "stay_ms": str(stay_ms)}.items():
        text = text.replace("{" + key + "}", value)
    path = folder / "caller.xml"
    path.write_text(text, encoding="ISO-8859-1")
    return path


def call_with(scenario: Path, sip_port: int, cwd: Path, timeout: float = 90) -> subprocess.Popen[str]:
    assert SIPP is not None
    return subprocess.Popen(
        [SIPP, f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", "1000", "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-l", "1", "-nostdin",
         "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Phone:
    """The agent's desk phone: baresip that rings and is answered by hand (``answer()``: its /accept)."""

    def __init__(self, folder: Path) -> None:
        from voicebot.audio.pcm import write_wav
        from voicebot.telephony.demo_agent import BARESIP_CONFIG

        assert BARESIP is not None
        folder.mkdir(parents=True, exist_ok=True)
        voice = folder / "agent.wav"  # 60 s of a quiet tone: the agent's microphone (aufile ends the call at EOF)
        t = np.arange(60 * 8000) / 8000
        write_wav(voice, (800 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 8000)
        sip_port, rtp_low = free_udp_ports(1), free_udp_ports(4)
        (folder / "config").write_text(BARESIP_CONFIG.format(sip_port=sip_port, wav=voice, rtp_low=rtp_low,
                                                             rtp_high=rtp_low + 3))
        (folder / "accounts").write_text(
            f"<sip:alice@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU;answermode=manual\n")
        (folder / "contacts").write_text("")
        self.log = folder / "baresip.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen([BARESIP, "-f", str(folder), "-t", "120"], stdin=subprocess.PIPE,
                                     stdout=self._out, stderr=subprocess.STDOUT, text=True)
        self.uri = f"sip:alice@127.0.0.1:{sip_port}"

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.command("/quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._out.close()


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    """``voicebot serve``'s parts in-process: the SIP server with the live ACD, and the console started beside it
    exactly as ``serve`` starts it (``start_beside_serve``: its own engine on the same database, the reconciler
    and webhook threads running)."""
    if SIPP is None or BARESIP is None:
        pytest.skip("sipp (sip-tester) and baresip (baresip-core) are needed")
    if shutil.which("flite") is None:
        pytest.skip("flite synthesizes the caller's speech")
    from voicebot.web.server import start_beside_serve

    config = tmp_path / "voicebot.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("VOICEBOT_CONFIG", str(config))
    monkeypatch.setenv("VOICEBOT_NODE", f"test-{tmp_path.name}")
    with voicebot_server(tmp_path / "data") as (srv, services):
        assert srv.dispatcher is not None, "acd.live.enabled starts the dispatcher"
        web = start_beside_serve(config, services.bus)
        assert web is not None
        try:
            yield srv, services, f"http://127.0.0.1:{web.port}"
        finally:
            web.stop()



def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out[-3000:]


def test_a_sipp_caller_says_agent_and_the_agent_answers_the_phone_sees_the_pop_and_closes_the_ticket(
        serve: Any, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from voicebot.storage.acd_models import QueueEntry
    from voicebot.storage.db import session_scope
    from voicebot.storage.web_models import Ticket

    srv, services, site = serve
    events: list[Any] = []
    srv.on_event = lambda _sip_id, event: events.append(event)
    acd = srv.dispatcher.service
    phone = Phone(tmp_path / "phone")
    caller = None
    try:
        acd.agents.add("alice", PASSWORD, name="Alice Agent", sip_uri=phone.uri, skills={"banking": 5},
                       now=acd.now())
        sign_in(browser, site, "alice")
        click(browser, "#go-available")
        browser_wait(browser, lambda d: text_of(d, "#agent-state") == "Available")
        browser.execute_script("window.sameDocument = true")  # gone if the page were reloaded

        # The caller hangs up 15 s after saying "agent": time for the pop to be read and the phone answered,
        # and several seconds of live call (the console follows it at push_seconds).
        scenario = caller_scenario_file(tmp_path, ask_after_ms=3000, stay_ms=15000)
        caller = call_with(scenario, srv.sip_port, tmp_path)
        # The IVR: balance, PIN, "agent" (barging in on the balance); the caller queues and alice's phone rings:
        # the pop is on her screen, over server-sent events, while the phone rings.
        browser_wait(browser, lambda d: present(d, "#offer"), timeout=40)
        # The phone said it rings (180: the caller's ringing phase), and nobody has answered it yet.
        assert wait_for(lambda: "offered" in [e.kind for e in events], 10), [e.kind for e in events]
        assert "Incoming call" in phone.output() and "bridged" not in [e.kind for e in events]
        assert "Alice Johnson" in text_of(browser, "#pop-name") and "VIP" not in text_of(browser, "#pop-name")
        assert text_of(browser, "#pop-intent").startswith("speak to agent")
        assert text_of(browser, "#pop-auth") == "Verified by pin"
        assert "●●●● verified input" in text_of(browser, "#pop-slots")
        assert "1234" not in browser.page_source  # the PIN keyed by the caller is never on the page
        assert present(browser, "#pick-up") and not present(browser, "#accept")  # the phone's answer accepts
        assert browser.execute_script("return window.sameDocument") is True  # the pop came over SSE
        save(browser, "console-screen-pop.png", docs=True)

        # Alice answers her phone, not the page: the pop turns into the live call by itself (no click on Accept).
        phone.command("/accept")
        assert wait_for(lambda: "bridged" in [e.kind for e in events], 15), [e.kind for e in events]
        browser_wait(browser, lambda d: "/agent/calls/" in d.current_url and present(d, "#call-name"), timeout=15)
        assert "Alice Johnson" in text_of(browser, "#call-name") and "1234" not in browser.page_source
        browser.find_element(By.ID, "notes").send_keys("Explained the balance; wants a higher card limit.")
        browser.find_element(By.ID, "tags").send_keys("balance, limit")
        Select(browser.find_element(By.ID, "disposition")).select_by_visible_text("follow-up")
        browser.find_element(By.ID, "close-ticket").click()
        browser_wait(browser, lambda d: "Ticket closed" in text_of(d, "#message"))
        save(browser, "console-call.png", docs=True)

        code, out = finish(caller, 60)
        assert code == 0, out
        # The caller hung up: alice is in wrap-up, and the page says so by itself.
        browser_wait(browser, lambda d: "wrap-up:" in text_of(d, "#wrap-timer"), timeout=15)
    finally:
        if caller is not None and caller.poll() is None:
            caller.kill()
            caller.wait()
        phone.stop()
    assert wait_for(lambda: len(srv.results) == 1, 10)
    result = srv.results[0]
    record = services.store.get_call(result.call_id)
    assert record is not None and record.agent == "alice" and record.outcome == "answered"
    assert record.authenticated
    with session_scope(services.engine) as session:
        ticket = session.exec(select(Ticket)).one()
        entry = session.exec(select(QueueEntry).where(QueueEntry.call_id == result.call_id)).one()
    assert (ticket.call_id, ticket.agent, ticket.disposition, ticket.tags, ticket.status) == (
        result.call_id, "alice", "follow-up", ["balance", "limit"], "closed")
    assert entry.status == "completed" and entry.answered_at is not None


def _seconds(shown: str) -> int:
    minutes, seconds = shown.split(":")[-2:]
    return int(minutes) * 60 + int(seconds)


def _abandoned(driver: Any, queue: str) -> str:
    """The queue tile's "answered / abandoned today" figures."""
    return str(driver.execute_script(
        "const dts = document.querySelectorAll(`#queue-${arguments[0]} dt`);"
        "for (const dt of dts) { if (dt.innerText.startsWith('Answered')) return dt.nextElementSibling.innerText; }"
        "return '';", queue)).strip()


def test_the_supervisor_sees_a_real_caller_wait_and_abandon_live(serve: Any, browser: Any, tmp_path: Path) -> None:
    """No agent is available: a sipp caller asks for an agent (key 0) and waits on hold; the open supervisor page
    shows them waiting, the longest wait growing, then the abandon when they hang up, all without a reload."""
    srv, _services, site = serve
    acd = srv.dispatcher.service
    acd.agents.add("sue", PASSWORD, name="Sue Supervisor", skills={}, now=acd.now(), role="supervisor")
    sign_in(browser, site, "sue")
    assert browser.current_url.endswith("/supervisor")
    assert text_of(browser, "#waiting-general") == "0" and _abandoned(browser, "general") == "0 / 0"
    browser.execute_script("window.sameDocument = true")  # gone if the page were reloaded
    caller = start_caller(srv.sip_port, tmp_path, talk_after_ms=0)  # key 0 at 2.5 s, hangs up about 8 s later
    try:
        browser_wait(browser, lambda d: text_of(d, "#waiting-general") == "1", timeout=20)
        browser_wait(browser, lambda d: _seconds(text_of(d, "#longest-general")) >= 1, timeout=10)
        first = _seconds(text_of(browser, "#longest-general"))
        browser_wait(browser, lambda d: _seconds(text_of(d, "#longest-general") or "0:00") > first, timeout=10)
        assert "Alice Johnson" in text_of(browser, "#waiting")
        code, out = finish(caller, 40)
        assert code == 0, out
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    browser_wait(browser, lambda d: text_of(d, "#waiting-general") == "0" and _abandoned(d, "general") == "0 / 1",
                 timeout=15)
    assert "nobody is waiting" in text_of(browser, "#waiting")
    assert browser.execute_script("return window.sameDocument") is True  # all of it over SSE, no reload
