"""The two test tiers of tests/conftest.py: real components never run in the fast tier."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_cli import ROOT

pytestmark = pytest.mark.integration


def _collected(marker: str, *paths: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, *paths],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_real_components_are_integration_only() -> None:
    real = ("tests/telephony/test_call_loop.py", "tests/asr/test_pocketsphinx.py", "tests/tts/test_piper.py",
            "tests/services/test_http_action.py", "tests/test_cli.py")
    assert _collected("not integration", *real) == []
    assert len(_collected("integration", *real)) > 20


def test_pure_tests_stay_in_the_fast_tier() -> None:
    fast = _collected("not integration", "tests/flow/test_expr.py", "tests/test_config.py")
    assert len(fast) > 100 and _collected("integration", "tests/flow/test_expr.py") == []
