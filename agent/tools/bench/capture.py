"""The ``capture`` phase: messages and booking requests taken over SIP, and what reaches the business.

Each dialogue is one call to an agent whose facts take messages and booking requests (the example
restaurant with ``[capture]``), once over G.722 and once over PCMU, the caller's voice Piper's or (every
other dialogue) an espeak-ng voice.  The caller behaves as a person would: it listens to the agent's
question (read from the agent's live transcript, as a person would hear it) and answers it from the
dialogue's truth; at the read-back it says "yes" only when every value was read back right, and otherwise
corrects the first one wrong; a dialogue may change its mind once at the read-back.  The events reach a
webhook receiver in this process.

Per dialogue: the delivered event's fields against the truth; whether a wrong number was ever confirmed
(the target is none: every digit right, or asked again); the caller's turns from the request to the
thanks; the delay from the event's commit to its arrival.  Lost deliveries are confirmed captures (in
the agent's records) that never reached the webhook.
"""

from __future__ import annotations

import datetime
import re
import secrets
import statistics
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...dialog.facts import example_facts_path, load_facts
from ...dialog.values import read_date, say_date, say_number, say_time
from ..receiver import WebhookReceiver
from ..records import call_folders, transcript
from .answers import _Voices as AnswerVoices
from .corpus import ESPEAK_VOICES, normalise, word_errors

__all__ = ["DIALOGUES", "Dialogue", "Person", "capture_phase", "field_right"]

MAX_TURNS = 10
"""A caller not done after this many turns gives up (a person would have)."""
CODECS = ("G722", "PCMU")


@dataclass(frozen=True)
class Dialogue:
    """A caller who wants something taken down: what they first say and the values they mean."""

    kind: str
    request: str
    fields: dict[str, Any]
    """name, number, about, people, date (a day as said: "Friday"), time ("half past seven", with its
    HH:MM in ``clock``)."""
    clock: str = ""
    keyed: bool = False
    """The number keyed in (DTMF) rather than said."""
    caller_id: str = ""
    """The caller's own number, offered by the agent; used when it is the number meant."""
    first: dict[str, Any] = field(default_factory=dict)
    """Values given first and corrected at the read-back ("No, the time should be 8 pm")."""


DIALOGUES = [
    Dialogue("message", "Hello, can I leave a message for the manager please?",
             {"name": "John Smith", "number": "01273555381", "about": "I will be late for my table on Friday"}),
    Dialogue("message", "Could someone call me back please?",
             {"name": "Sarah Miller", "number": "07700900123", "about": "the private room for my birthday"}),
    Dialogue("message", "I'd like to leave a message.",
             {"name": "David Brown", "number": "02079460958", "about": "I left my umbrella at my table last night"},
             keyed=True),
    Dialogue("message", "Can you take a message for the chef?",
             {"name": "Emma Wilson", "number": "+441632960001", "about": "a gluten free menu for my daughter"},
             caller_id="+441632960001"),
    Dialogue("message", "Can I leave a message please?",
             {"name": "Michael Green", "number": "01632960789", "about": "the deposit for my party"},
             first={"number": "01632960798"}),
    Dialogue("message", "Please ask someone to ring me back.",
             {"name": "Laura Taylor", "number": "07911123456", "about": "a table for twenty people"},
             caller_id="+441273000111"),
    Dialogue("booking", "I'd like to book a table for four on Friday at half past seven.",
             {"people": 4, "date": "Friday", "time": "half past seven", "name": "Peter Jones",
              "number": "01632960123"}, clock="19:30"),
    Dialogue("booking", "Can I book a table please?",
             {"people": 2, "date": "Saturday", "time": "8 pm", "name": "Anna White", "number": "07700900456"},
             clock="20:00"),
    Dialogue("booking", "Could I make a reservation for six people on Sunday?",
             {"people": 6, "date": "Sunday", "time": "1 pm", "name": "James Hall", "number": "01273555019"},
             clock="13:00", keyed=True),
    Dialogue("booking", "I want to book a table for two on Thursday evening.",
             {"people": 2, "date": "Thursday", "time": "7 pm", "name": "Mary Clarke", "number": "02079460123"},
             clock="19:00", first={"time": "6 pm"}),
    Dialogue("booking", "Can I reserve a table for three on Saturday at noon?",
             {"people": 3, "date": "Saturday", "time": "noon", "name": "Tom Baker", "number": "+441632960555"},
             clock="12:00", caller_id="+441632960555"),
    Dialogue("booking", "I'd like to make a booking for five people.",
             {"people": 5, "date": "Wednesday", "time": "half past eight", "name": "Lucy Evans",
              "number": "07700900789"}, clock="20:30", first={"people": 4}),
]
"""Twelve dialogues: spoken, keyed and caller-ID numbers; corrections of a number, a time and a count."""

REPHRASED = {"message": ["I would like to leave a message, please.", "Can you take a message?", "A message, please."],
             "booking": ["I want to book a table, please.", "Can I make a booking?", "A table booking, please."]}
"""What a caller says when the agent did not understand the request."""

CAPTURE_FACTS = """
[capture.message]
digits = "10-11"

[capture.booking]
what = "a table"
max_people = 8
digits = "10-11"
"""


def write_facts(folder: Path) -> Path:
    """The example restaurant, taking messages and booking requests (no transfer target on loopback)."""
    lines = [line for line in example_facts_path().read_text().splitlines()
             if not line.startswith(("bookings =", "[capture", "# the agent takes", "# --webhook"))]
    path = folder / "capture_facts.toml"
    path.write_text("\n".join(lines).split("[transfer]")[0] + CAPTURE_FACTS)
    return path


def _said(name: str, value: Any) -> str:
    """A value as the caller says it."""
    if name == "number":
        return f"It's {say_number(value)}."
    if name == "about":
        return f"Please tell them {value}." if str(value).startswith("I ") else f"It's about {value}."
    return {"name": "My name is {}.", "people": "{} people.", "date": "On {}.", "time": "At {}."}[name].format(value)


_HOURS = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]


def _time_in_words(clock: str) -> str:
    """"20:00" -> "Eight o'clock in the evening.", "19:30" -> "Half past seven in the evening."."""
    hour, minute = (int(x) for x in clock.split(":"))
    part = "in the evening" if hour >= 17 else "in the afternoon" if hour >= 12 else "in the morning"
    said = f"{_HOURS[hour % 12]} o'clock" if minute == 0 else f"half past {_HOURS[hour % 12]}" if minute == 30 \
        else f"{_HOURS[hour % 12]} {minute}"
    return f"{said[0].upper()}{said[1:]} {part}."


def _spelled(name: str, heard: str) -> str:
    """The name with each word the agent got wrong spelled after it: "Laura, L, A, U, R, A, Taylor"."""
    words = [f"{w}, {', '.join(w.upper())}," if w.lower() not in heard.lower() else w for w in name.split()]
    return " ".join(words).rstrip(",") + "."


def _correction(name: str, value: Any) -> str:
    """What follows "No, " at a read-back: "the time should be 8 pm."."""
    if name == "number":
        return f"the number is {say_number(value)}."
    return {"name": "the name is {}.", "about": "the message is about {}.", "people": "it's for {} people.",
            "date": "the day should be {}.", "time": "the time should be {}."}[name].format(value)


def _keyed(number: str) -> str:
    """A number as keyed: 00 for a + (the international prefix), then #."""
    return f"00{number[1:]}#" if number.startswith("+") else f"{number}#"


class Person:
    """What a person with ``dialogue`` in mind answers to each of the agent's questions."""

    def __init__(self, dialogue: Dialogue, today: datetime.date) -> None:
        self.d = dialogue
        self.today = today
        self.changed_mind = not dialogue.first
        self._rephrased = 0
        self._read_back = ""
        self.keyed = False
        """Whether the agent asked for the number on the keypad after not hearing it."""
        self.left_out: set[str] = set()
        """Fields the agent said it could not make out and leaves out: as a person would, not asked for again."""

    def values(self) -> dict[str, Any]:
        return dict(self.d.fields) if self.changed_mind else {**self.d.fields, **self.d.first}

    def phrases(self) -> list[str]:
        """Everything this caller may say (to synthesise before the call)."""
        said = [self.d.request, "Yes, that's right.", "Yes, that's fine.", "No.", *REPHRASED[self.d.kind]]
        if self.d.clock:
            said.append(_time_in_words(self.d.clock))
        if "name" in self.d.fields:  # each word spelled, whichever was misheard
            words = str(self.d.fields["name"]).split()
            said += [_spelled(" ".join(words), " ".join(w for j, w in enumerate(words) if j != i))
                     for i in range(len(words))]
        for values in (self.d.fields, self.d.first):
            for name, value in values.items():
                said += [_said(name, value), f"No, {_correction(name, value)}", _correction(name, value)]
        return list(dict.fromkeys(said))

    def answer(self, asked: str) -> tuple[str, str]:
        """("say", words), ("dtmf", digits) or ("done", "")."""
        text = asked.lower()
        if "thank you" in text and "passed" in text:
            return "done", ""
        self.left_out |= {name for name, what in (("name", "name"), ("number", "number"), ("about", "message"))
                          if f"make out the {what}" in text}
        if "the number you're calling from" in text:
            return "say", "Yes, that's fine." if self.values()["number"] == self.d.caller_id else "No."
        if "press 1" in text:  # the read-back answered on the keypad
            return "dtmf", "2" if self.wrong(self._read_back) else "1"
        if "let me check" in text or "is that right" in text:
            self.changed_mind = True
            self._read_back = asked
            wrong = self.wrong(asked)
            return "say", f"No, {_correction(wrong[0], self.d.fields[wrong[0]])}" if wrong else "Yes, that's right."
        if "spell it for me" in text:
            return "say", _spelled(str(self.d.fields["name"]), self._read_back)
        if "24-hour clock" in text and self.d.clock:
            return "dtmf", self.d.clock.replace(":", "") + "#"
        if "could you key it in" in text:
            self.keyed = True
            return "dtmf", _keyed(self.values()["number"])
        if "should i change" in text:
            wrong = self.wrong(asked) or ["name"]
            return "say", _correction(wrong[0], self.d.fields[wrong[0]])
        values = self.values()
        question = [s for s in re.split(r"(?<=[.?!])\s+", text) if s][-1]  # "... the number out. And what ...?"
        for said in (question, text):
            for name, cue in (("number", "number"), ("name", "name"), ("about", "pass on"), ("people", "how many"),
                              ("date", "which day"), ("date", "closed on"), ("time", "what time"), ("time", "open")):
                if cue in said and name in values:
                    return self._value(name, values[name], text)
        # not understood: said again in other, plainer words, as a person would
        ways = REPHRASED[self.d.kind]
        self._rephrased += 1
        return "say", ways[(self._rephrased - 1) % len(ways)]

    def _value(self, name: str, value: Any, text: str) -> tuple[str, str]:
        """A value asked for, as said (or keyed)."""
        if name == "number" and self.d.keyed:
            return "dtmf", _keyed(value)
        if name == "time" and text.startswith("sorry, i didn't catch") and self.d.clock:
            return "say", _time_in_words(self.d.clock)  # said another way
        return "say", _said(name, value)

    def wrong(self, read_back: str) -> list[str]:
        """The values the read-back did not say as the caller means them, in the order said."""
        said = read_back.lower()
        wrong = []
        for name, value in self.d.fields.items():
            if name in self.left_out:
                continue  # told it was left out: whoever calls back will ask
            if name == "number":
                ok = say_number(value).lower() in said
            elif name == "people":
                ok = bool(re.search(rf"\bfor {value} (?:people|person)\b", said))
            elif name == "date":
                date = read_date(str(value), self.today)
                ok = date is not None and say_date(date).lower() in said
            elif name == "time":
                hh, mm = (int(x) for x in self.d.clock.split(":"))
                ok = f"at {say_time(hh * 60 + mm)}" in said
            elif name == "about":
                # as heard: "20" read back is the "twenty" the caller said
                words = set(normalise(str(value))) - {"a", "the", "for", "my", "i", "at", "it"}
                message = re.search(r"saying: (.*?)(?:\. is that right|$)", said)
                ok = len(words & set(normalise(message.group(1) if message else said))) >= 0.7 * len(words)
            elif name == "name":  # "a message from X, on ...", "in the name of X, on ...": not "Letter X"
                ok = bool(re.search(rf"\b(?:from|name of) {re.escape(str(value).lower())}(?:[,.]|$)", said))
            else:
                ok = str(value).lower() in said
            if not ok:
                wrong.append(name)
        return wrong


def _truth(dialogue: Dialogue, today: datetime.date) -> dict[str, Any]:
    """The event's fields the dialogue means."""
    out = dict(dialogue.fields)
    if "date" in out:
        date = read_date(str(out["date"]), today)
        out["date"] = date.isoformat() if date else None
    if "time" in out:
        out["time"] = dialogue.clock
    return out


class _Voices(AnswerVoices):
    """The answers phase's voices, but an espeak-ng voice (alternating) for every other dialogue."""

    def pick(self, index: int) -> str:
        if not self.espeak or index % 2 == 0:
            return "piper"
        names = list(ESPEAK_VOICES)
        return names[(index // 2) % len(names)]


def _talk(bench: Any, uri: str, records: Path, dialogue: Dialogue, voice: str, voices: Any,
          today: datetime.date, person: Person | None = None) -> tuple[int, bool, list[str]]:
    """One call: (the caller's turns, whether it heard the thanks, the agent's transcript)."""
    caller, person = bench.caller, person or Person(dialogue, today)
    before = len(call_folders(records))
    turns, finished = 0, False
    if caller.dial(uri):
        caller.wait_agent_audio(0.0, 10.0)
        caller.wait_agent_quiet(1.0, 20.0)
        kind, text = "say", dialogue.request
        while turns < MAX_TURNS:
            turns += 1
            if kind == "dtmf":
                caller.send_dtmf(text)
            else:
                caller.say(voices.audio(voice, text))
                caller.pump_until(lambda: not caller.playout.playing, 20.0)
            if caller.wait_agent_audio(time.monotonic() - 0.2, 30.0) is None:
                break
            caller.wait_agent_quiet(1.2, 40.0)
            folders = call_folders(records)[before:]
            said = [r["text"] for r in (transcript(folders[0]) if folders else []) if r.get("role") == "assistant"]
            kind, text = person.answer(said[-1] if said else "")
            if kind == "done":
                finished = True
                break
    bench.end_call()
    folders = call_folders(records)[before:]
    lines = [f"{r['role']}: {r.get('text', r.get('action', ''))}" for r in (transcript(folders[0]) if folders else [])
             if r.get("role") != "action" or r.get("action") in ("message.taken", "booking.requested")]
    return turns, finished, lines


def capture_phase(bench: Any, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Dialogues over G.722 and PCMU: field accuracy, numbers confirmed wrong, turns, lost deliveries, delay."""
    voices = _Voices(bench)
    if not voices.espeak:
        say("capture: espeak-ng is not installed, so every dialogue in Piper's voice (apt-get install espeak-ng)")
    facts_path = write_facts(bench.workdir)
    zone = zoneinfo.ZoneInfo(load_facts(facts_path).timezone)
    secret = secrets.token_hex(16)
    rows: list[dict[str, Any]] = []
    dialogues = [DIALOGUES[0], DIALOGUES[6]] if quick else DIALOGUES
    with WebhookReceiver(secret) as hook:
        seen: set[str] = set()
        for codec in CODECS:
            agent, records = bench.agent(f"capture-{codec}", "--brain", "llm", "--facts", str(facts_path),
                                         "--codecs", codec, "--greeting", "auto", "--webhook", hook.url,
                                         "--webhook-secret", secret, "--state-dir",
                                         str(bench.workdir / f"capture-{codec}-state"))
            try:
                for index, dialogue in enumerate(dialogues):
                    today = datetime.datetime.now(zone).date()
                    voice = voices.pick(index + (codec == "PCMU"))
                    turns, finished, lines = _talk(bench, agent.uri, records, dialogue, voice, voices, today)
                    row = _graded(hook, seen, dialogue, _truth(dialogue, today))
                    row.update(dialogue=index + 1, codec=codec, voice=voice, turns=turns, caller_finished=finished,
                               transcript=lines)
                    rows.append(row)
                    say(f"capture {codec} [{voice}] {dialogue.kind} {index + 1}: "
                        f"{'confirmed' if row['confirmed'] else 'NOT CONFIRMED'} in {turns} turns, fields right "
                        f"{row['fields_right']}/{row['fields_total']}"
                        f"{', A WRONG NUMBER CONFIRMED' if row['wrong_number_confirmed'] else ''}"
                        f"{', LOST' if finished and not row['delivered'] else ''}")
            finally:
                agent.stop()
    return _summary(rows)


def _graded(hook: WebhookReceiver, seen: set[str], dialogue: Dialogue, truth: dict[str, Any]) -> dict[str, Any]:
    """The call's capture event (the call whose call.ended arrived next) against the truth."""
    kind = "message.taken" if dialogue.kind == "message" else "booking.requested"
    call = ""
    deadline = time.monotonic() + 20.0
    while not call and time.monotonic() < deadline:
        ended = [d.event["call_id"] for d in hook.accepted() if d.event["type"] == "call.ended"
                 and d.event["call_id"] not in seen]
        call = ended[0] if ended else ""
        if not call:
            time.sleep(0.1)
    seen.add(call)
    found = [d for d in hook.accepted() if d.event["call_id"] == call and d.event["type"] == kind]
    event = found[0].event if found else None
    fields = event["fields"] if event else {}
    right = {name: field_right(name, fields.get(name), value) for name, value in truth.items()}
    delay = None
    if found and event is not None:
        sent = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
        delay = round((found[0].wall - sent) * 1000, 1)
    confirmed = bool(event and event["confirmed"])
    return {"kind": dialogue.kind, "confirmed": confirmed, "delivered": event is not None, "fields": fields,
            "truth": truth, "fields_right": sum(right.values()), "fields_total": len(right),
            "wrong_number_confirmed": confirmed and fields.get("number") != truth["number"],
            "webhook_delay_ms": delay}


def field_right(name: str, got: Any, want: Any) -> bool:
    """A delivered value against the truth: exactly, but a name's case and what a message is about to within a
    word in five (it is the caller's words as heard, kept as said)."""
    if got is None:
        return False
    if name == "name":
        return str(got).lower() == str(want).lower()
    if name == "about":
        said = normalise(str(want))
        return word_errors(said, normalise(str(got))) <= 0.2 * len(said)
    return bool(got == want)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(r["fields_total"] for r in rows)
    right = sum(r["fields_right"] for r in rows)
    done = [r for r in rows if r["confirmed"]]
    delays = [r["webhook_delay_ms"] for r in rows if r["webhook_delay_ms"] is not None]
    by_codec = {codec: f"{sum(r['fields_right'] for r in rows if r['codec'] == codec)}/"
                       f"{sum(r['fields_total'] for r in rows if r['codec'] == codec)}" for codec in CODECS}
    return {
        "dialogues": len(rows),
        "confirmed": len(done),
        "fields_right": right,
        "fields_total": total,
        "field_accuracy": round(right / total, 3) if total else None,
        "numbers_right": sum(r["fields"].get("number") == r["truth"].get("number") for r in rows),
        "wrong_numbers_confirmed": sum(r["wrong_number_confirmed"] for r in rows),
        "turns_per_capture": round(statistics.mean(r["turns"] for r in done), 1) if done else None,
        "deliveries_lost": sum(r["caller_finished"] and not r["delivered"] for r in rows),
        "webhook_delay_ms_p50": round(statistics.median(delays), 1) if delays else None,
        "by_codec": by_codec,
        "rows": rows,
    }
