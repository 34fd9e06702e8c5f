"""Outbound calls, the agent leg of the ACD (issue 9 item 5), against real answering peers over loopback:
sipp as the agent phone (answers, 486, never answers), baresip in auto-answer mode, and a raw UDP peer for the
cases sipp cannot script (decline, no response, a 200 crossing our CANCEL, a BYE from the agent)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.telephony.harness import SCENARIOS, SIPP, free_udp_ports, wait_for
from tests.telephony.sipwire import Peer, rtp, wait_until
from voicebot.telephony import sip_message as sm
from voicebot.telephony.endpoint import OutboundChannel, SipConfig, SipEndpoint

pytestmark = pytest.mark.integration

BARESIP = shutil.which("baresip")
PEERS = Path(__file__).parent / "peers"


@pytest.fixture
def endpoint() -> Iterator[SipEndpoint]:
    low = free_udp_ports(20)
    one = SipEndpoint(SipConfig(sip_port=0, rtp_port_low=low, rtp_port_high=low + 19, t1=0.1), lambda ch: None)
    one.start()
    yield one
    one.stop(timeout=1.0)


class SippAgent:
    """sipp running a UAS scenario on a free port, in the background."""

    def __init__(self, scenario: str, cwd: Path, timeout: float = 20) -> None:
        assert SIPP is not None
        self.port = free_udp_ports(1)
        self.media = free_udp_ports(4)
        self.proc = subprocess.Popen(
            [SIPP, "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(self.port), "-mi", "127.0.0.1",
             "-mp", str(self.media), "-m", "1", "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
             "-trace_err"],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.3)  # (our INVITE is retransmitted anyway if sipp is not listening yet)

    @property
    def uri(self) -> str:
        return f"sip:agent@127.0.0.1:{self.port}"

    def result(self, timeout: float = 25) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, out[-3000:]


@pytest.fixture
def sipp_agent(tmp_path: Path) -> Iterator[list[SippAgent]]:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    made: list[SippAgent] = []
    yield made
    for agent in made:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


def test_an_agent_that_answers_gets_media_both_ways_and_our_bye(endpoint: SipEndpoint, sipp_agent: list[SippAgent],
                                                                tmp_path: Path) -> None:
    agent = SippAgent("uas_answer.xml", tmp_path)
    sipp_agent.append(agent)
    leg = endpoint.dial(agent.uri, caller="+15550100001", headers={"X-Voicebot-Handoff": "h-42"}, ring_timeout=10)
    assert leg.wait_outcome(10) == "answered", leg.outcome_reason
    assert leg.codec == "PCMA" and not leg.ended
    assert leg.caller_id == "+15550100001" and leg.dialled == "agent"
    # the agent's audio (sipp's A-law pcap) arrives as 16-bit frames, and ours goes out every 20 ms
    assert wait_for(lambda: leg.stats.get("rx_packets", 0) > 20, 10)
    frames = [leg.read_frame() for _ in range(5)]
    assert all(f is not None and f.dtype == np.int16 and len(f) == 160 for f in frames)
    for _ in range(25):
        leg.write_frame(np.zeros(160, dtype=np.int16))
        time.sleep(0.02)
    assert leg.stats["tx_packets"] == 25
    leg.hang_up()
    assert leg.ended
    code, out = agent.result()
    assert code == 0, out  # sipp saw the header, the ACK and our BYE
    assert wait_until(lambda: endpoint.ua.ports.assigned == [])


def test_a_busy_agent(endpoint: SipEndpoint, sipp_agent: list[SippAgent], tmp_path: Path) -> None:
    agent = SippAgent("uas_busy.xml", tmp_path)
    sipp_agent.append(agent)
    leg = endpoint.dial(agent.uri, ring_timeout=10)
    assert leg.wait_outcome(10) == "busy" and leg.outcome_reason == "486 Busy Here"
    assert leg.wait_ended(2)
    code, out = agent.result()
    assert code == 0, out  # our ACK for the 486 arrived


def test_an_agent_that_never_answers_is_cancelled(endpoint: SipEndpoint, sipp_agent: list[SippAgent],
                                                   tmp_path: Path) -> None:
    agent = SippAgent("uas_no_answer.xml", tmp_path)
    sipp_agent.append(agent)
    leg = endpoint.dial(agent.uri, ring_timeout=1.5)
    assert leg.wait_outcome(10) == "no_answer"
    assert leg.ended
    code, out = agent.result()
    assert code == 0, out  # CANCEL, then the ACK of its 487
    assert wait_until(lambda: endpoint.ua.ports.assigned == [])


def test_the_caller_leaving_while_the_agent_rings_cancels_it(endpoint: SipEndpoint, sipp_agent: list[SippAgent],
                                                              tmp_path: Path) -> None:
    agent = SippAgent("uas_no_answer.xml", tmp_path)
    sipp_agent.append(agent)
    leg = endpoint.dial(agent.uri, ring_timeout=30)
    assert wait_until(lambda: leg.call.state.value == "ringing", 5)
    leg.hang_up()
    assert leg.outcome == "cancelled"
    code, out = agent.result()
    assert code == 0, out


# ----- the cases sipp cannot script: a raw UDP agent ---------------------------------------------------------


def reply(request: sm.Message, status: int, reason: str, *, tag: str = "agent", body: bytes = b"",
          contact: str = "") -> bytes:
    headers = [("Contact", contact)] if contact else []
    return sm.response(request, status, reason, to_tag=tag, headers=headers, body=body)


def answer_sdp(port: int) -> bytes:
    return (f"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n").encode()


@pytest.fixture
def phone() -> Iterator[Peer]:
    one = Peer()
    yield one
    one.close()


def test_decline_and_a_server_error(endpoint: SipEndpoint, phone: Peer) -> None:
    for status, reason, outcome in [(603, "Decline", "declined"), (503, "Service Unavailable", "failed"),
                                    (480, "Temporarily Unavailable", "no_answer")]:
        leg = endpoint.dial(f"sip:agent@127.0.0.1:{phone.port}")
        invite = phone.expect("INVITE")
        phone.send(reply(invite, status, reason), endpoint.sip_port)
        assert leg.wait_outcome(5) == outcome and leg.outcome_reason == f"{status} {reason}"
        ack = phone.expect("ACK")
        assert ack.branch == invite.branch and ack.to_tag == "agent"


def test_no_response_at_all_fails_after_64_t1(endpoint: SipEndpoint) -> None:
    silent = free_udp_ports(1)  # nobody listens there
    leg = endpoint.dial(f"sip:agent@127.0.0.1:{silent}", ring_timeout=60)
    assert leg.wait_outcome(15) == "failed" and leg.outcome_reason == "no response"  # 64 * T1 = 6.4 s


def test_the_agent_hangs_up_and_symmetric_rtp_applies(endpoint: SipEndpoint, phone: Peer) -> None:
    leg = endpoint.dial(f"sip:agent@127.0.0.1:{phone.port}", headers={"X-Voicebot-Handoff": "h-7"})
    invite = phone.expect("INVITE")
    assert invite.get("x-voicebot-handoff") == "h-7"
    offer_port = int(invite.body.split(b"m=audio ")[1].split()[0])
    media = Peer()
    stranger = Peer()
    try:
        phone.send(reply(invite, 180, "Ringing"), endpoint.sip_port)
        phone.send(reply(invite, 200, "OK", body=answer_sdp(media.port),
                         contact=f"<sip:agent@127.0.0.1:{phone.port}>"), endpoint.sip_port)
        assert leg.wait_outcome(5) == "answered"
        ack = phone.expect("ACK")
        assert ack.to_tag == "agent" and ack.cseq[0] == invite.cseq[0]
        # a retransmitted 200 is ACKed again
        phone.send(reply(invite, 200, "OK", body=answer_sdp(media.port),
                         contact=f"<sip:agent@127.0.0.1:{phone.port}>"), endpoint.sip_port)
        phone.expect("ACK")
        media.sock.sendto(rtp(0, b"\xff" * 160, ssrc=5), ("127.0.0.1", offer_port))
        stranger.sock.sendto(rtp(0, b"\x00" * 160, ssrc=6), ("127.0.0.1", offer_port))
        assert wait_until(lambda: leg.stats["rx_packets"] == 1 and leg.stats["dropped_foreign"] == 1)
        # the agent hangs up
        bye = sm.request_bytes("BYE", f"sip:x@127.0.0.1:{endpoint.sip_port}", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK-agent-bye"),
            ("From", invite.get("to") + ";tag=agent"), ("To", invite.get("from")), ("Call-ID", invite.call_id),
            ("CSeq", "1 BYE")])
        phone.send(bye, endpoint.sip_port)
        assert phone.expect(lambda m: m.cseq[1] == "BYE").status == 200
        assert leg.ended and leg.call.end_reason == "callee hung up"
    finally:
        media.close()
        stranger.close()


def test_a_200_crossing_our_cancel_is_acked_then_ended_with_bye(endpoint: SipEndpoint, phone: Peer) -> None:
    leg = endpoint.dial(f"sip:agent@127.0.0.1:{phone.port}", ring_timeout=30)
    invite = phone.expect("INVITE")
    phone.send(reply(invite, 180, "Ringing"), endpoint.sip_port)
    assert wait_until(lambda: leg.call.state.value == "ringing")
    leg.hang_up()
    cancel = phone.expect("CANCEL")
    assert cancel.branch == invite.branch
    phone.send(reply(cancel, 200, "OK"), endpoint.sip_port)
    phone.send(reply(invite, 200, "OK", body=answer_sdp(9), contact=f"<sip:agent@127.0.0.1:{phone.port}>"),
               endpoint.sip_port)  # the agent answered just before the CANCEL arrived
    phone.expect("ACK")
    bye = phone.expect("BYE")
    assert bye.call_id == invite.call_id and bye.to_tag == "agent"
    assert leg.outcome == "cancelled"


def test_two_legs_relay_20_ms_frames_both_ways(endpoint: SipEndpoint) -> None:
    """A tiny relay (the bridge itself belongs to the ACD): two outbound legs, frames copied both ways."""
    phones = [Peer(), Peer()]
    medias = [Peer(), Peer()]
    try:
        legs: list[OutboundChannel] = []
        for phone, media in zip(phones, medias, strict=True):
            leg = endpoint.dial(f"sip:agent@127.0.0.1:{phone.port}")
            invite = phone.expect("INVITE")
            phone.send(reply(invite, 200, "OK", body=answer_sdp(media.port),
                             contact=f"<sip:agent@127.0.0.1:{phone.port}>"), endpoint.sip_port)
            assert leg.wait_outcome(5) == "answered"
            media.port_in = int(invite.body.split(b"m=audio ")[1].split()[0])  # type: ignore[attr-defined]
            legs.append(leg)
        stop = threading.Event()

        def relay() -> None:
            while not stop.is_set():
                for a, b in ((legs[0], legs[1]), (legs[1], legs[0])):
                    frame = a.read_frame()
                    if frame is not None:
                        b.write_frame(frame)
                time.sleep(0.005)

        worker = threading.Thread(target=relay, daemon=True)
        worker.start()
        tone = (np.sin(np.arange(160) * 0.3) * 8000).astype(np.int16)
        from voicebot.audio.g711 import mulaw_encode

        for seq in range(10):
            medias[0].sock.sendto(rtp(0, mulaw_encode(tone), seq=seq, ssrc=1), ("127.0.0.1", medias[0].port_in))  # type: ignore[attr-defined]
        got = []
        medias[1].sock.settimeout(2)
        for _ in range(10):
            data, _ = medias[1].sock.recvfrom(2048)
            got.append(data[12:])
        stop.set()
        worker.join(1)
        assert all(payload == mulaw_encode(tone) for payload in got)  # the same audio, leg 0 to leg 1
        for leg in legs:
            leg.hang_up()
    finally:
        for one in phones + medias:
            one.close()


def test_baresip_in_auto_answer_mode_answers_the_agent_leg(endpoint: SipEndpoint, tmp_path: Path) -> None:
    if BARESIP is None:
        pytest.skip("baresip (baresip-core) is not installed")
    from voicebot.audio.pcm import write_wav

    wav = tmp_path / "agent.wav"
    write_wav(wav, (np.sin(np.arange(8000 * 6) * 0.2) * 6000).astype(np.int16), 8000)
    cfg, out = tmp_path / "baresip", tmp_path / "recorded"
    cfg.mkdir()
    out.mkdir()
    log = tmp_path / "baresip.log"

    def start() -> tuple[subprocess.Popen[str], int]:
        sip_port, rtp_port = free_udp_ports(1), free_udp_ports(4)
        config = (PEERS / "baresip_config.template").read_text()
        for key, value in {"SIPPORT": str(sip_port), "WAV": str(wav), "RTPPORTS": f"{rtp_port}-{rtp_port + 3}",
                           "OUT": str(out)}.items():
            config = config.replace(f"@{key}@", value)
        (cfg / "config").write_text(config)
        (cfg / "accounts").write_text(
            f"<sip:agent@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU;answermode=auto\n")
        (cfg / "contacts").write_text("")
        # Output to a file, not a pipe nobody reads while the test runs (a full pipe would stall baresip).
        with log.open("a") as sink:
            return subprocess.Popen([BARESIP, "-f", str(cfg), "-t", "20"], stdin=subprocess.PIPE, stdout=sink,
                                    stderr=subprocess.STDOUT, text=True), sip_port

    proc, sip_port = start()
    if not wait_for(lambda: proc.poll() is not None or _listening(sip_port), 30) or proc.poll() is not None:
        # Its ports were probed free, then taken by another process before baresip bound them (tests run in
        # parallel): once more on fresh ports.
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaped, its stdin closed
        proc, sip_port = start()
    try:
        assert wait_for(lambda: proc.poll() is None and _listening(sip_port), 30), \
            f"baresip did not start: {log.read_text()[-2000:]}"
        leg = endpoint.dial(f"sip:agent@127.0.0.1:{sip_port}", headers={"X-Voicebot-Handoff": "h-9"})
        assert leg.wait_outcome(10) == "answered", leg.outcome_reason
        assert leg.codec == "PCMU"
        tone = (np.sin(np.arange(160) * 0.5) * 6000).astype(np.int16)
        for _ in range(100):  # 2 s of our audio to the agent
            leg.write_frame(tone)
            time.sleep(0.02)
        assert wait_for(lambda: leg.stats["rx_packets"] > 30, 5)  # the agent's audio file, heard
        heard = [f for f in (leg.read_frame() for _ in range(20)) if f is not None]
        assert heard and max(int(np.abs(f.astype(np.int32)).max()) for f in heard) > 1000
        leg.hang_up()
        assert leg.ended
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            try:
                proc.stdin.write("/quit\n")
                proc.stdin.flush()
            except OSError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate()  # reaped, its stdin closed


def _listening(port: int) -> bool:
    """True once something answers an OPTIONS on ``port``."""
    probe = Peer()
    try:
        probe.send(sm.request_bytes("OPTIONS", f"sip:agent@127.0.0.1:{port}", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{probe.port};branch=z9hG4bK-probe{time.monotonic_ns()}"),
            ("From", f"<sip:probe@127.0.0.1:{probe.port}>;tag=p"), ("To", f"<sip:agent@127.0.0.1:{port}>"),
            ("Call-ID", f"probe-{time.monotonic_ns()}"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")]), port)
        probe.pump(0.2)
        return bool(probe.received)
    finally:
        probe.close()
