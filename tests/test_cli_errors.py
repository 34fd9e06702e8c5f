"""Every CLI failure is one line naming the file, key or address, with exit status 2 (usage, configuration)
or 1 (runtime); a traceback only with --debug. Real processes, as users run them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.integration


def test_version(tmp_path: Path) -> None:
    done = run(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("voicebot ")


def test_bad_port_in_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("sip:\n  port: 15o70\n")
    for args in (("config", "check", str(config)), ("serve", "--config", str(config))):
        done = run(tmp_path, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"error: {config}: sip.port: '15o70' is not a port number\n"


def test_misspelt_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("sip:\n  rtp_port: [40000, 40100]\nasr:\n  engine: whisper\n  vosk_modle: x\n")
    done = run(tmp_path, "config", "check", str(config))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {config}: asr.vosk_modle: unknown key (did you mean 'vosk_model'?)",
        f"error: {config}: sip.rtp_port: unknown key (did you mean 'rtp_ports'?)",
    ]


def test_yaml_error_names_the_real_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("sip:\n  port: 5070\n   host: 127.0.0.1\n")
    done = run(tmp_path, "config", "check", str(config))
    assert done.returncode == 2
    assert done.stderr == f"error: {config}:3: invalid YAML: mapping values are not allowed here\n"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    done = run(tmp_path, "config", "check", env={"VOICEBOT_SIP_PORT": "15o70", "VOICEBOT_MAX_CALLS": "0"})
    assert done.returncode == 2
    assert sorted(done.stderr.splitlines()) == ["error: VOICEBOT_MAX_CALLS: '0' must be at least 1",
                                                "error: VOICEBOT_SIP_PORT: '15o70' is not a port number"]


def test_config_check_prints_the_effective_configuration(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("sip:\n  port: 5070\n  registrar: {password: hunter2}\n")
    done = run(tmp_path, "config", "check", "--json", str(config), env={"VOICEBOT_RTP_PORTS": "41000-41010"})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["sip"]["port"] == 5070 and data["sip"]["rtp_ports"] == [41000, 41010]
    assert data["sip"]["registrar"]["password"] == "(set)" and "hunter2" not in done.stdout
    assert data["source"] == str(config) and data["environment"] == ["VOICEBOT_DATA_DIR", "VOICEBOT_RTP_PORTS"]
    assert data["acd"]["queues"]["cards"]["skills"] == ["cards"]


def test_config_check_hides_the_database_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://voicebot:s3cret@db.example:5432/voicebot"
    done = run(tmp_path, "config", "check", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout
    assert "database_url: postgresql+psycopg://voicebot:***@db.example:5432/voicebot" in done.stdout


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    config = tmp_path / "voicebot.yaml"
    config.write_text("sip:\n  port: 15o70\n")
    done = run(tmp_path, "--debug", "config", "check", str(config))
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr and "ConfigError" in done.stderr


def test_address_already_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, socket.socket() as probe:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        probe.bind(("127.0.0.1", 0))
        health = probe.getsockname()[1]
        probe.close()
        # The health port, bound before SIP, is released on the way out (no wait for a serve loop never run).
        done = run(tmp_path, "serve", env={"VOICEBOT_SIP_PORT": str(port), "VOICEBOT_RTP_PORTS": "42100-42110",
                                           "VOICEBOT_HEALTH_PORT": str(health)})
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"error: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in done.stderr


def test_health_port_already_in_use(tmp_path: Path) -> None:
    """The health port is bound before the slow start-up and named when taken; the SIP port is not blamed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path, "serve", env={"VOICEBOT_SIP_PORT": "0", "VOICEBOT_HEALTH_PORT": str(port)})
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == f"error: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in done.stderr and "listening: SIP" not in done.stderr  # it never took calls


def test_listen_error_lines() -> None:
    from voicebot.cli_errors import listen_error_line

    unresolved = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert listen_error_line(unresolved, "pbx.invalid", 5060) == \
        "cannot listen on pbx.invalid:5060: name or service not known"
    # An OS error about a file (the data folder, say) is not the address's fault.
    assert listen_error_line(PermissionError(13, "Permission denied", "/var/lib/voicebot"), "0.0.0.0", 5060) is None


def test_say_refuses_empty_text_and_other_formats(tmp_path: Path) -> None:
    empty = run(tmp_path, "say", "  ", "-o", str(tmp_path / "x.wav"))
    assert (empty.returncode, empty.stderr) == (2, "error: say: the text is empty; give the words to speak\n")
    mp3 = run(tmp_path, "say", "hello", "-o", str(tmp_path / "x.mp3"))
    assert mp3.returncode == 2
    assert mp3.stderr == f"error: {tmp_path / 'x.mp3'}: only .wav output is supported (16-bit mono PCM)\n"
    assert not (tmp_path / "x.mp3").exists()


def test_a_malformed_labels_file_is_a_usage_error(tmp_path: Path) -> None:
    labels = tmp_path / "labels.tsv"
    labels.write_text("pin.wav\t4417\n")  # no kind column
    done = run(tmp_path, "recognize", "--expected", str(labels))
    assert done.returncode == 2
    assert done.stderr == f"error: {labels}:1: expected file<TAB>expected<TAB>kind, got ['pin.wav', '4417']\n"


def test_a_conversation_test_with_a_yaml_error_names_its_file_once(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "test_bad.yaml").write_text("turns: [\n  - bad: : :\n")
    done = run(tmp_path, "test", str(folder))
    assert done.returncode == 1
    line = next(text for text in done.stderr.splitlines() if text.startswith("ERROR"))
    assert line.startswith(f"ERROR {folder / 'test_bad.yaml'}:2: invalid YAML") and line.count("test_bad.yaml") == 1


def test_conversation_tests_in_an_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    done = run(tmp_path, "test", str(folder))
    assert (done.returncode, done.stderr) == (2, f"error: no conversation tests (test_*.yaml) in {folder}\n")


def test_a_flow_with_errors_is_reported_line_by_line(tmp_path: Path) -> None:
    run(tmp_path, "db", "init", "--demo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nstart: a\nnodes:\n  a: {kind: say, prompt: hi, next: b}\n")
    done = run(tmp_path, "chat", str(bad))
    assert done.returncode == 2
    assert done.stderr == f"error: {bad}:4: node 'a': next target 'b' does not exist\n"


def test_unknown_call(tmp_path: Path) -> None:
    done = run(tmp_path, "calls", "show", "nope")
    assert (done.returncode, done.stderr) == (1, "error: no call 'nope'\n")
    bad_since = run(tmp_path, "calls", "list", "--since", "yesterday")
    assert bad_since.returncode == 2 and "--since: 'yesterday' is neither a duration" in bad_since.stderr


def test_usage_errors_are_one_line_too(tmp_path: Path) -> None:
    missing = run(tmp_path, "chat", "nope.yaml")
    assert (missing.returncode, missing.stderr) == (
        2, "error: Invalid value for 'FLOW': Path 'nope.yaml' does not exist. (see 'voicebot chat --help')\n")
    option = run(tmp_path, "calls", "list", "--limit", "many")
    assert option.returncode == 2 and option.stderr.count("\n") == 1
    assert option.stderr.startswith("error: Invalid value for '--limit': 'many' is not a valid integer")


def test_reload_without_a_running_server(tmp_path: Path) -> None:
    done = run(tmp_path, "reload")
    pid_file = tmp_path / "data" / "voicebot.pid"
    assert (done.returncode, done.stderr) == (
        1, f"error: {pid_file}: no such file: is `voicebot serve` running here? (or give --pid)\n")
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text("999999999\n")
    stale = run(tmp_path, "reload")
    assert (stale.returncode, stale.stderr) == (
        1, "error: no process 999999999: `voicebot serve` is not running (stale pid file?)\n")


def test_a_simulation_script_with_a_yaml_error(tmp_path: Path) -> None:
    script = tmp_path / "call.yaml"
    script.write_text("turns: [\n")
    done = run(tmp_path, "simulate", "flows/banking.yaml", "--script", str(script), "--out", str(tmp_path / "x.wav"))
    assert (done.returncode, done.stderr) == (
        2, f"error: {script}:2: invalid YAML: expected the node content, but found '<stream end>'\n")
