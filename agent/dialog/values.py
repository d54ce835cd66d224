"""What a caller says, read as the values a message or a booking needs, and said back.

Each reader takes the recogniser's words (already through
:func:`agent.stt.numbers.as_said`, so "oh one two seven three" is "01273")
and returns a value or None:

    read_name("It's John Smith, S M I T H")  -> "John Smith"
    read_number("my number is 01273 555381") -> "01273555381"
    read_people("a table for four")          -> 4
    read_date("next Friday", today)          -> the date of the coming Friday
    read_time("half past seven")             -> (7, 30, None)   the am/pm is None when not said
    read_about("it's about my order")        -> "my order"

and the sayers write them for the read-back: ``say_number("01273555381")``
is "0 1 2 7 3, 5 5 5, 3 8 1" (digit by digit, in groups), ``say_date`` is
"Friday 11 December", ``say_time`` is "7:30 pm".

:class:`OpeningHours` reads the facts' hours ("Tuesday to Friday": "12 noon to
2:30 pm, and 6 pm to 10 pm") into periods, to check a booking's day and time.
Pure functions, no model.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent.stt.numbers import as_said

__all__ = ["OpeningHours", "read_about", "read_date", "read_name", "read_number", "read_people", "read_time",
           "digit_runs", "resolve_time", "say_date", "say_number", "say_time", "MIN_PHONE_DIGITS", "MAX_PHONE_DIGITS",
           "WEEK", "days_named"]

MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
WEEK = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_MONTH = {name: i + 1 for i, name in enumerate(_MONTHS)} | {name[:3]: i + 1 for i, name in enumerate(_MONTHS)}
_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "a couple": 2, "a couple of": 2}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
             "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
             "twentieth": 20, "twenty first": 21, "twenty second": 22, "twenty third": 23, "twenty fourth": 24,
             "twenty fifth": 25, "twenty sixth": 26, "twenty seventh": 27, "twenty eighth": 28,
             "twenty ninth": 29, "thirtieth": 30, "thirty first": 31}
_MINUTE_WORDS = {"o'clock": 0, "oclock": 0, "fifteen": 15, "thirty": 30, "forty five": 45, "forty-five": 45,
                 "ten": 10, "twenty": 20, "forty": 40, "fifty": 50, "five": 5, "oh five": 5}


_TIME_DOT = re.compile(r"\b(\d{1,2})[.:](\d{2}) ?([ap])\.? ?m\b\.?", re.IGNORECASE)
_TIME_GLUED = re.compile(r"\b(\d{1,2}) ?([ap])\.? ?m\b\.?", re.IGNORECASE)


def _lower(text: str) -> str:
    text = _TIME_GLUED.sub(r"\1 \2m", _TIME_DOT.sub(r"\1:\2 \3m", text))  # "7.30pm", "7p.m." -> "7:30 pm", "7 pm"
    return " ".join(re.findall(r"[a-z0-9:+'-]+", as_said(text).lower().replace("\u2019", "'")))


# -- names ---------------------------------------------------------------------

_NAME_LEAD = re.compile(
    r"^(?:(?:yes|yeah|yep|sure|okay|ok|right|well|um|uh|er|erm|so|oh|hi|hello|sorry|of course|certainly)\b[ ,.]*)*"
    r"(?:(?:my|the|his|her|their) (?:full |first |last )?name(?: is|'s)?|(?:it|that)(?:'s| is| was)|"
    r"this is|i'm|i am|call me|you can call me|put it (?:under|down as)|under(?: the name)?|it's for|for)?\s*",
    re.IGNORECASE)
_NAME_TAIL = re.compile(r"\s*\b(?:speaking|here|thanks|thank you|please|cheers)\b.*$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_NOT_NAMES = frozenset("a an the and is it my name yes no not what who why how when where okay ok sorry um uh er "
                       "hello hi wrong right incorrect correct change should be spelled spelt misspelled actually "
                       "letter letters by spell spelling "
                       "that's that was i i'll i'm i'd i've you we they he she".split())


def read_name(text: str) -> str | None:
    """The name a caller gives ("It's John Smith" -> "John Smith"); a spelled word ("S M I T H") replaces the
    word it spells out.  None when there is no name in it (a question, "um")."""
    said = as_said(text).strip()
    if "?" in said:
        return None
    said = _NAME_TAIL.sub("", _NAME_LEAD.sub("", said, count=1))
    words = _NAME_WORD.findall(said)
    spelled = [w for w in words if len(w) >= 2 and w.isupper()]
    names: list[str] = []
    for word in words:
        if word in spelled and names:
            close = difflib.get_close_matches(word.lower(), [n.lower() for n in names], n=1, cutoff=0.4)
            if close:  # "John Smyth, S M I T H": the spelling wins
                names[[n.lower() for n in names].index(close[0])] = word.capitalize()
                continue
        names.append(word.capitalize() if word.isupper() or word.islower() else word)
    names = [n for n in names if n.lower() not in _NOT_NAMES] if len(names) > 1 else names
    if not names or len(names) > 5 or all(n.lower() in _NOT_NAMES for n in names):
        return None
    return " ".join(names)


# -- telephone numbers -----------------------------------------------------------

_DIGITS = re.compile(r"\+?\d[\d\s\-().]*\d|\+?\d")


def read_number(text: str) -> str | None:
    """The longest run of digits said ("0 1 2 7 3, 5 5 5..." is one run after ``as_said``), with a leading +
    (said "plus", or keyed as the international prefix 00); None when there are no digits.  Its length is
    checked by the caller (:data:`MIN_PHONE_DIGITS`)."""
    said = re.sub(r"\bplus\s*(?=\d)", "+", as_said(text), flags=re.IGNORECASE)  # "plus 44 1273 ..."
    runs = [m.group(0) for m in _DIGITS.finditer(said)]
    if not runs:
        return None
    best = max(runs, key=lambda run: len(re.sub(r"\D", "", run)))
    digits = re.sub(r"\D", "", best)
    if not best.startswith("+") and digits.startswith("00") and len(digits) > 4:  # keyed: 00 for + (ITU)
        return "+" + digits[2:]
    return ("+" if best.startswith("+") else "") + digits


def digit_runs(text: str) -> int:
    """How many separate runs of digits ``text`` says ("It's 077 nearly 090456": 2)."""
    return len(_DIGITS.findall(as_said(text)))


def say_number(number: str) -> str:
    """Digits to read back one by one, in groups: "0 1 2 7 3, 5 5 5, 3 8 1"."""
    plus, digits = ("plus ", number[1:]) if number.startswith("+") else ("", number)
    n = len(digits)
    if plus:  # an international number: in threes
        groups = [digits[i:i + 3] for i in range(0, n, 3)]
    elif n == 11:
        groups = [digits[:5], digits[5:8], digits[8:]]
    elif n == 10:
        groups = [digits[:3], digits[3:6], digits[6:]]
    else:
        groups = [digits[i:i + 3] for i in range(0, n, 3)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2:] = [groups[-2] + groups[-1]]
    return plus + ", ".join(" ".join(group) for group in groups)


# -- how many people ---------------------------------------------------------------

_PEOPLE_NEAR = re.compile(r"\b(?:for|party of|group of|table for|booking for)\s+(\w+(?: of)?)\b|"
                          r"\b(\w+)\s+(?:people|persons|person|guests|adults|of us|diners|covers)\b")
_ALONE = re.compile(r"\b(?:just|only) (?:me|myself|one)\b|\bon my own\b|\bmyself\b")


def _count(word: str) -> int | None:
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    return _SMALL.get(word) or _SMALL.get(word.removesuffix(" of"))


def read_people(text: str, asked: bool = True) -> int | None:
    """How many people ("four of us", "a table for 4", "just me"); ``asked``: the question was how many, so a
    lone number is the answer."""
    words = _lower(text)
    if _ALONE.search(words):
        return 1
    for match in _PEOPLE_NEAR.finditer(words):
        count = _count(match.group(1) or match.group(2))
        if count:
            return count
    if asked:
        found = [c for w in re.findall(r"[a-z]+|\d+", words) if (c := _count(w))]
        if len(found) == 1:
            return found[0]
        sounds = re.match(r"^(?:for |just )?(free|tree|for|to|too)(?= people\b| of us\b| persons\b| guests\b)", words)
        if sounds and not found:  # "Free people.": three, as a recogniser writes it when asked how many
            return _SOUNDS_LIKE[sounds.group(1)]
    return None


_SOUNDS_LIKE = {"free": 3, "tree": 3, "for": 4, "to": 2, "too": 2}


# -- days ---------------------------------------------------------------------

_ORDINAL_RE = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_DAY_NUMBER = rf"(\d{{1,2}})(?:st|nd|rd|th)?|({_ORDINAL_RE})"
_MONTH_RE = "|".join(sorted(_MONTH, key=len, reverse=True))
_DATE_DM = re.compile(rf"\b(?:the )?(?:{_DAY_NUMBER})(?: of)? ({_MONTH_RE})\b")
_DATE_MD = re.compile(rf"\b({_MONTH_RE}) (?:the )?(?:{_DAY_NUMBER})\b")
_DATE_D = re.compile(rf"\bthe (?:{_DAY_NUMBER})\b")


def _day_number(digits: str | None, ordinal: str | None) -> int:
    return int(digits) if digits else _ORDINALS[ordinal or ""]


def read_date(text: str, today: datetime.date) -> datetime.date | None:
    """The day a caller means, from ``today``: "today", "tomorrow", "Friday" (the coming one; "this Friday" is
    today when today is a Friday), "the 12th", "12th of December", "December 12th"."""
    words = _lower(text)
    if re.search(r"\bday after tomorrow\b", words):
        return today + datetime.timedelta(days=2)
    if re.search(r"\btomorrow\b", words):
        return today + datetime.timedelta(days=1)
    if re.search(r"\b(?:today|tonight|this evening|this afternoon|this morning)\b", words):
        return today
    for match in _DATE_DM.finditer(words):
        return _in_year(_day_number(match.group(1), match.group(2)), _MONTH[match.group(3)], today)
    for match in _DATE_MD.finditer(words):
        return _in_year(_day_number(match.group(2), match.group(3)), _MONTH[match.group(1)], today)
    for match in _DATE_D.finditer(words):
        day = _day_number(match.group(1), match.group(2))
        month = today.month if day >= today.day else today.month % 12 + 1
        return _in_year(day, month, today)
    for i, name in enumerate(WEEK):
        found = re.search(rf"\b(this |next |on )?{name}s?\b", words)
        if found:
            ahead = (i - today.weekday()) % 7
            if ahead == 0 and (found.group(1) or "").strip() != "this":
                ahead = 7
            return today + datetime.timedelta(days=ahead)
    return None


def _in_year(day: int, month: int, today: datetime.date) -> datetime.date | None:
    """The next ``day`` of ``month`` from ``today`` (this year's, else next year's); None for no such day."""
    for year in (today.year, today.year + 1):
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            return None
        if date >= today:
            return date
    return None


def say_date(date: datetime.date) -> str:
    return f"{date:%A} {date.day} {date:%B}"


# -- times ----------------------------------------------------------------------

_HOUR_WORDS = {w: n for w, n in _SMALL.items() if n <= 12 and " " not in w}
_HOUR = r"(\d{1,2}|" + "|".join(_HOUR_WORDS) + r")"
_CLOCK = re.compile(rf"\b{_HOUR}(?::(\d{{2}}))?(?: ?(am|pm|o'clock|oclock))?\b")
_PAST = re.compile(rf"\b(half|quarter|(?:\d{{1,2}}|twenty|ten|five|twenty five)(?: minutes)?) (past|to|after) "
                   rf"{_HOUR}\b")
_SPOKEN = re.compile(rf"\b{_HOUR} (fifteen|thirty|forty five|forty-five|o'clock|oclock|oh five|ten|twenty|forty|"
                     rf"fifty)\b(?: ?(am|pm))?")
_MERIDIEM = re.compile(r"\b(?:in the (morning|afternoon|evening)|(tonight)|at night)\b")


def _hour(word: str) -> int:
    return int(word) if word.isdigit() else _HOUR_WORDS[word]


def read_time(text: str, asked: bool = True) -> tuple[int, int, str | None] | None:
    """(hour, minute, "am"/"pm"/None) of a time said: "7:30 pm", "half past seven", "seven thirty", "noon",
    "19:30" (pm), "7 in the evening", keyed "1930".  Without ``asked``, a lone number is not taken for a time
    ("for 4")."""
    keyed = re.sub(r"[\s#]", "", text)
    if asked and keyed.isdigit() and len(keyed) in (3, 4):  # keyed on the 24-hour clock: "1930", "730"
        hour, minute = int(keyed[:-2]), int(keyed[-2:])
        return (hour, minute, ("pm" if hour >= 12 else "am") if len(keyed) == 4 else None) \
            if hour <= 23 and minute <= 59 else None
    words = _lower(text)
    if re.search(r"\b(?:noon|midday|12 noon)\b", words):
        return 12, 0, "pm"
    if re.search(r"\bmidnight\b", words):
        return 0, 0, "am"
    part = _MERIDIEM.search(words)
    meridiem = None
    if part:
        meridiem = "am" if part.group(1) == "morning" else "pm"
    found = _PAST.search(words)
    if found:
        amount = {"half": 30, "quarter": 15}.get(found.group(1))
        if amount is None:
            amount = _count(found.group(1).removesuffix(" minutes")) or 0
        hour = _hour(found.group(3))
        if found.group(2) == "to":
            hour, minute = (hour - 1) % 12 or 12, 60 - amount
        else:
            minute = amount
        return hour, minute, meridiem
    found = _SPOKEN.search(words)
    if found:
        minute = _MINUTE_WORDS[found.group(2)]
        return _hour(found.group(1)), minute, found.group(3) or meridiem
    matches = list(_CLOCK.finditer(words))
    for strong in (True, False):  # "a table for 4 at 7:30 pm": the time said as one first
        for match in matches:
            hour, minute, suffix = _hour(match.group(1)), int(match.group(2) or 0), match.group(3)
            at = re.search(r"\b(?:at|around|about|by|from|after|before)$", words[:match.start()].rstrip())
            if hour > 23 or minute > 59 or (strong and not (suffix or match.group(2) or at)):
                continue
            if not strong and not (asked or meridiem):
                continue
            if hour > 12:
                return hour, minute, None
            return hour, minute, suffix if suffix in ("am", "pm") else meridiem
    return None


def resolve_time(hour: int, minute: int, meridiem: str | None, periods: Iterable[tuple[int, int]]) -> int:
    """Minutes after midnight of a time said: "7" is 7 pm when 7 pm is open and 7 am is not (and 1-6 without
    am or pm are pm); 24-hour times are as said."""
    if hour > 12:
        return hour * 60 + minute
    morning = (hour % 12) * 60 + minute
    evening = morning + 12 * 60
    if meridiem == "am":
        return morning
    if meridiem == "pm":
        return evening
    periods = list(periods)
    if any(start <= evening < end for start, end in periods) and not any(start <= morning < end
                                                                         for start, end in periods):
        return evening
    if any(start <= morning < end for start, end in periods):
        return morning
    return evening if 1 <= hour <= 7 or hour == 12 else morning


def say_time(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    if (hour, minute) == (12, 0):
        return "12 noon"
    if (hour, minute) == (0, 0):
        return "midnight"
    clock = f"{hour % 12 or 12}:{minute:02d}" if minute else f"{hour % 12 or 12}"
    return f"{clock} {'am' if hour < 12 else 'pm'}"


# -- what a message is about -------------------------------------------------------

_ABOUT_LEAD = re.compile(
    r"^(?:(?:yes|yeah|sure|okay|ok|well|um|uh|er|erm|so|right)\b[ ,.]*)*"
    r"(?:(?:it's|it is|it was|that's|this is) (?:about|regarding|re|to do with) |(?:the )?message is:? |"
    r"(?:can|could) you (?:please )?(?:tell|let) (?:them|him|her) (?:know )?(?:that )?|"
    r"(?:please )?(?:tell|let) (?:them|him|her) (?:know )?(?:that )?|(?:please )?tell me (?:that )?(?=i\b)|about |"
    r"regarding )?", re.IGNORECASE)
"""The words before what a message says ("please tell me I left ...": a "tell them" misheard before an I)."""


def read_about(text: str) -> str | None:
    """What a message is about, as said, without its lead-in ("it's about my order" -> "my order")."""
    about = text.strip()
    for _ in range(3):  # "please tell them it's about ..."
        about = _ABOUT_LEAD.sub("", about, count=1).strip(" ,.")
    if len(re.findall(r"[A-Za-z0-9]+", about)) < 1:
        return None
    return about[0].upper() + about[1:]


# -- opening hours ---------------------------------------------------------------------

_AT = r"(\d{1,2}(?::\d{2})?\s*(?:am|pm)?|12 noon|noon|midday|midnight)"
_PERIOD = re.compile(rf"{_AT}\s*(?:to|-|until|till|–)\s*{_AT}", re.IGNORECASE)


def _minutes(text: str, after: int | None = None) -> int | None:
    text = text.strip().lower()
    if text in ("noon", "12 noon", "midday"):
        return 12 * 60
    if text == "midnight":
        return 24 * 60
    match = re.match(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", text)
    if not match:
        return None
    hour, minute, suffix = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    elif suffix is None and after is not None and hour * 60 + minute <= after and hour < 12:
        hour += 12
    return hour * 60 + minute


def days_named(key: str) -> list[str]:
    """The days an hours fact names: "Tuesday to Friday", "Sunday and Monday", "Saturday"."""
    words = re.findall(r"[a-z]+", key.lower())
    if len(words) == 3 and words[1] == "to" and words[0] in WEEK and words[2] in WEEK:
        first, last = WEEK.index(words[0]), WEEK.index(words[2])
        return [WEEK[i % 7] for i in range(first, last + 1 if last >= first else last + 8)]
    return [word for word in words if word in WEEK] if set(words) <= set(WEEK) | {"and"} else []


@dataclass(frozen=True)
class OpeningHours:
    """Open periods (minutes after midnight) by day name; a day not in it is unknown (not checked)."""

    periods: dict[str, tuple[tuple[int, int], ...]]
    said: dict[str, str]
    """The fact's words for each day, to tell a caller ("12 noon to 10:30 pm")."""

    @classmethod
    def from_facts(cls, facts: Iterable[tuple[str, str, str]]) -> OpeningHours:
        """From (topic, key, text) of the facts whose topic is the hours."""
        periods: dict[str, tuple[tuple[int, int], ...]] = {}
        said: dict[str, str] = {}
        for topic, key, text in facts:
            if topic.lower() not in ("hours", "opening hours", "opening times"):
                continue
            found = []
            for match in _PERIOD.finditer(text):
                start = _minutes(match.group(1))
                end = _minutes(match.group(2), after=start)
                if start is not None and end is not None:
                    found.append((start, end if end > start else end + 24 * 60))
            if not found and not re.search(r"\bclosed\b", text, re.IGNORECASE):
                continue
            for day in days_named(key):
                periods[day], said[day] = tuple(found), text.rstrip(".")
        return cls(periods, said)

    def open_on(self, date: datetime.date) -> bool | None:
        """Open that day (None: the facts do not say)."""
        day = WEEK[date.weekday()]
        return bool(self.periods[day]) if day in self.periods else None

    def day_periods(self, date: datetime.date | None) -> tuple[tuple[int, int], ...]:
        if date is not None:
            return self.periods.get(WEEK[date.weekday()], ())
        return tuple(p for periods in self.periods.values() for p in periods)

    def open_at(self, date: datetime.date, minutes: int) -> bool | None:
        """Open at that time that day (None: the facts do not say)."""
        day = WEEK[date.weekday()]
        if day not in self.periods:
            return None
        return any(start <= minutes < end for start, end in self.periods[day])
