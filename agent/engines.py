"""Load the speech engines a configuration names: STT, brain and TTS, once per process."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .config import SpeechConfig
from .conversation import Engines, greeting_text
from .dialog.base import Brain, create_brain
from .errors import ConfigError, ModelError
from .media.priority import lower_thread_priority
from .models import check_file
from .stt.base import SttEngine, create_stt
from .stt.process import ProcessSttEngine
from .tts.base import create_tts

__all__ = ["load_engines", "load_brain", "preflight", "system_prompt"]

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


def preflight(cfg: SpeechConfig) -> None:
    """Check that every model path given exists, before loading anything (one-line ModelError)."""
    if cfg.piper_voice:
        voice = check_file(cfg.piper_voice, "Piper voice", "give --piper-voice a Piper .onnx file")
        check_file(f"{voice}.json", "Piper voice config", "put the voice's .onnx.json beside it")
    if cfg.brain == "llm" and cfg.llm_model:
        check_file(cfg.llm_model, "LLM model", "give --llm-model a .gguf file")
    if cfg.stt == "vosk" and cfg.vosk_model and not Path(cfg.vosk_model).expanduser().exists():
        raise ModelError(f"Vosk model not found: {cfg.vosk_model} (give --vosk-model a Vosk model directory or zip, "
                         "e.g. vosk-model-small-en-us-0.15)")
    if cfg.brain == "scripted" and cfg.script:
        check_file(cfg.script, "dialog script", "give --script a TOML file")


def load_engines(cfg: SpeechConfig) -> Engines:
    """Load every model first, so a missing one fails before any SIP traffic.

    Loading runs on a thread of low priority: the thread pools the model
    runtimes create inherit it and so yield to the media clock thread.
    """
    preflight(cfg)
    result: list[Engines] = []
    errors: list[BaseException] = []

    def load() -> None:
        lower_thread_priority()
        try:
            result.append(_load(cfg))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    loader = threading.Thread(target=load, name="load-models")
    loader.start()
    loader.join()
    if errors:
        raise errors[0]
    return result[0]


def _load(cfg: SpeechConfig) -> Engines:
    if cfg.stt == "pocketsphinx":  # it holds the GIL while decoding: keep it off the media clock's GIL
        stt: SttEngine = ProcessSttEngine("pocketsphinx")
    else:
        stt = create_stt(cfg.stt, cfg.vosk_model or None)
    prewarm = getattr(stt, "prewarm", None)
    if prewarm is not None:  # a decoder takes ~0.5 s to build: not while a call waits
        prewarm(1)
    tts = create_tts("piper", cfg.piper_voice or None)
    brain = load_brain(cfg)
    greeting = greeting_text(cfg, brain)
    if greeting:
        tts.synthesize_cached(greeting)
    log.info("engines ready: stt %s, brain %s, tts %s (%s)", cfg.stt, cfg.brain, "piper", cfg.tts_mode)
    return Engines(stt=stt, brain=brain, tts=tts)
