"""deploy/: the systemd unit verified by systemd-analyze, the sample configuration checked, the image built
where Docker runs (deploy/check.sh skips, saying why, what this machine cannot do)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    return {**os.environ, "VOICEBOT": str(Path(sys.executable).with_name("voicebot"))}


def test_deploy_check_script() -> None:
    done = subprocess.run(["bash", "deploy/check.sh"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok\n") + done.stdout.count("skipped: ") == 3


def test_systemd_analyze_catches_a_broken_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "deploy" / "voicebot.service").read_text()
    voicebot = str(Path(sys.executable).with_name("voicebot"))
    good = unit.replace("/opt/voicebot/bin/voicebot", voicebot)
    (tmp_path / "voicebot.service").write_text(good)
    assert subprocess.run(["systemd-analyze", "verify", str(tmp_path / "voicebot.service")],
                          capture_output=True, text=True, check=False).returncode == 0
    (tmp_path / "voicebot.service").write_text(good.replace(f"ExecStart={voicebot}", "ExecStart=/nowhere/voicebot"))
    bad = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "voicebot.service")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "/nowhere/voicebot is not executable" in bad.stderr


def test_the_container_configuration_names_only_known_keys() -> None:
    from voicebot.config import load_settings

    settings, _ = load_settings(ROOT / "deploy" / "voicebot.yaml", {})
    assert settings.sip.host == "0.0.0.0" and str(settings.sip.default_flow).startswith("/etc/voicebot/")
