"""A deterministic brain driven by a TOML script of regex rules.

Script format (see ``default_script.toml`` for a commented example)::

    greeting = "Hello!"                 # optional
    fallback = "You said: {text}."      # optional
    empty_reply = "Sorry?"              # optional
    [goodbye]                           # optional
    pattern = '\\bbye\\b'
    reply = "Goodbye."
    [[rule]]
    pattern = 'weather'                 # searched case-insensitively
    reply = "It is sunny."
    [[rule]]
    pattern = 'front desk'
    reply = "Putting you through."
    transfer = "sip:desk@pbx.example.com"   # optional actions, once the reply is heard:
    # digits = "1234#"                    #   send DTMF, transfer (REFER), hang up
    # hangup = true

The first matching rule wins.  Replies are streamed word by word (no sleeps)
so the chunker and streaming TTS path is exercised exactly as with an LLM.
"""

from __future__ import annotations

import datetime
import importlib.resources
import logging
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.dialog.actions import CallAction, HangUp, SendDigits, Transfer
from agent.dialog.base import Brain, Message
from agent.errors import ConfigError

__all__ = ["DEFAULT_SCRIPT_NAME", "Rule", "Script", "ScriptedBrain", "load_script", "parse_script"]

logger = logging.getLogger(__name__)

DEFAULT_SCRIPT_NAME = "default_script.toml"
_DEFAULT_FALLBACK = "You said: {text}."
_DEFAULT_EMPTY_REPLY = "Sorry, I did not catch that."
_TOP_KEYS = {"greeting", "fallback", "empty_reply", "goodbye", "rule"}
_RULE_KEYS = {"pattern", "reply", "replies", "transfer", "digits", "hangup"}
_WORD_RE = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Rule:
    """Reply with ``reply`` when ``pattern`` is found in the caller's words.

    ``replies`` (optional) are used in turn, one per match, instead of ``reply``.
    """

    pattern: re.Pattern[str]
    reply: str
    replies: tuple[str, ...] = ()
    actions: tuple[CallAction, ...] = ()
    """Carried out once the reply is heard (keys ``transfer``, ``digits``, ``hangup``)."""


@dataclass(frozen=True)
class Script:
    """A parsed script."""

    rules: tuple[Rule, ...] = ()
    greeting: str | None = None
    goodbye: Rule | None = None
    fallback: str = _DEFAULT_FALLBACK
    empty_reply: str = _DEFAULT_EMPTY_REPLY
    source: str = "<built-in>"


def _fail(source: str, problem: str) -> ConfigError:
    return ConfigError(f"bad dialog script {source}: {problem}")


def _string(data: dict[str, Any], key: str, source: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _fail(source, f"{where}{key} must be a string")
    return value


def _rule(data: Any, source: str, where: str) -> Rule:
    if not isinstance(data, dict):
        raise _fail(source, f"{where} must be a table with pattern and reply")
    unknown = sorted(set(data) - _RULE_KEYS)
    if unknown:
        raise _fail(source, f"{where} has unknown key {unknown[0]!r}")
    pattern = _string(data, "pattern", source, f"{where}.")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise _fail(source, f"{where}.pattern {pattern!r} is not a valid regex ({error})") from None
    actions = _actions(data, source, where)
    if "replies" in data:
        replies = data["replies"]
        if not isinstance(replies, list) or not replies or not all(isinstance(r, str) for r in replies):
            raise _fail(source, f"{where}.replies must be a non-empty list of strings")
        return Rule(compiled, replies[0], tuple(replies), actions)
    return Rule(compiled, _string(data, "reply", source, f"{where}."), actions=actions)


def _actions(data: dict[str, Any], source: str, where: str) -> tuple[CallAction, ...]:
    actions: list[CallAction] = []
    if "digits" in data:
        try:
            actions.append(SendDigits(_string(data, "digits", source, f"{where}.")))
        except ValueError as error:
            raise _fail(source, f"{where}.digits: {error}") from None
    if "transfer" in data:
        target = _string(data, "transfer", source, f"{where}.")
        if not target.startswith(("sip:", "sips:")):
            raise _fail(source, f"{where}.transfer must be a SIP URI (sip:user@host), not {target!r}")
        actions.append(Transfer(target))
    if "hangup" in data:
        if not isinstance(data["hangup"], bool):
            raise _fail(source, f"{where}.hangup must be true or false")
        if data["hangup"]:
            actions.append(HangUp("the script hung up"))
    return tuple(actions)


def parse_script(text: str, source: str = "<string>") -> Script:
    """Parse script TOML ``text``; ConfigError names ``source`` and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _fail(source, f"invalid TOML ({error})") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(source, f"unknown key {unknown[0]!r}")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise _fail(source, "rule must be an array of tables ([[rule]])")
    rules = tuple(_rule(item, source, f"rule {n + 1}") for n, item in enumerate(raw_rules))
    goodbye = _rule(data["goodbye"], source, "goodbye") if "goodbye" in data else None
    greeting = _string(data, "greeting", source, "") if "greeting" in data else None
    fallback = _string(data, "fallback", source, "") if "fallback" in data else _DEFAULT_FALLBACK
    empty = (
        _string(data, "empty_reply", source, "") if "empty_reply" in data else _DEFAULT_EMPTY_REPLY
    )
    return Script(rules, greeting, goodbye, fallback, empty, source)


def load_script(path: str | Path | None = None) -> Script:
    """Load a script file, or the packaged default script if ``path`` is None."""
    if path is None:
        resource = importlib.resources.files("agent.dialog").joinpath(DEFAULT_SCRIPT_NAME)
        try:
            return parse_script(resource.read_text(encoding="utf-8"), f"<{DEFAULT_SCRIPT_NAME}>")
        except OSError as error:
            raise _fail(DEFAULT_SCRIPT_NAME, f"cannot read the packaged script ({error})") from None
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(str(file), "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(str(file), f"cannot read it ({error})") from None
    return parse_script(text, str(file))


def _local_time_text() -> str:
    now = datetime.datetime.now()
    return f"{now.hour % 12 or 12}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"


class ScriptedBrain(Brain):
    """Replies from a :class:`Script`; deterministic except for ``{time}``."""

    name = "scripted"

    def __init__(
        self,
        script_path: str | Path | None = None,
        *,
        script: Script | None = None,
        clock_text: Callable[[], str] = _local_time_text,
    ) -> None:
        self.script = script if script is not None else load_script(script_path)
        self._clock_text = clock_text
        self._turns: dict[int, int] = {}
        self._turn_lock = threading.Lock()
        logger.info(
            "scripted brain %x: %d rules from %s",
            id(self),
            len(self.script.rules),
            self.script.source,
        )

    def greeting(self) -> str | None:
        return self.script.greeting

    def _pick(self, rule: Rule) -> str:
        """The rule's reply, or its next alternative in turn."""
        if not rule.replies:
            return rule.reply
        with self._turn_lock:
            turn = self._turns.get(id(rule), 0)
            self._turns[id(rule)] = turn + 1
        return rule.replies[turn % len(rule.replies)]

    def is_goodbye(self, user_text: str) -> bool:
        goodbye = self.script.goodbye
        return goodbye is not None and goodbye.pattern.search(user_text) is not None

    def answer(self, user_text: str) -> str:
        """The whole reply to ``user_text`` (placeholders filled in)."""
        return self._answer(user_text)[0]

    def _answer(self, user_text: str) -> tuple[str, tuple[CallAction, ...]]:
        text = user_text.strip()
        if not text:
            return self.script.empty_reply, ()
        actions: tuple[CallAction, ...] = ()
        if self.is_goodbye(text):
            assert self.script.goodbye is not None
            template = self.script.goodbye.reply
        else:
            rule = next((r for r in self.script.rules if r.pattern.search(text)), None)
            template = self._pick(rule) if rule is not None else self.script.fallback
            actions = rule.actions if rule is not None else ()
        spoken = text.rstrip(".!?")
        return template.replace("{time}", self._clock_text()).replace("{text}", spoken), actions

    def reply(
        self,
        history: list[Message],
        user_text: str,
        cancel: threading.Event,
        unsure: tuple[str, ...] = (),
    ) -> Iterator[str | CallAction]:
        """Stream :meth:`answer` word by word (each word keeps its trailing space), then the rule's actions."""
        text, actions = self._answer(user_text)
        for match in _WORD_RE.finditer(text):
            if cancel.is_set():
                return
            yield match.group()
        yield from actions
