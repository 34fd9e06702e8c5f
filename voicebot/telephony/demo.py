"""``voicebot demo``: one real SIP call over loopback, a scripted caller (sipp) against the in-process server.

The server answers in trunk mode with ``flows/banking.yaml`` on free loopback ports; sipp calls it as the demo
bank's known caller (+15550100001), says "what's my balance" (synthesized speech streamed as raw mu-law with
``rtp_stream``), keys the PIN 1234 by RFC 2833 (the DTMF pcaps shipped with Debian's sip-tester), says
"no thanks" when asked whether there is anything else, and waits for the IVR's BYE. The conversation is
printed live from the server's media events, then the call record.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from voicebot.runtime.call_events import CallEvent
from voicebot.telephony.demo_caller import CALLER, caller_scenario, keyed

if TYPE_CHECKING:
    from voicebot.runtime.app import Services
    from voicebot.telephony.server import VoicebotServer

ROOT = Path(__file__).resolve().parents[2]
FLOW = Path("flows/banking.yaml")
DIALLED = "1000"
PCAPS = Path("/usr/share/sip-tester")
BALANCE_TEXT = "what's my balance"
#: PocketSphinx (the fallback engine) hears the menu's own keyword far more reliably than a whole question.
BALANCE_TEXT_KEYWORD = "balance"
DONE_TEXT = "no thanks"

#: The caller's script. Pauses let the IVR's prompts play first (speech during a prompt would barge in,
#: which works too, but the demo is meant to be listened to in order).
SCENARIO = caller_scenario(
    "voicebot_demo",
    "voicebot demo caller: PCMU + telephone-event; speech by rtp_stream (raw mu-law), PIN by RFC 2833 pcaps.",
    """  <!-- the greeting and the main menu question -->
  <pause milliseconds="{greeting_ms}"/>
  <nop><action><exec rtp_stream="{balance},1,0"/></action></nop>
  <!-- the speech, its recognition, the PIN prompt -->
  <pause milliseconds="{pin_wait_ms}"/>{confirm}
""" + keyed("1234") + """
  <!-- the balance, then "Is there anything else I can help you with?" -->
  <pause milliseconds="{balance_wait_ms}"/>
  {done_action}

""",
)


#: Key 1 ("yes") when the recognizer's confidence calls for a confirmation ("I heard check balance. Is that right?").
CONFIRM = """
  <nop><action><exec play_pcap_audio="{pcaps}/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="1200"/>"""


class DemoError(RuntimeError):
    pass


def choose_engine(engine: str | None) -> str:
    """The engine asked for, else Whisper when faster_whisper is installed, else pocketsphinx."""
    if engine:
        return engine
    return "whisper" if importlib.util.find_spec("faster_whisper") is not None else "pocketsphinx"


def _free_udp_port(even: bool = False) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not even or (port % 2 == 0 and port < 65000):
            return port
    raise DemoError("no free UDP port on 127.0.0.1")


def _free_rtp_range(size: int = 20) -> tuple[int, int]:
    """A block of ``size`` UDP ports on loopback that are free right now."""
    for base in range(31000, 60000, 200):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base, base + size - 1
    raise DemoError("no free block of RTP ports on 127.0.0.1")


def write_speech(path: Path, text: str, trailing_silence_s: float = 1.2) -> float:
    """Caller speech as raw mu-law (no header, what ``rtp_stream`` plays), with silence after it so the
    IVR's endpointer hears the end of the utterance. Returns the duration in seconds."""
    from voicebot.audio.g711 import mulaw_encode
    from voicebot.tts.caller_voices import Voice, synthesize

    speech = synthesize(Voice("flite", "slt"), text)
    silence = np.zeros(int(8000 * trailing_silence_s), dtype=np.int16)
    lead = np.zeros(1600, dtype=np.int16)
    pcm = np.concatenate([lead, speech.astype(np.int16), silence])
    path.write_bytes(mulaw_encode(pcm))
    return len(pcm) / 8000


def write_scenario(
    directory: Path,
    greeting_s: float = 3.5,
    anything_else_s: float = 2.5,
    balance_text: str = BALANCE_TEXT,
    confirm: bool = False,
) -> Path:
    """The caller's sipp scenario and its two speech files, written into ``directory``.

    ``greeting_s``: how long the welcome and the menu question take to play; the caller then answers,
    barging in on the list of menu options. ``anything_else_s``: the length of the last question.
    ``confirm``: the caller of a low-confidence recognizer (PocketSphinx): key 1 to confirm the recognized
    request before the PIN, and key 2 (no) instead of "no thanks" at the end."""
    balance, done = directory / "balance.ulaw", directory / "no_thanks.ulaw"
    balance_s = write_speech(balance, balance_text)
    write_speech(done, DONE_TEXT)
    scenario = directory / "demo_caller.xml"
    # PocketSphinx rarely hears "no thanks" from this voice: that caller answers the last question by key 2 (no).
    done_action = (f'<nop><action><exec play_pcap_audio="{PCAPS}/dtmf_2833_2.pcap"/></action></nop>' if confirm
                   else '<nop><action><exec rtp_stream="{done},1,0"/></action></nop>')
    text = SCENARIO.replace("{confirm}", CONFIRM if confirm else "").replace("{done_action}", done_action)
    for key, value in {
        "greeting_ms": str(int(greeting_s * 1000) + 600),
        "balance": str(balance),
        "done": str(done),
        # the utterance and its end, recognition, then the PIN keys barge in on the PIN prompt
        "pin_wait_ms": str(int(balance_s * 1000) + 2500),
        # verify, the balance (about 7 s), the last question
        "balance_wait_ms": str(int((8.5 + anything_else_s) * 1000)),
        "pcaps": str(PCAPS),
    }.items():
        text = text.replace("{" + key + "}", value)
    scenario.write_text(text, encoding="ISO-8859-1")
    return scenario


class LivePrinter:
    """Prints the conversation as the server's media events arrive (called from the call's thread)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.events: list[tuple[str, CallEvent]] = []
        self._input_end_ms: int | None = None

    def __call__(self, sip_call_id: str, event: CallEvent) -> None:
        with self.lock:
            self.events.append((sip_call_id, event))
            line = self._line(event)
            if line:
                self.out(f"  {event.at_ms / 1000:6.2f}s  {line}")

    def _line(self, event: CallEvent) -> str | None:
        data: dict[str, Any] = event.data
        if event.kind == "call_started":
            return f"call from {data.get('caller_id')} to {data.get('dialled')}"
        if event.kind == "prompt":
            latency = ""
            if self._input_end_ms is not None:
                latency = f"   [turn latency {event.at_ms - self._input_end_ms} ms]"
                self._input_end_ms = None
            return f"IVR:    {data.get('text')}{latency}"
        if event.kind == "recognized":
            self._input_end_ms = int(data.get("speech_end_ms") or event.at_ms)
            confidence = float(data.get("confidence", 0.0))
            return f"caller: \"{data.get('text')}\" (confidence {confidence:.2f}, {data.get('engine')})"
        if event.kind == "dtmf":
            self._input_end_ms = event.at_ms
            return f"caller: key {data.get('keys')}"
        if event.kind == "barge_in":
            return f"        (barge-in by {data.get('by')})"
        if event.kind == "no_input":
            return "        (no input)"
        if event.kind == "handoff":
            return f"IVR:    hands off to queue {data.get('queue')} ({data.get('reason')})"
        if event.kind == "enqueued":
            return f"        (waiting in queue {data.get('queue')}, on hold)"
        if event.kind == "offered":
            return f"        (agent {data.get('agent')}'s phone rings)"
        if event.kind == "bridged":
            return f"        (agent {data.get('agent')} answered: caller and agent are connected)"
        if event.kind == "agent_dropped":
            return f"        (agent {data.get('agent')} hung up)"
        if event.kind == "hangup":
            return f"IVR:    hangs up ({data.get('outcome')})"
        if event.kind == "caller_hung_up":
            return "caller hung up"
        if event.kind == "call_ended":
            return f"call ended: outcome {data.get('outcome')}"
        return None


def _run_sipp(
    sipp: str, scenario: Path, sip_port: int, cwd: Path, timeout_s: int = 60
) -> subprocess.CompletedProcess[str]:
    media_port = _free_udp_port(even=True)
    return subprocess.run(
        [sipp, f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", DIALLED, "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", str(media_port), "-m", "1", "-l", "1", "-nostdin",
         "-timeout", f"{timeout_s}s", "-timeout_error", "-trace_err"],
        cwd=cwd, capture_output=True, text=True, timeout=timeout_s + 15, check=False,
    )


def _seconds(server: Any, *texts: str) -> float:
    """How long the IVR takes to say ``texts`` (rendered in its prompt cache), for the caller's pauses."""
    return float(sum(len(server.prompts.render(text)) / server.prompts.rate for text in texts))


class DemoServer(NamedTuple):
    server: VoicebotServer
    services: Services
    recognizer: str  # the speech engine chosen
    rtp_ports: tuple[int, int]


def start_demo_server(engine: str | None, out: Callable[[str], None], label: str = "voicebot") -> DemoServer:
    """The demo bank seeded and an in-process voicebot answering :data:`DIALLED` with :data:`FLOW` in trunk
    mode on free loopback ports, started, with the conversation printed live by :class:`LivePrinter`."""
    from voicebot.runtime.app import open_services
    from voicebot.storage.seed import seed_demo
    from voicebot.telephony.endpoint import SipConfig
    from voicebot.telephony.server import ServeSettings, VoicebotServer

    flow = FLOW if FLOW.is_file() else ROOT / FLOW
    chosen = choose_engine(engine)
    services = open_services()  # creates the tables
    seed_demo(services.engine)
    low, high = _free_rtp_range()
    sip = SipConfig(host="127.0.0.1", sip_port=0, rtp_port_low=low, rtp_port_high=high, mode="trunk",
                    flows={DIALLED: flow}, default_flow=flow)
    out(f"starting {label} (trunk mode, {flow}, speech recognition: {chosen}) ...")
    server = VoicebotServer.create(ServeSettings(sip, shutdown_grace_seconds=2), engine=chosen, services=services)
    server.on_event = LivePrinter(out)
    server.start()
    return DemoServer(server, services, chosen, (low, high))


def wait_for_result(server: VoicebotServer, seconds: float = 5.0) -> None:
    """Wait (bounded) until the server has finished the call: its result lands just after sipp exits."""
    end = time.monotonic() + seconds
    while not server.results and time.monotonic() < end:
        time.sleep(0.05)


def run_demo(*, engine: str | None = None, out: Callable[[str], None] = print) -> int:
    """Place one scripted SIP call to an in-process voicebot and print it; 0 when the call was self-served."""
    from voicebot.storage.calls import record_as_json

    sipp = shutil.which("sipp")
    if sipp is None:
        out("voicebot demo needs sipp (Debian package sip-tester; scripts/setup.sh installs it)")
        return 1
    if not (PCAPS / "dtmf_2833_1.pcap").is_file():
        out(f"voicebot demo needs the RFC 2833 pcaps of sip-tester in {PCAPS}")
        return 1
    server, services, chosen, (low, high) = start_demo_server(engine, out)
    try:
        out(f"voicebot listens on sip:127.0.0.1:{server.sip_port} (RTP {low}-{high}); "
            f"sipp calls {DIALLED} as {CALLER}\n")
        with tempfile.TemporaryDirectory(prefix="voicebot-demo-") as tmp:
            scenario = write_scenario(
                Path(tmp),
                greeting_s=_seconds(server, "Welcome back to Open Bank, Alice.", "How can I help you today?"),
                anything_else_s=_seconds(server, "Is there anything else I can help you with?"),
                balance_text=BALANCE_TEXT if chosen == "whisper" else BALANCE_TEXT_KEYWORD,
                confirm=chosen != "whisper",
            )
            started = time.monotonic()
            done = _run_sipp(sipp, scenario, server.sip_port, Path(tmp))
            elapsed = time.monotonic() - started
        wait_for_result(server)
        if done.returncode != 0:
            out(f"\nsipp failed (exit {done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
        if not server.results:
            out("no call was completed by the server")
            return 1
        result = server.results[-1]
        record = services.store.get_call(result.call_id)
        out(f"\ncall {result.call_id}: {elapsed:.1f} s, ended by {result.ended_by}, "
            f"RTP rx {result.stats.get('rx_packets', 0)} / tx {result.stats.get('tx_packets', 0)} packets")
        if record is None:
            out(f"(no record stored for {result.call_id})")
            return 1
        out("call record: " + json.dumps(record_as_json(record), sort_keys=True))
        out(f"outcome {record.outcome}")
        return 0 if done.returncode == 0 and record.outcome == "self_served" else 1
    finally:
        server.shutdown(2)
