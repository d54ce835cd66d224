"""When is the caller done?  The silence that ends a turn adapts to the sound and the words.

A fixed endpoint cuts a caller who pauses mid-sentence ("I'd like to book a
table for ... four people") and answers half a question.  At each pause in
the caller's speech (``pause_ms`` of silence) two signals are read:

* the **sound** of the turn so far: an end-of-turn model
  (:class:`~agent.turn.smart_turn.SmartTurn`) scores how likely the speaker
  is done, from pitch, pace and drawl;
* the **words** the recogniser decoded at that pause: a question mark ends a
  question; a phrase that stops on "and", "the", "for", "my", "um", or on a
  part of a phone number, is not finished (:func:`words_say`); nor is an
  answer to "what's your number?" before it holds a whole number's digits.

The words win when they are clear; otherwise the sound decides.  A finished
turn ends after ``short_ms`` of silence (``--endpoint-ms``), an unfinished
one after ``long_ms`` (``--endpoint-max-ms``).  The endpoint never fires while
the words of the pause are still being decoded (up to ``long_ms``): the
final text could not be ready sooner anyway, since it waits for that decode.

:class:`TurnHints` carries the words from the recogniser's thread to the
turn thread.  Everything here is pure but the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["COMPLETE", "EndOfTurn", "INCOMPLETE", "TurnHints", "UNCLEAR", "words_say"]

COMPLETE, INCOMPLETE, UNCLEAR = "complete", "incomplete", "unclear"

UNFINISHED = frozenset("""
a an the my your our their every each
and or but nor because since although though while if unless until whether than
to for of at in on with from by about into onto under between through per via as
i'm i'd i'll we're we'd you're they're there's it's
uh um er erm uhm
""".split())
"""A phrase that ends on one of these words is not finished."""

NUMBER_CONTEXT = re.compile(r"\b(number|phone|mobile|cell|call me|reach me|digits|postcode|post code|zip|"
                            r"reference|account|card|code)\b", re.IGNORECASE)
SPOKEN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9", "double": "", "triple": ""}
PHONE_DIGITS = 10
NUMBER_GROUP_MS = 500
"""Added to the long wait inside a number: the VAD hears a group's first sound ("six", "seven") late, so a
1.05 s pause between groups measured 1.5 s, and callers read their numbers with longer pauses than speech."""
"""A phone number has at least this many digits (national format); fewer after "my number is" means more to come."""


NUMBER_ASKED = re.compile(r"\b(?:what|which|the whole|the right)\b[^.?!]*\bnumber\b", re.IGNORECASE)
"""The agent's question asks for a number ("What's the best number to call you back on?", "Could you say the
whole number again?"), not for a yes or no about one ("Shall we call you back on ..., the number you're calling
from?")."""


def asks_for_number(asked: str) -> bool:
    """Did the agent's words ask the caller to say a number?"""
    return bool(NUMBER_ASKED.search(asked))


def words_say(text: str) -> str:
    """What the words of a turn so far say: :data:`COMPLETE`, :data:`INCOMPLETE` or :data:`UNCLEAR`."""
    stripped = text.strip()
    if not stripped:
        return UNCLEAR
    if stripped.endswith("?"):
        return COMPLETE
    if stripped.endswith((",", "...", "…", "-", ":")):
        return INCOMPLETE
    words = _words_of(stripped)
    if not words:
        return UNCLEAR
    if words[-1] in UNFINISHED:
        return INCOMPLETE
    if _digits_so_far(words) and (NUMBER_CONTEXT.search(stripped) or _a_number_alone(words)):
        return INCOMPLETE
    return UNCLEAR


def _words_of(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _a_number_alone(words: list[str]) -> bool:
    """Digits and nothing else, read one by one ("2 2 0") or in a group of three or more ("652"): the first
    groups of a number (the answer to "what is your number?"); "4" or "12" alone is an answer of its own."""
    spoken = [SPOKEN_DIGITS.get(word, word) for word in words]
    if not all(word.isdigit() or word == "" for word in spoken):
        return False
    said = [word for word in spoken if word]
    return len(said) >= 2 or (len(said) == 1 and len(said[0]) >= 3)


def _digits_so_far(words: list[str]) -> bool:
    """Does the phrase end on a run of digits too short for a phone number?"""
    digits = ""
    for word in reversed(words):
        if word.isdigit():
            digits = word + digits
        elif word in SPOKEN_DIGITS:
            digits = SPOKEN_DIGITS[word] + digits
        else:
            break
    return 0 < len(digits) < PHONE_DIGITS


def _digit_count(text: str) -> int:
    """The digits in ``text``, as figures or words ("0 1 2", "oh one two")."""
    return sum(len(word) if word.isdigit() else len(SPOKEN_DIGITS.get(word, "")) for word in _words_of(text))


class TurnHints:
    """What the call's threads tell each other about the turn: the words decoded at the caller's latest pause
    (recogniser -> turn thread), and whether new words would join the last turn (conductor -> recogniser)."""

    def __init__(self) -> None:
        self._latest: tuple[float, str] = (-1.0, "")
        self.can_join = False
        """Set by the call's conductor: the caller's next words would join their last turn (the agent is
        still thinking about it), so the recogniser decodes the two again as one piece."""
        self.asked = ""
        """Set by the call's conductor: the question the caller is answering when the agent asked for a value
        of a message or booking ("What's the best number to call you back on?"), else "".  The recogniser
        decodes the answer with it as the words said before: measured on the capture benchmark's espeak-ng
        and Piper recordings, Whisper tiny.en then wrote 29 of 51 spoken numbers right against 17 without."""

    def heard(self, t_pause: float, text: str) -> None:
        """The recogniser decoded the pause that began at ``t_pause``: the turn's words so far are ``text``."""
        self._latest = (t_pause, text)  # one reference swap: no lock needed

    def words_at(self, t_pause: float) -> str | None:
        """The words of the pause that began at ``t_pause``, or None while they are being decoded."""
        t, text = self._latest
        return text if t == t_pause else None


@dataclass
class EndOfTurn:
    """The adaptive endpoint of one call (see the module docstring)."""

    short_ms: int = 500
    long_ms: int = 1500
    model: Callable[[np.ndarray], float] | None = None
    """The end-of-turn model (turn audio -> probability done), or None to decide by the words alone."""
    hints: TurnHints | None = None
    threshold: float = 0.5

    def wait_ms(self, p_done: float | None, words: str | None) -> int:
        """The silence that ends the turn, given the sound's score and the pause's words (None: decoding)."""
        if words is None and self.hints is not None:
            return self.long_ms
        verdict = words_say(words or "")
        if self.hints is not None and asks_for_number(self.hints.asked) and _digit_count(words or "") < PHONE_DIGITS:
            # asked for a number: its groups come with pauses, and a first group misheard as words ("four eight
            # oh" as "For a code.") is no sign the caller is done
            return self.long_ms + NUMBER_GROUP_MS
        if verdict == INCOMPLETE:
            return self.long_ms + (NUMBER_GROUP_MS if _digits_so_far(_words_of(words or "")) else 0)
        if verdict == COMPLETE or p_done is None:
            return self.short_ms
        return self.short_ms if p_done >= self.threshold else self.long_ms

    def why(self, p_done: float | None, words: str | None) -> str:
        """The reasons of :meth:`wait_ms`, for the log."""
        sound = "no model" if p_done is None else f"sound {p_done:.2f}"
        said = "words pending" if words is None else f"words {words_say(words)}"
        return f"{sound}, {said}"
