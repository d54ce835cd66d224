"""Whisper (faster-whisper: CTranslate2, int8) as a recogniser that decodes at the caller's pauses.

Whisper decodes a stretch of audio at once, not frame by frame.  A
:class:`WhisperStream` keeps the audio of the caller's turn and decodes it
when the turn stage reports a pause (:meth:`WhisperStream.pause`): that text
is committed and is the prompt of the next stretch.  At the endpoint only what
was said after the last pause is left to decode, and when the caller said
nothing more the final text is ready at once, whatever the length of the
turn.

Each decode sees a window of ``window_secs`` of features (the stretch, padded
with silence) instead of Whisper's 30 s: the encoder's cost follows the
window.  The output is capped per second of audio and a no-speech
probability above :data:`NO_SPEECH_PROB` gives no text (Whisper otherwise
"hears" words in noise).  A decode runs on ``threads`` CTranslate2 threads
and holds a compute slot of that weight (:mod:`agent.scheduler`); the engine
has a decoder for each slot the cores hold (``usable cores // threads``), so
several calls' decodes run at once on a bigger box, none waits behind another
while holding a slot, and on 2 cores with 2 threads they take turns.

Each word decoded greedily comes with the probability the decoder gave it;
the words below :data:`UNSURE_WORD_PROB` are the transcript's ``unsure``
words, which the receptionist asks about instead of answering a guess.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agent.compute import usable_cores
from agent.errors import ModelError
from agent.frames import SAMPLE_RATE, Transcript
from agent.models import WHISPER_FILES, WHISPER_MODELS, check_pinned, whisper_model_dir
from agent.scheduler import SCHEDULER
from agent.stt.base import SttEngine, SttStream

__all__ = ["DEFAULT_WHISPER", "WhisperEngine", "WhisperStream"]

log = logging.getLogger(__name__)

DEFAULT_WHISPER = "tiny.en"
MODEL_FIX = ("run scripts/get-models, or give --whisper-model a name (tiny.en, base) or a CTranslate2 Whisper "
             "folder")
NO_SPEECH_PROB = 0.6
RETRY_MIN_SECS = 0.5
RETRY_LEAD_SECS = 0.1
"""An empty decode of at least ``RETRY_MIN_SECS`` is tried again behind this much silence."""
TOKENS_PER_SEC = 6.0
"""Cap on the text of a stretch (fast speech is ~4 tokens a second); CTranslate2 counts its
``max_length`` in steps of about half a token, hence the factor 2 below."""
MAX_STRETCH_SECS = 20.0
"""A stretch this long without a pause is decoded at once (Whisper sees at most 30 s)."""
FRAMES_PER_SEC = 100
FULL_WINDOW_SECS = 30.0
WINDOW_SECS = 10.0
"""The shortest window a stretch is decoded in (whisper.cpp's ``audio_ctx``): ~5x faster than 30 s."""
UNSURE_WORD_PROB = 0.5
"""A word the decoder gave less than this probability (its least likely token) is one it was unsure of.
On the answers bench's 216 questions (tiny.en, Piper and espeak-ng voices) 24 of the ~30 words it got wrong
that the facts do not hold were below 0.5, and 6 of the 49 it got right (rare words: "radiators", "live")."""
WHOLE_TURN_SECS = WINDOW_SECS
"""A turn decoded in stretches is decoded again whole at its end if it fits one window: the cost is one
window's decode, whatever the turn's length (a longer turn keeps its stretches: no wait grows with it)."""


def resolve_model(model: str | None) -> Path:
    """A Whisper name (``tiny.en``) or a CTranslate2 Whisper folder -> the folder, checked."""
    name = model or DEFAULT_WHISPER
    folder = whisper_model_dir(name) if name in WHISPER_MODELS else Path(name).expanduser()
    if not folder.is_dir():
        optional = name in WHISPER_MODELS and name != DEFAULT_WHISPER
        fix = f"run scripts/get-models --whisper {name}" if optional else MODEL_FIX
        raise ModelError(f"Whisper model not found: {folder} ({fix})")
    missing = [f for f in WHISPER_FILES if f != "vocabulary.txt" and not (folder / f).is_file()]
    if missing:
        raise ModelError(f"Whisper model incomplete: {folder} lacks {', '.join(missing)} ({MODEL_FIX})")
    for name in WHISPER_FILES:
        if (folder / name).is_file():
            check_pinned(folder / name, "Whisper model")
    return folder


class WhisperEngine(SttEngine):
    """A loaded Whisper model shared by every call (see the module docstring)."""

    name = "whisper"

    def __init__(self, model: str | None = None, *, threads: int = 2, window_secs: float = WINDOW_SECS,
                 beam_size: int = 1) -> None:
        folder = resolve_model(model)
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError:
            raise ModelError("the whisper engine needs faster-whisper, which is not installed (run scripts/setup)") \
                from None
        started = time.monotonic()
        workers = max(1, usable_cores() // threads)  # decodes that may run at once, each on its own threads
        try:
            self._model: Any = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads,
                                            num_workers=workers)
        except (RuntimeError, ValueError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"Whisper model cannot be loaded: {folder}: {reason} ({MODEL_FIX})") from None
        multilingual = bool(self._model.model.is_multilingual)
        self._tokenizer: Any = Tokenizer(self._model.hf_tokenizer, multilingual, task="transcribe",
                                         language="en" if multilingual else None)
        self.folder = folder
        self.window_secs = window_secs
        self.beam_size = beam_size
        self.threads = threads
        self.vocabulary = ""
        """Text that precedes every decode: the business's own words (:mod:`agent.stt.vocabulary`)."""
        self.retries = 0
        """Empty decodes tried again (see :meth:`decode_tokens`)."""
        self.workers = workers
        self._decoders = threading.BoundedSemaphore(workers)
        self.decode(np.zeros(SAMPLE_RATE, dtype=np.int16))  # the first decode is slow: not while a call waits
        log.info("whisper %x: loaded %s (%d threads x %d decodes at once, %.0f s window) in %.2f s", id(self),
                 folder.name, threads, workers, window_secs, time.monotonic() - started)

    def new_stream(self) -> WhisperStream:
        return WhisperStream(self)

    def decode(self, samples: np.ndarray, prompt: str = "") -> str:
        """Text of ``samples`` (int16, 16 kHz), ``prompt`` being what was said just before."""
        return self.decode_scored(samples, prompt)[0]

    def decode_scored(self, samples: np.ndarray, prompt: str = "") -> tuple[str, float]:
        """(text, confidence): the confidence is the mean probability of its tokens (1.0 for no text)."""
        decoded = self.decode_tokens(samples, prompt)
        return decoded.text, math.exp(decoded.logprob / decoded.tokens) if decoded.tokens else 1.0

    def decode_tokens(self, samples: np.ndarray, prompt: str = "") -> Decoded:
        """The text, the summed log-probability of its tokens, their number (0 for no text) and its unsure words.

        A stretch of speech that comes back empty is decoded once more behind :data:`RETRY_LEAD_SECS` of
        silence: on a second or two of speech Whisper sometimes ends its text before the first word, and
        where the stretch starts decides it (three digits read over PCMU came back empty when cut at 1.05 or
        1.10 s and as "2 2 0" when cut at 1.00 or 1.15 s)."""
        decoded = self._decode_once(samples, prompt)
        if not decoded.text and len(samples) >= RETRY_MIN_SECS * SAMPLE_RATE:
            lead = np.zeros(int(RETRY_LEAD_SECS * SAMPLE_RATE), dtype=np.int16)
            decoded = self._decode_once(np.concatenate([lead, np.asarray(samples, np.int16)]), prompt)
            self.retries += 1
        return decoded

    def _decode_once(self, samples: np.ndarray, prompt: str) -> Decoded:
        audio = samples.astype(np.float32) / 32768.0
        secs = len(audio) / SAMPLE_RATE
        with SCHEDULER.slot("stt", self.threads), self._decoders:
            features = self._model.feature_extractor(audio)
            window = int(max(self.window_secs, min(secs + 1.0, FULL_WINDOW_SECS)) * FRAMES_PER_SEC)
            features = _fit(features, window)
            encoded = self._model.encode(features)
            previous = self._tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
            tokens = self._model.get_prompt(self._tokenizer, previous[-200:], without_timestamps=True,
                                            hotwords=self.vocabulary or None)
            cap = min(self._model.max_length, len(tokens) + 2 * int(10 + TOKENS_PER_SEC * secs))
            greedy = self.beam_size == 1  # (the probability of each token is the greedy decoder's)
            result = self._model.model.generate(encoded, [tokens], beam_size=self.beam_size, max_length=cap,
                                                return_no_speech_prob=True, return_scores=True,
                                                return_logits_vocab=greedy, suppress_blank=True,
                                                suppress_tokens=[-1], no_repeat_ngram_size=0)[0]
        if result.no_speech_prob > NO_SPEECH_PROB:
            return Decoded("", 0.0, 0)
        ids = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        text = without_repeats(str(self._tokenizer.decode(ids)).strip())
        if not text:
            return Decoded("", 0.0, 0)
        unsure = self._unsure_words(ids, result.logits[0]) if greedy and result.logits else ()
        # the confidence is built from CTranslate2's score as it comes (the barge-in thresholds were set on it)
        return Decoded(text, result.scores[0], len(ids) + 1, unsure)

    def _unsure_words(self, ids: list[int], logits: Any) -> tuple[str, ...]:
        """The words of ``ids`` whose least likely token had a probability below :data:`UNSURE_WORD_PROB`."""
        words: list[tuple[str, float]] = []
        for token, step in zip(ids, logits, strict=False):  # (the last step is the end of the text)
            row = np.asarray(step, dtype=np.float64).reshape(-1)
            top = row.max()
            logprob = float(row[token] - top - math.log(np.exp(row - top).sum()))
            piece = str(self._tokenizer.decode([token]))
            if piece[:1].isspace() or not words:
                words.append((piece, logprob))
            else:
                words[-1] = (words[-1][0] + piece, min(words[-1][1], logprob))
        unsure = (word_key(word) for word, logprob in words if logprob < math.log(UNSURE_WORD_PROB))
        return tuple(dict.fromkeys(word for word in unsure if word))


class Decoded(NamedTuple):
    """One decode: its text, the summed log-probability of its tokens, their number, and its unsure words."""

    text: str
    logprob: float
    tokens: int
    unsure: tuple[str, ...] = ()


def word_key(word: str) -> str:
    """A word as the unsure words hold it: lower case, without the punctuation around it ("Gem?" -> "gem")."""
    return re.sub(r"^[^\w']+|[^\w']+$", "", word.strip().lower())


LOOP_WORDS = 4
"""A word said this many times in a row or more is the decoder looping ("no, no, no, no, ..."): kept once."""
LOOP_PHRASE_WORDS = 8
LOOP_PHRASES = 3
"""A phrase of 2 to ``LOOP_PHRASE_WORDS`` words said ``LOOP_PHRASES`` times in a row up to the end of the
text is the decoder looping until its length cap ("2, 6, 1, 2, 6, 1, 2, 6, 1, 2, 6" for a group of three
digits read alone): kept once."""


def without_repeats(text: str) -> str:
    """Drop a sentence that repeats the one before it (or, last, begins to: "What do you charge for corkage?
    What do you charge for cork"), and a word looped (Whisper's decoder loops)."""
    text = re.sub(r"(?<=\d)-(?=\d)", " ", text)  # "8-8-8-8": digits, one word each
    kept: list[str] = []
    sentences = re.split(r"(?<=[.!?])\s+", text)
    for sentence in sentences:
        if not kept or sentence.strip().lower() != kept[-1].strip().lower():
            kept.append(sentence)
    if len(kept) >= 2 and not re.search(r"[.!?]$", kept[-1].strip()):
        last, before = _sentence_words(kept[-1]), _sentence_words(kept[-2])
        n = len(last)
        if 2 <= n <= len(before) and before[:n - 1] == last[:-1] and before[n - 1].startswith(last[-1]) \
                and (n < len(before) or last[-1] != before[-1]):
            kept.pop()  # the sentence before, said again until the length cap or the end of the audio
    out: list[str] = []
    looped = False
    # runs of the same word (a word with no letters is a run of its own)
    for _word, run in itertools.groupby(enumerate(" ".join(kept).split(" ")), key=_word_key):
        said = [word for _i, word in run]
        looped = len(said) >= LOOP_WORDS
        out += said[:1] if looped else said
    if looped:
        out[-1] = out[-1].rstrip(",;")
    return " ".join(_without_looped_tail(out))


def _sentence_words(sentence: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", sentence.lower())


def _without_looped_tail(words: list[str]) -> list[str]:
    """``words`` with a phrase repeated to the end kept once: a loop cut by the length cap, maybe mid-phrase,
    maybe with a few stray words after it (less than one phrase)."""
    keys = [_word_key((i, word)) for i, word in enumerate(words)]
    for period in range(2, LOOP_PHRASE_WORDS + 1):
        for start in range(0, len(words) - LOOP_PHRASES * period + 1):
            end = start + period
            while end < len(keys) and keys[end] == keys[end - period]:
                end += 1
            if end - start >= LOOP_PHRASES * period and len(keys) - end < period:
                kept = words[:start + period]
                kept[-1] = kept[-1].rstrip(",;")
                return kept
    return words


def _word_key(item: tuple[int, str]) -> str:
    index, word = item
    return re.sub(r"[^\w']", "", word.lower()) or f"#{index}"


def _fit(features: np.ndarray, frames: int) -> np.ndarray:
    """Pad (with the features of silence) or trim log-mel features to ``frames`` frames."""
    have = features.shape[-1]
    if have >= frames:
        return features[:, -frames:]
    pad = np.full((features.shape[0], frames - have), features.min(), dtype=features.dtype)
    return np.concatenate([features, pad], axis=1)


class WhisperStream(SttStream):
    """One caller's turn: audio kept, decoded at pauses, the rest at the endpoint."""

    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine
        self._audio: list[np.ndarray] = []
        self._samples = 0
        self._committed = ""
        self._logprob, self._tokens = 0.0, 0
        self._unsure: tuple[str, ...] = ()
        self._speech_since_commit = False
        self._turn: list[np.ndarray] = []
        """All the turn's audio: a turn decoded in stretches is decoded again whole at its end."""
        self._stretches = 0
        self.decodes = 0

    def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
        pcm = np.asarray(samples, dtype=np.int16).reshape(-1)
        self._audio.append(pcm)
        self._turn.append(pcm)
        self._samples += len(pcm)
        self._speech_since_commit = self._speech_since_commit or speech
        if self._samples < MAX_STRETCH_SECS * SAMPLE_RATE:
            return None
        self._commit()  # a long stretch without a pause: decode it now
        return Transcript(self._committed, final=False, confidence=self._confidence, unsure=self._unsure)

    def pause(self) -> Transcript | None:
        """The caller paused: decode what was said since the last pause and commit it."""
        if not self._speech_since_commit:
            return None
        self._commit()
        return Transcript(self._committed, final=False, confidence=self._confidence, unsure=self._unsure)

    def finish(self) -> Transcript:
        if self._speech_since_commit:
            self._commit()
        turn = sum(len(piece) for piece in self._turn)
        if self._stretches > 1 and turn <= WHOLE_TURN_SECS * SAMPLE_RATE:
            # decoded in stretches, each with the words before as its prompt, Whisper drops and mangles words
            # (digits read in groups most of all); the whole turn at once is what it hears best
            self.decodes += 1
            whole = self._engine.decode_tokens(np.concatenate(self._turn), self.context)
            if whole.text:
                self._committed, self._logprob, self._tokens, self._unsure = whole
        final = Transcript(self._committed, final=True, confidence=self._confidence, unsure=self._unsure)
        self.reset()
        return final

    def reset(self) -> None:
        self._audio, self._samples, self._committed, self._speech_since_commit = [], 0, "", False
        self._logprob, self._tokens, self._unsure = 0.0, 0, ()
        self._turn, self._stretches = [], 0

    @property
    def _confidence(self) -> float:
        """The mean probability of all the tokens committed (one unsure word does not taint the rest)."""
        return math.exp(self._logprob / self._tokens) if self._tokens else 1.0

    def _commit(self) -> None:
        samples = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
        self._audio, self._samples, self._speech_since_commit = [], 0, False
        self.decodes += 1
        self._stretches += 1
        decoded = self._engine.decode_tokens(samples, f"{self.context} {self._committed}".strip())
        self._committed = f"{self._committed} {decoded.text}".strip()
        self._logprob, self._tokens = self._logprob + decoded.logprob, self._tokens + decoded.tokens
        self._unsure = tuple(dict.fromkeys((*self._unsure, *decoded.unsure)))
