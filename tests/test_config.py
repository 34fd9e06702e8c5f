"""The configuration model: defaults, file, environment; every problem one line naming its key or variable."""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path

import pytest

from voicebot.config import ConfigError, load_config, load_settings
from voicebot.logs import bind, call_log_context, setup_logging


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "voicebot.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env or {})
    return [line.removeprefix(f"{path}: ") for line in caught.value.problems]


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.source == "defaults" and config.asr_engine == "auto"
    assert set(config.queues) == {"general", "vip", "cards", "security"}
    assert config.queues["vip"].skills == ("banking", "vip")
    assert config.settings.sip.port == 5060 and config.settings.sip.rtp_ports == (30000, 30999)


def test_values_and_keys_are_named(tmp_path: Path) -> None:
    assert _problems(tmp_path, "sip:\n  port: 15o70\n") == ["sip.port: '15o70' is not a port number"]
    assert _problems(tmp_path, "sip:\n  port: 70000\n") == ["sip.port: 70000 is not a port number (0-65535)"]
    assert _problems(tmp_path, "sip:\n  max_calls: 0\n") == ["sip.max_calls: 0 must be at least 1"]
    assert _problems(tmp_path, "sip:\n  mode: pigeon\n") == ["sip.mode: 'pigeon' is not one of trunk, register"]
    assert _problems(tmp_path, "sip:\n  rtp_ports: [5000, 4000]\n") == [
        "sip: bad RTP port range 5000-4000 (low must be above 0 and not above high)"]
    assert _problems(tmp_path, "asr: whisper\n") == ["asr: must be a mapping of keys, not 'whisper'"]
    assert _problems(tmp_path, "tts: {length_scale: fast}\n") == ["tts.length_scale: 'fast' is not a number"]
    assert _problems(tmp_path, "sip:\n  shutdown_grace_seconds: -1\n") == [
        "sip.shutdown_grace_seconds: -1 must be at least 0"]
    assert _problems(tmp_path, "sip:\n  allowed_sources: [10.0.0.300/8]\n") == [
        "sip.allowed_sources.0: value is not a valid IPv4 or IPv6 network"]


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    assert _problems(tmp_path, "sip:\n  rtp_port: [1, 2]\n") == [
        "sip.rtp_port: unknown key (did you mean 'rtp_ports'?)"]
    assert _problems(tmp_path, "flow_dir: x\n") == ["flow_dir: unknown key (did you mean 'flows_dir'?)"]
    [line] = _problems(tmp_path, "sip:\n  registrar: {hots: x}\n")
    assert line == "sip.registrar.hots: unknown key (did you mean 'host'?)"
    # A queue's own keys (the ACD's model) get the same help, past the queue's name.
    assert _problems(tmp_path, "acd:\n  queues:\n    general:\n      stratgy: ring-all\n") == [
        "acd.queues.general.stratgy: unknown key (did you mean 'strategy'?)"]
    [line] = _problems(tmp_path, "zzz: 1\n")
    assert line.startswith("zzz: unknown key (known keys: flows_dir, grammars_dir, asr")


def test_acd_queue_settings_are_checked_with_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.yaml"
    path.write_text("acd:\n  queues:\n    fraud: {description: Fraud, skills: [security], max_wait_seconds: 300}\n")
    config = load_config(path, env={})
    assert config.queues["fraud"].skills == ("security",) and "general" in config.queues
    assert config.settings.acd.queue("fraud").max_wait_seconds == 300
    path.write_text("acd:\n  queues:\n    fraud: {max_wait: 300}\n")
    wanted = r"acd\.queues\.fraud\.max_wait: unknown key \(did you mean 'max_wait_seconds'\?\)"
    with pytest.raises(ConfigError, match=wanted):
        load_config(path, env={})


def test_environment_overrides_keep_their_names(tmp_path: Path) -> None:
    env = {"VOICEBOT_SIP_HOST": "127.0.0.2", "VOICEBOT_SIP_PORT": "5999", "VOICEBOT_RTP_PORTS": "41000-41010",
           "VOICEBOT_SIP_MODE": "register", "VOICEBOT_SIP_REGISTRAR": "10.0.0.1:5062", "VOICEBOT_SIP_USER": "ivr",
           "VOICEBOT_SIP_PASSWORD": "pw", "VOICEBOT_MAX_CALLS": "7", "VOICEBOT_ASR_ENGINE": "whisper",
           "VOSK_MODEL_PATH": "/opt/vosk"}
    settings, _ = load_settings(None, env)
    sip = settings.sip
    assert (sip.host, sip.port, sip.rtp_ports, sip.mode, sip.max_calls) == (
        "127.0.0.2", 5999, (41000, 41010), "register", 7)
    assert (sip.registrar.host, sip.registrar.port, sip.registrar.username, sip.registrar.password) == (
        "10.0.0.1", 5062, "ivr", "pw")
    assert settings.asr.engine == "whisper" and settings.asr.vosk_model == Path("/opt/vosk")
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"VOICEBOT_SIP_PORT": "x", "VOICEBOT_ASR_ENGINE": "siri"})
    assert sorted(caught.value.problems) == [
        "VOICEBOT_ASR_ENGINE: 'siri' is not one of auto, vosk, pocketsphinx, whisper",
        "VOICEBOT_SIP_PORT: 'x' is not a port number"]


def test_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "voicebot.yaml"
    path.write_text("sip:\n  port: 5070\n   host: x\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: invalid YAML: mapping values are not allowed here$"):
        load_settings(path, {})
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping of keys, not list"):
        load_settings(path, {})
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'nope.yaml'}: no such file$"):
        load_settings(tmp_path / "nope.yaml", {})


def test_json_logs_carry_the_call_ids_of_their_own_thread() -> None:
    stream = io.StringIO()
    setup_logging(logging.INFO, "json", stream)
    log = logging.getLogger("voicebot.test")

    def call(n: int) -> None:
        with call_log_context(sip_call_id=f"sip-{n}"):
            bind(call_id=f"call-{n}")
            log.info("hello from %d", n)

    try:
        threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bind(call_id="nobody")  # outside a call's context: ignored, nothing leaks
        log.info("outside any call")
    finally:
        setup_logging(logging.WARNING)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines[:-1]:
        n = line["message"].removeprefix("hello from ")
        assert (line["call_id"], line["sip_call_id"], line["level"]) == (f"call-{n}", f"sip-{n}", "INFO")
    assert "call_id" not in lines[-1] and lines[-1]["logger"] == "voicebot.test"


def test_the_configuration_schema_describes_every_key_and_is_committed() -> None:
    import json

    from voicebot.config import Settings

    schema = Settings.model_json_schema(by_alias=True)
    undescribed = [f"{name}.{key}" for name, sub in [("Settings", schema), *schema["$defs"].items()]
                   for key, prop in (sub.get("properties") or {}).items() if not prop.get("description")]
    assert undescribed == []
    committed = Path(__file__).resolve().parents[1] / "deploy" / "voicebot.schema.json"
    assert json.loads(committed.read_text()) == schema, \
        "run: voicebot schema --for config -o deploy/voicebot.schema.json"
