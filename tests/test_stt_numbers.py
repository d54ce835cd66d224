"""Numbers as said come out one way, however the recogniser wrote them (pure text)."""

from __future__ import annotations

import pytest

from agent.stt.numbers import as_said


@pytest.mark.parametrize("heard", [
    "2 2 0, 6 5 2, 2 8 8 8",
    "220-652-2888",
    "220 652 2888",
    "2, 2, 0. 652. 2888.",
    "two two zero six five two two eight eight eight",
    "2 2 0 - 6 5 2 - 2 8 8 8",
    "2 2 0 6 5 2 2 double 8 8",
])
def test_a_phone_number_read_in_groups_is_one_string_of_digits(heard: str) -> None:
    assert as_said(heard).rstrip(".") == "2206522888"


@pytest.mark.parametrize("heard, written", [
    ("My number is 0 1 2 - 3 4 5.", "My number is 012345."),
    ("oh one two three", "0123"),
    ("It is double 5, 1 2.", "It is 5512."),
    ("The zip code is 9 0 2 1 0", "The zip code is 90210"),
    ("Can I book for 7.30 p.m. tonight?", "Can I book for 7:30 pm tonight?"),
    ("We open at 9.00 a.m.", "We open at 9:00 am"),
    ("My name is S. M. I. T. H.", "My name is SMITH"),
    ("It is S-M-I-T-H, Smith.", "It is SMITH, Smith."),
    ("Laura L.A.U.R.A. Taylor.", "Laura LAURA Taylor."),
    ("We open at 9 a.m. or p.m.", "We open at 9 am or pm"),
])
def test_numbers_times_and_spellings_are_written_one_way(heard: str, written: str) -> None:
    assert as_said(heard) == written


@pytest.mark.parametrize("said", [
    "A table for 4, 6 people if you can.",
    "Is it open at 9?",
    "One table for two, please.",
    "I said 1 2",
    "Oh, two tables please.",
    "I am a person.",
    "At 12 30",
    "It costs 3.5 pounds",
    "It costs £7.50, or $12.30.",
    "",
    "Between 5 and 6.",
])
def test_words_that_are_not_a_number_are_left_as_said(said: str) -> None:
    assert as_said(said) == said


def test_the_same_number_is_written_the_same_way_every_time() -> None:
    ways = ["9 1 2, 4 9 9, 1 5 5 2", "912-499-1552", "nine one two four nine nine one five five two",
            "9124991552", "912 499 1552"]
    assert {as_said(way) for way in ways} == {"9124991552"}
