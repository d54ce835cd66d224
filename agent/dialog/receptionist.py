"""A brain that answers like a receptionist: rules first, then the model, grounded in the facts.

What must never depend on a model is decided here by rule, on the caller's
words:

- "Can I speak to someone?" -> a request for a person.  A brain built with
  ``can_transfer`` and a target says it puts the caller through, also on
  "yes" to its offer, and asks for a blind transfer (a
  :class:`~agent.dialog.actions.Transfer`, carried out once that is heard);
  otherwise it says it cannot.
- "What time is it?" / "What's the date?" -> read from the clock, in the
  facts' time zone.
- A question about something the facts do not hold -> "I'm sorry, I don't
  know that" (with ``can_transfer``, an offer to put the caller through, and
  the second time in a call the transfer itself).

Everything else goes to the model, whose system prompt holds the facts and
whose user turn starts with the facts of the topic asked about (and ends
with the time, when the caller says "now" or "today"); the topic is
recorded as a :class:`~agent.dialog.actions.LookUp`.
"""

from __future__ import annotations

import collections
import datetime
import re
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator

from agent.dialog.actions import CallAction, LookUp, Transfer
from agent.dialog.base import Brain, Message
from agent.dialog.facts import Facts

__all__ = ["GROUNDING", "Receptionist", "asks_the_time", "says_yes", "spoken_time", "topic_note", "wants_a_person"]

GROUNDING = (
    "You are the receptionist of the business below, answering its phone. Reply in one or two short "
    "spoken sentences, with no lists. Answer only from the facts below. If they do not answer the "
    "question, say you do not know and offer to put the caller through. Never make up hours, prices, "
    "times, availability or policies."
)
"""The instructions before the facts in the model's system prompt (``--system-prompt`` replaces them)."""

_PERSON = re.compile(
    r"\b(speak|talk|put me through|transfer me|connect me|get me)\b.*\b(someone|somebody|person|human|"
    r"manager|staff|receptionist|operator|agent|front desk|real)\b|\b(real|actual|live) (person|human)\b|"
    r"\b(a human|an operator|the operator|a person)\b(?! of)",
    re.IGNORECASE,
)
_TIME = re.compile(r"\bwhat(?:'s| is)? (?:the )?time\b(?! do| does| are| is (?:it )?(?:open|close))|"
                   r"\bwhat time is it\b|\b(?:tell|have) (?:me )?the time\b", re.IGNORECASE)
_DATE = re.compile(r"\bwhat(?:'s| is)? (?:the |today'?s )?date\b|\bwhat day is (?:it|today)\b", re.IGNORECASE)
_YES = re.compile(r"^\W*(yes|yeah|yep|sure|please|ok(ay)?|go ahead|yes,? please|please do|that would be "
                  r"(great|good|lovely))\b", re.IGNORECASE)
_NOW = re.compile(r"\b(now|today|tonight|tomorrow|this (morning|afternoon|evening|week|weekend))\b", re.IGNORECASE)
DONT_KNOW = "I'm sorry, I don't know that."


def wants_a_person(text: str) -> bool:
    """Does the caller ask for a person ("can I speak to someone", "a real person please")?"""
    return bool(_PERSON.search(text))


def asks_the_time(text: str) -> bool:
    """Does the caller ask the time or the date (not the opening times)?"""
    return bool(_TIME.search(text) or _DATE.search(text))


def says_yes(text: str) -> bool:
    return bool(_YES.search(text))


def spoken_time(now: datetime.datetime) -> str:
    """``now`` as said on the phone: "5:10 pm on Sunday, 29 November"."""
    hour = now.hour % 12 or 12
    minutes = f":{now.minute:02d}" if now.minute else ""
    noon = {(12, 0): "12 noon", (0, 0): "midnight"}.get((now.hour, now.minute))
    clock = noon or f"{hour}{minutes} {'am' if now.hour < 12 else 'pm'}"
    return f"{clock} on {now:%A}, {now.day} {now:%B}"


def topic_note(facts: Facts, topic: str) -> str:
    """The start of a caller's turn as the model sees it: the facts of the topic asked about.

    A turn starts with the whole topic (not the one or two facts that match best) so that its KV
    state can be evaluated once per topic and kept: only the caller's words are then evaluated.
    """
    lines = [fact.line() for fact in facts.facts if fact.topic == topic]
    return f"({'; '.join(lines)})\n"


SEEN_TURNS = 256
"""Recent model turns whose facts are kept for the history of the calls they are in."""


class Receptionist(Brain):
    """Rules around another brain (see the module docstring); shared by every call, keeps no call state."""

    name = "receptionist"

    def __init__(self, inner: Brain, facts: Facts | None = None, *, transfer_to: str = "",
                 can_transfer: bool = False, timezone: str = "", clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.facts = facts
        target = transfer_to or (facts.transfer_to if facts else "")
        self.transfer_to = target if can_transfer else ""
        self.transfer_who = facts.transfer_who if facts else "a colleague"
        self.zone = zoneinfo.ZoneInfo(timezone or (facts.timezone if facts else "UTC"))
        self._clock = clock
        self._seen: collections.OrderedDict[str, str] = collections.OrderedDict()
        """The caller's words of recent model turns -> as the model saw them (with their facts)."""
        self._seen_lock = threading.Lock()

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), self.zone)

    def _rule(self, history: list[Message], text: str) -> tuple[str, bool] | None:
        """(the rule's reply, whether it transfers the call), or None for the model."""
        offered = bool(history) and history[-1].role == "assistant" and "put you through" in history[-1].text
        if self.transfer_to and (wants_a_person(text) or (offered and says_yes(text))):
            return f"Of course. I'll put you through to {self.transfer_who} now, please hold.", True
        if wants_a_person(text):
            return "I'm sorry, I can't put you through to anyone from this line.", False
        if asks_the_time(text):
            return f"It's {spoken_time(self.now())}.", False
        if self.facts is not None and self.facts.unknown_words(text):
            if not self.transfer_to:
                return DONT_KNOW, False
            misses = sum(m.role == "assistant" and m.text.startswith(DONT_KNOW) for m in history)
            if misses >= 1:  # the second question it cannot answer: a person can
                return f"{DONT_KNOW} Let me put you through to {self.transfer_who}, please hold.", True
            return f"{DONT_KNOW} I can put you through to {self.transfer_who}, if you like.", False
        return None

    def _topic(self, text: str) -> str | None:
        relevant = self.facts.relevant(text, limit=1) if self.facts is not None else []
        return relevant[0].topic if relevant else None

    def model_text(self, text: str, later: bool = False) -> str:
        """The caller's words as the model sees them: with the facts they are about, and the time.

        The first question of a call starts with its whole topic, whose KV state is kept; a ``later``
        one (after the call's history, which no kept state holds) with only the two facts that match
        best: a whole topic is up to ~150 tokens, over 1 s to evaluate for the 1.5B on 2 cores.
        """
        if self.facts is None:
            return text
        topic = self._topic(text)
        when = f" (It is {spoken_time(self.now())}.)" if _NOW.search(text) else ""
        if topic is None:
            return f"{text.strip()}{when}"
        if later:
            return f"({'; '.join(self._note_lines(text, topic, later))})\n{text.strip()}{when}"
        return f"{topic_note(self.facts, topic)}{text.strip()}{when}"

    def _note_lines(self, text: str, topic: str, later: bool) -> list[str]:
        """The facts a question's turn starts with: its whole topic, or (``later``) the two that match best."""
        assert self.facts is not None
        if later:
            return [fact.line() for fact in self.facts.relevant(text, limit=2)]
        return [fact.line() for fact in self.facts.facts if fact.topic == topic]

    def keep_topic_prefixes(self) -> None:
        """Let the model evaluate, once, the start of a turn for each topic of the facts."""
        keep = getattr(self.inner, "keep_prefixes", None)
        if self.facts is None or not callable(keep):
            return
        notes = [topic_note(self.facts, topic) for topic in dict.fromkeys(f.topic for f in self.facts.facts)]
        keep(notes)  # a call without a greeting
        keep(notes, [Message("assistant", self.greeting() or "")])  # the first turn after this greeting

    def reply(self, history: list[Message], user_text: str,
              cancel: threading.Event) -> Iterator[str | CallAction]:
        rule = self._rule(history, user_text)
        if rule is not None:
            yield rule[0]
            if rule[1]:
                yield Transfer(self.transfer_to, self.transfer_who)
            return
        topic = self._topic(user_text)
        later = any(message.role == "user" for message in history)
        if self.facts is not None and topic is not None:
            yield LookUp(topic, tuple(self._note_lines(user_text, topic, later)))
        seen = self.model_text(user_text, later)
        as_seen = self._as_seen(history)
        with self._seen_lock:
            self._seen[user_text] = seen
            while len(self._seen) > SEEN_TURNS:
                self._seen.popitem(last=False)
        yield from self.inner.reply(as_seen, seen, cancel)

    def _as_seen(self, history: list[Message]) -> list[Message]:
        """The history with each earlier question as the model saw it, facts and all: the prompt then starts
        with what the call's last reply left in the model's context, and only the new question is evaluated."""
        with self._seen_lock:
            return [Message("user", self._seen.get(m.text, m.text)) if m.role == "user" else m for m in history]

    def prepare(self, history: list[Message]) -> None:
        self.inner.prepare(history)

    def greeting(self) -> str | None:
        if self.facts is not None:
            return f"Hello, {self.facts.name}, how can I help you?"
        return self.inner.greeting()

    def is_goodbye(self, user_text: str) -> bool:
        return self.inner.is_goodbye(user_text)

    def close(self) -> None:
        self.inner.close()
