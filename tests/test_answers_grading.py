"""The answers phase's grader: pure logic (the phase itself runs over SIP in the benchmark)."""

from __future__ import annotations

import datetime
import re

from agent.dialog.facts import example_facts_path, load_facts
from agent.tools.bench.answers import ANSWER_QUESTIONS, Question, grade, judge
from agent.tools.bench.questions import BUSINESSES

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


def test_five_businesses_hold_at_least_200_questions_of_every_kind() -> None:
    assert len(BUSINESSES) >= 5 and sum(len(b.questions) for b in BUSINESSES) >= 200
    kinds = {"direct", "paraphrase", "follow-up", "out of scope", "near-miss", "person", "clock"}
    for business in BUSINESSES:
        facts = load_facts(business.facts)
        assert facts.transfer_to and len(facts.facts) >= 15, business.name
        assert {question.kind for question in business.questions} == kinds, business.name
        texts = [question.text for question in business.questions if not question.before]
        assert len(texts) == len(set(texts)), business.name
        for question in business.questions:
            for pattern in (*question.need, *question.bad):
                re.compile(pattern.format(hour="1", weekday="Monday", day="1"))
            assert question.kind != "follow-up" or question.before


def test_an_out_of_scope_question_is_answered_by_rule_for_every_business() -> None:
    """No model: the facts alone say they do not cover it (the model never sees it, so cannot invent)."""
    for business in BUSINESSES:
        facts = load_facts(business.facts)
        for question in business.questions:
            if question.kind == "out of scope":
                assert facts.unknown_words(question.text), (business.name, question.text)


def test_a_question_back_is_proper_after_a_mishearing_and_needless_after_a_clean_hearing() -> None:
    asked = q("What are your opening hours on Saturday?")
    back = "Sorry, did you ask about our hours on Saturday?"
    graded = grade(asked, back, FACTS, NOW)
    needless = judge(asked, "What are your opening hours on Saturday?", back, graded)
    assert needless["clarified_needlessly"] and not needless["right"]
    proper = judge(asked, "What's up you're opening our month Saturday?", back, graded)
    assert proper["clarified_properly"] and proper["right"]
    near = next(question for question in ANSWER_QUESTIONS if question.kind == "near-miss")
    assert judge(near, near.text, back, grade(near, back, FACTS, NOW))["right"]


def test_a_question_back_that_quotes_what_it_did_not_catch_is_judged_on_those_words() -> None:
    asked = q("I would like to make a reservation for Saturday.")
    heard = "I would like to make a reformation for Saturday."  # one word in nine: not misheard as a whole
    back = 'Sorry, I didn\'t catch "reformation". Could you say it again?'
    assert judge(asked, heard, back, grade(asked, back, FACTS, NOW))["clarified_properly"]
    music = q("Is there live music on Friday nights?")
    back = 'Sorry, I didn\'t catch "live". Could you say it again?'  # the caller said "live"
    assert judge(music, "In their live music on Friday night,", back, grade(music, back, FACTS, NOW))[
        "clarified_needlessly"]


def test_a_transfer_is_told_apart_from_an_offer() -> None:
    person = q("Can I speak to a person please?")
    put = "Of course. I'll put you through to the front desk now, please hold."
    assert judge(person, person.text, put, grade(person, put, FACTS, NOW))["transfer_asked"]
    walk = q("Do you take walk-ins?")
    offer = "I'm sorry, I don't know that. I can put you through to the front desk, if you like."
    assert not judge(walk, walk.text, offer, grade(walk, offer, FACTS, NOW))["transfer_unasked"]
    cut = "I'm sorry, I'm not getting it. Let me put you through to the front desk, please hold."
    assert judge(walk, "Do you talk walking?", cut, grade(walk, cut, FACTS, NOW))["transfer_unasked"]


def test_a_question_back_heard_without_a_word_of_substance_is_proper() -> None:
    """One word in four is not "misheard" by word count, but "courses" for "horses" is the question lost."""
    horses = next(question for business in BUSINESSES for question in business.questions
                  if question.text == "Do you see horses?")
    back = "Sorry, did you ask about horses?"
    assert judge(horses, "Do you see courses?", back, grade(horses, back, FACTS, NOW))["clarified_properly"]
    assert judge(horses, "Do you see horses?", back, grade(horses, back, FACTS, NOW))["clarified_needlessly"]


def test_the_words_a_question_back_quotes_are_not_claims() -> None:
    asked = q("What is your address?")
    back = 'Sorry, I didn\'t catch "BN3". Could you say it again?'
    assert not grade(asked, back, FACTS, NOW)["invented"]
    assert grade(asked, "We are at 3 Harbour Street.", FACTS, NOW)["invented"]
