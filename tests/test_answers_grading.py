"""The answers phase's grader: pure logic (the phase itself runs over SIP in the benchmark)."""

from __future__ import annotations

import datetime

from agent.dialog.facts import example_facts_path, load_facts
from agent.tools.bench.answers import ANSWER_QUESTIONS, Question, grade

FACTS = load_facts(example_facts_path()).describe()
NOW = datetime.datetime(2026, 11, 29, 17, 10)


def q(text: str) -> Question:
    return next(question for question in ANSWER_QUESTIONS if question.text == text)


def test_there_are_at_least_30_questions_over_every_topic() -> None:
    assert len(ANSWER_QUESTIONS) >= 30
    topics = {question.topic for question in ANSWER_QUESTIONS}
    assert {"hours", "booking", "prices", "directions", "unknown", "clock", "person"} <= topics


def test_a_right_answer_is_correct() -> None:
    result = grade(q("What are your opening hours on Saturday?"), "We're open from 12 noon to 10:30 pm.", FACTS, NOW)
    assert result["correct"] and not result["invented"]


def test_a_made_up_number_is_an_invention() -> None:
    result = grade(q("How much is the set lunch?"), "The set lunch is 16 pounds, or 12.50 with a drink.", FACTS, NOW)
    assert result["invented"] and not result["correct"] and result["made_up_numbers"] == ["50"]


def test_a_yes_where_the_facts_say_nothing_is_an_invention() -> None:
    result = grade(q("Do you do takeaway?"), "Yes, we do takeaway every day.", FACTS, NOW)
    assert result["invented"] and not result["correct"]
    right = grade(q("Do you do takeaway?"), "I'm sorry, I don't know that.", FACTS, NOW)
    assert right["correct"]


def test_a_missing_fact_is_wrong_but_not_invented() -> None:
    result = grade(q("Can I bring my dog?"), "Please ask at the door.", FACTS, NOW)
    assert not result["correct"] and not result["invented"]


def test_the_time_is_checked_against_the_clock() -> None:
    assert grade(q("What time is it please?"), "It's 5:10 pm on Sunday, 29 November.", FACTS, NOW)["correct"]
    assert not grade(q("What time is it please?"), "It's 3 pm.", FACTS, NOW)["correct"]
    assert grade(q("What day is it today?"), "It's 5:10 pm on Sunday, 29 November.", FACTS, NOW)["correct"]
