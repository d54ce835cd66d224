"""Tests of the scripted brain, its TOML scripts and the brain registry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.dialog.base import Message, brain_names, create_brain
from agent.dialog.chunker import Chunker
from agent.dialog.scripted import ScriptedBrain, load_script, parse_script
from agent.errors import ConfigError


def words_of(brain: ScriptedBrain, history: list[Message], text: str, cancel: threading.Event) -> Iterator[str]:
    """The reply's text deltas (without its call actions)."""
    return (delta for delta in brain.reply(history, text, cancel) if isinstance(delta, str))


def say(brain: ScriptedBrain, text: str) -> str:
    return "".join(words_of(brain, [], text, threading.Event()))


@pytest.fixture(scope="module")
def default_brain() -> ScriptedBrain:
    return ScriptedBrain(clock_text=lambda: "3:05 PM")


def test_default_script_lengths(default_brain: ScriptedBrain) -> None:
    assert len(say(default_brain, "Give me a SHORT answer").split()) == 5
    assert 25 <= len(say(default_brain, "a medium one please").split()) <= 35
    assert 140 <= len(say(default_brain, "the long reply").split()) <= 160


def test_default_script_topics(default_brain: ScriptedBrain) -> None:
    assert "sunny" in say(default_brain, "How is the weather?")
    assert say(default_brain, "What time is it?") == "It is 3:05 PM."
    assert say(default_brain, "banana split") == "You said: banana split."
    assert say(default_brain, "   ") == "Sorry, I did not catch that."
    assert default_brain.greeting()


@pytest.mark.parametrize("text", ["goodbye", "Good bye then", "ok, bye!", "please hang up"])
def test_goodbye(default_brain: ScriptedBrain, text: str) -> None:
    assert default_brain.is_goodbye(text)
    assert "Goodbye" in say(default_brain, text)


def test_not_goodbye(default_brain: ScriptedBrain) -> None:
    assert not default_brain.is_goodbye("maybe")


def test_streams_word_by_word_and_chunks(default_brain: ScriptedBrain) -> None:
    deltas = list(words_of(default_brain, [Message("user", "hi")], "medium", threading.Event()))
    assert len(deltas) > 25
    assert all(len(delta.split()) == 1 for delta in deltas)
    chunker = Chunker()
    chunks = [chunk for delta in deltas for chunk in chunker.push(delta)] + chunker.flush()
    assert chunks[0] == "Here is a medium length reply."
    assert " ".join(chunks) == "".join(deltas).strip()


def test_cancel_stops_the_stream(default_brain: ScriptedBrain) -> None:
    cancel = threading.Event()
    got: list[str] = []
    for delta in words_of(default_brain, [], "long", cancel):
        got.append(delta)
        if len(got) == 3:
            cancel.set()
    assert len(got) == 3


def test_script_file_first_match_wins(tmp_path: Path) -> None:
    script = tmp_path / "s.toml"
    script.write_text(
        "greeting = 'Hi there.'\n"
        "fallback = 'Pardon?'\n"
        "[goodbye]\npattern = 'ciao'\nreply = 'Ciao!'\n"
        "[[rule]]\npattern = 'pizza|pasta'\nreply = 'Food: {text}.'\n"
        "[[rule]]\npattern = 'pizza'\nreply = 'never used'\n"
    )
    brain = create_brain("scripted", script_path=script)
    assert isinstance(brain, ScriptedBrain)
    assert brain.greeting() == "Hi there."
    assert say(brain, "I want PIZZA.") == "Food: I want PIZZA."
    assert say(brain, "nothing") == "Pardon?"
    assert say(brain, "ciao") == "Ciao!"


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("greeting = 'unterminated", "invalid TOML"),
        ("[[rule]]\npattern = '('\nreply = 'x'", "rule 1.pattern '(' is not a valid regex"),
        ("[[rule]]\nreply = 'x'", "rule 1.pattern must be a string"),
        ("[[rule]]\npattern = 'a'\nreply = 'x'\nextra = 1", "rule 1 has unknown key 'extra'"),
        ("greting = 'typo'", "unknown key 'greting'"),
        ("rule = 'x'", "rule must be an array of tables"),
        ("fallback = 3", "fallback must be a string"),
    ],
)
def test_bad_script_is_one_line_config_error(tmp_path: Path, toml: str, problem: str) -> None:
    script = tmp_path / "bad.toml"
    script.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_script(script)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bad dialog script {script}: ")
    assert problem in message


def test_missing_script_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        ScriptedBrain(tmp_path / "nope.toml")


def test_parse_script_defaults() -> None:
    script = parse_script("")
    assert script.rules == () and script.greeting is None and script.goodbye is None
    assert "{text}" in script.fallback


def test_registry() -> None:
    assert {"scripted", "llm"} <= set(brain_names())
    with pytest.raises(ConfigError, match="unknown brain 'nope'"):
        create_brain("nope")


def test_replies_are_used_in_turn() -> None:
    from agent.dialog.scripted import ScriptedBrain, parse_script

    brain = ScriptedBrain(script=parse_script('[[rule]]\npattern = "x"\nreplies = ["one.", "two."]\n'))
    assert [brain.answer("x") for _ in range(3)] == ["one.", "two.", "one."]
