"""The grounding guard: a model reply says no number, day or name the facts do not hold.

A model with the facts in its prompt still slips: a price one pound off, the
day after the one asked about, a street that is not there.  The guard reads
a reply word by word as it streams and lets each word through as soon as it
is whole, unless it is a *claim* the facts (or the caller's own words, or
the clock) do not support:

- a number, in digits or words ("12", "10:30", "twelve", "half past ten"):
  it must be among the numbers of the facts, the question or the clock;
- a day of the week: one the facts name (a range such as "Tuesday to
  Friday" names the days between), the caller named, or the clock's; and
  when the caller asked about one day, a reply that names other days but
  not that one is about the wrong day;
- a name (a capitalised word inside a sentence): a word of the facts or
  the question;
- a "No" that begins the answer to a yes-no question whose subject the
  facts hold without a "not" ("Do you come out to Shoreham?" when the
  area is "Brighton, Hove, Lewes and Shoreham"), and a "Yes" that begins the
  answer to one whose facts all say "no" or "not" ("Can I pay by cheque?"
  when they say "no cheques"); and a "Yes" whose first sentence says no word
  of the facts the question is about beyond the question's own ("Do you
  accept pets?" "Yes, the hotel accepts pets."): it is held back until it
  does, and cut if it does not.

The first claim that fails stops the reply where it is; the caller hears,
instead of the rest, the fact line that best matches the question, or an
honest "I don't have that" (see :class:`Guard`).  Only whole words are
held back (and a "Yes" until it says what the facts hold), so a reply that
passes is hardly slower.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.dialog.facts import stem

__all__ = ["Guard", "Slip", "numbers_in"]

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPELLED = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "noon": 12,
    "midnight": 12, "half": 30, "quarter": 15,
}
_NOT_CLAIMS = {"one"}
"""Spelled numbers that are mostly not numbers ("the one on the left", "one of our")."""
_TOKEN = re.compile(r"[A-Za-z0-9£$€]+(?:[':.,-][A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"[.!?]\s*$")
_ALWAYS_NAMES = {"i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "mr", "mrs", "ms", "dr", "pm", "am", "uk"}


def numbers_in(text: str) -> set[int]:
    """The numbers ``text`` says, in digits or words: "10:30 pm, twelve pounds" -> {10, 30, 12}."""
    found: set[int] = set()
    for token in _TOKEN.findall(text):
        found |= _numbers_of(token)
    return found


def _numbers_of(token: str) -> set[int]:
    word = token.lower().strip("£$€")
    digits = re.findall(r"\d+", word)
    if digits:
        return {int(d) for d in digits}
    parts = word.split("-")
    if len(parts) == 2 and all(p in _SPELLED for p in parts):  # "twenty-one"
        return {_SPELLED[parts[0]] + _SPELLED[parts[1]]}
    return {_SPELLED[p] for p in parts if p in _SPELLED and p not in _NOT_CLAIMS}


_RANGE = re.compile(rf"\b({'|'.join(DAYS)})s? (?:to|-|through|until|till) ({'|'.join(DAYS)})\b")


def _ranges(text: str) -> list[tuple[set[str], set[str]]]:
    """The day ranges ``text`` names ("Tuesday to Friday"): (every day in it, its two ends)."""
    out = []
    for start, end in _RANGE.findall(text.lower()):
        i, j = DAYS.index(start), DAYS.index(end)
        out.append(({DAYS[k % 7] for k in range(i, i + (j - i) % 7 + 1)}, {start, end}))
    return out


def _days_in(text: str) -> set[str]:
    """The days ``text`` names, with the days inside a range."""
    named = {day for day in DAYS if re.search(rf"\b{day}s?\b", text.lower())}
    for days, _ends in _ranges(text):
        named |= days
    return named


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", text)}


@dataclass(frozen=True)
class Slip:
    """A claim of a reply the facts do not support: ``kind`` (number, day, name) and the word."""

    kind: str
    word: str

    def __str__(self) -> str:
        return f"{self.kind} {self.word!r}"


@dataclass
class Guard:
    """Checks one reply as it streams (see the module docstring).

    ``facts`` is the text the reply may draw on (all the facts, the clock), ``question`` the caller's words.
    Feed the reply's deltas to :meth:`feed` and pass on what it returns; once :attr:`slip` is set the
    reply must stop.  :meth:`finish` returns the held-back rest.
    """

    facts: str
    question: str
    about: str = ""
    """The facts the question is about (and the clock): a number must come from these, the question or the
    clock, not from anywhere in ``facts`` ("corkage is 12 pounds": 12 is a pasta price, not corkage's)."""
    holds: bool = False
    """The facts hold what a yes-no question asks about, without a "not": a reply that begins "No" denies them."""
    denies: bool = False
    """The facts say "no" or "not" to what a yes-no question asks: a reply that begins "Yes" contradicts them."""
    support: frozenset[str] = frozenset()
    """For a yes-no question, the stems of the words of the facts it is about that the question does not say: a
    reply that begins "Yes" is held back until it says one of them, and cut if its first sentence ends first
    ("Do you accept pets?" "Yes, the hotel accepts pets." says nothing the facts hold)."""
    slip: Slip | None = None
    _numbers: set[int] = field(init=False)
    _days: set[str] = field(init=False)
    _asked_days: set[str] = field(init=False)
    _first_days: set[str] = field(init=False)
    """Days a reply may name before the day asked about: that day, or the ends of a range holding it."""
    _names: set[str] = field(init=False)
    _held: str = field(init=False, default="")
    _said: str = field(init=False, default="")
    _vouching: bool = field(init=False, default=False)
    """A "Yes" is held back until the reply says a word of ``support``."""
    _withheld: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._numbers = numbers_in(self.about or self.facts) | numbers_in(self.question)
        self._asked_days = _days_in(self.question)
        self._days = _days_in(self.facts) | self._asked_days
        self._first_days = set(self._asked_days)
        for days, ends in _ranges(self.facts):
            if days & self._asked_days:
                self._first_days |= ends
        self._names = _words(self.facts) | _words(self.question)

    def feed(self, delta: str) -> str:
        """The part of the reply so far that may be said now ("" while a word is incomplete or after a slip)."""
        if self.slip is not None:
            return ""
        self._held += delta
        cut = max(self._held.rfind(" "), self._held.rfind("\n"))
        if cut <= 0:
            return ""
        ready, self._held = self._held[:cut], self._held[cut:]
        return self._pass(ready)

    def finish(self) -> str:
        """The rest of the reply, once the model is done (or "" if it slips)."""
        if self.slip is not None:
            return ""
        rest, self._held = self._held, ""
        out = self._pass(rest)
        if self._vouching and self.slip is None:
            self.slip, self._withheld = Slip("yes", "a yes and nothing more"), ""
        return out

    def _pass(self, text: str) -> str:
        """``text`` up to its first unsupported claim (all of it if none), remembered as said."""
        out = ""
        for piece in re.split(r"(\s+)", text):
            said = self._said + self._withheld + out
            if self.support and not said.strip() and piece.lower().strip(",.!") == "yes":
                self._vouching = True
            slip = self._check(piece, said)
            if slip is None and self._vouching:
                if {stem(w) for w in _words(piece)} & self.support:
                    self._vouching, out, self._withheld = False, self._withheld + out, ""
                elif _SENTENCE_END.search(piece):
                    slip = Slip("yes", piece.strip())  # a "Yes" and nothing the facts hold
            if slip is not None:
                self.slip = slip
                out = out.rstrip()
                break
            out += piece
        if self._vouching:
            self._withheld, out = self._withheld + out, ""
        if self.slip is not None:
            self._withheld = ""  # never said
        self._said += out
        return out

    def _check(self, piece: str, said: str) -> Slip | None:
        """The first claim of ``piece`` (a word and what sticks to it) that fails, after ``said``."""
        sentence_start = not said.strip() or bool(_SENTENCE_END.search(said))
        for token in _TOKEN.findall(piece):
            if self.holds and not said.strip() and token.lower() == "no":
                return Slip("no", token)  # "Do you come out to Shoreham?" "No, ..." when the facts list Shoreham
            if self.denies and not said.strip() and token.lower() == "yes":
                return Slip("yes", token)  # "Can I pay by cheque?" "Yes, ..." when the facts say "no cheques"
            if _numbers_of(token) - self._numbers:
                return Slip("number", token)
            word = token.lower().rstrip(".,")
            day = word.removesuffix("s")
            if day in DAYS and (day not in self._days or self._asked_days and day not in self._first_days
                                and not _days_in(said) & self._first_days):
                return Slip("day", token)  # not a day of the facts, or another day than the one asked about
            if (token[:1].isupper() and not sentence_start and word not in self._names and word not in _ALWAYS_NAMES
                    and word.replace("-", "") not in self._names and day not in DAYS and not word.isdigit()):
                return Slip("name", token)
            sentence_start = False
        return None


def best_line(lines: Iterable[str]) -> str:
    """The first of ``lines`` as a sentence to say ("Hours, Saturday: 12 noon to 10:30 pm.")."""
    for line in lines:
        return line.rstrip(".") + "."
    return ""
