"""The ``human`` phase: recordings of real people, decoded whole offline and heard over SIP; what the call loses.

The corpus (``agent/tools/bench/human/``: ``corpus.tsv``, ``audio/*.opus``,
``LICENSES.md``) holds 160 recordings of 29 speakers from public datasets
(LibriSpeech, LJ Speech, CMU Sphinx test data, LibriVox, Common Voice, a
spontaneous talk, JFK) and 30 phone and reference numbers built from the Free
Spoken Digit Dataset, read in groups with pauses.  Each file's SHA-256 is
pinned in ``corpus.tsv`` with its licence and the exact source it came from.

For each codec (G.722 at 16 kHz; PCMU, 8 kHz mu-law) the phase reports:

* **offline**: Whisper decoding each whole recording, through that codec's band
  (PCMU: 8 kHz mu-law and back), with no vocabulary: what the model can do;
* **over SIP**: the recordings played one after another into a silent agent
  (``gap_secs`` of silence after each) whose transcript is scored per recording:
  the difference is what turn-taking and streaming lose;
* **cut-offs**: recordings with a pause of 0.5 s or more inside a sentence whose
  words came back as more than one turn;
* **words lost**: reference words with nothing in their place (deletions).

``modes`` are ``--end-of-turn`` values, so the adaptive end of turn can be set
against the fixed silence endpoint on the same recordings.
"""

from __future__ import annotations

import audioop
import csv
import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...frames import SAMPLE_RATE
from ...media.resample import resample
from ..call import write_wav
from ..harness import LOOPBACK, AgentProcess
from ..records import call_folders, transcript
from .corpus import normalise

__all__ = ["HUMAN_DIR", "Recording", "alignment", "human_phase", "load_recordings", "telephone"]

HUMAN_DIR = Path(__file__).resolve().parent / "human"
GAP_SECS = 2.6
"""Silence after each recording: past the longest endpoint (1.5 s) and the final decode."""
PAUSE_SECS = 0.5
"""A silence this long inside a recording is a pause the agent must not cut the speaker at."""


@dataclass(frozen=True)
class Recording:
    id: str
    speaker: str
    group: str
    licence: str
    sha256: str
    pause_secs: float
    number: bool
    constructed: bool
    transcript: str

    @property
    def path(self) -> Path:
        return HUMAN_DIR / "audio" / f"{self.id}.opus"

    def audio(self) -> np.ndarray:
        """The recording as int16 at 16 kHz (its SHA-256 checked)."""
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ValueError(f"{self.path}: SHA-256 does not match corpus.tsv")
        from faster_whisper.audio import decode_audio

        samples = decode_audio(str(self.path), sampling_rate=SAMPLE_RATE)
        return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def load_recordings() -> list[Recording]:
    with (HUMAN_DIR / "corpus.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Recording(r["id"], r["speaker"], r["group"], r["licence"], r["sha256"], float(r["pause_s"]),
                      r["number"] == "1", r["constructed"] == "1", r["transcript"]) for r in rows]


def quick_set(recordings: list[Recording], per_kind: int) -> list[Recording]:
    """A few of each kind: with a pause, a number, and the rest."""
    paused = [r for r in recordings if r.pause_secs >= PAUSE_SECS and not r.number][:per_kind]
    numbers = [r for r in recordings if r.number][:per_kind]
    rest = [r for r in recordings if r not in paused and r not in numbers][:per_kind]
    return paused + numbers + rest


def telephone(audio: np.ndarray, codec: str) -> np.ndarray:
    """``audio`` as the agent hears it through ``codec``: PCMU is 8 kHz mu-law; G.722 keeps 16 kHz."""
    if codec != "PCMU":
        return audio
    narrow = resample(audio, SAMPLE_RATE, 8000)
    narrow = np.frombuffer(audioop.ulaw2lin(audioop.lin2ulaw(narrow.tobytes(), 2), 2), dtype=np.int16)
    return resample(narrow, 8000, SAMPLE_RATE)


def alignment(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    """(errors, deletions) of the best alignment: substitutions + deletions + insertions, and deletions alone."""
    rows = len(reference) + 1
    cost = [[(j, 0) for j in range(len(hypothesis) + 1)]]
    for i in range(1, rows):
        row = [(i, i)]
        for j, hyp in enumerate(hypothesis, 1):
            sub = cost[i - 1][j - 1]
            candidates = [(sub[0] + (reference[i - 1] != hyp), sub[1]),
                          (cost[i - 1][j][0] + 1, cost[i - 1][j][1] + 1),  # a reference word deleted
                          (row[j - 1][0] + 1, row[j - 1][1])]
            row.append(min(candidates))
        cost.append(row)
    return cost[-1][-1]


def _offline(recordings: list[Recording], audio: dict[str, np.ndarray], codec: str,
             whisper: Any) -> dict[str, tuple[int, int, int]]:
    out = {}
    for rec in recordings:
        reference = normalise(rec.transcript)
        errors, deleted = alignment(reference, normalise(whisper.decode(telephone(audio[rec.id], codec))))
        out[rec.id] = (errors, deleted, len(reference))
    return out


def human_phase(workdir: Path, agent_args: list[str], quick: bool, progress: Any,
                codecs: tuple[str, ...] = ("G722", "PCMU"),
                modes: tuple[str, ...] = ("smart-turn", "silence")) -> dict[str, Any]:
    """``{codec: {"offline": cell, mode: cell, ...}}``, a cell per group and in all (see the module docstring)."""
    from ...stt.whisper import WhisperEngine

    recordings = load_recordings()
    if quick:
        recordings = quick_set(recordings, 2)
    audio = {rec.id: rec.audio() for rec in recordings}
    gap = np.zeros(int(GAP_SECS * SAMPLE_RATE), dtype=np.int16)
    lead = np.zeros(SAMPLE_RATE, dtype=np.int16)
    spans, parts, t = {}, [lead], len(lead) / SAMPLE_RATE
    for rec in recordings:
        secs = len(audio[rec.id]) / SAMPLE_RATE
        spans[rec.id] = (t, t + secs + GAP_SECS)
        parts += [audio[rec.id], gap]
        t += secs + GAP_SECS
    programme = np.concatenate(parts)
    total = len(programme) / SAMPLE_RATE
    speakers = len({rec.speaker for rec in recordings})
    progress(f"human: {len(recordings)} recordings of {speakers} speakers, {total:.0f} s a call")
    silent = workdir / "human_script.toml"
    silent.write_text('fallback = ""\nempty_reply = ""\n', encoding="utf-8")
    wav = workdir / "human.wav"
    write_wav(wav, programme)
    runs = []
    for codec in codecs:
        for mode in modes:
            name = f"human-{codec}-{mode}"
            records = workdir / name
            agent = AgentProcess(workdir, [*LOOPBACK, "--brain", "scripted", "--script", str(silent), "--greeting",
                                           "", "--end-of-turn", mode, "--records-dir", str(records), *agent_args],
                                 name=name).start(timeout=120)
            caller = subprocess.Popen([sys.executable, "-m", "agent.cli", "call", agent.uri, "--codecs", codec,
                                       "--play", str(wav), "--duration", f"{total + 3:.1f}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append((codec, mode, agent, caller, records))
    result: dict[str, Any] = {}
    for codec, mode, agent, caller, records in runs:
        caller.wait(timeout=total + 300)
        agent.stop()
        cell = _over_sip(records, recordings, spans)
        result.setdefault(codec, {})[mode] = cell
        progress(f"human {codec} {mode}: WER {cell['all']['wer']:.1%}, cut-offs {cell['all']['cut_offs']}/"
                 f"{cell['all']['paused']}, words lost {cell['all']['words_lost']}")
    whisper = WhisperEngine(_whisper_model(agent_args))
    for codec in codecs:
        cell = _cells(recordings, _offline(recordings, audio, codec, whisper), {})
        result.setdefault(codec, {})["offline"] = cell
        progress(f"human {codec} offline (whole recordings): WER {cell['all']['wer']:.1%}")
    result["corpus"] = {"recordings": len(recordings), "speakers": speakers,
                        "paused": sum(r.pause_secs >= PAUSE_SECS for r in recordings),
                        "numbers": sum(r.number for r in recordings)}
    return result


def _whisper_model(agent_args: list[str]) -> str | None:
    for i, arg in enumerate(agent_args[:-1]):
        if arg == "--whisper-model":
            return agent_args[i + 1]
    return None


def _over_sip(records: Path, recordings: list[Recording], spans: dict[str, tuple[float, float]]) -> dict[str, Any]:
    folders = call_folders(records)
    turns = [t for t in transcript(folders[-1]) if t["role"] == "user"] if folders else []
    scores, pieces = {}, {}
    for rec in recordings:
        start, end = spans[rec.id]
        heard = [t["text"] for t in turns if start - 0.3 <= t["start_secs"] < end - 0.3]
        reference = normalise(rec.transcript)
        errors, deleted = alignment(reference, normalise(" ".join(heard)))
        scores[rec.id] = (errors, deleted, len(reference))
        pieces[rec.id] = len(heard)
    return _cells(recordings, scores, pieces)


def _cells(recordings: list[Recording], scores: dict[str, tuple[int, int, int]],
           pieces: dict[str, int]) -> dict[str, Any]:
    groups: dict[str, list[Recording]] = {"all": recordings}
    groups["paused"] = [r for r in recordings if r.pause_secs >= PAUSE_SECS]
    groups["numbers"] = [r for r in recordings if r.number]
    for rec in recordings:
        groups.setdefault(rec.group, []).append(rec)
    out = {}
    for name, members in groups.items():
        errors = sum(scores[r.id][0] for r in members)
        words = sum(scores[r.id][2] for r in members)
        cell: dict[str, Any] = {"wer": round(errors / max(words, 1), 4), "words": words, "n": len(members),
                                "words_lost": sum(scores[r.id][1] for r in members)}
        if pieces:
            paused = [r for r in members if r.pause_secs >= PAUSE_SECS]
            cell["paused"] = len(paused)
            cell["cut_offs"] = sum(pieces[r.id] > 1 for r in paused)
            cell["missed"] = sum(pieces[r.id] == 0 for r in members)
        out[name] = cell
    return out
