"""Answering-machine detection for outbound calls: a person, or a machine's greeting (and its beep)?

:class:`MachineDetector` reads the first seconds of the answered call's audio, 20 ms at a time, as
Asterisk's ``AMD()`` does: a person answers with a short word or two ("Hello?") and then waits; a
machine starts with a long greeting ("Hi, you've reached ..., please leave a message after the
tone"), or waits silent for long.  Its decision (with the cause, after how long):

- ``machine``: silence before any voice for ``initial_silence_ms``; voice for more than
  ``greeting_ms`` in all; ``max_words`` words; one word longer than ``max_word_ms``;
- ``human``: after the first words, silence for ``after_greeting_silence_ms``;
- ``unsure``: no decision within ``total_ms`` (taken as a person).

A word is a run of voiced frames of at least ``min_word_ms``; words are split by ``between_words_ms``
of silence.  A frame is voiced when its level is above ``voice_dbfs``.

:class:`BeepDetector` then waits for the end of a machine's greeting: the beep (a steady tone of
300-2100 Hz lasting at least ``MIN_BEEP_MS``, found by an FFT of 40 ms windows: most of the frame's
energy in the one peak, which speech never holds for 200 ms), or, for a machine without one,
``END_SILENCE_MS`` of silence after its greeting.

:func:`machine_words` reads the words of a greeting the shape took for a person's (or could not place): a
short greeting without a beep ("Thanks for calling. Leave a message.") has a person's shape, but no person
who answers says "leave a message" or "after the tone".  :func:`person_words` reads those of a long answer the
shape took for a machine's: "Good morning, Brighton Dental, Sarah speaking." is a person.

Pure numpy and regular expressions, one call per frame, no clock: tested on generated greetings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from agent.frames import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from agent.turn.vad import frame_level_dbfs

__all__ = ["AmdConfig", "AmdResult", "BeepDetector", "MachineDetector", "ReadOn", "machine_words",
           "person_words"]

MIN_BEEP_MS = 160
END_SILENCE_MS = 2000
BEEP_TONALITY = 0.8
BEEP_DBFS = -40.0
BEEP_BAND_HZ = (300.0, 2100.0)
MACHINE_WORDS = re.compile(
    r"\b(?:leave (?:[a-z']+ ){0,3}(?:message|voice ?mail|name and number|details)"
    r"|(?:after|at) the (?:tone|beep)|record your message|voice ?mail|mail ?box"
    r"|(?:not|isn't|aren't) (?:currently |here |in |home )*available|unavailable"
    r"|(?:can't|cannot|can not|unable to) (?:take|answer|come to) (?:your|the|this) (?:call|phone))\b")
"""What only a recorded greeting says (Whisper's spellings: "voicemail", "voice mail", "can't")."""
PERSON_WORDS = re.compile(
    r"\b(?:speaking|speak$|(?:how|what) (?:can|may) i (?:help|do for)|can i help|may i help"
    r"|who(?:'s| is) (?:calling|this|it|that|speaking)|can you hear me|hello(?: hello)+)\b")
"""What a person who answers at length says ("Good morning, Brighton Dental, Sarah speaking."; its end heard as
"... I'll speak." over G.722), and a greeting does not."""


@dataclass(frozen=True)
class AmdConfig:
    """The thresholds (ms): Asterisk's ``amd.conf`` defaults, but 4 words, not 3, split by 100 ms of silence, not
    50 ("Hi, Sarah speaking." is a person: Piper's voice pauses 60-90 ms inside it)."""

    initial_silence_ms: int = 2500
    greeting_ms: int = 1500
    after_greeting_silence_ms: int = 800
    total_ms: int = 5000
    min_word_ms: int = 100
    between_words_ms: int = 100
    max_words: int = 4
    max_word_ms: int = 5000
    voice_dbfs: float = -42.0


@dataclass(frozen=True)
class AmdResult:
    """``decision``: human, machine or unsure; ``cause``: why (Asterisk's names: INITIALSILENCE, LONGGREETING,
    MAXWORDS, MAXWORDLENGTH, HUMAN, TOOLONG; and WORDS: a machine's words in a greeting of a person's shape, or
    a person's in a long answer of a machine's);
    ``after_ms``: audio read before it; ``words``: the greeting as heard, when it was read, and ``words_ms`` the
    time that took (the decision comes that much after the audio)."""

    decision: str
    cause: str
    after_ms: int
    words: str = ""
    words_ms: int = 0


class MachineDetector:
    """Feed it the answered call's frames until :meth:`feed` returns a result (see the module docstring)."""

    def __init__(self, cfg: AmdConfig | None = None) -> None:
        self.cfg = cfg or AmdConfig()
        self.total_ms = 0
        self.voice_ms = 0
        self.silence_ms = 0
        self.run_ms = 0
        """Voiced frames in a row."""
        self.words = 0
        self.in_word = False
        self.in_greeting = False
        self.result: AmdResult | None = None

    def feed(self, frame: np.ndarray) -> AmdResult | None:
        if self.result is not None:
            return self.result
        cfg = self.cfg
        self.total_ms += FRAME_MS
        if frame_level_dbfs(frame) < cfg.voice_dbfs:
            self.silence_ms += FRAME_MS
            self.run_ms = 0
            if self.silence_ms >= cfg.between_words_ms:
                self.in_word = False
            if not self.in_greeting and self.words == 0 and self.silence_ms >= cfg.initial_silence_ms:
                return self._decide("machine", "INITIALSILENCE")
            if self.in_greeting and self.silence_ms >= cfg.after_greeting_silence_ms:
                return self._decide("human", "HUMAN")
        else:
            self.silence_ms = 0
            self.run_ms += FRAME_MS
            self.voice_ms += FRAME_MS
            if self.run_ms >= cfg.min_word_ms and not self.in_word:
                self.in_word = True
                self.words += 1
                self.in_greeting = True
                if self.words >= cfg.max_words:
                    return self._decide("machine", "MAXWORDS")
            if self.run_ms >= cfg.max_word_ms:
                return self._decide("machine", "MAXWORDLENGTH")
            if self.in_greeting and self.voice_ms >= cfg.greeting_ms:
                return self._decide("machine", "LONGGREETING")
        if self.total_ms >= cfg.total_ms:
            return self._decide("unsure", "TOOLONG")
        return None

    def _decide(self, decision: str, cause: str) -> AmdResult:
        self.result = AmdResult(decision, cause, self.total_ms)
        return self.result


class ReadOn:
    """After the shape took a long answer for a machine's: feed it what comes next until it says the answer has
    paused (``PAUSE_MS`` of silence: a word's quiet end, "speaki-ng", is not a pause) or ``MAX_MS`` have passed;
    then the words are read whole."""

    PAUSE_MS = 500
    MAX_MS = 2000

    def __init__(self, voice_dbfs: float = AmdConfig.voice_dbfs) -> None:
        self.voice_dbfs = voice_dbfs
        self.read_ms = 0
        self.quiet_ms = 0

    def feed(self, frame: np.ndarray) -> bool:
        self.read_ms += FRAME_MS
        self.quiet_ms = self.quiet_ms + FRAME_MS if frame_level_dbfs(frame) < self.voice_dbfs else 0
        return self.quiet_ms >= self.PAUSE_MS or self.read_ms >= self.MAX_MS


class BeepDetector:
    """Feed it a machine's audio after the decision: True once its greeting is over (a beep has ended, or
    ``END_SILENCE_MS`` of silence came after voice); ``beep_hz`` is the beep's frequency (0: none heard)."""

    def __init__(self, voice_dbfs: float = -42.0, heard_voice: bool = True) -> None:
        """``heard_voice``: the greeting has begun (False after a machine decided by its initial silence)."""
        self.voice_dbfs = voice_dbfs
        self._previous = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._window = np.hanning(2 * FRAME_SAMPLES).astype(np.float32)
        self._freqs = np.fft.rfftfreq(2 * FRAME_SAMPLES, 1.0 / SAMPLE_RATE)
        self._band = (self._freqs >= BEEP_BAND_HZ[0]) & (self._freqs <= BEEP_BAND_HZ[1])
        self._voice_band = (self._freqs >= 100.0) & (self._freqs <= 3400.0)
        self.tone_ms = 0
        self.tone_hz = 0.0
        self.beep_hz = 0.0
        self.silence_ms = 0
        self.heard_voice = heard_voice
        self.done = False
        self.why = ""

    def tonal(self, frame: np.ndarray) -> float:
        """The frequency of a steady tone in the last 40 ms, or 0."""
        current = np.asarray(frame, dtype=np.float32)
        window = np.concatenate([self._previous, current])
        self._previous = current
        if frame_level_dbfs(current) < BEEP_DBFS:
            return 0.0
        power = np.abs(np.fft.rfft(window * self._window)) ** 2
        band = np.where(self._band, power, 0.0)
        peak = int(np.argmax(band))
        around = power[max(peak - 3, 0):peak + 4].sum()
        total = power[self._voice_band].sum()
        return float(self._freqs[peak]) if total > 0 and around / total >= BEEP_TONALITY else 0.0

    def feed(self, frame: np.ndarray) -> bool:
        if self.done:
            return True
        freq = self.tonal(frame)
        steady = freq > 0 and (self.tone_ms == 0 or abs(freq - self.tone_hz) <= 30.0)
        if steady:
            self.tone_ms += FRAME_MS
            self.tone_hz = freq
        else:
            if self.tone_ms >= MIN_BEEP_MS:  # a beep just ended: the machine records from now
                self.beep_hz, self.done, self.why = self.tone_hz, True, "beep"
                return True
            self.tone_ms = 0
        if frame_level_dbfs(frame) < self.voice_dbfs:
            self.silence_ms += FRAME_MS
            if self.heard_voice and self.silence_ms >= END_SILENCE_MS:
                self.done, self.why = True, "silence"
        else:
            self.silence_ms = 0
            self.heard_voice = True
        return self.done


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower().replace("\u2019", "'")).split())


def machine_words(text: str) -> str | None:
    """The words in ``text`` (a greeting as heard) that only an answering machine says, or None."""
    found = MACHINE_WORDS.search(_plain(text))
    return found.group(0) if found else None


def person_words(text: str) -> str | None:
    """The words in ``text`` (a long answer as heard) that a person says and a recorded greeting does not, or
    None; a machine's words (:func:`machine_words`) outweigh them."""
    found = PERSON_WORDS.search(_plain(text))
    return found.group(0) if found and machine_words(text) is None else None
