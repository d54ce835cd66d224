"""The ``answers`` phase: does the agent answer right, ask when unsure, and how fast, per LLM?

Five businesses (:mod:`agent.tools.bench.questions`), each an agent of its own (``--brain llm --facts``
with the business's facts).  Each question is one call, so no answer leans on an earlier one; a follow-up's
call first asks the questions it leans on.  The caller asks over SIP in Piper's voice, every fourth question
in an espeak-ng voice.  The agent's transcript gives what it heard and what it answered, its timeline the
voice-to-voice time.  Each answer is graded automatically:

- **correct**: every ``need`` pattern is found (the fact asked for, or "I don't know" for a question the
  facts do not answer) and it invents nothing;
- **invented**: a ``bad`` pattern is found (a yes where the facts say nothing, a booking made), or a number
  that is neither in the facts nor in the question (a made-up price, time or date) outside the quotes of a
  question back (which repeat what was heard: 'Sorry, I didn't catch "BN3"');
- **clarified**: the agent asked back ("Sorry, did you ask about ...?", "Could you say it again?").  Properly
  when the question was a near-miss or was misheard (what the agent heard is more than a quarter of the
  words away from what was said, or lacks one of its words of substance: "Do you see courses?" for
  "horses"), needlessly when it was heard right.  A question back that quotes the
  words it did not catch ('Sorry, I didn't catch "gen"') is judged on them: properly when the caller did
  not say them;
- **right**: correct, or properly clarified;
- **transfers**, asked for (a question for a person) or not.
"""

from __future__ import annotations

import datetime
import re
import statistics
import zoneinfo
from collections.abc import Callable
from typing import Any

import numpy as np

from ...dialog.facts import load_facts, substance_words
from ...models import DEFAULT_LLM
from ..records import call_folders, timeline, transcript
from .corpus import ESPEAK_VOICES, espeak_available, normalise, render_espeak, word_errors
from .questions import BUSINESSES, DONT_KNOW, RESTAURANT, Business, Question

__all__ = ["ANSWER_QUESTIONS", "Question", "answers_phase", "grade", "judge"]

ANSWER_QUESTIONS = RESTAURANT
"""The restaurant's questions (the example facts); the accuracy phase speaks them too."""
QUICK_PER_BUSINESS = 6
ESPEAK_EVERY = 4
"""Every fourth question is asked in an espeak-ng voice (alternating), the others in Piper's."""
MISHEARD_WER = 0.25
CLARIFYING = re.compile(r"^sorry,? (did you ask|i didn't catch|i still didn't catch|about that)", re.IGNORECASE)
QUOTED = re.compile(r"^sorry,? i didn't catch " + r'"([^"]+)"', re.IGNORECASE)
TRANSFERRED = re.compile(r"put you through to .*(now|please hold)", re.IGNORECASE)


def _numbers(text: str) -> set[str]:
    return {n.removesuffix(":00") for n in re.findall(r"\d+(?::\d\d)?", text.replace(",", ""))}


def grade(question: Question, answer: str, facts_text: str, now: datetime.datetime) -> dict[str, Any]:
    """``correct`` and ``invented`` for one answer (see the module docstring)."""
    hour = f"\\b({now.hour % 12 or 12}|{(now + datetime.timedelta(minutes=1)).hour % 12 or 12})\\b"
    fill = {"hour": hour, "weekday": f"{now:%A}", "day": f"\\b{now.day}\\b"}
    text = answer.lower()
    missing = [p for p in question.need if not re.search(p.format(**fill), text, re.IGNORECASE)]
    bad = [p for p in question.bad if re.search(p, text, re.IGNORECASE)]
    asked = " ".join((*question.before, question.text))
    claimed = re.sub(r'"[^"]*"', "", text)  # a question back quotes what was heard: not a claim of its own
    made_up = set() if question.clock else _numbers(claimed) - _numbers(facts_text) - _numbers(asked)
    invented = bool(bad or made_up)
    if question.topic != "unknown" and re.search(DONT_KNOW, text):
        missing.append("an answer (the facts hold it)")
    return {"correct": not missing and not invented, "invented": invented, "missing": missing, "bad": bad,
            "made_up_numbers": sorted(made_up)}


def judge(question: Question, heard: str, answer: str, graded: dict[str, Any]) -> dict[str, Any]:
    """Clarified (properly or needlessly), transferred (asked for or not) and right, for one graded answer."""
    said = normalise(question.text)
    misheard = word_errors(said, normalise(heard)) / max(len(said), 1) > MISHEARD_WER
    misheard = misheard or not substance_words(question.text) <= substance_words(heard)
    clarified = bool(CLARIFYING.search(answer.strip()))
    proper = clarified and (question.kind == "near-miss" or misheard)
    quoted = QUOTED.search(answer)
    if clarified and quoted and question.kind != "near-miss":
        proper = not set(normalise(quoted.group(1))) <= set(said)
    transferred = bool(TRANSFERRED.search(answer))
    return {"misheard": misheard, "clarified": clarified, "clarified_properly": proper,
            "clarified_needlessly": clarified and not proper,
            "transfer_asked": transferred and question.topic == "person",
            "transfer_unasked": transferred and question.topic != "person",
            "right": bool(graded["correct"] or proper) and not graded["invented"]}


class _Voices:
    """Piper's voice, or every ``ESPEAK_EVERY``-th question an espeak-ng voice; each text rendered once."""

    def __init__(self, bench: Any) -> None:
        self.bench = bench
        self.espeak = espeak_available()
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def pick(self, index: int) -> str:
        if not self.espeak or index % ESPEAK_EVERY != ESPEAK_EVERY - 1:
            return "piper"
        names = list(ESPEAK_VOICES)
        return names[(index // ESPEAK_EVERY) % len(names)]

    def audio(self, voice: str, text: str) -> np.ndarray:
        if voice == "piper":
            return self.bench.audio(text)
        if (voice, text) not in self._cache:
            self._cache[(voice, text)] = render_espeak(text, ESPEAK_VOICES[voice])
        return self._cache[(voice, text)]


def _ask(bench: Any, uri: str, question: Question, voice: str, voices: _Voices) -> bool:
    caller = bench.caller
    ok = False
    if caller.dial(uri):
        ok = True
        for text in (*question.before, question.text):
            t_asked = caller.say(voices.audio(voice, text))
            caller.pump_until(lambda: not caller.playout.playing, 15.0)
            ok = caller.wait_agent_audio(t_asked, 30.0) is not None
            if not ok:
                break
            caller.wait_agent_quiet(1.2, 30.0)
    bench.end_call()
    return ok


def _graded_turn(lines: list[dict[str, Any]], earlier: int) -> tuple[str, str, list[str], list[str]]:
    """What the agent heard of the graded question, its answer, its decisions and the words it was unsure
    of: everything after the caller's first ``earlier`` utterances (the questions asked before it)."""
    users = [i for i, r in enumerate(lines) if r.get("role") == "user"]
    start = users[min(earlier, len(users) - 1)] if users else len(lines)
    rest = lines[start:]
    heard = " ".join(str(r["text"]) for r in rest if r.get("role") == "user")
    answer = " ".join(str(r["text"]) for r in rest if r.get("role") == "assistant")
    decided = [f"{r['by']}: {r['kind']}" for r in rest if r.get("action") == "decision"]
    unsure = [str(word) for r in rest if r.get("role") == "user" for word in r.get("unsure", ())]
    return heard, answer, decided, unsure


def _business_phase(bench: Any, model: str, business: Business, questions: list[Question],
                    voices: _Voices, say: Callable[[str], None]) -> list[dict[str, Any]]:
    facts = load_facts(business.facts)
    zone = zoneinfo.ZoneInfo(facts.timezone)
    agent, records = bench.agent(f"answers-{model}-{business.name}", "--brain", "llm", "--llm-model", model,
                                 "--facts", str(business.facts))
    rows: list[dict[str, Any]] = []
    try:
        for index, question in enumerate(questions):
            voice = voices.pick(index)
            before = len(call_folders(records))
            answered = _ask(bench, agent.uri, question, voice, voices)
            agent.wait_for(r"lasted", 10.0, count=before + 1)
            now = datetime.datetime.now(zone)
            folders = call_folders(records)[before:]
            lines = transcript(folders[0]) if folders else []
            heard, answer, decided, unsure = _graded_turn(lines, len(question.before))
            turns = timeline(folders[0]) if folders else []
            turn = turns[min(len(question.before), len(turns) - 1)] if turns else {}
            graded = grade(question, answer, facts.describe(), now)
            row = {"business": business.name, "question": question.text, "kind": question.kind,
                   "topic": question.topic, "before": list(question.before), "voice": voice, "heard": heard,
                   "unsure": unsure, "answer": answer, "answered": answered,
                   "voice_to_voice_ms": turn.get("voice_to_voice_ms"), "decisions": decided, **graded}
            row.update(judge(question, heard, answer, graded))
            rows.append(row)
            mark = ("INVENTED" if row["invented"] else "ok" if row["correct"] else
                    "asked back" if row["clarified_properly"] else "NEEDLESS" if row["clarified"] else "wrong")
            say(f"answers {model} {business.name}: {mark}: {question.text} [{voice}] heard {heard!r} -> "
                f"{answer[:100]!r}")
    finally:
        agent.stop()
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(r["voice_to_voice_ms"] for r in rows if r["voice_to_voice_ms"] is not None)
    by: dict[str, dict[str, list[bool]]] = {"topic": {}, "kind": {}}
    for row in rows:
        by["topic"].setdefault(row["topic"], []).append(row["right"])
        by["kind"].setdefault(row["kind"], []).append(row["right"])
    n = len(rows)
    return {
        "n": n,
        "right": sum(r["right"] for r in rows),
        "right_rate": round(sum(r["right"] for r in rows) / n, 3) if n else None,
        "correct": sum(r["correct"] for r in rows),
        "invented": sum(r["invented"] for r in rows),
        "clarified_properly": sum(r["clarified_properly"] for r in rows),
        "clarified_needlessly": sum(r["clarified_needlessly"] for r in rows),
        "needless_rate": round(sum(r["clarified_needlessly"] for r in rows) / n, 3) if n else None,
        "misheard": sum(r["misheard"] for r in rows if r["kind"] != "near-miss"),
        "transfers_asked": sum(r["transfer_asked"] for r in rows),
        "transfers_unasked": sum(r["transfer_unasked"] for r in rows),
        "persons_asked": sum(r["topic"] == "person" for r in rows),
        "guard_fired": sum(any(d.startswith("guard") for d in r.get("decisions", [])) for r in rows),
        "by_topic": {t: f"{sum(v)}/{len(v)}" for t, v in by["topic"].items()},
        "by_kind": {t: f"{sum(v)}/{len(v)}" for t, v in by["kind"].items()},
        "v2v_ms_p50": round(statistics.median(times)) if times else None,
        "v2v_ms_p95": round(times[min(len(times) - 1, int(0.95 * len(times)))]) if times else None,
    }


def answers_phase(bench: Any, quick: bool, say: Callable[[str], None],
                  models: list[str] | None = None) -> dict[str, Any]:
    """Per LLM (``--llm-models``, else the default): per business and in all, right, invented, clarified,
    transfers and voice to voice over SIP."""
    from ...errors import ModelError
    from ...models import resolve_llm

    voices = _Voices(bench)
    if not voices.espeak:
        say("answers: espeak-ng is not installed, so every question in Piper's voice (apt-get install espeak-ng)")
    out: dict[str, Any] = {}
    for model in models or [DEFAULT_LLM]:
        try:
            resolve_llm(model)
        except ModelError as error:
            say(f"answers: {model} skipped ({error})")
            continue
        rows: list[dict[str, Any]] = []
        cells: dict[str, Any] = {}
        for business in BUSINESSES:
            questions = list(business.questions[:QUICK_PER_BUSINESS] if quick else business.questions)
            mine = _business_phase(bench, model, business, questions, voices, say)
            cells[business.name] = _summary(mine)
            rows += mine
        out[model] = {**_summary(rows), "businesses": cells, "rows": rows}
    return out
