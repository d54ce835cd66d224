"""One typed configuration tree, loaded from TOML; command-line flags override it.

Every key of the TOML file has a flag of the same name (``[sip] max_calls`` is
``--max-calls``).  See ``agent.example.toml`` for a commented example.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dialog.base import BRAINS as BRAIN_REGISTRY
from .errors import ConfigError
from .stt.base import DEFAULT_STT, STT
from .tts.stream import TTS_MODES

DEFAULT_GREETING = "Hello, how can I help you?"

__all__ = [
    "DEFAULT_GREETING",
    "ServiceConfig",
    "SipConfig",
    "SpeechConfig",
    "Config",
    "load_config",
    "apply_overrides",
    "parse_cidrs",
    "AUTO_CALLS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "BRAINS",
    "STT_ENGINES",
    "TTS_MODES",
    "VADS",
    "END_OF_TURN",
]

WEBHOOK_SECRET_ENV = "SIP_AGENT_WEBHOOK_SECRET"
API_TOKEN_ENV = "SIP_AGENT_API_TOKEN"
AUTO_CALLS = -1
"""``max_calls`` for ``auto``."""
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
HANDLER_BRAINS = ("echo", "tone")
"""Line checks that need no models (``agent/handlers.py``)."""
BRAINS = (*BRAIN_REGISTRY.names(), *HANDLER_BRAINS)
STT_ENGINES = tuple(STT.names())
VADS = ("silero", "energy")
"""Voice-activity detectors for endpointing and barge-in (``agent/turn/silero.py``, ``agent/turn/vad.py``)."""
END_OF_TURN = ("smart-turn", "words", "silence")
"""How the end of a caller's turn is decided (``agent/turn/end_of_turn.py``): the sound and the words,
the words alone, or a fixed silence (``--endpoint-ms``)."""
CODECS = ("G722", "PCMU", "PCMA", "speex", "GSM", "iLBC", "L16")
"""Codec families in the pjsua2 wheel (no Opus)."""


@dataclass
class SipConfig:
    user: str = "agent"
    password: str = ""
    realm: str = ""
    """The digest realm the password is for; '' = the realm of the registrar's first challenge."""
    domain: str = ""
    registrar: str = ""
    proxy: str = ""
    bind: str = "0.0.0.0"
    port: int = 5060
    rtp_port_min: int = 40000
    rtp_port_max: int = 40999
    register: bool = True
    register_expires_secs: int = 300
    codecs: list[str] = field(default_factory=lambda: ["G722", "PCMU", "PCMA"])
    max_calls: int = AUTO_CALLS
    """A number, or ``AUTO_CALLS`` (-1, ``auto``, the default): as many as keep voice to voice within
    ``target_v2v_ms``, learnt from the turns."""
    target_v2v_ms: int = 1500
    allow_from: list[str] = field(default_factory=list)
    rtp_timeout_secs: int = 30
    invite_rate: int = 120
    drain_timeout_secs: int = 30
    """SIGTERM/SIGUSR1: how long calls in progress may go on (new calls get 503) before they are hung up."""
    """New INVITEs a minute from one source address (bursts of a sixth of it); 0 = no limit."""


@dataclass
class SpeechConfig:
    brain: str = "llm"
    script: str = ""
    stt: str = DEFAULT_STT
    vosk_model: str = ""
    whisper_model: str = ""
    stt_vocabulary: str = "auto"
    """auto = the --facts file's names and terms; off = none; a FILE = those and the file's lines."""
    llm_model: str = ""
    piper_voice: str = ""
    system_prompt: str = ""
    facts: str = ""
    timezone: str = ""
    greeting: str = "auto"
    endpoint_ms: int = 500
    endpoint_max_ms: int = 1500
    end_of_turn: str = "smart-turn"
    turn_model: str = ""
    barge_in_ms: int = 250
    barge_in_confirm_ms: int = 1200
    vad: str = "silero"
    speculate_ms: int = 200
    max_reply_tokens: int = 80
    tts_mode: str = "streaming"
    tone_hz: float = 1000.0
    records_dir: str = ""


@dataclass
class ServiceConfig:
    metrics_port: int = 0
    """0 = no metrics server."""
    metrics_bind: str = "127.0.0.1"
    log_format: str = "text"
    """``text`` (one line per event) or ``json`` (one JSON object per line, for journald and log shippers)."""
    state_dir: str = ""
    """'' = systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME/sip-agent, else ~/.local/state/sip-agent."""
    webhook: str = ""
    """URL the business's events are POSTed to; '' = none (they stay in the outbox)."""
    webhook_secret: str = ""
    """Key of the events' X-Signature (default: the SIP_AGENT_WEBHOOK_SECRET environment variable)."""
    api_port: int = 0
    """The HTTP API for outbound calls; 0 = none."""
    api_bind: str = "127.0.0.1"
    api_token: str = ""
    """The API's bearer token (default: the SIP_AGENT_API_TOKEN environment variable)."""
    dial_rate: int = 10
    """Outbound calls a minute the API may place (in bursts of 2); 0 = no limit."""


@dataclass
class Config:
    sip: SipConfig = field(default_factory=SipConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    log_level: str = "info"


def _section_fields(section: Any) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(section)}


def _coerce(where: str, value: Any, default: Any) -> Any:
    """Check a TOML value against the type of the default and convert ints to floats."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return list(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Read a TOML file into a :class:`Config` (defaults where keys are absent)."""
    cfg = Config()
    if path is None:
        return cfg
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid config file {path}: {exc}") from None
    for key, value in data.items():
        if key == "log_level":
            cfg.log_level = _coerce(f"{path}: log_level", value, cfg.log_level)
            continue
        section = getattr(cfg, key, None) if key in ("sip", "speech", "service") else None
        if section is None or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown key or section '{key}'")
        fields = _section_fields(section)
        for name, item in value.items():
            if name not in fields:
                raise ConfigError(f"{path}: unknown key '{key}.{name}'")
            where = f"{path}: {key}.{name}"
            if (key, name, item) == ("sip", "max_calls", "auto"):
                item = AUTO_CALLS
            setattr(section, name, _coerce(where, item, getattr(section, name)))
    validate(cfg)
    return cfg


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Apply ``{"sip.port": 5070, ...}`` (from flags) on top of ``cfg`` and validate."""
    for dotted, value in overrides.items():
        if dotted == "log_level":
            cfg.log_level = value
            continue
        section_name, name = dotted.split(".", 1)
        setattr(getattr(cfg, section_name), name, value)
    if not cfg.sip.password:
        cfg.sip.password = os.environ.get("SIP_PASSWORD", "")
    if not cfg.service.webhook_secret:
        cfg.service.webhook_secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if not cfg.service.api_token:
        cfg.service.api_token = os.environ.get(API_TOKEN_ENV, "")
    validate(cfg)
    return cfg


def parse_cidrs(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse an allow list; a bad entry raises ConfigError naming it."""
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"bad --allow-from entry '{entry}': not an IP address or CIDR") from None
    return nets


def _check_port(name: str, port: int, low: int = 1) -> None:
    if not low <= port <= 65535:
        raise ConfigError(f"{name} must be between {low} and 65535, got {port}")


def validate(cfg: Config) -> None:
    """Raise ConfigError with one line for the first impossible setting."""
    sip, speech = cfg.sip, cfg.speech
    _check_port("--port", sip.port, low=0)
    _check_port("--rtp-port-min", sip.rtp_port_min)
    _check_port("--rtp-port-max", sip.rtp_port_max)
    if sip.rtp_port_max < sip.rtp_port_min + 1:
        raise ConfigError("--rtp-port-max must be above --rtp-port-min (each call needs 2 ports)")
    if sip.rtp_timeout_secs < 0:
        raise ConfigError("--rtp-timeout must be 0 (off) or more seconds")
    if sip.drain_timeout_secs < 0:
        raise ConfigError(f"--drain-timeout must be 0 or more seconds, got {sip.drain_timeout_secs}")
    if sip.invite_rate < 0:
        raise ConfigError("--invite-rate must be 0 (no limit) or more INVITEs a minute")
    if sip.max_calls < 1 and sip.max_calls != AUTO_CALLS:
        raise ConfigError(f"--max-calls must be at least 1 (or auto), got {sip.max_calls}")
    if sip.target_v2v_ms < 100:
        raise ConfigError(f"--target-v2v-ms must be at least 100, got {sip.target_v2v_ms}")
    if sip.register and not sip.domain:
        raise ConfigError("--domain is required to register (or use --no-register)")
    if sip.register_expires_secs < 10:
        raise ConfigError("--register-expires must be at least 10 seconds")
    if not sip.codecs:
        raise ConfigError("--codecs must name at least one codec")
    known = {c.lower() for c in CODECS}
    for codec in sip.codecs:
        if codec.split("/")[0].lower() not in known:
            raise ConfigError(f"unknown codec '{codec}' (available: {', '.join(CODECS)})")
    try:
        ipaddress.ip_address(sip.bind)
    except ValueError:
        raise ConfigError(f"--bind must be an IP address, got '{sip.bind}'") from None
    parse_cidrs(sip.allow_from)
    _check_port("--metrics-port", cfg.service.metrics_port, low=0)
    try:
        ipaddress.ip_address(cfg.service.metrics_bind)
    except ValueError:
        raise ConfigError(f"--metrics-bind must be an IP address, got '{cfg.service.metrics_bind}'") from None
    if cfg.service.log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, got '{cfg.service.log_format}'")
    if cfg.service.webhook:
        from .webhook import check_webhook_url

        check_webhook_url(cfg.service.webhook)
        if not cfg.service.webhook_secret:
            raise ConfigError(f"--webhook needs --webhook-secret (or {WEBHOOK_SECRET_ENV}): the business checks "
                              "each event's X-Signature with it")
    if cfg.service.api_port:
        _check_port("--api-port", cfg.service.api_port)
        try:
            ipaddress.ip_address(cfg.service.api_bind)
        except ValueError:
            raise ConfigError(f"--api-bind must be an IP address, got '{cfg.service.api_bind}'") from None
        if len(cfg.service.api_token) < 16:
            raise ConfigError(f"--api-port needs --api-token (or {API_TOKEN_ENV}) of at least 16 characters: "
                              "the API places calls")
    if cfg.service.dial_rate < 0:
        raise ConfigError("--dial-rate must be 0 (no limit) or more calls a minute")
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}, got '{cfg.log_level}'")
    if speech.brain not in BRAINS:
        raise ConfigError(f"--brain must be one of {', '.join(BRAINS)}, got '{speech.brain}'")
    if speech.stt not in STT_ENGINES:
        raise ConfigError(f"--stt must be one of {', '.join(STT_ENGINES)}, got '{speech.stt}'")
    if speech.tts_mode not in TTS_MODES:
        raise ConfigError(f"--tts-mode must be one of {', '.join(TTS_MODES)}, got '{speech.tts_mode}'")
    if speech.endpoint_ms < 100 or speech.barge_in_ms < 0 or speech.barge_in_confirm_ms < 0:
        raise ConfigError("--endpoint-ms must be at least 100, --barge-in-ms and --barge-in-confirm-ms "
                          "not negative")
    if speech.stt_vocabulary not in ("auto", "off"):
        from .stt.vocabulary import load_vocabulary

        load_vocabulary(speech.stt_vocabulary)
    if speech.end_of_turn not in END_OF_TURN:
        raise ConfigError(f"--end-of-turn must be one of {', '.join(END_OF_TURN)}, got '{speech.end_of_turn}'")
    if speech.endpoint_max_ms < speech.endpoint_ms:
        raise ConfigError(f"--endpoint-max-ms ({speech.endpoint_max_ms}) must be at least --endpoint-ms "
                          f"({speech.endpoint_ms})")
    if speech.vad not in VADS:
        raise ConfigError(f"--vad must be one of {', '.join(VADS)}, got '{speech.vad}'")
    if speech.timezone:
        try:
            zoneinfo.ZoneInfo(speech.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"--timezone: unknown time zone '{speech.timezone}' (a name such as "
                              "Europe/London)") from None
    if speech.facts:
        from .dialog.facts import load_facts

        load_facts(speech.facts)  # a bad file: one line, before any model loads
