"""Pure parts of the LLM's serving loop: prompt lookup and shared prompt starts."""

from __future__ import annotations

from agent.dialog.serving import common_prefix, lookup


def test_lookup_drafts_what_followed_the_latest_earlier_occurrence_of_the_last_words() -> None:
    facts = [7, 1, 2, 3, 4, 5, 9, 1, 2, 3, 6, 8]
    assert lookup([*facts, 0, 1, 2, 3], 3) == [6, 8, 0]  # the latest earlier "1 2 3" is followed by 6 8 0
    assert lookup([*facts, 0, 2, 3], 2) == [6, 8]  # only two tokens match: the latest "2 3"
    assert lookup([*facts, 0, 4, 5], 4) == [9, 1, 2, 3]
    assert lookup([*facts, 0, 5, 4], 4) == []  # no two tokens in that order
    assert lookup([*facts, 0, 1, 2, 3], 0) == [] and lookup([1, 2], 3) == []


def test_common_prefix_counts_the_shared_start() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([1, 2], [1, 2]) == 2
