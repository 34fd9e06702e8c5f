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
