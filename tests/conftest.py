"""Test tiers: every test that uses a real component is marked ``integration`` here, by module or fixture.

* fast tier (``pytest -m "not integration"``): pure code, fakes, SQLite files in a temporary folder;
* integration tier (``pytest -m integration``): real speech models, real SIP peers and sockets,
  subprocesses, HTTP servers on loopback, database faults made for real.

``scripts/test.sh`` runs both (CI); a module can still mark itself (``pytestmark``), this hook only adds the
marker where the module's own marker would otherwise be forgotten.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Folders whose every test talks to real peers or models.
INTEGRATION_FOLDERS = {"telephony": "SIP over loopback", "speech": "real recognizers and voices"}

#: Modules inside an integration folder that are pure (no sockets, peers or models): they stay in the fast tier.
FAST_MODULES = {"telephony/test_sip_message.py"}

#: Modules that use real components throughout, and why.
INTEGRATION_MODULES = {
    "asr/test_pocketsphinx.py": "the PocketSphinx model",
    "asr/test_vosk.py": "a Vosk model",
    "asr/test_whisper_engine.py": "the Whisper model",
    "asr/test_select.py": "loads the recognizers",
    "asr/test_models.py": "an HTTP server on loopback",
    "services/test_http_action.py": "an HTTP server on loopback",
    "runtime/test_call_media.py": "the speech pipeline on real thread pools and the real clock",
    "tts/test_piper.py": "the Piper voice",
}

#: Fixtures that bring a real component into any test that asks for them.
INTEGRATION_FIXTURES = {"piper_voice", "kamailio", "phone", "server"}


def integration_reason(item: pytest.Item) -> str | None:
    try:
        relative = Path(str(item.path)).resolve().relative_to(TESTS)
    except ValueError:
        return None
    if relative.as_posix() in FAST_MODULES:
        return None
    if relative.parts and relative.parts[0] in INTEGRATION_FOLDERS:
        return INTEGRATION_FOLDERS[relative.parts[0]]
    if relative.as_posix() in INTEGRATION_MODULES:
        return INTEGRATION_MODULES[relative.as_posix()]
    used = INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    return f"fixture {sorted(used)[0]}" if used else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") is None and integration_reason(item) is not None:
            item.add_marker(pytest.mark.integration)
