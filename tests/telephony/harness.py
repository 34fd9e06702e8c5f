"""Shared pieces of the SIP tests: the in-process server on free ports, sipp, waiting.

Every server and every sipp media port is chosen free at run time, so these tests can run beside
anything else on the machine.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp")


def free_udp_ports(count: int = 4) -> int:
    """A base port with ``count`` consecutive free UDP ports on loopback (sipp uses the media port and up)."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        base = int(probe.getsockname()[1])
        probe.close()
        if base + count > 65535 or base % 2:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free UDP port range")


_SHARED_PROMPTS: list[Path] = []


def shared_prompts() -> Path:
    """One prompt cache for every server of this test run: Piper renders the banking flow's prompts once, not once
    per test (about 20 s of each server's start on a loaded machine). Its keys carry the voice and the synthesis
    settings, and files are renamed into place, so sharing it changes no audio."""
    if not _SHARED_PROMPTS:
        folder = Path(tempfile.mkdtemp(prefix="voicebot-test-prompts-"))
        atexit.register(shutil.rmtree, folder, True)
        _SHARED_PROMPTS.append(folder)
    return _SHARED_PROMPTS[0]


@contextmanager
def voicebot_server(data: Path, rtp_ports: int = 20, **sip: Any) -> Iterator[tuple[Any, Any]]:
    """The in-process server (flows/banking.yaml) with SipConfig overrides, on free SIP and RTP ports."""
    from voicebot.runtime.app import open_services
    from voicebot.storage.seed import seed_demo
    from voicebot.telephony.endpoint import SipConfig
    from voicebot.telephony.server import ServeSettings, VoicebotServer

    engine = sip.pop("engine", "pocketsphinx")
    sip.setdefault("max_calls", 4)  # the recognizer prepares a decoder per call: no more than the tests place
    rtp_low = free_udp_ports(rtp_ports)
    prompts = data / "prompts"
    if not prompts.exists() and not prompts.is_symlink():
        data.mkdir(parents=True, exist_ok=True)
        prompts.symlink_to(shared_prompts(), target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICEBOT_DATA_DIR", str(data))
        mp.delenv("DATABASE_URL", raising=False)
        mp.chdir(ROOT)
        services = open_services()
        seed_demo(services.engine)
        config = SipConfig(sip_port=0, rtp_port_low=rtp_low, rtp_port_high=rtp_low + rtp_ports - 1,
                           default_flow=ROOT / "flows/banking.yaml", **sip)
        srv = VoicebotServer.create(ServeSettings(config, shutdown_grace_seconds=2), engine=engine,
                                    services=services)
        srv.start()
        try:
            yield srv, services
        finally:
            srv.shutdown(1)


def run_sipp(
    port: int, scenario: str, cwd: Path, media_port: int, timeout: float = 40
) -> subprocess.CompletedProcess[str]:
    assert SIPP is not None
    return subprocess.run(
        [SIPP, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-s", "1000", "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", str(media_port), "-m", "1", "-l", "1", "-nostdin", "-timeout", f"{int(timeout)}s",
         "-timeout_error", "-trace_err"],
        cwd=cwd, capture_output=True, text=True, timeout=timeout + 15,
    )


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
