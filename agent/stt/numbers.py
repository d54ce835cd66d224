"""Numbers as said, written one way: what a recogniser gives the conversation.

Whisper writes the same phone number as "2 2 0, 6 5 2, 2 8 8 8", "220-652-2888",
"two two zero six five two" or "2, 2, 0. 652." depending on the pauses and
on which words it heard first.  :func:`as_said` writes each the same way, so
that a number read in groups, with or without pauses, reaches the
conversation (and the records) as one string of digits:

- a run of digits read one by one or in groups ("2 2 0, 6 5 2", "0 1 2 -
  3 4 5", "double 5") becomes its digits ("220652", "012345", "55") when it
  holds at least 5 digits, or at least 3 digits read one at a time; shorter
  runs ("for 4, 6 people", "12 30") are left as they were said;
- spelled digits ("two two zero", "oh one two") count as digits inside such a
  run; a lone "one" or "two" stays a word;
- a time written with a dot ("7.30 p.m.") is written with a colon ("7:30 pm"),
  a price ("£7.30") is not;
- a name spelled letter by letter ("S. M. I. T. H.", "S-M-I-T-H", "L.A.U.R.A.")
  becomes the letters ("SMITH").

Pure string work, ~20 µs a turn.
"""

from __future__ import annotations

import re

__all__ = ["as_said"]

_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_REPEATS = {"double": 2, "triple": 3}
MIN_DIGITS = 5
"""Digits a run of groups must hold to be written as one number (a phone number, a postcode, a card)."""
MIN_SINGLE_DIGITS = 3
"""Digits read one at a time ("2 2 0") that make a number however short."""

_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^[\"'(]*(.*?)[\"')]*$")
_TIME = re.compile(r"(?<![£$€\d.,])\b(\d{1,2})\.(\d{2})(?=\s|$|[,;!?]|\.(?:\s|$))")
_MERIDIEM = re.compile(r"\b([ap])\.\s?m\.?(?=\s|$|[,;!?])", re.IGNORECASE)
_LETTERS = re.compile(r"\b(?:[A-Za-z](?:[.,]?[\s-]+|\.)){2,}[A-Za-z]\b\.?")


def as_said(text: str) -> str:
    """``text`` with its numbers, times and spelled names written one way (see the module docstring)."""
    if not text:
        return text
    text = _times(text)
    text = _spelled(text)
    return _digit_runs(text)


def _times(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        hours, minutes = int(match.group(1)), int(match.group(2))
        return f"{hours}:{match.group(2)}" if hours <= 24 and minutes < 60 else match.group(0)

    text = _TIME.sub(fix, text)
    return _MERIDIEM.sub(lambda m: f"{m.group(1).lower()}m", text)


def _spelled(text: str) -> str:
    def join(match: re.Match[str]) -> str:
        letters = re.findall(r"[A-Za-z]", match.group(0))
        if all(letter in "Ia" for letter in letters):
            return match.group(0)  # "I a I": words, not a spelling
        said = match.group(0)
        tail = "." if said.endswith(".") and said.count(".") == 1 else ""  # a sentence's dot, not the letters'
        return "".join(letter.upper() for letter in letters) + tail

    return _LETTERS.sub(join, text)


def _digits_of(token: str) -> tuple[str, bool] | None:
    """(digits, read one at a time) of a token that is only digits and separators, or None."""
    core = _EDGE.sub(r"\1", token).strip(",.;:-!?")
    word = core.lower()
    if word in _DIGIT_WORDS:
        return _DIGIT_WORDS[word], True
    if re.fullmatch(r"\d+(?:-\d+)*", core):
        digits = core.replace("-", "")
        return digits, len(digits) == 1
    return None


def _digit_runs(text: str) -> str:
    tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        run: list[tuple[str, bool, tuple[int, int, str]]] = []
        j, repeat, first = i, 1, tokens[i][0]
        while j < len(tokens):
            word = _EDGE.sub(r"\1", tokens[j][2]).strip(",.;:-!?").lower()
            if word in _REPEATS and j + 1 < len(tokens) and _digits_of(tokens[j + 1][2]) is not None:
                repeat = _REPEATS[word]
                j += 1
                continue
            if not word and run and j + 1 < len(tokens) and _digits_of(tokens[j + 1][2]) is not None:
                j += 1  # a dash or a comma alone between groups
                continue
            got = _digits_of(tokens[j][2])
            if got is None or (run and _ends_sentence(tokens[j - 1][2]) and not _digits_only(tokens[j - 1][2])):
                break
            digits, single = got
            run.append((digits * repeat if single else digits, single or repeat > 1, tokens[j]))
            repeat = 1
            j += 1
        if _is_number(run):
            start, end = first, run[-1][2][1]
            trailing = re.search(r"[,.;:!?)\"']*$", run[-1][2][2])
            lead = re.match(r"^[\"'(]*", run[0][2][2])
            out.append(text[last:start])
            out.append((lead.group(0) if lead else "") + "".join(d for d, _s, _t in run)
                       + (trailing.group(0) if trailing else ""))
            last = end
            i = j
        else:
            i = max(j, i + 1)
    out.append(text[last:])
    return "".join(out)


def _ends_sentence(token: str) -> bool:
    return token.rstrip("\"')").endswith(("!", "?"))


def _digits_only(token: str) -> bool:
    return bool(re.fullmatch(r"[\d,.\-]+", token))


def _is_number(run: list[tuple[str, bool, tuple[int, int, str]]]) -> bool:
    if len(run) < 2 and not (run and "-" in run[0][2][2].strip("-") and len(run[0][0]) >= MIN_DIGITS):
        return False
    digits = sum(len(d) for d, _s, _t in run)
    singles = sum(len(d) for d, single, _t in run if single)
    words = sum(not re.search(r"\d", t[2]) for _d, _s, t in run)
    if words == len(run) and len(run) < MIN_SINGLE_DIGITS:
        return False  # "one two": words
    return digits >= MIN_DIGITS or singles >= MIN_SINGLE_DIGITS
