"""End to end over loopback: the SIP server in-process (trunk mode, flows/banking.yaml), sipp as the caller."""

from __future__ import annotations

import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.telephony.harness import ROOT, SIPP, free_udp_ports, run_sipp, voicebot_server, wait_for
from voicebot.runtime.call_events import CallEvent

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    data = tmp_path_factory.mktemp("data")
    with voicebot_server(data, flows={"1000": ROOT / "flows/banking.yaml"}) as (srv, services):
        events: list[tuple[str, CallEvent]] = []
        srv.on_event = lambda call_id, event: events.append((call_id, event))
        yield srv, services, events, data


def test_known_caller_gets_the_balance_by_keypad(server: Any, tmp_path: Path) -> None:
    srv, services, events, data = server
    before = len(srv.results)
    done = run_sipp(srv.sip_port, "balance_by_keypad.xml", tmp_path, media_port=free_udp_ports())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert wait_for(lambda: len(srv.results) > before)
    result = srv.results[-1]
    record = services.store.get_call(result.call_id)
    assert record is not None
    assert record.caller_id == "+15550100001" and record.dialled == "1000" and record.flow == "banking"
    assert record.authenticated is True
    assert record.outcome == "self_served"
    assert "check_balance" in record.intents
    for node in ("main_menu", "authenticate.ask_pin", "authenticate.verify", "balance_say"):
        assert node in record.nodes
    keys = [e.data["keys"] for cid, e in events if e.kind == "dtmf"]
    assert keys[0] == "1" and keys[1:5] == ["*"] * 4  # the menu key, then the PIN (masked: a secure step)
    prompts = " ".join(e.data["text"] for _, e in events if e.kind == "prompt")
    assert "the balance is" in prompts
    # The IVR sent RTP audio all along (one packet per tick) and the caller hung up.
    assert result.ended_by == "caller"
    assert result.stats["tx_packets"] >= result.ticks - 5 > 400
    # Recording: stereo, IVR speech on the right, silence while the PIN was collected.
    assert record.recording_path == str(data / "recordings" / f"{result.call_id}.wav")
    with wave.open(record.recording_path) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(frames[:, 1]).max() > 1000
    # Threads and the RTP port were released.
    assert wait_for(lambda: srv.endpoint.ua.ports.assigned == [])
    assert not [t for t in threading.enumerate() if t.name.startswith(("rtp-rx", "call-"))]


def test_caller_hangs_up_mid_prompt(server: Any, tmp_path: Path) -> None:
    srv, services, _events, _data = server
    before = len(srv.results)
    done = run_sipp(srv.sip_port, "hangup_mid_prompt.xml", tmp_path, media_port=free_udp_ports())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert wait_for(lambda: len(srv.results) > before)
    result = srv.results[-1]
    assert result.ended_by == "caller" and result.ticks < 150
    assert result.stats["rx_packets"] > 20  # the caller's A-law audio arrived (decoded to 16-bit)
    record = services.store.get_call(result.call_id)
    assert record is not None and record.ended_at is not None
    assert record.outcome == "abandoned"
    assert wait_for(lambda: srv.endpoint.ua.ports.assigned == [] and srv.endpoint.active_calls() == 0)
    assert not [t for t in threading.enumerate() if t.name.startswith(("rtp-rx", "call-"))]


def test_a_stalled_call_catches_up_a_phone_that_never_stops_sending(server: Any, tmp_path: Path) -> None:
    """A raw UDP caller that sends RTP every 20 ms, silence included (as real phones do, unlike sipp), says
    "what's my balance" over the greeting; the call's loop stalls 600 ms when the speech starts. The audio that
    piled up meanwhile is caught up: the call hears its caller less than 200 ms behind before the turn ends (the
    endpointer's silence after the words), and when it ends, less than the stall's worth of audio waits. Before,
    the 600 ms stayed in the buffer (the phone never pauses) and the turn ended that much later. (Asserted on the
    audio waiting, not on wall time: under load other stalls add to it; the wall-clock figure is printed.)"""
    import re
    import socket
    import time

    from tests.telephony.sipwire import Peer, ack_for, request, sdp
    from voicebot.audio.g711 import mulaw_encode
    from voicebot.telephony.demo import write_speech
    from voicebot.telephony.rtp import FRAME

    srv, _services, _events, _data = server
    write_speech(tmp_path / "balance.ulaw", "what's my balance", trailing_silence_s=0)
    words = (tmp_path / "balance.ulaw").read_bytes()
    silence = mulaw_encode(np.zeros(FRAME, dtype=np.int16))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    peer = Peer()
    call_id = "backlog-stall"
    seen: dict[str, float] = {}  # what happened on the call's thread: stall, turn end, audio waiting then (ms)
    ours: list[str] = []  # the call's own id (its result's)
    hook = srv.on_event

    def on_event(sip_call_id: str, event: CallEvent) -> None:
        hook(sip_call_id, event)
        if sip_call_id != call_id:
            return
        if not ours:
            ours.append(event.call_id)
        if event.kind == "speech_started" and "stall" not in seen:
            seen["stall"] = time.monotonic()
            time.sleep(0.6)  # the injected fault: the call's loop stalls (a GC pause, a loaded machine)
        elif event.kind == "turn_ended" and "turn_ended" not in seen:
            rtp = srv.endpoint.ua.calls[call_id].rtp
            seen["waiting_ms"] = rtp.buffered_samples / 8
            seen["turn_ended"] = time.monotonic()

    stop = threading.Event()
    sent: dict[str, float] = {}

    def phone(port: int) -> None:
        """One packet every 20 ms on an absolute schedule: 1 s of silence, the words, then silence."""
        frames = [silence] * 50 + [words[i:i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(words), FRAME)]
        start, n = time.monotonic(), 0
        while not stop.is_set() and n < 1000:
            payload = frames[n] if n < len(frames) else silence
            media.sendto(bytes([0x80, 0]) + (n & 0xFFFF).to_bytes(2, "big") + (n * FRAME).to_bytes(4, "big")
                         + (4321).to_bytes(4, "big") + payload, ("127.0.0.1", port))
            if n == len(frames) - 1:
                sent["words_end"] = time.monotonic()
            n += 1
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    srv.on_event = on_event
    sender = None
    try:
        port = int(media.getsockname()[1])
        peer.send(request("INVITE", call_id, peer.port, target_port=srv.sip_port, body=sdp(port)), srv.sip_port)
        ok = peer.expect("200", timeout=10)
        peer.send(ack_for(ok, call_id, peer.port, srv.sip_port), srv.sip_port)
        found = re.search(rb"m=audio (\d+)", ok.body)
        assert found is not None
        sender = threading.Thread(target=phone, args=(int(found.group(1)),), daemon=True)
        sender.start()
        # How far behind the call hears, sampled from here while the turn runs: the least after the stall.
        least_after_stall = float("inf")
        deadline = time.monotonic() + 20
        while "turn_ended" not in seen and time.monotonic() < deadline:
            if "stall" in seen and time.monotonic() > seen["stall"] + 0.6:
                least_after_stall = min(least_after_stall, srv.endpoint.ua.calls[call_id].rtp.buffered_samples / 8)
            time.sleep(0.005)
        assert "turn_ended" in seen, seen
        peer.send(request("BYE", call_id, peer.port, target_port=srv.sip_port, cseq=2, to_tag=ok.to_tag),
                  srv.sip_port)
        assert wait_for(lambda: any(r.call_id in ours for r in srv.results), timeout=10)
    finally:
        srv.on_event = hook
        stop.set()
        if sender is not None:
            sender.join(5)
        media.close()
        peer.close()
    [result] = [r for r in srv.results if r.call_id in ours]
    print(f"caller audio waiting: at least {least_after_stall:.0f} ms after the stall, {seen['waiting_ms']:.0f} ms "
          f"when the turn ended; last word sent -> turn ended {(seen['turn_ended'] - sent['words_end']) * 1000:.0f} "
          f"ms (the silence timeout included); caught up {result.caught_up} frames, backlog at most "
          f"{result.backlog_max_ms} ms")
    assert result.resyncs >= 1 and "stall" in seen  # the stall restarted the call's schedule
    assert least_after_stall < 200  # the call caught up with its caller before the turn ended (before: >= 600)...
    assert seen["waiting_ms"] < 500  # ...and ended the turn on audio far less than the stall old (before: 760)...
    assert result.caught_up >= 25  # ...by hearing the 600 ms that piled up faster than real time
