"""Configuration: embedded defaults, then ``voicebot.yaml`` (or ``VOICEBOT_CONFIG``), then environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_VOSK_MODEL = "models/vosk-model-small-en-us-0.15"


@dataclass(frozen=True)
class QueueConfig:
    name: str
    description: str = ""
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    flows_dir: Path
    grammars_dir: Path
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    asr_engine: str = "auto"
    vosk_model: Path = Path(DEFAULT_VOSK_MODEL)
    tts_length_scale: float = 1.0
    source: str = "defaults"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConfigError(ValueError):
    pass


def config_document(path: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """The embedded defaults merged with the configuration file, and where that file was.

    The file is ``path``, else ``VOICEBOT_CONFIG``, else ``./voicebot.yaml`` if present.
    """
    env = os.environ if env is None else env
    defaults = yaml.safe_load(resources.files("voicebot").joinpath("defaults/voicebot.yaml").read_text())
    chosen = path or (Path(env["VOICEBOT_CONFIG"]) if env.get("VOICEBOT_CONFIG") else None)
    if chosen is None and Path("voicebot.yaml").is_file():
        chosen = Path("voicebot.yaml")
    if chosen is None:
        return defaults, "defaults"
    try:
        loaded = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{chosen}: cannot read configuration: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{chosen}: configuration must be a mapping")
    return _merge(defaults, loaded), str(chosen)


def load_config(path: Path | None = None) -> Config:
    data, source = config_document(path)
    queues = {
        name: QueueConfig(name, str(q.get("description", "")), tuple(q.get("skills", ())))
        for name, q in (data.get("acd", {}).get("queues") or {}).items()
    }
    asr = data.get("asr") or {}
    engine = os.environ.get("VOICEBOT_ASR_ENGINE") or str(asr.get("engine", "auto"))
    if engine not in ("auto", "vosk", "pocketsphinx", "whisper"):
        raise ConfigError(f"asr.engine must be auto, vosk, pocketsphinx or whisper, not {engine!r}")
    return Config(
        flows_dir=Path(data.get("flows_dir", "flows")),
        grammars_dir=Path(data.get("grammars_dir", "grammars")),
        queues=queues,
        asr_engine=engine,
        vosk_model=Path(os.environ.get("VOSK_MODEL_PATH") or asr.get("vosk_model", DEFAULT_VOSK_MODEL)),
        tts_length_scale=float((data.get("tts") or {}).get("length_scale", 1.0)),
        source=source,
    )
