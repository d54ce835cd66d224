"""Load the speech engines a configuration names: STT, brain and TTS, once per process."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import SpeechConfig
from .conversation import Engines, greeting_text
from .dialog.base import Brain, create_brain
from .errors import ConfigError
from .stt.base import create_stt
from .tts.base import create_tts

__all__ = ["load_engines", "load_brain", "system_prompt"]

log = logging.getLogger(__name__)


def system_prompt(value: str) -> str | None:
    """``--system-prompt`` text, or the contents of ``@FILE``; None = the default."""
    if not value:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --system-prompt file {path}: {exc.strerror or exc}") from None
    return value


def load_brain(cfg: SpeechConfig) -> Brain:
    if cfg.brain == "scripted":
        return create_brain("scripted", script_path=cfg.script or None)
    options: dict[str, object] = {"max_tokens": cfg.max_reply_tokens}
    prompt = system_prompt(cfg.system_prompt)
    if prompt:
        options["system_prompt"] = prompt
    return create_brain("llm", model_path=cfg.llm_model or None, **options)


def load_engines(cfg: SpeechConfig) -> Engines:
    """Load every model first, so a missing one fails before any SIP traffic."""
    stt = create_stt(cfg.stt, cfg.vosk_model or None)
    tts = create_tts("piper", cfg.piper_voice or None)
    brain = load_brain(cfg)
    greeting = greeting_text(cfg, brain)
    if greeting:
        tts.synthesize_cached(greeting)
    log.info("engines ready: stt %s, brain %s, tts %s (%s)", cfg.stt, cfg.brain, "piper", cfg.tts_mode)
    return Engines(stt=stt, brain=brain, tts=tts)
