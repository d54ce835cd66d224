"""The business's words for the recogniser: from the facts, from a file, capped; and their effect on Whisper."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.dialog.facts import example_facts_path, load_facts, parse_facts
from agent.errors import ConfigError
from agent.stt.vocabulary import facts_vocabulary, load_vocabulary, vocabulary_prompt
from tests.test_cli import one_line_error, sip_agent


def test_the_facts_give_their_names_and_terms_not_common_words() -> None:
    terms = facts_vocabulary(load_facts(example_facts_path()))
    for term in ["Trattoria Bella", "Harbour Street", "Brighton", "Queen's Road", "Church Street"]:
        assert term in terms, terms
    for common in ["The", "Five", "Monday", "Tuesday to Friday", "Groups of", "Cards", "food", "dogs", "Set lunch",
                   "Fresh"]:
        assert common not in terms, terms  # common words make a small model hear them where none were said


def test_markdown_facts_too() -> None:
    facts = parse_facts("# Paws and Claws\n## Vets\n- vets: Dr Amara Osei on Mondays\n", markdown=True)
    assert facts_vocabulary(facts) == ["Paws and Claws", "Dr Amara Osei"]


def test_a_vocabulary_file_skips_comments_and_repeats(tmp_path: Path) -> None:
    file = tmp_path / "words.txt"
    file.write_text("# names\nSiobhan\n\nAberystwyth  # a town\nsiobhan\n")
    assert load_vocabulary(file) == ["Siobhan", "Aberystwyth"]
    with pytest.raises(ConfigError, match="cannot read --stt-vocabulary file"):
        load_vocabulary(tmp_path / "missing.txt")


def test_the_prompt_is_capped() -> None:
    assert vocabulary_prompt(["Siobhan", "Aberystwyth"]) == "Siobhan, Aberystwyth."
    assert vocabulary_prompt([]) == ""
    long = vocabulary_prompt([f"term{i}" for i in range(500)])
    assert len(long) <= 400 and long.endswith(".")


def test_a_missing_vocabulary_file_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    one_line_error(sip_agent("run", "--no-register", "--port", "0", "--stt-vocabulary", str(missing)),
                   "--stt-vocabulary", str(missing))


def test_whisper_hears_the_names_it_is_given() -> None:
    from agent.stt.whisper import WhisperEngine
    from tests.speech_helpers import speech_16k

    engine = WhisperEngine()
    audio = speech_16k("Can I speak to Doctor Okonkwo?")
    assert "Okonkwo" not in engine.decode(audio)
    engine.vocabulary = vocabulary_prompt(["Doctor Okonkwo"])
    assert "Okonkwo" in engine.decode(audio)
