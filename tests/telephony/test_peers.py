"""Real SIP peers over loopback: kamailio as registrar/proxy (register mode) and baresip as the caller (trunk mode).

Each peer runs in a temp dir on ports chosen free at run time; the test is skipped when the peer is not installed.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.telephony.harness import SCENARIOS, SIPP, free_udp_ports, run_sipp, voicebot_server, wait_for
from tests.telephony.test_live_queue import CONFIG as LIVE_CONFIG
from tests.telephony.test_live_queue import add_agent, finish, settled, start_caller
from voicebot.runtime.call_events import Bridged, CallEvent, Offered

pytestmark = pytest.mark.integration

PEERS = Path(__file__).parent / "peers"
KAMAILIO = shutil.which("kamailio") or (shutil.which("kamailio", path="/usr/sbin:/sbin"))
BARESIP = shutil.which("baresip")


# ----- kamailio: register mode -------------------------------------------------------------------------------


def kamailio_modules() -> str:
    found = glob.glob("/usr/lib/*/kamailio/modules/tm.so") + glob.glob("/usr/lib/kamailio/modules/tm.so")
    if not found:
        pytest.skip("kamailio modules not found")
    return str(Path(found[0]).parent) + "/"


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[int]:
    if KAMAILIO is None:
        pytest.skip("kamailio is not installed")
    port = free_udp_ports(1)
    run = tmp_path / "kamailio"
    run.mkdir()
    cfg = (PEERS / "kamailio.cfg").read_text().replace("KAMAILIO_PORT", str(port))
    (run / "kamailio.cfg").write_text(cfg.replace("KAMAILIO_MODULES", kamailio_modules()))
    log = (run / "kamailio.log").open("w")
    proc = subprocess.Popen([KAMAILIO, "-f", str(run / "kamailio.cfg"), "-DD", "-E", "-Y", str(run), "-w", str(run),
                             "-P", str(run / "kamailio.pid")], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        assert wait_for(lambda: options_ping(port) or proc.poll() is not None, 10)
        assert proc.poll() is None, (run / "kamailio.log").read_text()[-3000:]
        yield port
    finally:
        # The whole process group: kamailio forks workers, and one once outlived its killed main process.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers still there after the grace
        proc.wait()
        log.close()


def options_status(port: int, user: str = "ping", timeout: float = 0.2, probe: bool = False) -> str:
    """The status line kamailio (or whoever it relays to) answers an OPTIONS for ``user`` with; "" if none.
    ``probe``: kamailio answers itself whether ``user`` is registered (200) or not (404), relaying nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        me = sock.getsockname()[1]
        msg = (f"OPTIONS sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{user}{me}\r\n"
               f"From: <sip:ping@127.0.0.1:{me}>;tag=1\r\nTo: <sip:{user}@127.0.0.1:{port}>\r\n"
               + ("X-Registered: ?\r\n" if probe else "")
               + f"Call-ID: ping-{user}-{me}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        try:
            sock.sendto(msg.encode(), ("127.0.0.1", port))
            return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        except OSError:
            return ""


def options_ping(port: int) -> bool:
    """True once kamailio answers anything on its UDP port (an OPTIONS to an unknown user gets 404)."""
    return options_status(port).startswith("SIP/2.0")


def test_register_mode_through_kamailio(kamailio: int, tmp_path: Path) -> None:
    if shutil.which("sipp") is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    data = tmp_path / "data"
    with voicebot_server(data, mode="register", registrar_host="127.0.0.1", registrar_port=kamailio,
                         username="1000", password="") as (srv, services):
        # sipp dials 1000 at kamailio; kamailio looks up the registered contact and relays the INVITE.
        before = len(srv.results)
        done = run_sipp(kamailio, "hangup_mid_prompt.xml", tmp_path, media_port=free_udp_ports())
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert wait_for(lambda: len(srv.results) > before, 10)
        result = srv.results[-1]
        assert result.ended_by == "caller" and result.stats["rx_packets"] > 20
        record = services.store.get_call(result.call_id)
        assert record is not None and record.ended_at is not None
        assert record.caller_id == "+15550100001" and record.dialled == "1000" and record.flow == "banking"
        assert wait_for(lambda: srv.endpoint.active_calls() == 0)
        assert options_status(kamailio, "1000", timeout=2) == "SIP/2.0 200 OK"  # relayed to voicebot, answered
    # shut down: voicebot de-registered, so kamailio no longer knows where 1000 is
    assert options_status(kamailio, "1000", timeout=2) == "SIP/2.0 404 Not Found"


def test_register_mode_rings_a_registered_agent_through_kamailio_and_bridges_the_caller(
        kamailio: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 5 in register mode: the agent's SIP URI is an AOR at the registrar (2000 at kamailio), where
    the agent's phone (sipp) registered; voicebot, itself registered there as 1000, rings the agent through kamailio
    (the only place that knows where 2000 is) and bridges a caller who dialled 1000 through kamailio too."""
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    config = tmp_path / "voicebot.yaml"
    config.write_text(LIVE_CONFIG.format(offer_timeout=10, requeue_within=10, callback_uri="sip:{number}@127.0.0.1:9"))
    monkeypatch.setenv("VOICEBOT_CONFIG", str(config))
    monkeypatch.setenv("VOICEBOT_NODE", f"test-{tmp_path.name}")
    phone_dir = tmp_path / "phone"
    phone_dir.mkdir()
    # one sipp process is the phone: it REGISTERs as 2000, and its out-of-call scenario answers the INVITE (a
    # Call-ID of its own); it de-registers once that call is over, so its exit status covers both
    phone = subprocess.Popen(
        [SIPP, f"127.0.0.1:{kamailio}", "-sf", str(SCENARIOS / "agent_register.xml"),
         "-oocsf", str(SCENARIOS / "uas_agent_registered.xml"), "-s", "2000", "-i", "127.0.0.1",
         "-p", str(free_udp_ports(1)), "-mi", "127.0.0.1", "-mp", str(free_udp_ports()), "-m", "1", "-l", "1",
         "-nostdin", "-timeout", "60s", "-timeout_error", "-trace_err"],
        cwd=phone_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: options_status(kamailio, "2000", probe=True) == "SIP/2.0 200 Registered", 10)
        with voicebot_server(tmp_path / "data", mode="register", registrar_host="127.0.0.1",
                             registrar_port=kamailio, username="1000", password="") as (srv, services):
            assert srv.dispatcher is not None, "acd.live.enabled starts the dispatcher"
            events: list[CallEvent] = []
            srv.on_event = lambda _sip_id, event: events.append(event)
            legs: list[Any] = []
            dial = srv.dispatcher.dial
            srv.dispatcher.dial = lambda *args: legs.append(dial(*args)) or legs[-1]
            acd = srv.dispatcher.service
            add_agent(acd, "alice", f"sip:2000@127.0.0.1:{kamailio}")
            code, out = finish(start_caller(kamailio, tmp_path, talk_after_ms=6000))  # key 0, then talks, BYE
            assert code == 0, out
            phone_code, phone_out = finish(phone)
            assert phone_code == 0, phone_out  # handoff header seen, answered, BYE answered, de-registered
            assert wait_for(lambda: len(srv.results) == 1, 10)
            result = srv.results[0]
            entry = settled(services, result.call_id, "completed")
            record = services.store.get_call(result.call_id)
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.communicate()
    assert result.ended_by == "caller" and result.stats["rx_packets"] > 200  # the caller's RTP reached us
    assert [e.agent for e in events if isinstance(e, Offered)] == ["alice"]
    relayed = (tmp_path / "kamailio" / "kamailio.log").read_text()
    assert f"INVITE sip:2000@127.0.0.1:{kamailio} from 127.0.0.1:" in relayed  # the agent leg went to kamailio
    # kamailio record-routes: each side's BYE carries the route set (the caller's from voicebot's 200, which must
    # copy the INVITE's Record-Route; voicebot's from the agent's 200)
    routed = rf"BYE sip:{{}}@127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+ route <sip:127\.0\.0\.1:{kamailio};lr"
    assert re.search(routed.format("1000"), relayed) and re.search(routed.format("agent"), relayed), relayed[-3000:]
    (leg,) = legs
    assert leg.outcome == "answered" and leg.ended
    bridged_ms = next(e.at_ms for e in events if isinstance(e, Bridged))
    assert leg.stats["tx_packets"] >= (result.ticks - bridged_ms // 20) - 5  # the caller's side, every 20 ms
    assert leg.stats["rx_packets"] > 200  # the agent's speech came back through the bridge
    assert entry.answered_at is not None
    assert record is not None and record.agent == "alice" and record.outcome == "answered"
    assert record.talk_ms is not None and record.talk_ms > 3000
    assert options_status(kamailio, "2000", probe=True) == "SIP/2.0 404 Not Registered"  # the phone left


# ----- baresip: a softphone caller in trunk mode -------------------------------------------------------------


def asr_engine() -> str:
    return "whisper" if importlib.util.find_spec("faster_whisper") is not None else "pocketsphinx"


def caller_wav(path: Path) -> None:
    """8 kHz speech: "agent" at 3 s, 10 s and 17 s in 24 s (baresip hangs up at the end of the file)."""
    import numpy as np

    from voicebot.audio.pcm import write_wav
    from voicebot.testing.voices import Voice, VoiceUnavailable, synthesize

    try:
        word = synthesize(Voice("flite", "slt"), "agent")
    except VoiceUnavailable as exc:
        pytest.skip(f"flite voice unavailable: {exc}")
    out = np.zeros(24 * 8000, dtype=np.int16)
    for start in (3, 10, 17):
        out[start * 8000:start * 8000 + len(word)] = word[: 24 * 8000 - start * 8000]
    write_wav(path, out, 8000)


def fill(template: str, **values: str) -> str:
    text = (PEERS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def baresip_setup(tmp_path: Path, wav: Path, caller: str) -> tuple[Path, Path]:
    """baresip's config folder (caller audio from ``wav``, calling as ``caller``) and the folder where sndfile
    writes what it received, on ports chosen free now."""
    cfg, out = tmp_path / "baresip", tmp_path / "recorded"
    cfg.mkdir()
    out.mkdir()
    sip_port, rtp_port = free_udp_ports(1), free_udp_ports(4)
    (cfg / "config").write_text(fill("baresip_config.template", SIPPORT=str(sip_port), WAV=str(wav),
                                     RTPPORTS=f"{rtp_port}-{rtp_port + 3}", OUT=str(out)))
    (cfg / "accounts").write_text(fill("baresip_accounts.template", SIPPORT=str(sip_port), CALLER=caller))
    (cfg / "contacts").write_text("")
    return cfg, out


def call_with_baresip(cfg: Path, srv: Any, limit_s: int, wait_s: float,
                      script: Callable[[Callable[[str], None]], None]) -> tuple[Any, str]:
    """baresip dials 1000 at ``srv`` and hangs up after ``limit_s``; ``script(send)`` drives it through its
    stdin (``send("/sndcode 1")``); then up to ``wait_s`` for voicebot's result of the call. Returns that
    result and baresip's output."""
    before = len(srv.results)
    uri = f"sip:1000@127.0.0.1:{srv.sip_port}"
    proc = subprocess.Popen([BARESIP, "-f", str(cfg), "-e", f"/dial {uri}", "-t", str(limit_s)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def send(command: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(command + "\n")
        proc.stdin.flush()

    try:
        script(send)
        assert wait_for(lambda: len(srv.results) > before or proc.poll() is not None, wait_s)
        assert wait_for(lambda: len(srv.results) > before, 5), "no call record"
    finally:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                send("/quit")
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = proc.communicate()[0] if proc.stdout is not None else ""
    return srv.results[-1], log


def test_baresip_caller_asks_for_an_agent(tmp_path: Path) -> None:
    if BARESIP is None:
        pytest.skip("baresip (baresip-core) is not installed")
    engine = asr_engine()
    wav = tmp_path / "caller.wav"
    caller_wav(wav)
    cfg, out = baresip_setup(tmp_path, wav, "+15559990000")

    def confirm(send: Callable[[str], None]) -> None:
        if engine == "pocketsphinx":  # PocketSphinx may ask the caller to confirm: key 1
            for _ in range(3):
                time.sleep(6)
                send("/sndcode 1")

    with voicebot_server(tmp_path / "data", engine=engine) as (srv, services):
        result, log = call_with_baresip(cfg, srv, 32, 36, confirm)
        record = services.store.get_call(result.call_id)
        assert record is not None, log[-3000:]
        assert record.caller_id == "+15559990000", log[-3000:]
        assert record.authenticated is False
        assert "speak_to_agent" in record.intents, (record.intents, record.nodes)
        # The live ACD (the default) keeps the caller on the line in the queue; nobody staffs it here, so baresip
        # hanging up at the end of its file abandons in the queue.
        assert record.outcome == "abandoned_in_queue" and record.queue in ("general", "vip"), record.outcome
        assert record.handoff is not None and record.handoff.get("queue") in ("general", "vip"), record.handoff
        handoff = record.handoff
        assert handoff["caller_id"] == "+15559990000" and handoff["authenticated"] is False
        assert "speak_to_agent" in handoff["intents"] and handoff["dialled"] == "1000"
        queued = services.store.handoffs_for(result.call_id)
        assert [(h.queue, h.status) for h in queued] == [(handoff["queue"], "waiting")]
        assert queued[0].payload["caller_id"] == "+15559990000" and queued[0].payload["authenticated"] is False
    # sndfile dumped what baresip received (the IVR's voice) as *-dec.wav: it is not silent.
    decoded = sorted(out.glob("*dec*.wav"))
    assert decoded, (sorted(p.name for p in out.iterdir()), log[-3000:])
    import wave

    import numpy as np

    with wave.open(str(decoded[0])) as wav_in:
        frames = np.frombuffer(wav_in.readframes(wav_in.getnframes()), dtype="<i2")
    assert len(frames) > 8000 and np.abs(frames.astype(np.int32)).max() > 1000


def balance_caller_wav(path: Path) -> None:
    """The known caller's side: "what's my balance" at 4.1 s, "no thanks" at 23 s, 30 s in all (the PIN is keyed)."""
    import numpy as np

    from voicebot.audio.pcm import write_wav
    from voicebot.testing.voices import Voice, VoiceUnavailable, synthesize

    try:
        ask = synthesize(Voice("flite", "slt"), "what's my balance")
        done = synthesize(Voice("flite", "slt"), "no thanks")
    except VoiceUnavailable as exc:
        pytest.skip(f"flite voice unavailable: {exc}")
    out = np.zeros(30 * 8000, dtype=np.int16)
    out[int(4.1 * 8000):int(4.1 * 8000) + len(ask)] = ask
    out[23 * 8000:23 * 8000 + len(done)] = done
    write_wav(path, out, 8000)


def prompt_segments(audio: Any, rate: int, gap_s: float = 0.3) -> list[Any]:
    """The IVR's recorded voice cut at pauses longer than ``gap_s`` (one prompt sentence or so each)."""
    import numpy as np

    frame = rate // 50
    loud = [np.abs(audio[i:i + frame].astype(np.int32)).max() > 300 for i in range(0, len(audio) - frame, frame)]
    segments, start, quiet = [], None, 0
    for index, is_loud in enumerate(loud):
        if is_loud:
            start = index if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * 0.02 >= gap_s:
                segments.append(audio[start * frame:(index - quiet + 1) * frame])
                start, quiet = None, 0
    if start is not None:
        segments.append(audio[start * frame:])
    return segments


def test_known_caller_hears_the_balance_spoken_by_the_ivr(tmp_path: Path) -> None:
    """baresip calls as the demo bank's known caller, asks for the balance by voice and keys the PIN; what it
    received (the IVR's voice, recorded on the caller's side) is transcribed and must contain the balance."""
    if BARESIP is None:
        pytest.skip("baresip (baresip-core) is not installed")
    if importlib.util.find_spec("faster_whisper") is None:
        pytest.skip("faster-whisper is not installed")
    wav = tmp_path / "caller.wav"
    balance_caller_wav(wav)
    cfg, out = baresip_setup(tmp_path, wav, "+15550100001")

    import threading

    from voicebot.runtime.call_events import PromptQueued

    asked = threading.Event()

    def key_the_pin(send: Callable[[str], None]) -> None:
        # Keyed once the PIN prompt is queued (after the greeting, "what's my balance" and its recognition),
        # not after a guessed pause: under load the recognition takes longer and early keys were lost.
        assert asked.wait(30), "the IVR never asked for the PIN"
        time.sleep(1.0)  # into the prompt, as a caller who knows the PIN keys it
        send("/sndcode 1234")  # RFC 2833

    with voicebot_server(tmp_path / "data", engine="whisper") as (srv, services):
        services.bus.subscribe(lambda e: asked.set() if e.node.endswith("ask_pin") else None, PromptQueued)
        result, log = call_with_baresip(cfg, srv, 40, 30, key_the_pin)
        record = services.store.get_call(result.call_id)
        assert record is not None, log[-3000:]
        assert record.caller_id == "+15550100001" and record.authenticated, (record.nodes, log[-2000:])
        assert record.outcome == "self_served", (record.outcome, record.nodes)
        assert "check_balance" in record.intents
    decoded = sorted(out.glob("*dec*.wav"))
    assert decoded, (sorted(p.name for p in out.iterdir()), log[-3000:])

    from voicebot.asr.base import GrammarSpec
    from voicebot.asr.whisper_engine import WhisperRecognizer
    from voicebot.audio.pcm import read_wav
    from voicebot.audio.resample import resample

    heard, rate = read_wav(decoded[0])
    recognizer = WhisperRecognizer()
    texts = [recognizer.transcribe(resample(segment, rate, 16000), GrammarSpec.free()).text
             for segment in prompt_segments(heard, rate)]
    transcript = " ".join(texts)
    # Alice's checking account 0923 holds $2,345.67 (voicebot/storage/seed.py)
    assert "balance" in transcript, transcript
    # The amount, as words or digits. The checker is tiny.en and slips on a word now and then ("forty-five" as
    # "four to five", "two thousand three hundred" as "two three hundred"): three of the amount's four parts
    # heard, or its digits, is what was spoken.
    said = transcript.lower()
    parts = [r"two thousand", r"three hundred", r"forty[- ]?five", r"sixty[- ]?seven"]
    assert re.search(r"\$?\b2,?345\b", said) or sum(bool(re.search(p, said)) for p in parts) >= 3, transcript
