"""Load the speech engines a configuration names: STT, brain and TTS, once per process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DEFAULT_GREETING, SpeechConfig
from .dialog.base import BRAINS, Brain
from .errors import ModelError
from .media.priority import lower_thread_priority
from .models import check_file, resolve_llm
from .stt.base import SttEngine, create_stt_from
from .tts.base import TTS, TtsEngine
from .turn.vad import Vad, VoiceDetector

__all__ = ["Engines", "greeting_text", "load_engines", "preflight", "stt_vocabulary"]

log = logging.getLogger(__name__)


@dataclass
class Engines:
    """Models loaded once and shared by every call."""

    stt: SttEngine
    brain: Brain
    tts: TtsEngine
    new_vad: Callable[[], VoiceDetector] = Vad
    """A fresh voice-activity detector for a call (``--vad``)."""
    turn_model: Callable[[np.ndarray], float] | None = None
    """The end-of-turn model (``--end-of-turn smart-turn``): a turn's audio -> how likely the caller is done."""

    def close(self) -> None:
        for engine in (self.brain, self.tts, self.stt):
            try:
                engine.close()
            except Exception:
                log.exception("closing %s failed", type(engine).__name__)


def greeting_text(cfg: SpeechConfig, brain: Brain) -> str:
    """The greeting: ``--greeting`` text, "" for none, or auto (the brain's, else the default)."""
    if cfg.greeting != "auto":
        return cfg.greeting.strip()
    return (brain.greeting() or DEFAULT_GREETING).strip()


def preflight(cfg: SpeechConfig) -> None:
    """Check that every model path given exists, before loading anything (one-line ModelError)."""
    if cfg.piper_voice:
        voice = check_file(cfg.piper_voice, "Piper voice", "give --piper-voice a Piper .onnx file")
        check_file(f"{voice}.json", "Piper voice config", "put the voice's .onnx.json beside it")
    if cfg.brain == "llm":
        resolve_llm(cfg.llm_model or None)
    if cfg.stt == "whisper":
        from .stt.whisper import resolve_model

        resolve_model(cfg.whisper_model or None)
    if cfg.stt == "vosk" and cfg.vosk_model and not Path(cfg.vosk_model).expanduser().exists():
        raise ModelError(f"Vosk model not found: {cfg.vosk_model} (give --vosk-model a Vosk model directory or zip, "
                         "e.g. vosk-model-small-en-us-0.15)")
    if cfg.brain == "scripted" and cfg.script:
        check_file(cfg.script, "dialog script", "give --script a TOML file")
    if cfg.vad == "silero":
        from .turn.silero import silero_model_path

        silero_model_path()
    if cfg.end_of_turn == "smart-turn":
        from .turn.smart_turn import SmartTurn

        SmartTurn(cfg.turn_model or None)  # 8.7 MB: a file that is no model fails here, before the big ones load


def stt_vocabulary(cfg: SpeechConfig) -> list[str]:
    """The terms the recogniser is told to expect (``--stt-vocabulary``, from ``--facts`` and a file)."""
    if cfg.stt_vocabulary == "off":
        return []
    from .dialog.facts import load_facts
    from .stt.vocabulary import facts_vocabulary, load_vocabulary

    given = load_vocabulary(cfg.stt_vocabulary) if cfg.stt_vocabulary != "auto" else []
    return given + (facts_vocabulary(load_facts(cfg.facts)) if cfg.facts else [])  # the file's first: kept


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
    stt = create_stt_from(cfg)
    prewarm = getattr(stt, "prewarm", None)
    if prewarm is not None:  # a decoder takes ~0.5 s to build: not while a call waits
        prewarm(1)
    terms = stt_vocabulary(cfg)
    if terms and hasattr(stt, "vocabulary"):
        from .stt.vocabulary import vocabulary_prompt

        stt.vocabulary = vocabulary_prompt(terms)
        log.info("stt vocabulary: %s", stt.vocabulary)
    tts = TTS.create_from("piper", cfg)
    brain = BRAINS.create_from(cfg.brain, cfg)
    greeting = greeting_text(cfg, brain)
    if greeting:
        tts.synthesize_cached(greeting)
    new_vad: Callable[[], VoiceDetector] = Vad
    if cfg.vad == "silero":
        from .turn.silero import SileroVad

        SileroVad()  # loads the network once, before any call
        new_vad = SileroVad
    turn_model: Callable[[np.ndarray], float] | None = None
    if cfg.end_of_turn == "smart-turn":
        from .turn.smart_turn import SmartTurn

        smart_turn = SmartTurn(cfg.turn_model or None)
        smart_turn.probability(np.zeros(16000, dtype=np.int16))  # the first run is slow: not while a call waits
        turn_model = smart_turn.probability
    log.info("engines ready: stt %s, brain %s, tts %s (%s), vad %s, end of turn %s", cfg.stt, cfg.brain, "piper",
             cfg.tts_mode, cfg.vad, cfg.end_of_turn)
    return Engines(stt=stt, brain=brain, tts=tts, new_vad=new_vad, turn_model=turn_model)
