"""``voicebot demo --agent``: a caller reaches a person, over loopback (issue 9).

The in-process server (trunk mode, ``flows/banking.yaml``) runs with the live ACD; a baresip phone in auto-answer
mode is the agent "alice" (added to the demo's agents table with its SIP URI and logged in); sipp is the caller
(+15550100001): it asks for an agent, waits on hold while alice's phone rings, and talks once she answers; alice's
phone speaks its own line. The conversation is printed live from the server's events; after the call, both
sides of the bridged part are transcribed from the call's stereo recording (caller left, agent right).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from voicebot.telephony.demo import (
    DIALLED,
    _free_udp_port,
    _run_sipp,
    _seconds,
    start_demo_server,
    wait_for_result,
    write_speech,
)
from voicebot.telephony.demo_caller import CALLER, caller_scenario

AGENT_LINE = "Hello, this is Alice at Open Bank. I can see your account details. How can I help?"
CALLER_LINE = "Hello Alice, I would like to raise my card limit please."
#: A whole request: the single word "agent" is often heard with low confidence, and the flow then asks to confirm.
ASK_TEXT = "I want to talk to an agent."

SCENARIO = caller_scenario(
    "voicebot_demo_agent",
    "voicebot demo --agent caller: says agent, waits on hold, talks to the agent, hangs up.",
    """  <pause milliseconds="{greeting_ms}"/>
  <nop><action><exec rtp_stream="{ask},1,0"/></action></nop>
  <!-- recognition, the transfer prompt, hold music, the agent's phone rings and answers; the agent speaks -->
  <pause milliseconds="{talk_after_ms}"/>
  <nop><action><exec rtp_stream="{line},1,0"/></action></nop>
  <pause milliseconds="{line_ms}"/>
""",
    hangs_up=True,
)


BARESIP_CONFIG = """poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
call_local_timeout\t30
call_max_calls\t\t1
dns_server\t\t127.0.0.1:53
net_interface\t\t127.0.0.1
audio_source\t\taufile,{wav}
audio_player\t\taubridge,sink
audio_alert\t\taubridge,sink
ausrc_srate\t\t8000
auplay_srate\t\t8000
ausrc_channels\t\t1
auplay_channels\t\t1
audio_buffer\t\t20-160
rtp_ports\t\t{rtp_low}-{rtp_high}
rtp_timeout\t\t0
jitter_buffer_delay\t1-10
module_path\t\t/usr/lib/baresip/modules
module\t\t\tstdio.so
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
"""


def start_agent_phone(baresip: str, folder: Path, line_wav: Path) -> tuple[subprocess.Popen[str], str]:
    """baresip answering automatically and playing ``line_wav`` as the agent's voice; (process, SIP URI)."""
    sip_port = _free_udp_port()
    rtp_low = _free_udp_port(even=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config").write_text(BARESIP_CONFIG.format(sip_port=sip_port, wav=line_wav, rtp_low=rtp_low,
                                                         rtp_high=rtp_low + 3))
    (folder / "accounts").write_text(f"<sip:alice@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU;answermode=auto\n")
    (folder / "contacts").write_text("")
    proc = subprocess.Popen([baresip, "-f", str(folder), "-t", "120"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)  # baresip binds its port (our INVITE is retransmitted anyway)
    return proc, f"sip:alice@127.0.0.1:{sip_port}"


def stop_phone(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        try:
            assert proc.stdin is not None
            proc.stdin.write("/quit\n")
            proc.stdin.flush()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def transcribe(recognizer: object, pcm: np.ndarray) -> str:
    """What ``recognizer`` hears in 8 kHz ``pcm`` (free speech, no grammar)."""
    from voicebot.asr.base import GrammarSpec, Recognizer
    from voicebot.audio.resample import resample

    assert isinstance(recognizer, Recognizer)
    stream = recognizer.open(GrammarSpec.free())
    try:
        stream.accept(resample(pcm.astype(np.int16), 8000, recognizer.sample_rate))
        return stream.finish().text
    finally:
        stream.close()


def run_agent_demo(*, engine: str | None = None, out: Callable[[str], None] = print) -> int:
    """The caller-reaches-a-person demo; 0 when the caller was bridged to the agent and both were heard."""
    from voicebot.acd.service import AcdService
    from voicebot.audio.pcm import write_wav
    from voicebot.telephony.server import start_live_acd

    sipp, baresip = shutil.which("sipp"), shutil.which("baresip")
    if sipp is None or baresip is None:
        out("voicebot demo --agent needs sipp (sip-tester) and baresip (baresip-core); scripts/setup.sh installs them")
        return 1
    server, services, chosen, _ = start_demo_server(engine, out, label="voicebot with the live ACD")
    with tempfile.TemporaryDirectory(prefix="voicebot-demo-agent-") as tmp:
        folder = Path(tmp)
        phone = None
        try:
            if server.dispatcher is None:
                assert server.endpoint is not None
                server.dispatcher = start_live_acd(services, server.endpoint)
            acd: AcdService = server.dispatcher.service
            line_wav = folder / "agent_line.wav"
            ulaw = folder / "agent_line.ulaw"
            write_speech(ulaw, AGENT_LINE, trailing_silence_s=30)  # then quiet until the caller hangs up
            from voicebot.audio.g711 import mulaw_decode

            write_wav(line_wav, mulaw_decode(ulaw.read_bytes()), 8000)
            phone, uri = start_agent_phone(baresip, folder / "baresip", line_wav)
            login = "alice"
            try:
                acd.agents.get(login)
            except Exception:
                acd.agents.add(login, "demo", name="Alice Agent", sip_uri=uri, skills={"banking": 5, "vip": 5},
                               now=acd.now())
            from sqlmodel import select

            from voicebot.storage.acd_models import Agent
            from voicebot.storage.db import session_scope

            with session_scope(services.engine) as session:  # the phone's port is new on every run
                for agent in session.exec(select(Agent)).all():
                    if agent.login == login:
                        agent.sip_uri = uri
                        session.add(agent)
            if acd.agents.get(login).state != "available":
                if acd.agents.get(login).state != "logged_out":
                    acd.agents.logout(login, acd.now())
                acd.agents.login(login, acd.now())
            out(f"agent {login} (baresip, auto-answer) at {uri}; sipp calls {DIALLED} as {CALLER}\n")
            ask, line = folder / "ask.ulaw", folder / "line.ulaw"
            write_speech(ask, ASK_TEXT)
            line_s = write_speech(line, CALLER_LINE)
            greeting = _seconds(server, "Welcome back to Open Bank, Alice.", "How can I help you today?")
            transfer = _seconds(server, "Let me connect you to an agent. They'll have your details in front of them.")
            agent_s = 6.0  # the agent's line (baresip plays it from the answer on)
            script = SCENARIO
            for key, value in {"greeting_ms": str(int(greeting * 1000) + 600), "ask": str(ask), "line": str(line),
                               "talk_after_ms": str(int((4 + transfer + agent_s) * 1000)),
                               "line_ms": str(int(line_s * 1000) + 1500)}.items():
                script = script.replace("{" + key + "}", value)
            scenario = folder / "caller.xml"
            scenario.write_text(script, encoding="ISO-8859-1")
            done = _run_sipp(sipp, scenario, server.sip_port, folder, timeout_s=90)
            wait_for_result(server)
        finally:
            if phone is not None:
                stop_phone(phone)
            server.shutdown(2)
    if done.returncode != 0:
        out(f"\nsipp failed (exit {done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    if not server.results:
        out("no call was completed by the server")
        return 1
    result = server.results[-1]
    bridged = [e for e in result.events if e.kind == "bridged"]
    if not bridged or result.recording is None:
        out("the caller was never bridged to the agent")
        return 1
    with wave.open(str(result.recording)) as wav:  # stereo: caller left, IVR or agent right
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    talk = pcm[bridged[0].at_ms * 8:]
    out("\nthe bridged conversation, transcribed from the recording:")
    from voicebot.runtime.speech import make_recognizer

    recognizer = make_recognizer(services.config, chosen)  # the server's own closed with it
    try:
        agent_heard = transcribe(recognizer, talk[:, 1])
        caller_heard = transcribe(recognizer, talk[:, 0])
    finally:
        recognizer.close()
    out(f"  agent:  {agent_heard}")
    out(f"  caller: {caller_heard}")
    record = services.store.get_call(result.call_id)
    outcome = record.outcome if record is not None else None
    out(f"\noutcome {outcome}, agent {record.agent if record is not None else None}")
    return 0 if done.returncode == 0 and outcome == "answered" and agent_heard and caller_heard else 1
