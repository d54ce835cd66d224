"""The ``answers`` phase: are the agent's answers right, and how fast do they come, per LLM?

For each LLM an agent of its own (``--brain llm --facts`` with the example
facts) is called once per question, so no answer leans on an earlier one.
The caller asks with Piper's voice over SIP; the agent's transcript gives
what it heard and what it answered, its timeline the voice-to-voice time.
Each answer is graded automatically:

- **correct**: every ``need`` pattern is found (the fact asked for, or "I
  don't know" for a question the facts do not answer) and it invents
  nothing;
- **invented**: a ``bad`` pattern is found (a yes where the facts say
  nothing, a booking made), or a number that is neither in the facts nor
  in the question (a made-up price, time or date).
"""

from __future__ import annotations

import datetime
import re
import statistics
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...dialog.facts import example_facts_path, load_facts
from ...models import DEFAULT_LLM, LLM_MODELS
from ..records import call_folders, timeline, transcript

__all__ = ["ANSWER_QUESTIONS", "Question", "answers_phase", "grade"]


@dataclass(frozen=True)
class Question:
    text: str
    topic: str
    need: tuple[str, ...] = ()
    """Patterns that must all be in the answer (each may hold alternatives)."""
    bad: tuple[str, ...] = ()
    """Patterns of an invented answer."""
    clock: bool = False
    """The answer tells the time: its numbers come from the clock, not the facts."""


PERSON = r"put you through|can't put you through"
DONT_KNOW = r"don't know|do not know|not sure|no information"
INVENTS = (r"\byes\b", r"\bwe (do|have|offer)\b", r"\bpounds?\b")
ANSWER_QUESTIONS: tuple[Question, ...] = (
    Question("What are your opening hours on Saturday?", "hours", (r"10:30|10\.30|half past ten",)),
    Question("Are you open on Monday?", "hours", (r"closed|not open",), (r"\byes\b",)),
    Question("What time do you close on Sunday?", "hours", (r"\b9\b|\bnine\b",)),
    Question("When do you open for lunch on Wednesday?", "hours", (r"\b12\b|noon|twelve",)),
    Question("Are you open for dinner on Friday?", "hours", (r"\b6\b|\bsix\b",), (r"\bclosed\b",)),
    Question("Until when are you open on Sunday evening?", "hours", (r"\b9\b|\bnine\b",)),
    Question("Can I book a table for four tonight?", "booking", (r"front desk|put you through",),
             (r"i (have|'ve) (booked|reserved)|is booked for you|you can book a table for four tonight",)),
    Question("I would like to make a reservation for Saturday.", "booking", (r"front desk|put you through",),
             (r"i (have|'ve) (booked|reserved)",)),
    Question("Do you have a table for twelve people?", "booking", (r"manager|front desk|put you through|\b8\b|eight",),
             (r"\byes\b",)),
    Question("Do you take walk-ins?", "booking", (r"welcome|table is free",), (r"\bno\b",)),
    Question("How much is the set lunch?", "prices", (r"\b16\b|\b20\b|sixteen|twenty",)),
    Question("How much is a three course lunch?", "prices", (r"\b20\b|twenty",)),
    Question("How much does a pizza cost?", "prices", (r"\b11\b|eleven",)),
    Question("What do you charge for corkage?", "prices", (r"\b10\b|\bten\b",)),
    Question("How much is the pasta?", "prices", (r"\b18\b|eighteen",)),
    Question("Do you have gluten free pasta?", "menu", (r"gluten",), (r"not available|\bno\b",)),
    Question("Do you have vegan food?", "menu", (r"vegan",), (r"\bno\b|\bnot\b",)),
    Question("What kind of food do you serve?", "menu", (r"pasta|pizza|fish|italian",)),
    Question("What is your address?", "directions", (r"harbour street",)),
    Question("How do I get to you from the station?", "directions",
             (r"queen'?s road|harbour street|five minutes|\bwalk",)),
    Question("Where can I park my car?", "directions", (r"church street|no parking|(not|n't) have (any )?parking",)),
    Question("What is your phone number?", "directions", (r"01273|\b555\b",)),
    Question("Can I bring my dog?", "policies", (r"terrace",)),
    Question("Can I pay by cheque?", "policies", (r"cheque|check|cards? and cash",), (r"\byes\b",)),
    Question("Do you take credit cards?", "policies", (r"cards",), (r"\bno\b",)),
    Question("Can I hire the back room for a birthday party?", "policies",
             (r"manager|back room|\b20\b|twenty|private",)),
    Question("Do you do takeaway?", "unknown", (DONT_KNOW,), INVENTS),
    Question("Is there live music on Friday nights?", "unknown", (DONT_KNOW,), INVENTS),
    Question("How much is a bottle of house wine?", "unknown", (DONT_KNOW,), INVENTS),
    Question("Do you have a children's menu?", "unknown", (DONT_KNOW,), INVENTS),
    Question("Is the restaurant wheelchair accessible?", "unknown", (DONT_KNOW,), INVENTS),
    Question("What time is it please?", "clock", ("{hour}",), clock=True),
    Question("What day is it today?", "clock", ("{weekday}",), clock=True),
    Question("Can I speak to a person please?", "person", (PERSON,)),
    Question("I would like to talk to the manager.", "person", (PERSON,)),
)
"""Phone questions about the example facts (``agent/dialog/example_facts.toml``)."""
QUICK = (0, 6, 10, 22, 26, 31, 33)


def _numbers(text: str) -> set[str]:
    return {n.removesuffix(":00") for n in re.findall(r"\d+(?::\d\d)?", text.replace(",", ""))}


def grade(question: Question, answer: str, facts_text: str, now: datetime.datetime) -> dict[str, Any]:
    """``correct`` and ``invented`` for one answer (see the module docstring)."""
    hour = f"\\b({now.hour % 12 or 12}|{(now + datetime.timedelta(minutes=1)).hour % 12 or 12})\\b"
    fill = {"hour": hour, "weekday": f"{now:%A}"}
    text = answer.lower()
    missing = [p for p in question.need if not re.search(p.format(**fill), text, re.IGNORECASE)]
    bad = [p for p in question.bad if re.search(p, text, re.IGNORECASE)]
    made_up = set() if question.clock else _numbers(text) - _numbers(facts_text) - _numbers(question.text)
    invented = bool(bad or made_up)
    if question.topic != "unknown" and re.search(DONT_KNOW, text):
        missing.append("an answer (the facts hold it)")
    return {"correct": not missing and not invented, "invented": invented, "missing": missing, "bad": bad,
            "made_up_numbers": sorted(made_up)}


def _ask(bench: Any, uri: str, question: Question) -> bool:
    caller = bench.caller
    ok = False
    if caller.dial(uri):
        t_asked = caller.say(bench.audio(question.text))
        caller.pump_until(lambda: not caller.playout.playing, 15.0)
        ok = caller.wait_agent_audio(t_asked, 30.0) is not None
        if ok:
            caller.wait_agent_quiet(1.2, 30.0)
    bench.end_call()
    return ok


def _model_phase(bench: Any, model: str, questions: list[Question], say: Callable[[str], None]) -> dict[str, Any]:
    facts = load_facts(example_facts_path())
    zone = zoneinfo.ZoneInfo(facts.timezone)
    agent, records = bench.agent(f"answers-{model}", "--brain", "llm", "--llm-model", model,
                                 "--facts", str(example_facts_path()))
    rows: list[dict[str, Any]] = []
    try:
        for question in questions:
            before = len(call_folders(records))
            answered = _ask(bench, agent.uri, question)
            agent.wait_for(r"lasted", 10.0, count=before + 1)
            now = datetime.datetime.now(zone)
            folders = call_folders(records)[before:]
            lines = transcript(folders[0]) if folders else []
            heard = " ".join(str(r["text"]) for r in lines if r.get("role") == "user")
            answer = " ".join(str(r["text"]) for r in lines if r.get("role") == "assistant")
            turns = timeline(folders[0]) if folders else []
            v2v = turns[0].get("voice_to_voice_ms") if turns else None
            decided = [f"{r['by']}: {r['kind']}" for r in lines if r.get("action") == "decision"]
            row = {"question": question.text, "topic": question.topic, "heard": heard, "answer": answer,
                   "answered": answered, "voice_to_voice_ms": v2v, "decisions": decided,
                   **grade(question, answer, facts.describe(), now)}
            rows.append(row)
            mark = "ok" if row["correct"] else "INVENTED" if row["invented"] else "wrong"
            say(f"answers {model}: {mark}: {question.text} -> {answer[:90]!r}")
    finally:
        agent.stop()
    return _summary(rows)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(r["voice_to_voice_ms"] for r in rows if r["voice_to_voice_ms"] is not None)
    by_topic: dict[str, list[bool]] = {}
    for row in rows:
        by_topic.setdefault(row["topic"], []).append(row["correct"])
    return {
        "n": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "invented": sum(r["invented"] for r in rows),
        "correct_rate": round(sum(r["correct"] for r in rows) / len(rows), 3) if rows else None,
        "by_topic": {t: f"{sum(v)}/{len(v)}" for t, v in by_topic.items()},
        "guard_fired": sum(any(d.startswith("guard") for d in r.get("decisions", [])) for r in rows),
        "asked_back": sum("rule: ask back" in r.get("decisions", []) for r in rows),
        "v2v_ms_p50": round(statistics.median(times)) if times else None,
        "v2v_ms_p95": round(times[min(len(times) - 1, int(0.95 * len(times)))]) if times else None,
        "rows": rows,
    }


def answers_phase(bench: Any, quick: bool, say: Callable[[str], None],
                  models: list[str] | None = None) -> dict[str, Any]:
    """Per LLM: the share of right answers, inventions and voice to voice over SIP."""
    from ...errors import ModelError
    from ...models import resolve_llm

    questions = [ANSWER_QUESTIONS[i] for i in QUICK] if quick else list(ANSWER_QUESTIONS)
    out: dict[str, Any] = {}
    for model in models or ([DEFAULT_LLM] if quick else list(LLM_MODELS)):
        try:
            resolve_llm(model)
        except ModelError as error:
            say(f"answers: {model} skipped ({error})")
            continue
        out[model] = _model_phase(bench, model, questions, say)
    return out
