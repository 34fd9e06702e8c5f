"""The live queue end to end over loopback (issue 9): a sipp caller asks for an agent (key 0), waits on hold,
voicebot rings the agent's phone (sipp as a UAS) with X-Voicebot-Handoff, bridges the two legs and relays
audio both ways at 20 ms; the caller hangs up and the agent's leg gets BYE. Also: an agent who never answers
then a second agent; a caller who hangs up while the agent rings (the agent leg is CANCELled); an agent who slips
right after answering (the caller goes back to the front) and one who hangs up after talking (the call ends);
a callback placed after a restart."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.telephony.harness import SCENARIOS, SIPP, free_udp_ports, voicebot_server, wait_for
from tests.telephony.test_outbound import SippAgent
from voicebot.acd.hold import hold, resume
from voicebot.acd.service import AcdService
from voicebot.runtime.call_events import Bridged, CallEvent, Enqueued, Offered
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import session_scope
from voicebot.web.transfer import transfer

pytestmark = pytest.mark.integration

CONFIG = """
acd:
  live:
    enabled: true
    first_announcement_seconds: 1
    callback_uri: "{callback_uri}"
  queues:
    general:
      skills: [banking]
      offer_timeout_seconds: {offer_timeout}
      wrap_up_seconds: 0
      sticky_agent_seconds: 0
      requeue_if_agent_leaves_within_seconds: {requeue_within}
    cards:
      skills: [cards]
      wrap_up_seconds: 0
  agents:
    missed_offer_break: true
"""


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    config = tmp_path / "voicebot.yaml"
    unused = "sip:{number}@127.0.0.1:9"  # no callbacks in these tests
    # param: the offer timeout, or a dict of CONFIG's fields
    param = getattr(request, "param", 4)
    given = param if isinstance(param, dict) else {"offer_timeout": param}
    fields = {"offer_timeout": 4, "requeue_within": 10, **given}
    config.write_text(CONFIG.format(callback_uri=unused, **fields))
    monkeypatch.setenv("VOICEBOT_CONFIG", str(config))
    monkeypatch.setenv("VOICEBOT_NODE", f"test-{tmp_path.name}")
    with voicebot_server(tmp_path / "data") as (srv, services):
        events: list[CallEvent] = []
        srv.on_event = lambda _sip_id, event: events.append(event)
        assert srv.dispatcher is not None, "acd.live.enabled starts the dispatcher"
        legs: list[Any] = []
        dial = srv.dispatcher.dial

        def keep(*args: Any) -> Any:
            leg = dial(*args)
            legs.append(leg)
            return leg

        srv.dispatcher.dial = keep
        yield srv, services, events, legs


def add_agent(acd: AcdService, login: str, uri: str, skill: str = "banking") -> None:
    acd.agents.add(login, "pw", name=login.title(), sip_uri=uri, skills={skill: 3}, now=acd.now())
    acd.agents.login(login, acd.now())


def start_caller(port: int, cwd: Path, talk_after_ms: int, timeout: float = 60,
                 scenario: str = "queue_caller.xml") -> subprocess.Popen[str]:
    assert SIPP is not None
    return subprocess.Popen(
        [SIPP, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-s", "1000", "-i", "127.0.0.1",
         "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-l", "1", "-nostdin",
         "-set", "talk_after", str(talk_after_ms), "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out[-3000:]


def settled(services: Any, call_id: str, *final: str) -> QueueEntry:
    """The call's entry once the call owner's last ACD write (off the media tick) has landed."""
    assert wait_for(lambda: entry_of(services, call_id).status in final, 5), entry_of(services, call_id).status
    return entry_of(services, call_id)


def entry_of(services: Any, call_id: str) -> QueueEntry:
    with session_scope(services.engine) as session:
        from sqlmodel import select

        return session.exec(select(QueueEntry).where(QueueEntry.call_id == call_id)).one()


def test_a_caller_waits_on_hold_and_is_bridged_to_the_agent_both_ways(live_server: Any, tmp_path: Path) -> None:
    srv, services, events, legs = live_server
    acd = srv.dispatcher.service
    agent = SippAgent("uas_agent.xml", tmp_path, timeout=60)
    try:
        add_agent(acd, "alice", agent.uri)
        caller = start_caller(srv.sip_port, tmp_path, talk_after_ms=9000)
        code, out = finish(caller)
        assert code == 0, out
        code, out = agent.result()
        assert code == 0, out  # the agent got the header, the ACK and our BYE when the caller hung up
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
    assert wait_for(lambda: len(srv.results) == 1, 10)
    result = srv.results[0]
    kinds = [type(e) for e in events]
    assert Enqueued in kinds and Offered in kinds and Bridged in kinds
    assert result.ended_by == "caller"
    # the relay: frames went to the agent and came back from them all through the conversation
    (leg,) = legs
    assert leg.outcome == "answered" and leg.ended
    bridged_ms = next(e.at_ms for e in events if isinstance(e, Bridged))
    assert leg.stats["tx_packets"] >= (result.ticks - bridged_ms // 20) - 5  # one frame to the agent per tick
    assert leg.stats["rx_packets"] > 200  # the agent's speech (sip-tester's g711a.pcap) came back
    # the ACD's record: answered by alice, then completed
    entry = settled(services, result.call_id, "completed")
    assert entry.answered_at is not None
    record = services.store.get_call(result.call_id)
    assert record is not None and record.agent == "alice" and record.outcome == "answered"
    assert record.talk_ms is not None and record.talk_ms > 5000
    # the recording: the caller's speech on the left while bridged, the agent's on the right
    assert result.recording is not None
    with wave.open(str(result.recording)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    talk = frames[bridged_ms * 8:]
    assert len(talk) > 8 * 5000
    assert np.abs(talk[:, 1]).max() > 1000  # the agent's voice
    assert np.abs(talk[:, 0]).max() > 1000  # the caller's voice


def agents(tmp_path: Path, *scenarios: str) -> list[SippAgent]:
    made = []
    for n, scenario in enumerate(scenarios):
        folder = tmp_path / f"agent{n}"
        folder.mkdir()
        made.append(SippAgent(scenario, folder, timeout=60))
    return made


def stop_all(*procs: SippAgent) -> None:
    for agent in procs:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


def test_an_agent_who_does_not_answer_is_skipped_and_the_next_agent_gets_the_caller(
        live_server: Any, tmp_path: Path) -> None:
    srv, services, events, legs = live_server
    acd = srv.dispatcher.service
    silent, answering = agents(tmp_path, "uas_no_answer.xml", "uas_agent.xml")
    try:
        add_agent(acd, "bob", silent.uri)  # logged in first: the longest idle, offered first
        add_agent(acd, "alice", answering.uri)
        code, out = finish(start_caller(srv.sip_port, tmp_path, talk_after_ms=14000))
        assert code == 0, out
        assert silent.result()[0] == 0  # bob's phone was CANCELled after the offer timeout (4 s)
        code, out = answering.result()
        assert code == 0, out
    finally:
        stop_all(silent, answering)
    assert wait_for(lambda: len(srv.results) == 1, 10)
    assert [leg.outcome for leg in legs] == ["no_answer", "answered"]
    offered = [e.agent for e in events if isinstance(e, Offered)]
    assert offered == ["bob", "alice"]
    record = services.store.get_call(srv.results[0].call_id)
    assert record is not None and record.agent == "alice" and record.outcome == "answered"
    bob = acd.agents.get("bob")
    assert bob.state == "break" and bob.state_reason == "missed offer"


@pytest.mark.parametrize("live_server", [15], indirect=True)
def test_a_caller_who_hangs_up_while_the_agent_rings_cancels_the_agent_leg(live_server: Any, tmp_path: Path) -> None:
    srv, services, _events, legs = live_server
    acd = srv.dispatcher.service
    (ringing,) = agents(tmp_path, "uas_no_answer.xml")
    try:
        add_agent(acd, "bob", ringing.uri)
        code, out = finish(start_caller(srv.sip_port, tmp_path, talk_after_ms=0))  # BYE about 4 s into ringing
        assert code == 0, out
        code, out = ringing.result()
        assert code == 0, out  # CANCEL, 487, ACK
    finally:
        stop_all(ringing)
    assert wait_for(lambda: len(srv.results) == 1, 10)
    (leg,) = legs
    assert leg.outcome == "cancelled"
    result = srv.results[0]
    assert result.ended_by == "caller"
    settled(services, result.call_id, "abandoned")
    record = services.store.get_call(result.call_id)
    assert record is not None and record.outcome == "abandoned_in_queue"
    assert acd.agents.get("bob").state == "available"  # never stuck in reserved


@pytest.mark.parametrize("live_server", [{"requeue_within": 2}], indirect=True)
def test_an_agent_who_slips_requeues_the_caller_and_one_who_hangs_up_after_talking_ends_the_call(
        live_server: Any, tmp_path: Path) -> None:
    srv, services, events, _legs = live_server
    acd = srv.dispatcher.service
    slipping, leaving = agents(tmp_path, "uas_agent_slip.xml", "uas_agent_hangs_up.xml")
    try:
        add_agent(acd, "carol", slipping.uri)  # answers, hangs up 0.5 s later: within the queue's 2 s
        caller = start_caller(srv.sip_port, tmp_path, talk_after_ms=0, scenario="queue_caller_until_bye.xml")
        assert wait_for(lambda: any(e.kind == "agent_dropped" for e in events), 30)
        acd.agents.logout("carol", acd.now())
        add_agent(acd, "dave", leaving.uri)  # talks 3 s, then hangs up: past the 2 s, the call is over
        code, out = finish(caller)
        assert code == 0, out  # the caller got voicebot's BYE (after the closing prompt) and answered it
        for agent in (slipping, leaving):
            code, out = agent.result()
            assert code == 0, out  # each agent's BYE was answered
    finally:
        stop_all(slipping, leaving)
    assert wait_for(lambda: len(srv.results) == 1, 10)
    result = srv.results[0]
    assert result.ended_by == "agent"
    kinds = [e.kind for e in events]
    assert kinds.index("bridged") < kinds.index("agent_dropped") < kinds.index("agent_hung_up")
    assert kinds.count("bridged") == 2 and kinds.count("agent_dropped") == 1
    told = [e.data["text"] for e in events if e.kind == "prompt"]
    assert any("your agent got disconnected" in text for text in told)
    assert told[-1] == "Thank you for calling. Goodbye."
    phases = [(e.data["before"], e.data["after"]) for e in events if e.kind == "phase"]
    assert ("bridged", "queued") in phases and phases[-2:] == [("bridged", "wrap_up"), ("wrap_up", "ended")]
    entry = settled(services, result.call_id, "completed")
    assert entry.priority >= 100  # requeued at the front after carol's slip
    assert entry.status == "completed" and entry.end_reason == "agent hung up"
    record = services.store.get_call(result.call_id)
    assert record is not None and record.outcome == "answered" and record.agent == "dave"
    assert record.talk_ms is not None and record.talk_ms > 2500
    assert wait_for(lambda: acd.agents.get("dave").state == "available", 5)  # wrap-up is 0 in this queue
    assert acd.agents.get("dave").calls_handled == 1


def test_hold_and_a_transfer_from_the_console_move_the_live_caller_to_the_other_queues_agent(
        live_server: Any, tmp_path: Path) -> None:
    srv, services, events, legs = live_server
    acd = srv.dispatcher.service
    first, second = agents(tmp_path, "uas_agent.xml", "uas_agent.xml")
    try:
        add_agent(acd, "alice", first.uri)
        add_agent(acd, "bob", second.uri, skill="cards")  # only the target queue's agent
        caller = start_caller(srv.sip_port, tmp_path, talk_after_ms=4000)
        assert wait_for(lambda: any(e.kind == "bridged" for e in events), 30)
        call_id = events[0].call_id
        entry_id = entry_of(services, call_id).id or 0
        hold(acd, entry_id, "alice")  # the console's Hold, then Resume: the serving process follows both
        assert wait_for(lambda: [e.data["on"] for e in events if e.kind == "hold"] == [True], 5)
        resume(acd, entry_id, "alice")
        assert wait_for(lambda: [e.data["on"] for e in events if e.kind == "hold"] == [True, False], 5)
        transfer(acd, entry_id, "cards", "alice", "card stolen, caller verified")
        code, out = first.result()
        assert code == 0, out  # alice's phone got voicebot's BYE when the transfer moved the caller
        code, out = finish(caller)
        assert code == 0, out
        code, out = second.result()
        assert code == 0, out  # bob got the caller (same X-Voicebot-Handoff entry) and BYE when they hung up
    finally:
        stop_all(first, second)
    assert wait_for(lambda: len(srv.results) == 1, 10)
    kinds = [e.kind for e in events]
    assert kinds.count("bridged") == 2 and kinds.index("transferred") < len(kinds) - kinds[::-1].index("bridged")
    assert [e.data["agent"] for e in events if e.kind == "bridged"] == ["alice", "bob"]
    told = [e.data["text"] for e in events if e.kind == "prompt"]
    assert acd.settings.live.transfer_prompt in told
    assert [leg.outcome for leg in legs] == ["answered", "answered"] and all(leg.ended for leg in legs)
    entry = settled(services, call_id, "completed")
    assert entry.queue == "cards"
    assert entry.handoff is not None and entry.handoff["transfers"][0]["note"] == "card stolen, caller verified"
    record = services.store.get_call(call_id)
    assert record is not None and record.agent == "bob" and record.outcome == "answered"


def test_a_callback_survives_a_restart_and_is_placed_agent_first_and_bridged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    agent, customer = agents(tmp_path, "uas_agent.xml", "uas_agent_hangs_up.xml")  # the customer hangs up first
    config = tmp_path / "voicebot.yaml"
    config.write_text(CONFIG.format(offer_timeout=10, requeue_within=10,
                                    callback_uri=f"sip:{{number}}@127.0.0.1:{customer.port}"))
    monkeypatch.setenv("VOICEBOT_CONFIG", str(config))
    monkeypatch.setenv("VOICEBOT_NODE", f"test-{tmp_path.name}")
    data = tmp_path / "data"
    try:
        with voicebot_server(data) as (srv, services):
            code, out = finish(start_caller_scenario(srv.sip_port, tmp_path, "queue_callback.xml"))
            assert code == 0, out  # chose a callback, heard the goodbye, got BYE
            assert wait_for(lambda: len(srv.results) == 1, 10)
            assert srv.results[0].ended_by == "callback"
            call_id = srv.results[0].call_id
            entry = entry_of(services, call_id)
            assert entry.kind == "callback" and entry.status == "waiting" and entry.callback_number == "15550100001"
        # restarted: the callback is still there, and the new process places it
        with voicebot_server(data) as (srv, services):
            acd = srv.dispatcher.service
            assert entry_of(services, call_id).status == "waiting"
            add_agent(acd, "alice", agent.uri)
            assert wait_for(lambda: entry_of(services, call_id).status == "callback_completed", 40)
            code, out = agent.result()
            assert code == 0, out  # the agent was called first, and got BYE when the customer hung up
            code, out = customer.result()
            assert code == 0, out  # then the customer, who talked and hung up
    finally:
        stop_all(agent, customer)


def start_caller_scenario(port: int, cwd: Path, scenario: str, timeout: float = 60) -> subprocess.Popen[str]:
    assert SIPP is not None
    return subprocess.Popen(
        [SIPP, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-s", "1000", "-i", "127.0.0.1",
         "-p", "0", "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-l", "1", "-nostdin",
         "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
