"""The ``callback`` phase: real people's phone numbers taken down in a call-back request, over SIP.

The capture phase's callers are synthetic voices.  Here the number itself is a real person's: the human
corpus's phone numbers built from the Free Spoken Digit Dataset (six speakers, ten digits read in groups
with pauses; ``agent/tools/bench/human/``, SHA-256 pinned).  The agent's facts take a call-back request of
a number alone (``[capture.message] fields = ["number"]``).  The caller asks in Piper's voice to be called
back; whenever it gives the number it plays the recording; it says yes to a read-back only when every
digit was read back right (otherwise "No.", and the recording again when asked), and keys the number (DTMF)
when the agent asks it to key it in.  Over G.722 and PCMU.

Per call: whether the confirmed number is the person's (the target: every digit right, or asked again:
no wrong number confirmed), whether the first read-back was already right, whether the caller was asked
to key it in, and the caller's turns.
"""

from __future__ import annotations

import datetime
import secrets
import statistics
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...dialog.facts import example_facts_path, load_facts
from ...dialog.values import say_number
from ..receiver import WebhookReceiver
from .capture import CODECS, Dialogue, Person, _graded, _talk
from .human import Recording, load_recordings

__all__ = ["callback_phase", "digits_of"]

REQUEST = "Could someone call me back, please?"
PER_SPEAKER = 2
"""Recordings per speaker in a full run (of five): 12 numbers, each over both codecs."""
FACTS = """
[capture.message]
fields = ["number"]
digits = "10-11"
"""
_DIGITS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}


def digits_of(transcript: str) -> str:
    """"two two zero six ..." -> "220 6..." without spaces: the number a recording reads."""
    return "".join(_DIGITS[word] for word in transcript.lower().split())


def numbers(quick: bool) -> list[Recording]:
    """The corpus's FSDD phone numbers: ``PER_SPEAKER`` of each speaker (one of three speakers when quick)."""
    by_speaker: dict[str, list[Recording]] = {}
    for rec in load_recordings():
        if rec.group == "fsdd":
            by_speaker.setdefault(rec.speaker, []).append(rec)
    if quick:
        return [recs[0] for recs in list(by_speaker.values())[:3]]
    return [rec for recs in by_speaker.values() for rec in recs[:PER_SPEAKER]]


class _Caller(Person):
    """The capture phase's caller, but a read-back with a wrong digit is answered "No." (the number follows
    when asked, in the person's own voice)."""

    def answer(self, asked: str) -> tuple[str, str]:
        kind, text = super().answer(asked)
        return (kind, "No.") if kind == "say" and text.startswith("No, the number is") else (kind, text)


class _Voice:
    """Piper's voice, but the person's recording (alone) wherever the caller gives the number."""

    def __init__(self, bench: Any, recording: Recording) -> None:
        self.bench = bench
        self.said = say_number(digits_of(recording.transcript))
        self.recording = recording.audio()

    def audio(self, voice: str, text: str) -> np.ndarray:
        return self.recording if self.said in text else self.bench.audio(text)


def write_facts(folder: Path) -> Path:
    """The example restaurant, taking a call-back number alone."""
    lines = [line for line in example_facts_path().read_text().splitlines()
             if not line.startswith(("bookings =", "[capture", "# the agent takes", "# --webhook"))]
    path = folder / "callback_facts.toml"
    path.write_text("\n".join(lines).split("[transfer]")[0] + FACTS)
    return path


def callback_phase(bench: Any, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Real people's numbers in call-back requests over G.722 and PCMU: right, asked again, confirmed wrong."""
    facts_path = write_facts(bench.workdir)
    zone = zoneinfo.ZoneInfo(load_facts(facts_path).timezone)
    secret = secrets.token_hex(16)
    rows: list[dict[str, Any]] = []
    with WebhookReceiver(secret) as hook:
        seen: set[str] = set()
        for codec in CODECS:
            agent, records = bench.agent(f"callback-{codec}", "--brain", "llm", "--facts", str(facts_path),
                                         "--codecs", codec, "--greeting", "auto", "--webhook", hook.url,
                                         "--webhook-secret", secret, "--state-dir",
                                         str(bench.workdir / f"callback-{codec}-state"))
            try:
                for rec in numbers(quick):
                    number = digits_of(rec.transcript)
                    dialogue = Dialogue("message", REQUEST, {"number": number})
                    today = datetime.datetime.now(zone).date()
                    person = _Caller(dialogue, today)
                    turns, finished, lines = _talk(bench, agent.uri, records, dialogue, rec.speaker,
                                                   _Voice(bench, rec), today, person)
                    row = _graded(hook, seen, dialogue, {"number": number})
                    read_backs = [line for line in lines if line.startswith("assistant:") and "is that right" in
                                  line.lower()]
                    row.update(recording=rec.id, speaker=rec.speaker, codec=codec, turns=turns,
                               caller_finished=finished, transcript=lines,
                               first_read_back_right=bool(read_backs) and say_number(number) in read_backs[0],
                               keyed=person.keyed, right=row["confirmed"] and row["fields"].get("number") == number)
                    rows.append(row)
                    say(f"callback {codec} {rec.id}: {'right' if row['right'] else 'NOT RIGHT'}"
                        f"{' (keyed)' if person.keyed else ''} in {turns} turns"
                        f"{', A WRONG NUMBER CONFIRMED' if row['wrong_number_confirmed'] else ''}")
            finally:
                agent.stop()
    return _summary(rows)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def share(subset: list[dict[str, Any]]) -> str:
        return f"{sum(r['right'] for r in subset)}/{len(subset)}"

    done = [r for r in rows if r["confirmed"]]
    return {
        "calls": len(rows),
        "speakers": len({r["speaker"] for r in rows}),
        "right": share(rows),
        "by_codec": {codec: share([r for r in rows if r["codec"] == codec]) for codec in CODECS},
        "first_read_back_right": sum(r["first_read_back_right"] for r in rows),
        "keyed": sum(r["keyed"] for r in rows),
        "wrong_numbers_confirmed": sum(r["wrong_number_confirmed"] for r in rows),
        "not_confirmed": len(rows) - len(done),
        "turns_per_capture": round(statistics.mean(r["turns"] for r in done), 1) if done else None,
        "deliveries_lost": sum(r["caller_finished"] and not r["delivered"] for r in rows),
        "rows": rows,
    }

