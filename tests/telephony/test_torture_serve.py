"""RFC 4475 against the shipped process (issue 14): the 49 torture messages replayed over UDP on loopback against a
running ``voicebot serve``, each from its own socket, each with the answer the RFC asks, and after each one the
server healthy: an OPTIONS answered and a normal call completed (INVITE, 200, ACK, BYE). A call stays up in the
IVR throughout. At the end the server's call records are exactly those calls and the torture INVITEs that are
valid, and its log has no ERROR line and no traceback.

The messages are replayed as the issue's reproduction did: documentation hosts in the header section pointed at
127.0.0.1, and the SDP's addresses and audio port at a socket of the test, so nothing leaves loopback.
``test_torture.py`` asserts the same answers header by header against an in-process user agent.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telephony.harness import ROOT, free_udp_ports, shared_prompts
from tests.telephony.sipwire import Peer, ack_for, loopback, request, sdp
from tests.telephony.test_serve import options_ok
from tests.telephony.test_torture import CALL, DROP, EXPECTED, TORTURE, check_answer
from voicebot.telephony import sip_message as sm

pytestmark = pytest.mark.integration

_SDP_ADDRESS = re.compile(rb"IN IP4 (?:192\.0\.2\.\d{1,3}|192\.168\.\d{1,3}\.\d{1,3})")
_AUDIO_PORT = re.compile(rb"m=audio \d+")
_LENGTH = re.compile(rb"^((?:content-length|l)[ \t]*:[ \t]*)(\d+)", re.IGNORECASE | re.MULTILINE)


def pointed_at(data: bytes, media_port: int) -> bytes:
    """The message with its hosts on loopback and its SDP's media at ``media_port`` (Content-Length kept right)."""
    data = loopback(data)
    sep = b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n"
    head, found, body = data.partition(sep)
    if not found:
        return data
    moved = _AUDIO_PORT.sub(f"m=audio {media_port}".encode(), _SDP_ADDRESS.sub(b"IN IP4 127.0.0.1", body))
    if len(moved) != len(body):  # a Content-Length that was right stays right (a wrong one stays wrong)
        head = _LENGTH.sub(lambda m: m.group(1) + (str(len(moved)).encode() if int(m.group(2)) == len(body)
                                                   else m.group(2)), head)
    return head + found + moved


class Server:
    """``voicebot serve`` in a subprocess on free loopback ports, its log (JSON lines) in a file."""

    def __init__(self, tmp: Path) -> None:
        self.port, rtp = free_udp_ports(1), free_udp_ports(20)
        data = tmp / "data"
        data.mkdir()
        (data / "prompts").symlink_to(shared_prompts(), target_is_directory=True)  # Piper renders once per run
        config = tmp / "voicebot.yaml"
        config.write_text(f"sip:\n  rtp_ports: [{rtp}, {rtp + 19}]\n  max_calls: 4\n"
                          f"  default_flow: {ROOT / 'flows/banking.yaml'}\nweb:\n  enabled: false\n")
        env = {**os.environ, "VOICEBOT_DATA_DIR": str(data), "VOICEBOT_SIP_PORT": str(self.port)}
        for name in ("DATABASE_URL", "VOICEBOT_CONFIG", "VOICEBOT_RTP_PORTS", "VOICEBOT_MAX_CALLS"):
            env.pop(name, None)
        self.database = data / "voicebot.db"
        self.log_path = tmp / "serve.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot.cli", "--log-format", "json", "serve", "--config", str(config),
             "--engine", "pocketsphinx"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not options_ok(self.port):
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "voicebot serve did not come up: " + self.log_path.read_text()
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    one = Server(tmp_path_factory.mktemp("torture-serve"))
    yield one
    one.stop()


def hang_up(peer: Peer, ok: sm.Message, port: int, cseq: int) -> None:
    """ACK the 200 of an INVITE and end the call with BYE (the dialog as the 200 states it)."""
    for method, number in (("ACK", ok.cseq[0]), ("BYE", cseq)):
        peer.send(sm.request_bytes(method, f"sip:ivr@127.0.0.1:{port}", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-{method}-{number}-{ok.call_id[:20]}"),
            ("Max-Forwards", "70"), ("From", ok.get("from")), ("To", ok.get("to")), ("Call-ID", ok.call_id),
            ("CSeq", f"{number} {method}")]), port)
    bye = peer.expect(lambda m: m.call_id == ok.call_id and m.cseq == (cseq, "BYE"), timeout=10)
    assert bye.status == 200, bye.summary()


def replay(server: Server, data: bytes, media_port: int) -> tuple[object, str]:
    """One message from its own socket: (its outcome, the Call-ID of the call it started or "")."""
    peer = Peer()
    try:
        peer.send(pointed_at(data, media_port), server.port)
        # The server handles datagrams in order and answers each before reading the next (a call's 200 excepted):
        # once this OPTIONS is answered, every other answer to the message has arrived.
        fence = f"fence-{random.randrange(10**9)}"
        peer.send(request("OPTIONS", fence, peer.port, target_port=server.port), server.port)
        assert peer.expect(lambda m: m.call_id == fence, timeout=10).status == 200
        got = [m for m in peer.received if not m.is_request and m.call_id != fence]
        for m in got:
            check_answer(m)
        ringing = [m for m in got if m.status == 180]
        if ringing:
            ok = peer.expect(lambda m: m.call_id == ringing[0].call_id and m.status == 200
                             and m.cseq[1] == "INVITE", timeout=30)
            assert "m=audio" in ok.body.decode() and ok.to_tag
            hang_up(peer, ok, server.port, ok.cseq[0] + 1)
            return CALL, ok.call_id
        finals = {m.status for m in got if m.status >= 200}
        if not got:
            return DROP, ""
        assert len(finals) == 1, [m.summary() for m in got]  # one final answer
        return finals.pop(), ""
    finally:
        peer.close()


HUGE = b"9" * 5000  # more digits than Python's int() takes (4,300)


def beyond_the_rfc(port: int) -> dict[str, tuple[bytes, set[object]]]:
    """Messages found by the audit of issue 14 that raised or stalled the receive thread (numbers too long for
    int(), a Request-Line padded with 60,000 spaces), with the answers they get now."""
    options = request("OPTIONS", "beyond", 5060, target_port=port)
    return {
        "Content-Length of 5,000 digits": (options.replace(b"Content-Length: 0", b"Content-Length: " + HUGE), {400}),
        "Via port of 5,000 digits": (options.replace(b"127.0.0.1:5060;", b"127.0.0.1:" + HUGE + b";"), {200}),
        "Request-Line padded with spaces": (options.replace(b" SIP/2.0\r\n", b" " * 60000 + b"SIP/2.0\r\n", 1),
                                            {400}),
    }


def normal_call(server: Server, call_id: str, media_port: int) -> None:
    peer = Peer()
    try:
        peer.send(request("INVITE", call_id, peer.port, target_port=server.port, body=sdp(media_port)), server.port)
        ok = peer.expect(lambda m: m.call_id == call_id and m.status == 200, timeout=30)
        hang_up(peer, ok, server.port, 2)
    finally:
        peer.close()


def test_every_rfc_4475_message_against_voicebot_serve(server: Server) -> None:
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the server's RTP lands here (never read)
    media.bind(("127.0.0.1", 0))
    media_port = int(media.getsockname()[1])
    started: set[str] = set()
    wrong: list[str] = []
    live = Peer()  # a call in the IVR all along: the messages arrive while a call is in progress
    try:
        live.send(request("INVITE", "live-call", live.port, target_port=server.port, body=sdp(media_port)), server.port)
        ok = live.expect(lambda m: m.call_id == "live-call" and m.status == 200, timeout=30)
        live.send(ack_for(ok, "live-call", live.port, server.port), server.port)
        started.add("live-call")
        messages = {f"RFC 4475 {section} {name}": ((TORTURE / f"{name}.dat").read_bytes(), acceptable)
                    for name, (section, acceptable) in sorted(EXPECTED.items())}
        for i, (label, (data, acceptable)) in enumerate({**messages, **beyond_the_rfc(server.port)}.items()):
            result, call_id = replay(server, data, media_port)
            if result not in acceptable:
                wrong.append(f"{label}: got {result}, expected {acceptable}")
            if call_id:
                started.add(call_id)
            normal_call(server, f"normal-after-{i}", media_port)  # healthy: a normal call completes
            started.add(f"normal-after-{i}")
        # the live call is still up, and ends normally (unless the IVR ended it first: no input for its prompts)
        live.send(request("BYE", "live-call", live.port, target_port=server.port, cseq=2, to_tag=ok.to_tag),
                  server.port)
        ended = live.expect(lambda m: m.call_id == "live-call" and m.cseq[1] == "BYE", timeout=10)
        assert ended.status == 200 if not ended.is_request else ended.method == "BYE", ended.summary()
    finally:
        live.close()
        media.close()
    assert not wrong, wrong
    assert server.proc.poll() is None
    assert server.stop() == 0, server.log_path.read_text()[-3000:]
    # The calls on record: the normal ones and the valid torture INVITEs, no call from a message that was refused.
    from sqlmodel import Session, create_engine, select

    from voicebot.storage.call_models import CallRecord

    engine = create_engine(f"sqlite:///{server.database}")
    try:
        with Session(engine) as db:
            recorded = {record.sip_call_id for record in db.exec(select(CallRecord)).all()}
    finally:
        engine.dispose()
    assert recorded == started, (recorded ^ started)
    # No traceback, no error, in the whole run.
    text = server.log_path.read_text()
    assert "Traceback" not in text, text[text.index("Traceback") - 500:][:3000]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")]
