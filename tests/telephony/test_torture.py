"""RFC 4475 (SIP Torture Test Messages), issue 14: each of the 49 messages replayed over UDP from its own socket to
a running user agent, with the answer the RFC asks of a UAS, and the agent healthy after each.

The messages in ``torture/`` are the RFC's own test vectors (the ``.dat`` files of its appendix, as several SIP
stacks keep them). Where the RFC allows a choice (refuse or be liberal), the set below lists both.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telephony.sipwire import Agent, Peer, ack_for, loopback, request, sdp, wait_until
from voicebot.telephony import sip_message as sm
from voicebot.telephony.ratelimit import RateLimitedLog
from voicebot.telephony.sip_call import SipCall

pytestmark = pytest.mark.integration

TORTURE = Path(__file__).parent / "torture"

CALL = "call"  # the request starts a call (180, then the agent's final answer)
DROP = "drop"  # no answer: a response (nothing to answer) or an unanswerable message

#: message -> (RFC 4475 section, acceptable answers)
EXPECTED: dict[str, tuple[str, set[object]]] = {
    # 3.1.1 valid messages: every one must parse
    "wsinv": ("3.1.1.1", {481}),  # well formed; its To tag names a dialog we do not have
    "intmeth": ("3.1.1.2", {501}),
    "esc01": ("3.1.1.3", {CALL}),
    "escnull": ("3.1.1.4", {405, 501}),
    "esc02": ("3.1.1.5", {501}),
    "lwsdisp": ("3.1.1.6", {200}),
    "longreq": ("3.1.1.7", {CALL}),
    "dblreq": ("3.1.1.8", {405}),  # the trailing INVITE octets are ignored (one answer only)
    "semiuri": ("3.1.1.9", {200}),
    "transports": ("3.1.1.10", {200}),
    "mpart01": ("3.1.1.11", {501}),  # MESSAGE (multipart body): we do not implement MESSAGE
    "unreason": ("3.1.1.12", {DROP}),
    "noreason": ("3.1.1.13", {DROP}),
    # 3.1.2 invalid messages
    "badinv01": ("3.1.2.1", {400}),
    "clerr": ("3.1.2.2", {400}),
    "ncl": ("3.1.2.3", {400}),
    "scalar02": ("3.1.2.4", {400}),
    "scalarlg": ("3.1.2.5", {DROP}),
    "quotbal": ("3.1.2.6", {400}),
    "ltgtruri": ("3.1.2.7", {400}),
    "lwsruri": ("3.1.2.8", {400}),
    "lwsstart": ("3.1.2.9", {400}),
    "trws": ("3.1.2.10", {400, 200}),
    "escruri": ("3.1.2.11", {400, CALL}),
    "baddate": ("3.1.2.12", {400, CALL}),
    "regbadct": ("3.1.2.13", {400, 405}),
    "badaspec": ("3.1.2.14", {400, 200}),
    "baddn": ("3.1.2.15", {400, 200}),
    "badvers": ("3.1.2.16", {505}),
    "mismatch01": ("3.1.2.17", {400}),
    "mismatch02": ("3.1.2.18", {501, 400}),
    "bigcode": ("3.1.2.19", {DROP}),
    # 3.2 transaction layer
    "badbranch": ("3.2.1", {400, 200}),
    # 3.3 application layer
    "insuf": ("3.3.1", {400, DROP}),
    "unkscm": ("3.3.2", {416}),
    "novelsc": ("3.3.3", {416}),
    "unksm2": ("3.3.4", {405, 501}),
    "bext01": ("3.3.5", {420}),
    "invut": ("3.3.6", {415}),
    "regaut01": ("3.3.7", {405, 501}),
    "multi01": ("3.3.8", {400}),
    "mcl01": ("3.3.9", {400}),
    "bcast": ("3.3.10", {DROP}),
    "zeromf": ("3.3.11", {200}),
    "cparam01": ("3.3.12", {405, 501}),
    "cparam02": ("3.3.13", {405, 501}),
    "regescrt": ("3.3.14", {405, 501}),
    "sdp01": ("3.3.15", {406}),
    "inv2543": ("3.4.1", {CALL}),
}
#: valid responses outside 3.1.1 that must be parsed, not reported as malformed (3.3.10: a broadcast-looking Via)
VALID_RESPONSES = {"bcast"}


def refuse_at_once(call: SipCall) -> None:
    """The agent's calls end as soon as they start: the test only needs to see that the call was started."""


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    one = Agent(refuse_at_once, max_calls=10)
    yield one
    one.stop()


def answers(peer: Peer, port: int) -> list[sm.Message]:
    """Every answer to the message just sent. The agent answers datagrams in order, each before it reads the next
    (a call's final answer excepted: it comes from the call's thread), so once an OPTIONS sent behind the message
    is answered, the other answers have arrived (no fixed wait)."""
    fence = f"fence-{random.randrange(10**9)}"
    peer.send(request("OPTIONS", fence, peer.port, target_port=port), port)
    assert peer.expect(lambda m: m.call_id == fence).status == 200
    return [m for m in peer.received if not m.is_request and m.call_id != fence]


def outcome(agent: Agent, before: int, got: list[sm.Message]) -> object:
    finals = [m.status for m in got if m.status >= 200 and m.cseq[1] != "ACK"]
    if any(m.status == 180 for m in got):  # a call was started: its thread reaches the agent
        assert wait_until(lambda: len(agent.calls) > before), [m.summary() for m in got]
        return CALL
    assert len(agent.calls) == before, [m.summary() for m in got]  # never a call without its 180
    if not got:
        return DROP
    assert len(set(finals)) == 1, [m.summary() for m in got]  # one final answer, never two different ones
    return finals[0]


def check_answer(m: sm.Message) -> None:
    """What the refusals must carry (issue 14): Allow with 405/501, Accept with 415, Unsupported with 420, and a 400
    whose reason phrase names what was wrong."""
    if m.status in (405, 501):
        assert "INVITE" in m.text("allow"), m.summary()
    if m.status == 415:
        assert m.get("accept") == "application/sdp", m.summary()
    if m.status == 420:
        assert m.get("unsupported"), m.summary()
    if m.status == 400:
        assert (m.reason and m.reason != "Bad Request") or m.reason.startswith("Bad Request ("), m.summary()


def healthy(agent: Agent) -> None:
    """An OPTIONS is answered. (This module's agent refuses its calls; the normal call after each message is made
    against ``voicebot serve`` in test_torture_serve.py, and after all of them in the last test here.)"""
    peer = Peer()
    try:
        call_id = f"health-{random.randrange(10**9)}"
        peer.send(request("OPTIONS", call_id, peer.port, target_port=agent.port), agent.port)
        assert peer.expect(lambda m: m.call_id == call_id).status == 200
    finally:
        peer.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rfc_4475_message(agent: Agent, name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voicebot")
    # a fresh rate limit: a warning of the same kind from the message before must not hide this one's
    agent.ua.warn = RateLimitedLog(logging.getLogger("voicebot.sip"))
    section, acceptable = EXPECTED[name]
    data = (TORTURE / f"{name}.dat").read_bytes()
    peer = Peer()  # each message from its own socket: our answers go where it came from (rport)
    try:
        before = len(agent.calls)
        peer.send(data, agent.port)
        got = answers(peer, agent.port)
        result = outcome(agent, before, got)
        assert result in acceptable, (f"RFC 4475 {section} {name}: got {result}, expected {acceptable}",
                                      [m.summary() for m in got])
        for m in got:
            check_answer(m)
    finally:
        peer.close()
    # no traceback, and the valid responses were not reported as malformed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    if section.startswith("3.1.1") or name in VALID_RESPONSES:
        assert not [r for r in caplog.records if "malformed" in r.getMessage()], name
    healthy(agent)


def test_the_agent_takes_a_normal_call_after_all_of_them(agent: Agent) -> None:
    for name in sorted(EXPECTED):
        peer = Peer()
        peer.send((TORTURE / f"{name}.dat").read_bytes(), agent.port)
        peer.close()
    time.sleep(0.5)
    # the module's agent refuses its calls; this one answers them (and ends those never ACKed after 64*T1)
    normal = Agent(max_calls=10, t1=0.02, t2=0.1)
    peer = Peer()
    try:
        for name in sorted(EXPECTED):  # (Contact hosts on loopback: its BYEs after no ACK stay local)
            peer.send(loopback((TORTURE / f"{name}.dat").read_bytes()), normal.port)
        peer.pump(0.5)
        assert wait_until(lambda: normal.ua.active_calls() == 0, 5)
        peer.received.clear()
        peer.send(request("INVITE", "after-torture", peer.port, target_port=normal.port, body=sdp(peer.port + 1)),
                  normal.port)
        ok = peer.expect(lambda m: m.call_id == "after-torture" and m.status == 200)
        peer.send(ack_for(ok, "after-torture", peer.port, normal.port), normal.port)
        peer.send(request("BYE", "after-torture", peer.port, target_port=normal.port, cseq=2, to_tag=ok.to_tag),
                  normal.port)
        assert peer.expect(lambda m: m.call_id == "after-torture" and m.cseq[1] == "BYE").status == 200
    finally:
        peer.close()
        normal.stop()
