"""Configuration: embedded defaults, then ``voicebot.yaml`` (or ``VOICEBOT_CONFIG``), then environment.

The whole document is checked against a typed model (:class:`Settings`): a misspelt key is refused with a
did-you-mean, a bad value is named by its key (or by the environment variable it came from), and every
problem is one line a person can act on (``voicebot.yaml: sip.port: '15o70' is not a port number``).

Environment overrides keep their established names (the table :data:`ENV_OVERRIDES`); pydantic-settings'
nested ``PREFIX__SECTION__KEY`` scheme would rename them, and an explicit table lets an error name the
variable a bad value came from. ``DATABASE_URL`` and ``VOICEBOT_DATA_DIR`` are read by
:mod:`voicebot.storage.db`, and shown by ``voicebot config check``.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, IPvAnyNetwork, ValidationError, model_validator

from voicebot.acd.config import AcdSettings  # the ACD owns the model of its section (unknown keys refused there too)
from voicebot.reports.settings import ReportSettings  # likewise the reports' section
from voicebot.web.settings import WebSettings  # so does the web console

if TYPE_CHECKING:
    from voicebot.telephony.endpoint import SipConfig

DEFAULT_VOSK_MODEL = "models/vosk-model-small-en-us-0.15"
ENGINES = ("auto", "vosk", "pocketsphinx", "whisper")


class ConfigError(ValueError):
    """A configuration problem; ``problems`` holds one line per problem, each naming its file and key."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# -- value types with messages a person can act on ---------------------------------------------------------


def _port(value: Any) -> int:
    number = _whole(value, "is not a port number")
    if not 0 <= number <= 65535:
        raise ValueError(f"{value!r} is not a port number (0-65535)")
    return number


def _whole(value: Any, complaint: str = "is not a whole number") -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} {complaint}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        return int(value)
    raise ValueError(f"{value!r} {complaint}")


def _positive(value: Any) -> int:
    number = _whole(value)
    if number < 1:
        raise ValueError(f"{value!r} must be at least 1")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check


Port = Annotated[int, BeforeValidator(_port)]
PositiveInt = Annotated[int, BeforeValidator(_positive)]
Seconds = Annotated[float, BeforeValidator(_number), Field(ge=0)]


class _Section(BaseModel):
    # Unknown keys are refused: a misspelt key silently ignored is the worst kind of configuration error.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AsrSettings(_Section):
    engine: Annotated[str, BeforeValidator(_one_of(*ENGINES))] = Field(
        "auto", description="auto | vosk | pocketsphinx | whisper (VOICEBOT_ASR_ENGINE)")
    vosk_model: Path = Field(Path(DEFAULT_VOSK_MODEL), description="Vosk model folder (VOSK_MODEL_PATH)")


class TtsSettings(_Section):
    length_scale: Annotated[float, BeforeValidator(_number), Field(gt=0)] = Field(
        1.0, description="Piper speaking rate: above 1 is slower")


class RegistrarSettings(_Section):
    host: str = Field("127.0.0.1", description="Registrar or proxy (VOICEBOT_SIP_REGISTRAR=host:port).")
    port: Port = Field(5060, description="Its port.")
    username: str = Field("voicebot", description="The user voicebot registers as (VOICEBOT_SIP_USER).")
    password: str = Field("", description="Its password; prefer VOICEBOT_SIP_PASSWORD to a file.")


class SipSettings(_Section):
    host: str = Field("127.0.0.1", description="address to listen on and to put in SDP (VOICEBOT_SIP_HOST)")
    port: Port = Field(5060, description="SIP port; 0 takes any free port (VOICEBOT_SIP_PORT)")
    rtp_ports: tuple[Port, Port] = Field((30000, 30999), description="RTP port range (VOICEBOT_RTP_PORTS=a-b)")
    mode: Annotated[Literal["trunk", "register"], BeforeValidator(_one_of("trunk", "register"))] = Field(
        "trunk", description="trunk: answer INVITEs sent here; register: register as a user (VOICEBOT_SIP_MODE).")
    registrar: RegistrarSettings = Field(default_factory=RegistrarSettings, description="For register mode.")
    max_calls: PositiveInt = Field(20, description="beyond it: 486 Busy Here (VOICEBOT_MAX_CALLS)")
    default_flow: Path = Field(Path("flows/banking.yaml"), description="The flow for numbers not in flows.")
    flows: dict[str, Path] = Field(default_factory=dict, description="dialled number -> flow file")
    shutdown_grace_seconds: Seconds = Field(10.0, description="On SIGTERM, calls in progress get this long.")
    allowed_sources: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks (CIDR, or single addresses) whose INVITEs start calls: in trunk mode the PBX's or "
                    "SBC's addresses. Others get 403. Empty: any source (then firewall the SIP port).")

    @model_validator(mode="after")
    def _rtp_range(self) -> SipSettings:
        low, high = self.rtp_ports
        if not 0 < low <= high:
            raise ValueError(f"bad RTP port range {low}-{high} (low must be above 0 and not above high)")
        return self

    def endpoint_config(self) -> SipConfig:
        """The telephony side's view of this section."""
        from voicebot.telephony.endpoint import SipConfig

        return SipConfig(
            host=self.host, sip_port=self.port, rtp_port_low=self.rtp_ports[0], rtp_port_high=self.rtp_ports[1],
            mode=self.mode, registrar_host=self.registrar.host, registrar_port=self.registrar.port,
            username=self.registrar.username, password=self.registrar.password, max_calls=self.max_calls,
            flows=dict(self.flows), default_flow=self.default_flow,
            allowed_sources=tuple(str(network) for network in self.allowed_sources),
        )


class SpoolSettings(_Section):
    replay_seconds: Annotated[float, BeforeValidator(_number), Field(gt=0)] = Field(
        30.0, description="While serve runs, spooled call records are written back this often (and at start).")


class HealthSettings(_Section):
    host: str = Field("127.0.0.1", description="Address of the /healthz and /readyz endpoints.")
    port: Port | None = Field(None, description="Their port; null: off (VOICEBOT_HEALTH_PORT).")


class Settings(_Section):
    """The whole configuration document."""

    flows_dir: Path = Field(Path("flows"), description="Where flows live.")
    grammars_dir: Path = Field(Path("grammars"), description="Where grammars live.")
    asr: AsrSettings = Field(default_factory=AsrSettings, description="Speech recognition.")
    tts: TtsSettings = Field(default_factory=TtsSettings, description="Prompt voice.")
    acd: AcdSettings = Field(default_factory=AcdSettings, description="Queues that flows hand callers to.")
    reports: ReportSettings = Field(default_factory=ReportSettings,
                                    description="voicebot report: the staffing estimate's target (docs/reports.md).")
    sip: SipSettings = Field(default_factory=SipSettings, description="voicebot serve: SIP and RTP.")
    health: HealthSettings = Field(default_factory=HealthSettings, description="/healthz and /readyz.")
    spool: SpoolSettings = Field(default_factory=SpoolSettings, description="Call records spooled in an outage.")
    web: WebSettings = Field(default_factory=WebSettings, description="The agent and supervisor web console.")


# -- environment overrides -------------------------------------------------------------------------------


def _range(text: str) -> list[str]:
    low, _, high = text.partition("-")
    return [low.strip(), (high or low).strip()]


def _host_port(text: str) -> dict[str, str]:
    host, _, port = text.partition(":")
    return {"host": host, "port": port or "5060"}


#: Environment variable -> (key path in the document, how its text becomes the value there).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "VOICEBOT_SIP_HOST": (("sip", "host"), str),
    "VOICEBOT_SIP_PORT": (("sip", "port"), str),
    "VOICEBOT_RTP_PORTS": (("sip", "rtp_ports"), _range),
    "VOICEBOT_SIP_MODE": (("sip", "mode"), str),
    "VOICEBOT_SIP_REGISTRAR": (("sip", "registrar"), _host_port),
    "VOICEBOT_SIP_USER": (("sip", "registrar", "username"), str),
    "VOICEBOT_SIP_PASSWORD": (("sip", "registrar", "password"), str),
    "VOICEBOT_MAX_CALLS": (("sip", "max_calls"), str),
    "VOICEBOT_ASR_ENGINE": (("asr", "engine"), str),
    "VOSK_MODEL_PATH": (("asr", "vosk_model"), str),
    "VOICEBOT_HEALTH_PORT": (("health", "port"), str),
    "VOICEBOT_WEB_HOST": (("web", "host"), str),
    "VOICEBOT_WEB_PORT": (("web", "port"), str),
    "VOICEBOT_WEB_ENABLED": (("web", "enabled"), str),
    "VOICEBOT_WEB_SECRET": (("web", "secret"), str),
    "VOICEBOT_WEBHOOK_SECRET": (("web", "webhooks", "secret"), str),
}


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = document
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    if isinstance(value, dict) and isinstance(node.get(path[-1]), dict):
        node[path[-1]] = {**node[path[-1]], **value}
    else:
        node[path[-1]] = value


# -- reading ---------------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a ConfigError naming the file (and the line of a syntax error) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


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
    loaded = read_yaml(chosen)
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{chosen}: the configuration must be a mapping of keys, not {type(loaded).__name__}")
    return _merge(defaults, loaded), str(chosen)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Settings, str]:
    """The checked configuration and where it came from; :class:`ConfigError` lists every problem."""
    env = os.environ if env is None else env
    document, source = config_document(path, env)
    origins: dict[tuple[str, ...], str] = {}
    for name, (key_path, parse) in ENV_OVERRIDES.items():
        if env.get(name):
            _set(document, key_path, parse(env[name]))
            origins[key_path] = name
    try:
        return Settings.model_validate(document), source
    except ValidationError as exc:
        raise ConfigError([_problem(error, source, origins) for error in exc.errors()]) from None


def _problem(error: Any, source: str, origins: dict[tuple[str, ...], str]) -> str:
    loc = tuple(str(part) for part in error["loc"])
    key = ".".join(loc) or "(top level)"
    for length in range(len(loc), 0, -1):
        if loc[:length] in origins:  # the value came from the environment: name the variable
            return f"{origins[loc[:length]]}: {_message(error, loc)}"
    return f"{source}: {key}: {_message(error, loc)}"


def _message(error: Any, loc: tuple[str, ...]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"unknown key ({hint})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of keys, not {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {value!r}"
    if kind == "too_short" or kind == "too_long":
        return f"{value!r} must have {error['ctx'].get('min_length') or error['ctx'].get('max_length')} item(s)"
    if kind in ("greater_than", "greater_than_equal"):
        return f"{value!r} must be {'above' if kind == 'greater_than' else 'at least'} " \
               f"{error['ctx'].get('gt', error['ctx'].get('ge'))}"
    if kind == "missing":
        return "missing"
    if kind in ("string_type", "path_type"):
        return f"{value!r} is not text"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    """The keys the model allows at ``loc``; a mapping's own keys (queue names) are stepped over."""
    model: Any = Settings
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return []
        annotation = fields[part].annotation
        if typing.get_origin(annotation) is dict and parts:
            parts.pop(0)  # the mapping's key (e.g. a queue name): its value has the model
            annotation = typing.get_args(annotation)[1]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


# -- the view the rest of voicebot uses --------------------------------------------------------------------


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
    settings: Settings = field(default_factory=Settings)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    settings, source = load_settings(path, env)
    queues = {name: QueueConfig(name, q.description, q.skills) for name, q in settings.acd.queues.items()}
    return Config(
        flows_dir=settings.flows_dir,
        grammars_dir=settings.grammars_dir,
        queues=queues,
        asr_engine=settings.asr.engine,
        vosk_model=settings.asr.vosk_model,
        tts_length_scale=settings.tts.length_scale,
        source=source,
        settings=settings,
    )


def effective_config(config: Config, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration in force, as data (``voicebot config check``): settings plus where things live."""
    from voicebot.storage.db import data_dir, shown_url

    env = os.environ if env is None else env
    data: dict[str, Any] = config.settings.model_dump(mode="json")
    if data["sip"]["registrar"]["password"]:
        data["sip"]["registrar"]["password"] = "(set)"  # printed on a terminal: never the secret itself
    for section in (data["web"], data["web"]["webhooks"]):
        if section["secret"]:
            section["secret"] = "(set)"
    data["source"] = config.source
    # A PostgreSQL URL carries its password: shown as *** like the other secrets.
    data["database_url"] = shown_url(env.get("DATABASE_URL") or f"sqlite:///{data_dir() / 'voicebot.db'}")
    data["data_dir"] = str(data_dir())
    data["environment"] = sorted(name for name in (*ENV_OVERRIDES, "DATABASE_URL", "VOICEBOT_DATA_DIR",
                                                   "VOICEBOT_CONFIG") if env.get(name))
    return data
