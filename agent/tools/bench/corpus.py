"""The accuracy corpus: phone requests, the voices that say them, line noise, and word error rate.

Requests carry what phone calls carry: numbers, names, dates, times, addresses,
yes/no.  Voices: Piper joe and two espeak-ng variants (when espeak-ng is
installed).  Word error rate is counted after normalising both sides the same
way: lower case, no punctuation, number words as digits, and every digit
string digit by digit (so "four five" and "45" are the same two words).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...frames import SAMPLE_RATE
from ...media.resample import resample

__all__ = ["CORPUS", "ESPEAK_VARIANTS", "ESPEAK_VOICES", "normalise", "render_espeak", "with_noise", "word_errors"]

CORPUS = [
    "Can I book a table for four people tonight?",
    "What are your opening hours on Saturday?",
    "My name is Sarah Miller.",
    "My phone number is five five five, two one three, four eight nine.",
    "I would like to cancel my appointment on Monday.",
    "Is the shop open on Sunday?",
    "Yes, that is correct.",
    "No, I don't need anything else.",
    "Can I speak to someone please?",
    "I live at twenty two Baker Street.",
    "My order number is seven three one nine.",
    "How much does the delivery cost?",
    "I want to pay by card.",
    "Can you send me a text message with the details?",
    "The parcel has not arrived yet.",
    "I would like to change my delivery address.",
    "Please call me back tomorrow morning.",
    "My birthday is on the fifth of June.",
    "I need a table for two at eight o'clock.",
    "Do you have any vegetarian dishes?",
    "Where is the nearest train station?",
    "What time do you close today?",
    "I am calling about my invoice.",
    "Can I get a refund for the broken chair?",
    "My email address is john at example dot com.",
    "I booked a room for three nights.",
    "Is there parking near the restaurant?",
    "Could you repeat that please?",
    "I will arrive at half past six.",
    "My account number is one two three four five.",
    "The meeting is on Thursday the twelfth of March.",
    "I would like to order two large pizzas.",
    "Can I bring my dog?",
    "How long will the repair take?",
    "My postcode is S W one A, one A A.",
    "Please confirm the booking by email.",
    "I am not happy with the service.",
    "Can I change the time to seven thirty?",
    "Thank you, that is all for today.",
    "Goodbye and have a nice day.",
]
"""Forty phone requests (names, numbers, dates, times, addresses, yes/no)."""

ESPEAK_VOICES = {"espeak-f": ["-v", "en-us+f3", "-s", "165"], "espeak-m": ["-v", "en-gb+m3", "-s", "155"]}
"""Two espeak-ng variants (a female US and a male British voice)."""
ESPEAK_VARIANTS = {**ESPEAK_VOICES,
                   "espeak-us-m1": ["-v", "en-us+m1", "-s", "175"],
                   "espeak-scotland-f2": ["-v", "en-gb-scotland+f2", "-s", "150"],
                   "espeak-rp-m7": ["-v", "en-gb-x-rp+m7", "-s", "160"],
                   "espeak-midlands-f1": ["-v", "en-gb-x-gbcwmd+f1", "-s", "155"]}
"""Six espeak-ng variants (accents, voices and speeds): the accuracy phase asks the facts' questions in each."""

_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_NUMBERS.update({w: str(10 * (i + 2)) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty "
                                                             "ninety".split())})
_NUMBERS.update({"oh": "0", "o'clock": "", "first": "1", "fifth": "5", "twelfth": "12"})


def normalise(text: str) -> list[str]:
    """Words to compare (see the module docstring)."""
    text = re.sub(r"(?<=[a-z])\.(?=[a-z])", " dot ", text.lower()).replace("@", " at ").replace("-", " ")
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text)  # 5th -> 5
    words = [_NUMBERS.get(w.strip("'"), w.strip("'")) for w in re.sub(r"[^a-z0-9' ]", " ", text).split()]
    out: list[str] = []
    for i, word in enumerate(words):
        if not word:
            continue
        if word.isdigit() and word.endswith("0") and len(word) == 2 and i + 1 < len(words) \
                and len(words[i + 1]) == 1 and words[i + 1].isdigit():
            out.append(word[0])  # twenty two -> 2 2, as "22" is counted
        elif any(c.isdigit() for c in word):
            out.extend(word)  # digit strings (and codes like sw1a) character by character
        else:
            out.append(word)
    return out


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def render_espeak(text: str, args: list[str]) -> np.ndarray:
    """``text`` spoken by espeak-ng, as int16 at 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", *args, "-w", str(path), text], check=True, capture_output=True)
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return resample(pcm, rate, SAMPLE_RATE)


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise added at ``snr_db`` below the speech's RMS (measured over its loud part)."""
    x = audio.astype(np.float64)
    loud = x[np.abs(x) > 32768 * 10 ** (-45 / 20)]
    rms = float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0
    noise = np.random.default_rng(seed).standard_normal(len(x)) * rms * 10 ** (-snr_db / 20)
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def programme(texts: list[str], speak: Callable[[str], np.ndarray], gap_secs: float) -> np.ndarray:
    """The requests one after another, ``gap_secs`` of silence after each (the caller's turns)."""
    gap = np.zeros(int(gap_secs * SAMPLE_RATE), dtype=np.int16)
    lead = np.zeros(SAMPLE_RATE, dtype=np.int16)
    return np.concatenate([lead, *[np.concatenate([speak(t), gap]) for t in texts]])
