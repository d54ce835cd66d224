"""Tests of agent.dialog.chunker: clause/sentence cuts for streaming TTS."""

from __future__ import annotations

import pytest

from agent.dialog.chunker import Chunker


def chunks_whole(text: str, **options: int) -> list[str]:
    chunker = Chunker(**options)
    return chunker.push(text) + chunker.flush()


def chunks_by_char(text: str, **options: int) -> list[str]:
    chunker = Chunker(**options)
    out: list[str] = []
    for char in text:
        out += chunker.push(char)
    return out + chunker.flush()


def chunks(text: str, **options: int) -> list[str]:
    """Chunks of ``text``, checking that streaming gives the same as whole text."""
    whole = chunks_whole(text, **options)
    assert chunks_by_char(text, **options) == whole
    return whole


def test_first_chunk_is_a_clause_later_chunks_are_sentences() -> None:
    text = "Sure thing, I can help with that, no problem. It is sunny, warm and dry. Bye."
    assert chunks(text) == [
        "Sure thing, I can help with that,",
        "no problem.",
        "It is sunny, warm and dry.",
        "Bye.",
    ]


def test_first_clause_needs_min_first_words() -> None:
    assert chunks("Well, I think so, yes. Okay.") == ["Well, I think so,", "yes.", "Okay."]
    assert chunks("Well, I think so.", min_first_words=1) == ["Well,", "I think so."]


def test_short_sentence_is_emitted_first() -> None:
    assert chunks("Hi. How are you today, my friend?") == ["Hi.", "How are you today, my friend?"]


def test_semicolon_colon_and_dashes_are_clause_boundaries() -> None:
    assert chunks("Here is the plan; we go now.")[0] == "Here is the plan;"
    assert chunks("Here is the plan: we go now.")[0] == "Here is the plan:"
    assert chunks("Here is the plan - we go now.")[0] == "Here is the plan -"
    assert chunks("Here is the plan -- we go now.")[0] == "Here is the plan --"
    assert chunks("Here is the plan\u2014we go now.")[0] == "Here is the plan\u2014"


def test_sentence_end_needs_whitespace_after_it() -> None:
    chunker = Chunker()
    assert chunker.push("Okay.") == []
    assert chunker.push(" Next") == ["Okay."]
    assert chunker.flush() == ["Next"]


@pytest.mark.parametrize(
    "text",
    [
        "It costs 3.5 dollars and weighs 1,000 grams today.",
        "Dr. Smith and Mr. Jones met Mrs. Brown at St. Mary's today.",
        "Bring fruit, e.g. apples, i.e. something sweet, to the U.S. office.",
        "The meeting is at 10:30 and ends at 11:45 sharp, I think.",
        "Pages 3\u20135 are a well-known read for everyone here.",
    ],
)
def test_no_split_inside_numbers_abbreviations_or_words(text: str) -> None:
    out = chunks(text, min_first_words=50, clause_cut_words=50, max_first_words=50)
    assert out == [text]


def test_abbreviation_does_not_end_the_first_chunk() -> None:
    assert chunks("Dr. Smith will see you now. Please wait.") == [
        "Dr. Smith will see you now.",
        "Please wait.",
    ]


def test_ellipsis_is_a_pause_not_split_inside() -> None:
    assert chunks("Well... I am not sure about that... really. Okay.") == [
        "Well... I am not sure about that...",
        "really.",
        "Okay.",
    ]
    text = "Hmm\u2026 let me think about it now."
    assert chunks(text) == [text]


def test_question_and_exclamation_marks_and_quotes() -> None:
    assert chunks('Really?! Yes. He said "stop." Then he left.') == [
        "Really?!",
        "Yes.",
        'He said "stop."',
        "Then he left.",
    ]


def test_text_without_punctuation_is_capped() -> None:
    words = [f"w{n}" for n in range(60)]
    out = chunks(" ".join(words), max_first_words=10, max_words=20)
    assert [len(chunk.split()) for chunk in out] == [10, 20, 20, 10]
    assert " ".join(out) == " ".join(words)


def test_long_sentence_is_cut_at_a_clause_after_clause_cut_words() -> None:
    text = (
        "Yes. The forecast for today says there will be plenty of sun in the morning, "
        "some clouds in the afternoon, and rain tonight."
    )
    assert chunks(text, clause_cut_words=12) == [
        "Yes.",
        "The forecast for today says there will be plenty of sun in the morning,",
        "some clouds in the afternoon, and rain tonight.",
    ]


def test_newline_ends_a_chunk() -> None:
    assert chunks("First line here\nsecond line here") == ["First line here", "second line here"]


def test_flush_drops_unspeakable_rest_and_reset_starts_over() -> None:
    chunker = Chunker()
    assert chunker.push("All done.") == []
    assert chunker.flush() == ["All done."]
    assert chunker.push(" ... ") == []
    assert chunker.flush() == []
    assert chunker.chunks_emitted == 1
    chunker.push("Well, pending text")
    chunker.reset()
    assert chunker.chunks_emitted == 0
    assert chunker.push("Yes, I can do that, sure. ") == ["Yes, I can do that,", "sure."]


def test_token_sized_deltas_give_the_same_chunks() -> None:
    text = "Hello there! The price is 3.50 dollars, e.g. cheap. Thanks... bye now."
    chunker = Chunker()
    tokens = (
        "Hello| there|!| The| price| is| 3|.|50| dollars|,| e|.g|.| cheap|.| Thanks|...| bye| now|."
    ).split("|")
    assert "".join(tokens) == text
    out = [chunk for token in tokens for chunk in chunker.push(token)] + chunker.flush()
    assert out == chunks(text)


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        Chunker(min_first_words=0)


def test_the_first_chunk_may_end_before_a_word_that_starts_a_phrase() -> None:
    text = "The restaurant is open from 12 noon to 10:30 pm. It is open from noon on Sunday."
    assert chunks(text, phrase_words=3) == ["The restaurant is open", "from 12 noon to 10:30 pm.",
                                            "It is open from noon on Sunday."]
    assert chunks("We open at noon.", phrase_words=3) == ["We open at noon."]  # too few words before "at"
    assert chunks("I would like to book it.", phrase_words=3) == ["I would like to book it."]  # not "to"
    assert chunks(text) == ["The restaurant is open from 12 noon to", "10:30 pm.", "It is open from noon on Sunday."]


def test_a_phrase_cut_waits_for_the_whole_next_word() -> None:
    chunker = Chunker(phrase_words=3)
    assert chunker.push("The room seats twenty fo") == []  # "fo" may yet be "for"
    assert chunker.push("rty people") == []
    assert chunker.push(" for events.") == ["The room seats twenty forty people"]
    assert chunker.flush() == ["for events."]
