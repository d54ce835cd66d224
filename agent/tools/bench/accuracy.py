"""The ``accuracy`` phase: the corpus spoken over SIP, per codec and condition; word error rate.

Each condition (G.722 clean, PCMU clean, PCMU with noise at 15 dB SNR) gets an
agent of its own and one call from a ``sip-agent call`` process that plays the
whole programme: every request in every voice, with a pause after each that
ends the caller's turn.  The agents run side by side (the recogniser's words,
not its speed, are measured here); their transcripts are read from their
records and scored per voice.

Two sets: the 40 phone requests of the corpus in Piper and two espeak-ng
voices, and the questions about the example facts (those of the ``answers``
phase) in six espeak-ng variants, with the facts' vocabulary given to the
recogniser as an agent serving those facts has it (``--stt-vocabulary``).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...frames import SAMPLE_RATE
from ...tts.base import TtsEngine
from ..call import write_wav
from ..harness import LOOPBACK, AgentProcess
from ..records import call_folders, transcript
from .corpus import (
    CORPUS,
    ESPEAK_VARIANTS,
    ESPEAK_VOICES,
    espeak_available,
    normalise,
    programme,
    render_espeak,
    with_noise,
    word_errors,
)

__all__ = ["CONDITIONS", "accuracy_phase"]

CONDITIONS = (("G722", "clean"), ("PCMU", "clean"), ("PCMU", "noisy"))
NOISE_SNR_DB = 15.0
GAP_SECS = 1.1
"""Silence after each request: past the 500 ms endpoint, so each request is one turn."""


@dataclass(frozen=True)
class Block:
    voice: str
    start_secs: float
    end_secs: float
    texts: list[str]
    set: str = "requests"


def _programme(piper: TtsEngine, texts: list[str], quick: bool) -> tuple[np.ndarray, list[Block]]:
    voices: dict[str, Any] = {"piper": piper.synthesize}
    questions: list[str] = []
    if espeak_available() and not quick:
        for name, args in ESPEAK_VOICES.items():
            voices[name] = lambda text, args=args: render_espeak(text, args)
        from .answers import ANSWER_QUESTIONS

        questions = [question.text for question in ANSWER_QUESTIONS if question.kind not in ("follow-up", "near-miss")]
    sets = [("requests", name, speak, texts) for name, speak in voices.items()]
    sets += [("facts-questions", name, lambda text, args=args: render_espeak(text, args), questions)
             for name, args in ESPEAK_VARIANTS.items() if questions]
    parts, blocks, t = [], [], 0.0
    for kind, name, speak, said in sets:
        audio = programme(said, speak, GAP_SECS)
        blocks.append(Block(name, t, t + len(audio) / SAMPLE_RATE, said, kind))
        parts.append(audio)
        t += len(audio) / SAMPLE_RATE
    return np.concatenate(parts), blocks


def _facts_vocabulary(workdir: Path) -> Path:
    """The example facts' vocabulary as a ``--stt-vocabulary`` file."""
    from ...dialog.facts import example_facts_path, load_facts
    from ...stt.vocabulary import facts_vocabulary

    path = workdir / "accuracy_vocabulary.txt"
    path.write_text("\n".join(facts_vocabulary(load_facts(example_facts_path()))) + "\n", encoding="utf-8")
    return path


def accuracy_phase(workdir: Path, piper: TtsEngine, agent_args: list[str], quick: bool,
                   progress: Any) -> dict[str, Any]:
    """Run the conditions side by side; ``{codec: {condition: {"wer": .., "voices": {..}}}}``."""
    texts = CORPUS[:5] if quick else CORPUS
    clean, blocks = _programme(piper, texts, quick)
    secs = len(clean) / SAMPLE_RATE
    requests = sum(block.set == "requests" for block in blocks)
    progress(f"accuracy: {len(texts)} requests x {requests} voices, the facts' questions x "
             f"{len(blocks) - requests} espeak-ng variants, {secs:.0f} s a condition")
    vocabulary = _facts_vocabulary(workdir)
    if not espeak_available() and not quick:
        progress("accuracy: espeak-ng is not installed, so only the Piper voice (apt-get install espeak-ng)")
    silent = workdir / "accuracy_script.toml"  # the agent says nothing: no turn is lost to its talking
    silent.write_text('fallback = ""\nempty_reply = ""\n', encoding="utf-8")
    runs = []
    for codec, condition in CONDITIONS:
        name = f"accuracy-{codec}-{condition}"
        wav = workdir / f"{name}.wav"
        write_wav(wav, with_noise(clean, NOISE_SNR_DB) if condition == "noisy" else clean)
        records = workdir / name
        agent = AgentProcess(workdir, [*LOOPBACK, "--brain", "scripted", "--script", str(silent), "--greeting", "",
                                       "--records-dir", str(records), "--stt-vocabulary", str(vocabulary),
                                       *agent_args], name=name).start(timeout=120)
        caller = subprocess.Popen([sys.executable, "-m", "agent.cli", "call", agent.uri, "--codecs", codec,
                                   "--play", str(wav), "--duration", f"{secs + 2:.1f}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append((codec, condition, agent, caller, records))
    result: dict[str, Any] = {}
    for codec, condition, agent, caller, records in runs:
        caller.wait(timeout=secs + 120)
        agent.stop()
        result.setdefault(codec, {})[condition] = _score(records, blocks)
        progress(f"accuracy {codec} {condition}: WER {result[codec][condition]['wer']:.1%}")
    return result


def _score(records: Path, blocks: list[Block]) -> dict[str, Any]:
    folders = call_folders(records)
    turns = [t for t in transcript(folders[-1]) if t["role"] == "user"] if folders else []
    voices, errors, words = {}, 0, 0
    questions: dict[str, Any] = {}
    asked_errors, asked_words = 0, 0
    for block in blocks:
        heard = " ".join(t["text"] for t in turns
                         if block.start_secs <= t["start_secs"] < block.end_secs)
        reference = normalise(" ".join(block.texts))
        wrong = word_errors(reference, normalise(heard))
        cell = {"wer": round(wrong / len(reference), 4), "words": len(reference)}
        if block.set == "requests":
            voices[block.voice] = cell
            errors, words = errors + wrong, words + len(reference)
        else:
            questions[block.voice] = cell
            asked_errors, asked_words = asked_errors + wrong, asked_words + len(reference)
    out: dict[str, Any] = {"wer": round(errors / max(words, 1), 4), "words": words, "voices": voices}
    if questions:
        out["facts_questions"] = {"wer": round(asked_errors / max(asked_words, 1), 4), "words": asked_words,
                                  "voices": questions}
    return out
