"""Taking a message or a booking request by conversation, as the facts' ``[capture]`` section allows.

    [capture.message]                      # take messages (name, call-back number, what it is about)
    [capture.booking]                      # take booking requests
    what = "a table"                       # what is booked, said in the questions and the read-back
    fields = ["people", "date", "time", "name", "number"]
    max_people = 8
    digits = "10-11"                       # a call-back number's digits (default: 7 to 15)

Fields: ``name``, ``number`` (a telephone number: 7 to 15 digits, or
``digits = "10-11"``, said or keyed, the caller ID offered when it is one), ``about`` (what it is about, as
said), ``people``, ``date`` and ``time`` (checked against the facts' opening
hours), ``service`` (as said).  ``[capture.X.ask]`` may word a field's
question (``people = "How many guests?"``).

The agent asks for what is missing, one thing at a time (a booking request's
first words may already give the people, the day and the time), reads the
whole back and asks "Is that right?".  A "yes" to the read-back, heard whole,
confirms it; "no, it's 0 1 2 ..." or "the time should be 8" changes that
field and reads it back again; a plain "no" asks what to change; "never mind"
drops it.  A question the caller asks meanwhile is answered as any other, and
the next words go on with the capture.

Nothing here is kept between turns: the state of a capture is read again from
the call's history each time (:func:`replay`), with the same rules that made
the agent's questions, so a reply prepared and dropped changes nothing, and
the state at the end of a call (a caller who hung up half way) is what the
caller heard.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.dialog.base import Message
from agent.dialog.phrasing import answers_offer, plain, wants_a_person
from agent.dialog.values import (
    MAX_PHONE_DIGITS,
    MIN_PHONE_DIGITS,
    OpeningHours,
    digit_runs,
    read_about,
    read_date,
    read_name,
    read_number,
    read_people,
    read_time,
    resolve_time,
    say_date,
    say_number,
    say_time,
)
from agent.errors import ConfigError

__all__ = ["Capture", "CaptureDialog", "CaptureSpec", "FIELDS", "KINDS", "parse_capture", "KEYPAD_CONFIRM",
           "KEYPAD_TIME", "MESSAGE_OFFER"]

FIELDS = ("name", "number", "about", "people", "date", "time", "service")
KINDS = {"message": "message.taken", "booking": "booking.requested"}
"""A capture's kind -> the event it becomes."""
_DEFAULT_FIELDS = {"message": ("name", "number", "about"), "booking": ("people", "date", "time", "name", "number")}
MAX_TRIES = 3
"""Answers to one question that could not be used before the agent goes on without that field."""
KEYPAD_NUMBER = "Could you key it in and press hash?"
MESSAGE_OFFER = "I can take a message, if you like."
KEYPAD_CONFIRM = "If I have it all right, press 1. If not, press 2."
"""Said when an answer to a read-back heard whole was neither yes nor no (a recogniser that keeps mishearing it)."""
KEYPAD_TIME = "Could you key it in on the 24-hour clock, like 1 9 3 0 for 7:30 pm, and press hash?"
"""Asked when a time was not understood twice."""

_ASK = {
    "name": "Can I have your name, please?",
    "number": "What's the best number to call you back on? You can say it, or key it in and press hash.",
    "about": "And what would you like me to pass on?",
    "people": "For how many people?",
    "date": "For which day?",
    "time": "And at what time?",
    "service": "Which service would you like?",
}
_WHAT = {"name": "the name", "number": "the number", "about": "the message", "people": "the number of people",
         "date": "the day", "time": "the time", "service": "the service"}
_NAMED = [  # how a caller names a field to change it
    ("number", r"\b(?:number|phone|mobile|digits)\b"),
    ("people", r"\b(?:people|persons|guests|party|how many)\b"),
    ("date", r"\b(?:day|date)\b"),
    ("time", r"\b(?:time|hour|o'clock)\b"),
    ("name", r"\b(?:name|surname|spelling|spelled|spelt)\b"),
    ("service", r"\b(?:service|treatment)\b"),
    ("about", r"\b(?:message|about|reason)\b"),
]
_MESSAGE_ASKED = re.compile(
    r"\b(?:leave|take|pass on|give (?:them|him|her)|send) (?:a |my |them a |him a |her a |them my )?message\b"
    r"|\b(?:call|ring|phone|get back to) me back\b|\b(?:call|ring|phone) me\b(?! (?:a |an |the )?(?:taxi|cab))"
    r"|\b(?:have|get|ask) (?:someone|somebody|them|him|her) (?:to )?(?:call|ring|phone|get back to)\b"
    r"|\bcall ?back\b|\bget back to me\b")
_BOOKING_ASKED = re.compile(
    r"\b(?:book|reserve|reservation)\b|\b(?:make|get|have|want|need|like|arrange) (?:an |a )?(?:appointment|booking)"
    r"\b|\b(?:appointment|booking) for\b|\btable for\b|\bcome (?:out|round|over) (?:and|to (?:fix|look|see|repair))\b")
_REQUEST = re.compile(r"^(?:(?:hi|hello|yes|um|er|so) )*(?:can|could|may) (?:i|we)\b"
                      r"|\b(?:i|we)(?:'d| would)? (?:want|like|need)\b|\b(?:i am|we are|i'm|we're) looking\b")
_YES_AND = re.compile(r"^(?:yes|yeah|yep|yup|correct|exactly|perfect|that is (?:right|correct|it|fine|perfect))\b")
_NOT_YES = re.compile(r"\b(?:no|not|nope|but|wrong|change|except|apart|although|though|however|actually|instead|"
                      r"should|is not|was)\b")
"""A yes with more words at a read-back ("yes, I'm right": a misheard "yes, that's right"), unless they take it back."""
_STOP = re.compile(r"^(?:(?:oh|um|uh|well|no|actually) )*(?:never ?mind|forget (?:it|that|about it)|"
                   r"cancel(?: that| it)?|do not bother|i have changed my mind|do not worry(?: about it)?|leave it)\b")
_QUESTION = re.compile(r"^(?:what|when|where|which|who|why|how|do|does|did|are|is|can|could|will|would|have|has|"
                       r"should|may)\b")


@dataclass(frozen=True)
class CaptureSpec:
    """What the facts allow the agent to take (one ``[capture.X]`` table)."""

    kind: str
    fields: tuple[str, ...]
    what: str = ""
    max_people: int = 0
    ask: dict[str, str] = field(default_factory=dict, compare=False)
    digits: tuple[int, int] = (MIN_PHONE_DIGITS, MAX_PHONE_DIGITS)
    """How many digits a call-back number has (a + and its country code not counted apart)."""

    @property
    def event(self) -> str:
        return KINDS[self.kind]

    def question(self, name: str) -> str:
        return self.ask.get(name) or _ASK[name]


def parse_capture(table: Any, source: str) -> tuple[CaptureSpec, ...]:
    """The ``[capture]`` section of a facts file; a one-line ConfigError naming what is wrong."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"bad facts file {source}: {problem}")

    if not isinstance(table, dict):
        raise fail("[capture] must be a table of [capture.message] and [capture.booking] tables")
    specs = []
    for kind, item in table.items():
        if kind not in KINDS:
            raise fail(f"[capture.{kind}]: unknown; the agent captures {' and '.join(KINDS)}")
        if not isinstance(item, dict):
            raise fail(f"capture.{kind} must be a table ([capture.{kind}])")
        unknown = set(item) - {"fields", "what", "max_people", "ask", "digits"}
        if unknown:
            raise fail(f"[capture.{kind}]: unknown key {sorted(unknown)[0]!r} (fields, what, max_people, digits, ask)")
        digits = _digits(item.get("digits", f"{MIN_PHONE_DIGITS}-{MAX_PHONE_DIGITS}"))
        if digits is None:
            raise fail(f'capture.{kind}.digits must be "N-M" or "N" digits between {MIN_PHONE_DIGITS} and '
                       f'{MAX_PHONE_DIGITS}, e.g. "10-11"')
        fields = item.get("fields", list(_DEFAULT_FIELDS[kind]))
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
            raise fail(f"capture.{kind}.fields must be a list of field names ({', '.join(FIELDS)})")
        for name in fields:
            if name not in FIELDS:
                raise fail(f"capture.{kind}.fields: unknown field {name!r} (known: {', '.join(FIELDS)})")
        if len(set(fields)) != len(fields):
            raise fail(f"capture.{kind}.fields names a field twice")
        what = item.get("what", "a table" if kind == "booking" else "")
        max_people = item.get("max_people", 0)
        if not isinstance(what, str) or not isinstance(max_people, int) or isinstance(max_people, bool) \
                or max_people < 0:
            raise fail(f"capture.{kind}: what must be text and max_people a number of people")
        ask = item.get("ask", {})
        if not isinstance(ask, dict) or not all(k in FIELDS and isinstance(v, str) and v.strip()
                                                for k, v in ask.items()):
            raise fail(f"[capture.{kind}.ask] must map field names to the questions that ask for them")
        specs.append(CaptureSpec(kind, tuple(fields), what.strip(), max_people, dict(ask), digits))
    return tuple(specs)


def _digits(value: Any) -> tuple[int, int] | None:
    """``digits = "10-11"`` (or "11", or 11)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", text)
    if not match:
        return None
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    return (low, high) if MIN_PHONE_DIGITS <= low <= high <= MAX_PHONE_DIGITS else None


@dataclass(frozen=True)
class Capture:
    """A message or booking being taken: the fields so far and what the agent asked last."""

    spec: CaptureSpec
    index: int
    """Its number among the call's captures (1, 2, ...)."""
    fields: tuple[tuple[str, Any], ...] = ()
    asking: str = ""
    """The field asked for, "caller_id" (may we call back on it?), "confirm" (the read-back), "change" (what to
    change?), "done" (confirmed) or "dropped"."""
    tries: int = 0
    skipped: tuple[str, ...] = ()
    read_back: str = ""
    """The read-back last said ("" when the fields changed since)."""
    partial: str = ""
    """Digits heard for the number asked, too few for one: the rest may come in the caller's next words."""
    rejected: tuple[tuple[str, Any], ...] = ()
    """(field, value) read back and said to be wrong: heard that way again, it is asked for another way."""

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.fields)

    @property
    def confirmed(self) -> bool:
        return self.asking == "done"

    @property
    def complete(self) -> bool:
        return all(name in self.values for name in self.spec.fields)

    def with_value(self, name: str, value: Any) -> Capture:
        values = self.values
        values[name] = value
        return replace(self, fields=tuple(values.items()), tries=0, read_back="", partial="")

    def record(self) -> dict[str, Any]:
        """The fields as the event carries them: name, number (digits), about, people (a number), date
        (YYYY-MM-DD), time (HH:MM), service."""
        out: dict[str, Any] = {}
        for name in self.spec.fields:
            if name in self.values:
                value = self.values[name]
                out[name] = value.isoformat() if isinstance(value, datetime.date) else \
                    f"{value // 60:02d}:{value % 60:02d}" if name == "time" else value
        return out


@dataclass(frozen=True)
class _Turn:
    """One step: the capture after the caller's words and what the agent says (None: not the capture's)."""

    capture: Capture | None
    reply: str | None


class CaptureDialog:
    """The capture rules for one business (see the module docstring).  Pure; safe to share between calls."""

    def __init__(self, specs: Sequence[CaptureSpec], hours: OpeningHours, name: str, today: Callable[[], datetime.date],
                 caller_number: str = "") -> None:
        self.specs = {spec.kind: spec for spec in specs}
        self.hours = hours
        self.name = name
        self.today = today
        self.caller_number = caller_number if MIN_PHONE_DIGITS <= len(caller_number.lstrip("+")) else ""

    def for_caller(self, number: str) -> CaptureDialog:
        return CaptureDialog(tuple(self.specs.values()), self.hours, self.name, self.today, number)

    @property
    def takes_messages(self) -> bool:
        return "message" in self.specs

    # -- the call so far -------------------------------------------------------

    def replay(self, history: Sequence[Message]) -> tuple[Capture | None, list[Capture]]:
        """(the capture in progress, every capture of the call in order, the one in progress last)."""
        current: Capture | None = None
        finished: list[Capture] = []
        for i, message in enumerate(history):
            if message.role != "user":
                continue
            step = self._step(current, message.text, _last_assistant(history[:i]), len(finished) + 1)
            if step.reply is None:
                continue
            current = step.capture
            if current is not None and current.asking in ("done", "dropped"):
                finished.append(current)
                current = None
        return current, [*finished, *([current] if current is not None else [])]

    def reply(self, history: Sequence[Message], text: str) -> str | None:
        """What the agent says to ``text`` for a capture (None: the capture has nothing to do with it)."""
        current, every = self.replay(history)
        index = len(every) + 1 if current is None else current.index
        return self._step(current, text, _last_assistant(history), index).reply

    def in_progress(self, history: Sequence[Message]) -> Capture | None:
        return self.replay(history)[0]

    # -- one turn ----------------------------------------------------------------

    def _step(self, current: Capture | None, text: str, before: Message | None, index: int) -> _Turn:
        words = plain(text)
        if current is None:
            return self._start(text, words, before, index)
        if wants_a_person(text):
            return _Turn(current, None)  # put through as any caller (what was taken so far is kept)
        if _STOP.match(words):
            return _Turn(replace(current, asking="dropped"),
                         "All right, I haven't taken anything down. Is there anything else I can help you with?")
        if current.asking == "confirm":
            return self._confirm(current, text, words, before)
        if current.asking == "change":
            return self._change(current, text, words)
        if current.asking == "caller_id":
            answer = answers_offer(text)
            if answer == "yes":
                return self._next(current.with_value("number", self.caller_number))
            if answer == "no":
                return _Turn(replace(current, asking="number"), "What number should we call you back on?")
        if _QUESTION.match(words) and "?" in text and not self._values(current, text, current.asking):
            return _Turn(current, None)  # a question meanwhile: answered as any other
        return self._answer(current, text, current.asking)

    def _start(self, text: str, words: str, before: Message | None, index: int) -> _Turn:
        kind = ""
        if "booking" in self.specs and (_BOOKING_ASKED.search(words) or _wants(words, self.specs["booking"].what)
                                        or self._books(text, words)):
            kind = "booking"
        elif "message" in self.specs and (_MESSAGE_ASKED.search(words) or _wants(words, "a message") or (
                before is not None and before.text.endswith(MESSAGE_OFFER) and (
                    answers_offer(text) == "yes" or re.search(r"\bmessage\b", words) and not _NOT_YES.search(words)))):
            kind = "message"
        if not kind:
            return _Turn(None, None)
        spec = self.specs[kind]
        capture = Capture(spec, index)
        for name, value in self._values(capture, text, "").items():  # "a table for 4 on Friday at 8"
            capture = capture.with_value(name, value)
        problem = self._problem(capture)
        intro = "Of course, I can take a message." if kind == "message" else \
            f"I can take a booking request{f' for {spec.what}' if spec.what else ''}."
        if problem:
            name, why = problem
            return _Turn(replace(_without(capture, name), asking=name), f"{intro} {why} {self._ask(spec, name)}")
        turn = self._next(capture)
        return _Turn(turn.capture, f"{intro} {turn.reply}")

    def _books(self, text: str, words: str) -> bool:
        """A request with a party and a day or time, whatever its verb was heard as ("can i make a information
        for six people on sunday?")."""
        if not _REQUEST.search(words):
            return False
        values = self._values(Capture(self.specs["booking"], 0), text, "")
        return "people" in values and ("date" in values or "time" in values)

    def _answer(self, current: Capture, text: str, name: str) -> _Turn:
        values = self._values(current, text, name)
        if name == "number" and current.partial:  # "0 1 2 7 3" ... "5 5 5, 3 8 1"; not "0 1 2 7 3 5 5 5 ..." again
            rest = (read_number(text) or "").lstrip("+")
            joined = current.partial + rest
            if rest and digit_runs(text) == 1 and not rest.startswith(current.partial.lstrip("+")) \
                    and _number_fits(current.spec, joined):
                values["number"] = joined
        if name not in values:
            return self._again(current, name, text)
        if name in ("name", "number", "about") and (name, values[name]) in current.rejected:
            if name == "about" or (name == "name" and sum(field == name for field, _ in current.rejected) >= 2):
                return self._leave_out(current, name)  # said again (a name: spelled), and heard the same wrong way
            if current.tries + 1 >= MAX_TRIES:
                return self._again(current, name, text)
            return self._heard_same(replace(current, tries=current.tries + 1), name)
        for key, value in values.items():
            current = current.with_value(key, value)
        problem = self._problem(current)
        if problem:
            bad, why = problem
            current = replace(_without(current, bad), asking=bad, tries=current.tries + 1 if bad == name else 0)
            return _Turn(current, f"{why} {self._ask(current.spec, bad)}")
        return self._next(current)

    def _again(self, current: Capture, name: str, text: str) -> _Turn:
        """An answer that gives no value for the field asked: ask again, or after MAX_TRIES go on without it."""
        tries = current.tries + 1
        alone = not current.values and all(field == name or field in current.skipped for field in current.spec.fields)
        if tries == MAX_TRIES and name == "number" and alone:  # a call back on no number helps no one
            return _Turn(replace(current, asking=name, tries=tries),
                         f"Sorry, I'm having trouble hearing the number. {KEYPAD_NUMBER}")
        if tries >= MAX_TRIES:
            skipped = replace(current, skipped=(*current.skipped, name), tries=0)
            turn = self._next(skipped)
            if turn.capture is not None and turn.capture.asking == "dropped":
                return _Turn(turn.capture, f"Sorry, I couldn't get {_WHAT[name]}, so I haven't taken anything down. "
                             "Is there anything else I can help you with?")
            return _Turn(turn.capture, f"Sorry, I'll leave {_WHAT[name]} out. {turn.reply}")
        why, partial = "Sorry, I didn't catch that.", ""
        if name == "number":
            digits = read_number(text)
            if digits:
                joined = current.partial + digits.lstrip("+")
                # said again from its start ("2 2 0 6 5" then "2 2 0 6 5 2 2"), not the rest of it
                again = bool(current.partial) and digits.lstrip("+").startswith(current.partial.lstrip("+")[:3])
                if current.partial and not again and len(joined.lstrip("+")) < current.spec.digits[0] \
                        and digit_runs(text) == 1:
                    digits = joined  # three parts and more
                n = len(digits.lstrip("+"))
                partial = digits if n < current.spec.digits[0] and digit_runs(text) == 1 else ""
                why = (f"Sorry, I got {n} digit{'s' if n != 1 else ''}: {say_number(digits)}. "
                       + ("I need the whole number, with the area code." if n < current.spec.digits[0] else
                          "That's more digits than a phone number has."))
                if current.tries and (not partial or again):  # heard wrong twice: the keypad is sure
                    return _Turn(replace(current, asking=name, tries=tries),
                                 f"Sorry, I keep getting {n} digits: {say_number(digits)}. {KEYPAD_NUMBER}")
        if name == "time" and current.tries:  # misheard twice: four keys cannot be
            return _Turn(replace(current, asking=name, tries=tries),
                         f"Sorry, I still didn't catch the time. {KEYPAD_TIME}")
        return _Turn(replace(current, asking=name, tries=tries, partial=partial),
                     f"{why} {self._ask(current.spec, name, again=True)}")

    def _next(self, current: Capture) -> _Turn:
        """Ask for the first field still missing, or read the whole back."""
        for name in current.spec.fields:
            if name in current.values or name in current.skipped:
                continue
            if name == "number" and self.caller_number and "caller_id" not in current.skipped:
                return _Turn(replace(current, asking="caller_id", skipped=(*current.skipped, "caller_id")),
                             f"Shall we call you back on {say_number(self.caller_number)}, the number you're "
                             "calling from?")
            return _Turn(replace(current, asking=name, tries=0), self._ask(current.spec, name))
        if not current.values:  # every field left out: nothing to read back, nothing to pass on
            return _Turn(replace(current, asking="dropped"), "Sorry, I haven't been able to take anything down. "
                         "Is there anything else I can help you with?")
        said = self._read_back(current)
        return _Turn(replace(current, asking="confirm", read_back=said), f"Let me check I have that right: {said}. "
                     "Is that right?")

    def _confirm(self, current: Capture, text: str, words: str, before: Message | None) -> _Turn:
        answer = answers_offer(text)
        keypad = before is not None and before.text.endswith(KEYPAD_CONFIRM)
        if keypad and text.strip() in ("1", "2"):  # keyed
            answer = "yes" if text.strip() == "1" else "no"
        heard = before is not None and not before.interrupted and (
            plain(current.read_back) in plain(before.text) or keypad)  # (offered after a read-back heard whole)
        if answer == "yes" and heard:
            return _Turn(replace(current, asking="done"), self._thanks(current))
        if answer == "yes":
            return _Turn(current, f"Let me read it again: {current.read_back}. Is that right?")
        named = _named(words, current.spec.fields)
        values = self._values(current, text, named)  # a field named is read as if asked for
        if named in ("name", "about", "service") and named in values and len(plain(values[named]).split()) > 4:
            del values[named]  # "the name is wrong": no name in it
        same = [key for key, value in values.items()
                if current.values.get(key) == value or (key, value) in current.rejected]
        if same and len(same) == len(values) and same[0] in current.skipped:  # left out: it stays out
            return _Turn(current, f"Sorry, I still can't make out {_WHAT[same[0]]}, so I'll leave it out: "
                                  f"{current.read_back}. Is that right?")
        if same and len(same) == len(values) and same[0] in ("name", "number"):
            return self._heard_same(_rejecting(current, same[0]), same[0])  # corrected to what was heard
        if same and len(same) == len(values) and same[0] == "about":  # free text: asked again, heard the same
            return self._leave_out(_rejecting(current, "about"), "about")
        if values:  # "no, it's 0 1 2 ...", "the time should be 8"
            changed = current
            for key, value in values.items():
                changed = changed.with_value(key, value)
            problem = self._problem(changed)
            if problem:
                bad, why = problem
                return _Turn(replace(_without(current, bad), asking=bad), f"{why} {self._ask(current.spec, bad)}")
            return self._next(changed)
        if named:
            return self._ask_again(_rejecting(current, named), named, "Sorry about that.")
        if answer == "no" or re.match(r"^(?:no|nope|not quite|wrong|that is wrong|that is not right)\b", words):
            if len(current.spec.fields) == 1:  # nothing to choose: ask for it
                (only,) = current.spec.fields
                return self._ask_again(_rejecting(current, only), only, "Sorry about that.")
            return _Turn(replace(current, asking="change"), f"What should I change: {self._fields_said(current)}?")
        if _YES_AND.match(words) and not _NOT_YES.search(words) and "?" not in text:  # "yes, I'm right"
            return self._confirm(current, "yes", "yes", before)
        if heard:
            return _Turn(current, f"Sorry, I didn't catch that. {KEYPAD_CONFIRM}")
        return _Turn(current, f"Sorry, is that right? {current.read_back}.")

    def _heard_same(self, current: Capture, name: str) -> _Turn:
        """The name or number heard again as a value the caller said was wrong: spelled or keyed, it is sure."""
        how = "spell it for me, letter by letter" if name == "name" else "key it in and press hash"
        return _Turn(replace(_without(current, name), asking=name),
                     f"Sorry, I keep hearing {_WHAT[name]} the same way. Could you {how}?")

    def _leave_out(self, current: Capture, name: str) -> _Turn:
        """Go on without a field that cannot be heard right; whoever calls back can ask."""
        turn = self._next(replace(current, skipped=(*current.skipped, name), tries=0, asking=""))
        return _Turn(turn.capture, f"Sorry, I can't make out {_WHAT[name]}, so I'll leave it out. {turn.reply}")

    def _ask_again(self, current: Capture, name: str, sorry: str) -> _Turn:
        """Ask again for a field the caller said was wrong; a number wrong twice, on the keypad."""
        wrong = sum(field == name for field, _ in current.rejected)
        question = KEYPAD_NUMBER if name == "number" and wrong >= 2 else self._ask(current.spec, name, right=True)
        return _Turn(replace(current, asking=name), f"{sorry} {question}".strip())

    def _change(self, current: Capture, text: str, words: str) -> _Turn:
        named = _named(words, current.spec.fields)
        if self._values(current, text, named if named in ("number", "people", "date", "time") else ""):
            return self._confirm(current, text, words, None)
        if named:
            return self._ask_again(_rejecting(current, named), named, "")
        if answers_offer(text) == "no":  # "nothing, it's fine"
            said = self._read_back(current)
            return _Turn(replace(current, asking="confirm", read_back=said), f"So: {said}. Is that right?")
        return _Turn(current, f"Sorry, which should I change: {self._fields_said(current)}?")

    # -- values ----------------------------------------------------------------------

    def _values(self, current: Capture, text: str, asked: str) -> dict[str, Any]:
        """The values ``text`` gives: for the field ``asked`` read leniently, others only when said as such."""
        spec, out = current.spec, dict[str, Any]()
        today = self.today()
        for name in spec.fields:
            is_asked = name == asked
            value: Any = None
            if name == "number":
                digits = read_number(text)
                if digits and (is_asked or len(digits.lstrip("+")) >= MIN_PHONE_DIGITS):
                    value = digits if _number_fits(spec, digits) else None
            elif name == "people":
                value = read_people(text, asked=is_asked)
            elif name == "date":
                value = read_date(text, today)
            elif name == "time":
                said = read_time(text, asked=is_asked)
                if said is not None:
                    date = current.values.get("date") or out.get("date")
                    value = resolve_time(*said, self.hours.day_periods(date))
            elif is_asked and name == "name":
                value = read_name(text)
            elif is_asked and name in ("about", "service"):
                value = read_about(text)
            if value is not None:
                out[name] = value
        if asked not in ("", "people") and "people" in out and asked not in out:
            del out["people"]  # "at 8" asked for the time is not 8 people
        return out

    def _problem(self, current: Capture) -> tuple[str, str] | None:
        """A field whose value cannot be taken, and why (the day is closed, the time outside the hours)."""
        values = current.values
        people, date, minutes = values.get("people"), values.get("date"), values.get("time")
        limit = current.spec.max_people
        if people is not None and (people < 1 or (limit and people > limit)):
            return "people", (f"I'm sorry, I can only take requests for up to {limit} people." if limit
                              else "Sorry, I didn't catch how many.")
        today = self.today()
        if date is not None and date < today:
            return "date", "Sorry, that day has passed."
        if date is not None and self.hours.open_on(date) is False:
            return "date", f"I'm sorry, we're closed on {date:%A}s."
        if date is not None and minutes is not None and self.hours.open_at(date, minutes) is False:
            hours = self.hours.said.get(date.strftime("%A").lower(), "")
            return "time", f"I'm sorry, on {date:%A}s we're open {hours}." if hours else \
                "I'm sorry, we're not open then."
        return None

    # -- what the agent says ------------------------------------------------------------

    def _ask(self, spec: CaptureSpec, name: str, again: bool = False, right: bool = False) -> str:
        if right:
            return {"name": "What is the right name?", "number": "What is the right number?",
                    "date": "Which day should it be?", "time": "What time should it be?",
                    "people": "For how many people should it be?"}.get(name, spec.question(name))
        if again and name == "number":
            return "Could you say the whole number again, digit by digit, or key it in and press hash?"
        return spec.question(name)

    def _read_back(self, current: Capture) -> str:
        values, spec = current.values, current.spec
        parts = []
        if spec.kind == "booking":
            head = spec.what or "a booking"
            if "service" in values:
                head += f" for {values['service']}"
            if "people" in values:
                head += f" for {values['people']} {'person' if values['people'] == 1 else 'people'}"
            if "date" in values:
                head += f" on {say_date(values['date'])}"
            if "time" in values:
                head += f" at {say_time(values['time'])}"
            parts.append(head)
            if "name" in values:
                parts.append(f"in the name of {values['name']}")
            if "number" in values:
                parts.append(f"on {say_number(values['number'])}")
            if "about" in values:
                parts.append(f"about: {values['about']}")
            return ", ".join(parts)
        if "name" in values:
            parts.append(f"a message from {values['name']}")
        if "number" in values:  # without a name (a call-back request), say what the number is for
            parts.append(f"{'on' if parts else 'a call back on'} {say_number(values['number'])}")
        if "about" in values:
            parts.append(f"saying: {values['about'].rstrip('.')}")
        return ", ".join(parts) or "a message"

    def _thanks(self, current: Capture) -> str:
        if current.spec.kind == "booking":
            return (f"Thank you. I've passed on your request, and {self.name} will call you back to confirm it. "
                    "Is there anything else I can help you with?")
        return "Thank you. I've passed your message on. Is there anything else I can help you with?"

    def _fields_said(self, current: Capture) -> str:
        names = [_WHAT[name] for name in current.spec.fields]
        return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def _wants(words: str, what: str) -> bool:
    """Whether ``words`` ask for the booking's ``what`` without a word for booking: "i want a table please",
    "a table booking please" ("what" = "a table"); "is the table by the window free" is not."""
    what = plain(what)
    if not what:
        return False
    thing = re.escape(what)
    return bool(re.search(rf"^(?:um |er |yes |hi |hello )*{thing}\b|\b(?:want|need|like|after|get|have) "
                          rf"(?:\w+ ){{0,2}}{thing}\b", words))


def _number_fits(spec: CaptureSpec, digits: str) -> bool:
    """Whether ``digits`` can be a call-back number: the facts' count, or up to 15 after a +."""
    n, (low, high) = len(digits.lstrip("+")), spec.digits
    return low <= n <= high or (digits.startswith("+") and MIN_PHONE_DIGITS <= n <= MAX_PHONE_DIGITS)


def _without(current: Capture, name: str) -> Capture:
    return replace(current, fields=tuple((k, v) for k, v in current.fields if k != name), read_back="")


def _rejecting(current: Capture, name: str) -> Capture:
    """``current`` without the field the caller said was wrong, its value remembered as wrong."""
    value = current.values.get(name)
    wrong = current.rejected if value is None or (name, value) in current.rejected else \
        (*current.rejected, (name, value))
    return replace(_without(current, name), rejected=wrong)


def _named(words: str, fields: Sequence[str]) -> str:
    """The capture's field the caller names first ("the message is about a table for 20 people": about)."""
    found = [(match.start(), name) for name, pattern in _NAMED if name in fields
             for match in [re.search(pattern, words)] if match]
    return min(found)[1] if found else ""


def _last_assistant(history: Sequence[Message]) -> Message | None:
    for message in reversed(history):
        if message.role == "assistant":
            return message
    return None
