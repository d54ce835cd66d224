"""Facts over a real SIP call: the default LLM behind the receptionist's rules, real speech both ways."""

from __future__ import annotations

import datetime
import json
import re
import time
import zoneinfo
from pathlib import Path

import pytest

from agent.dialog.facts import example_facts_path, load_facts
from agent.dialog.receptionist import spoken_time
from agent.tools.records import call_folders, read_jsonl
from agent.turn.state import TRANSFER_FAILED
from tests.agent_proc import AgentProcess, run_caller

pytest.importorskip("llama_cpp")

QUESTIONS = ["What are your opening hours on Saturday?", "How much is the corkage?", "Do you do takeaway?",
             "Okay, and what time do you close on Sunday?", "What is up your opening our month on Saturday?", "Yes.",
             "What time is it please?", "Can I speak to a person please?"]


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?::\d+)?", text))


def test_facts_answers_over_sip_with_the_default_model(tmp_path: Path) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "llm", "--facts",
            str(example_facts_path()), "--records-dir", str(tmp_path / "records")]
    steps: list[dict[str, object]] = [{"wait_audio": 15}, {"wait_quiet": 1.0}]
    for question in QUESTIONS:
        steps += [{"say": question}, {"wait_audio": 30}, {"wait_quiet": 1.2}]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        before = time.time()
        # the example's front desk is not there: this caller refuses the transfer
        run_caller(agent.uri, "--refuse-transfer", "--steps", json.dumps(steps), timeout=240)
        after = time.time()
        agent.wait_for(r"call 1 from .* ended")
    (folder,) = call_folders(tmp_path / "records")
    records = read_jsonl(folder / "transcript.jsonl")
    said = [r["text"] for r in records if r["role"] == "assistant"]
    assert said[0] == "Hello, Trattoria Bella, how can I help you?"
    hours, corkage, takeaway, sunday, asked_back, saturday, clock, person, sorry = said[1:10]
    # the model's answers: the fact asked for, and no number the facts do not have
    facts = load_facts(example_facts_path()).describe()
    assert "10:30" in hours and numbers(hours) <= numbers(facts), hours
    assert "10" in numbers(corkage) and "pound" in corkage and numbers(corkage) <= numbers(facts), corkage
    looked_up = [r["topic"] for r in records if r["role"] == "action" and r["action"] == "look_up"]
    assert looked_up == ["Hours", "Prices", "Hours", "Hours"], records
    # not in the facts: no model, no invention, an offer of a person
    assert takeaway == "I'm sorry, I don't know that. I can put you through to the front desk, if you like.", said
    # "okay, and ..." to the offer is a new question, not a yes: answered, not transferred
    assert ("9" in numbers(sunday) or "nine" in sunday.lower()) and numbers(sunday) <= numbers(facts), sunday
    # a mishearing of a question about a topic: asked back, then answered once the caller says yes
    assert asked_back == "Sorry, did you ask about our hours on Saturday?", said
    assert "10:30" in saturday and numbers(saturday) <= numbers(facts), saturday
    # the clock read at some moment of the call, in the facts' time zone, said as of the minute begun
    zone = zoneinfo.ZoneInfo(load_facts(example_facts_path()).timezone)
    minutes = range(int(before // 60) * 60, int(after) + 1, 60)
    during = [f"It's {spoken_time(datetime.datetime.fromtimestamp(t, zone))}." for t in minutes]
    assert clock in during, (clock, during)
    assert person == "Of course. I'll put you through to the front desk now, please hold."
    assert sorry == TRANSFER_FAILED  # the transfer was refused: the caller is told, the call goes on
