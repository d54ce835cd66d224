"""A brain that answers like a receptionist: rules first, then the model, grounded in the facts.

What must never depend on a model is decided here by rule, on the caller's
words (:mod:`agent.dialog.phrasing` reads them):

- "Can I speak to someone?" -> a request for a person.  A brain built with
  ``can_transfer`` and a target says it puts the caller through, also on a
  plain "yes" to its offer, and asks for a blind transfer (a
  :class:`~agent.dialog.actions.Transfer`, carried out once that is heard);
  otherwise it says it cannot.  A plain "no thanks" to the offer is taken
  as said; "okay, and what time do you close?" is a new question.
- "What time is it?" / "What's the date?" -> read from the clock, in the
  facts' time zone.  "Are you a robot?" -> what the agent is.
- "Are you open on Monday?", "What time do you close on Sunday?", "And on
  Tuesday?" after a question about the hours, "Are you open tomorrow / at
  the weekend?" -> the hours of those days, read from the facts' hours
  (keys that name days: "Tuesday to Friday", "Sunday and Monday").
- "Can I book a table / an appointment?" when a fact says who books ("The
  receptionist cannot take bookings: the front desk books tables...") ->
  that fact, said as the agent's own words, and the offer of a person.
- Words the facts cannot explain but that are spelled like words of the
  facts ("what time is chick in") -> a question back that quotes them
  ("Sorry, did you ask about check-in?"), and so are known words that, run
  together, sound like a word of the facts the question lacks ("how much is
  it to new to a cat" -> "Sorry, did you ask about neutering?"); "yes" to it
  answers the question as so read.  Unknown words in a question mostly about one of their topics
  ("what's up you're opening our month Saturday") -> a question back that
  quotes the topic ("Sorry, did you ask about our hours on Saturday?");
  "yes" to it answers that topic.  Words that fit no topic -> "I'm sorry,
  I don't know that", with ``can_transfer`` an offer to put the caller
  through.  Two questions back that did not help -> the transfer (without
  ``can_transfer``, "I don't know").  Unknown words are never sent to the
  model, so it has no chance to repeat them back as a fact.

Everything else goes to the model, whose system prompt holds the facts and
whose user turn starts with the facts of the topic asked about (and ends
with the time, when the caller says "now" or "today"); the topic is
recorded as a :class:`~agent.dialog.actions.LookUp`.  A short follow-up
("And on Sunday?", "How much is that?") is looked up together with the
question before it.

The brain made at start-up is shared and keeps nothing of any call;
:meth:`Receptionist.for_call` gives each call its own, which remembers how
the model saw the call's earlier questions.
"""

from __future__ import annotations

import copy
import datetime
import logging
import re
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from agent.dialog.actions import CallAction, Decision, LookUp, Transfer
from agent.dialog.base import Brain, Message
from agent.dialog.capture import MESSAGE_OFFER, Capture, CaptureDialog
from agent.dialog.facts import Fact, Facts, asking_word, substance_words
from agent.dialog.grounding import Guard
from agent.dialog.phrasing import answers_offer, asks_if_human, asks_the_date, asks_the_time, plain, wants_a_person
from agent.dialog.values import WEEK, OpeningHours, days_named

__all__ = ["CLARIFY", "DONT_KNOW", "GROUNDING", "Receptionist", "is_follow_up", "spoken_time", "topic_note"]

logger = logging.getLogger(__name__)

GROUNDING = (
    "You are the receptionist of the business below, answering its phone. Reply in one or two short "
    "spoken sentences, with no lists. Answer only from the facts below. If they do not answer the "
    "question, say you do not know and offer to put the caller through. Never make up hours, prices, "
    "times, availability or policies."
)
"""The instructions before the facts in the model's system prompt (``--system-prompt`` replaces them)."""

_NOW = re.compile(r"\b(now|today|tonight|tomorrow|this (morning|afternoon|evening|week|weekend))\b", re.IGNORECASE)
DONT_KNOW = "I'm sorry, I don't know that."
CLARIFY = "Sorry, I didn't catch that. Could you say it again?"
"""The question back when nothing of what was heard points to a topic."""
_ASKED_ABOUT = "Sorry, did you ask about "
_AGAIN = "Sorry, I still didn't catch that. Could you put it another way?"
_NOT_THAT = "Sorry about that. What would you like to know?"
_NO_THANKS = "All right. Is there anything else I can help you with?"
_DIDNT_CATCH = "Sorry, I didn't catch "
_CLARIFYING = (CLARIFY, _ASKED_ABOUT, _AGAIN, _NOT_THAT, _DIDNT_CATCH)
_FOLLOW_UP = re.compile(r"^(?:and|also|so|then|what about|how about|and what about|and how about|same|the same)\b")
_ANAPHORA = re.compile(r"\b(?:that|it|those|them|they|this|these|one|ones|then|there)\b")
_DAY_NAMES = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def is_follow_up(text: str) -> bool:
    """Is ``text`` a short question that leans on the one before ("And on Sunday?", "How much is that?")?"""
    words = plain(text)
    return bool(_FOLLOW_UP.match(words)) or (len(words.split()) <= 6 and bool(_ANAPHORA.search(words)))


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


ABOUT_FACTS = 4
"""The facts that best match a question: a number in the model's reply must come from these (or the question,
or the clock)."""


@dataclass(frozen=True)
class _Rule:
    """A reply decided by rule: its words, whether it transfers the call, and why (for the log)."""

    text: str
    kind: str
    why: str = ""
    transfer: bool = False
    looked_up: LookUp | None = None  # the facts the words were read from


class Receptionist(Brain):
    """Rules around another brain (see the module docstring)."""

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
        self._seen: dict[tuple[int, str], str] = {}
        """This call's questions (their number among the call's questions, the words) -> as the model saw
        them (with their facts); empty in the shared brain, which no call uses directly."""
        self._seen_lock = threading.Lock()
        self.call_facts: tuple[Fact, ...] = ()
        """The call's own facts (an outbound call's), also in ``facts``: every model turn starts with them, and a
        question more about them than about the business's goes to the model, not to the hours or booking rules."""
        self.capture = CaptureDialog(
            facts.capture, OpeningHours.from_facts((f.topic, f.key, f.text) for f in facts.facts), facts.name,
            lambda: self.now().date()) if facts is not None and facts.capture else None

    @property
    def takes_facts(self) -> bool:  # type: ignore[override]
        return self.facts is not None

    def for_call(self, caller_number: str = "", facts: tuple[tuple[str, str, str], ...] = ()) -> Receptionist:
        """A receptionist for one call: the same rules and model, its own memory of what the model saw, and the
        call's own ``facts`` after the business's (given to the model with the questions they answer)."""
        mine = copy.copy(self)
        mine._seen, mine._seen_lock = {}, threading.Lock()
        if facts and self.facts is not None:
            mine.facts = self.facts.with_call_facts(facts)
            mine.call_facts = mine.facts.facts[mine.facts.call_from:]
        if self.capture is not None:
            mine.capture = self.capture.for_caller(caller_number)
        return mine

    def captures(self, history: Sequence[Message]) -> list[Capture]:
        return self.capture.replay(history)[1] if self.capture is not None else []

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), self.zone)

    # -- rules -------------------------------------------------------------

    def _offer(self) -> str:
        return f"I can put you through to {self.transfer_who}, if you like."

    def _any_offer(self) -> str:
        """What the agent offers a caller it cannot help: a person, else to take a message, else nothing."""
        if self.transfer_to:
            return f" {self._offer()}"
        return f" {MESSAGE_OFFER}" if self.capture is not None and self.capture.takes_messages else ""

    def _put_through(self) -> _Rule:
        return _Rule(f"Of course. I'll put you through to {self.transfer_who} now, please hold.", "person",
                     transfer=True)

    def _rule(self, history: list[Message], text: str, unsure: tuple[str, ...] = ()) -> _Rule | None:
        """The reply by rule, or None for the model; ``unsure``: the words the recogniser was unsure of."""
        said = self.capture.reply(history, text) if self.capture is not None else None
        if said is not None:  # a message or booking being taken: its questions, the read-back
            return _Rule(said, "capture")
        last = _last_reply(history)
        offered = self.transfer_to and last.endswith(self._offer())
        answer = answers_offer(text) if offered or last.startswith(_ASKED_ABOUT) else None
        if self.transfer_to and (wants_a_person(text) or (offered and answer == "yes")):
            return self._put_through()
        if wants_a_person(text):
            return _Rule("I'm sorry, I can't put you through to anyone from this line.", "person")
        if offered and answer == "no":
            return _Rule(_NO_THANKS, "no thanks")
        if asks_if_human(text):
            offer = self._any_offer()
            who = f" of {self.facts.name}" if self.facts else ""
            return _Rule(f"I'm the automated receptionist{who}.{offer}", "what the agent is")
        if asks_the_time(text) or asks_the_date(text):
            return _Rule(f"It's {spoken_time(self.now())}.", "clock")
        if last.startswith(_ASKED_ABOUT) and answer == "no":
            return _Rule(_NOT_THAT, "ask back", "the topic asked back was not it")
        if self.facts is not None and answer != "yes" and not self.facts.unknown_words(text):
            run = self.facts.run_heard_as(text) if not _questions_back(history) else None
            if run is not None:  # "how much is it to new to a cat" -> "Sorry, did you ask about neutering?"
                word = run[1].removesuffix("'s")
                return _Rule(f"{_ASKED_ABOUT}{word}?", "ask back", f"heard as {run[1]}")
            if self._about_call(text):
                return None  # "What time is my booking?" on a call about it: the model, with the call's facts
            return self._booking(text) or self._hours(history, text)
        if self.facts is None or answer == "yes":
            return None
        unknown = ", ".join(sorted(self.facts.unknown_words(text)))
        if last.startswith(_DIDNT_CATCH) and self._heard_again(history, text):
            offer = self._any_offer()  # the same words twice: heard right
            return _Rule(f"{DONT_KNOW}{offer}", "not in the facts", f"{unknown}, heard the same again")
        tries = _questions_back(history)
        if tries >= 2:  # two questions back did not help: a person can
            if self.transfer_to:
                return _Rule(f"I'm sorry, I'm not getting it. Let me put you through to {self.transfer_who}, "
                             "please hold.", "not understood", unknown, transfer=True)
            return _Rule(DONT_KNOW, "not understood", unknown)
        if tries == 1:
            return _Rule(_AGAIN, "ask back", unknown)
        heard_as = self.facts.heard_as(text)
        if heard_as is not None:  # "what time is chick in" -> "Sorry, did you ask about check-in?"
            days = [day.capitalize() for day in plain(heard_as[0]).split() if day in _DAY_NAMES]
            word = heard_as[1].removesuffix("'s")
            about = f"{word}{f' on {days[0]}' if days else ''}"
            return _Rule(f"{_ASKED_ABOUT}{about}?", "ask back", f"{unknown}, heard as {heard_as[1]}")
        about = self._about(history, text) if _mostly_known(text, len(unknown.split(", "))) else ""
        if about:
            return _Rule(f"{_ASKED_ABOUT}{about}?", "ask back", unknown)
        doubtful = self._doubtful(text, unsure)
        if doubtful:  # "Do you have a gem?": not a question about something else, a word misheard
            return _Rule(f'{_DIDNT_CATCH}"{doubtful}". Could you say it again?', "ask back",
                         f"{unknown}, unsure of {doubtful}")
        offer = self._any_offer()
        return _Rule(f"{DONT_KNOW}{offer}", "not in the facts", unknown)

    def _doubtful(self, text: str, unsure: tuple[str, ...]) -> str:
        """The words of ``text`` the facts do not hold and the recogniser was unsure of, as heard ("" for
        none): the stretch from the first to the last of them."""
        assert self.facts is not None
        words = re.findall(r"[\w'-]+", text)
        doubtful = [i for i, word in enumerate(words) if word.lower() in unsure and self.facts.unknown_words(word)]
        return " ".join(words[doubtful[0]:doubtful[-1] + 1]) if doubtful else ""

    def _heard_again(self, history: list[Message], text: str) -> bool:
        """Did the caller, asked to say it again, say what was heard before: the same words the facts do not
        hold?  Then they were heard right."""
        assert self.facts is not None
        earlier = [m.text for m in history if m.role == "user"]
        unknown = self.facts.unknown_words(text)
        return bool(earlier) and bool(unknown) and unknown <= self.facts.unknown_words(earlier[-1])

    def _about_call(self, text: str) -> bool:
        """Is ``text`` about the call's own facts at least as much as about the business's, or about them and
        the caller's own ("what time is my bookings?": the call's booking, not the business's policy on them)?"""
        if not self.call_facts or self.facts is None:
            return False
        own = self.facts.best_score(text, self.call_facts)
        business = self.facts.best_score(text, self.facts.facts[:self.facts.call_from])
        return own > 0 and (own >= business or _THEIR_OWN.search(plain(text)) is not None)

    def _booking(self, text: str) -> _Rule | None:
        """A request to book, when the facts say who books (a fact that begins "The receptionist cannot"): what
        they say, and the offer of a person.  A model asked "Can I book a table?" says "Yes, you can".  Not a
        question on a call with its own facts ("What time is the table for?" on a call about a booking)."""
        if self.facts is None or not _BOOKING.search(plain(text)):
            return None
        if self.call_facts and _ASKS_WHAT.match(plain(text)):
            return None
        for fact in self.facts.facts:
            said = _CANNOT.sub("I can't ", fact.text, count=1)
            if said != fact.text and "book" in fact.text.lower():
                said = _sentence(_OFFER_NOTE.sub("", said))
                offer = self._any_offer()
                return _Rule(f"{said}{offer}", "booking", fact.line(), looked_up=LookUp(fact.topic, (fact.line(),)))
        return None

    def _hours(self, history: list[Message], text: str) -> _Rule | None:
        """Opening hours on a day said (or today, tomorrow, the weekend): read from the facts' hours, which name
        their days ("Tuesday to Friday", "Sunday and Monday").  A model asked "Are you open on Monday?" may say
        "Yes" whatever the facts say."""
        if self.facts is None:
            return None
        words = plain(text)
        days = _days_said(words, self.now())
        if not days and is_follow_up(text) and not _HOURS.search(words):
            return None
        if not _HOURS.search(words):
            earlier = [m.text for m in history if m.role == "user"]
            if not (days and is_follow_up(text) and earlier and _HOURS.search(plain(earlier[-1]))):
                return None  # "And on Sunday?" after a question about the hours
        if not days and is_follow_up(text):
            earlier = [m.text for m in history if m.role == "user"]
            days = _days_said(plain(earlier[-1]), self.now()) if earlier else []
        hours = {day: fact for fact in self.facts.facts if fact.topic.lower() in _HOURS_TOPICS
                 for day in days_named(fact.key)}
        if not days or not all(day in hours for day in days):
            return None
        parts = []
        for day in days:
            said = hours[day].text.rstrip(".")
            parts.append(f"on {day.capitalize()}, we're {said}" if said.lower().startswith("closed")
                         else f"on {day.capitalize()}, we're open {said}")
        answer = "; and ".join(parts)
        lines = tuple(dict.fromkeys(hours[day].line() for day in days))
        return _Rule(f"{answer[0].upper()}{answer[1:]}.", "hours", ", ".join(lines),
                     looked_up=LookUp(hours[days[0]].topic, lines))

    def _holds(self, question: str) -> Fact | None:
        """Is ``question`` a yes-no question about something the facts hold without a "not" (the facts with all
        its words, else with its rarest)?  Then "No" is not the model's to say."""
        if self.facts is None or not _YES_NO.match(plain(question)):
            return None
        words = substance_words(question)
        with_all = [fact for fact in self.facts.facts if words and words <= fact.words]
        if not with_all and words:
            counts = {word: sum(word in fact.words for fact in self.facts.facts) for word in words}
            rarest = min((n, word) for word, n in counts.items() if n) if any(counts.values()) else None
            with_all = [fact for fact in self.facts.facts if rarest and rarest[1] in fact.words]
        with_all.sort(key=lambda fact: -len(words & _own_words(fact)))  # "card" said before a "check" of pay's
        return next((fact for fact in with_all if not _DENIES.search(fact.text)), None)

    def _denied(self, question: str) -> Fact | None:
        """Is ``question`` a yes-no question whose facts all say "no" or "not" ("Can I pay by cheque?" when the
        payment fact is "Cards and cash; no cheques")?  Then "Yes" is not the model's to say."""
        if self.facts is None or not _YES_NO.match(plain(question)):
            return None
        words = substance_words(question)
        with_all = [fact for fact in self.facts.facts if words and words <= fact.words]
        return with_all[0] if with_all and all(_DENIES.search(fact.text) for fact in with_all) else None

    def _vouched(self, question: str) -> bool:
        """Does a fact say every word of yes-no ``question`` itself, without a "not" ("Do you have gluten-free
        pasta?": "Gluten-free pasta and pizza bases are available")?  Then a "Yes" is the facts' own and is said
        at once."""
        if self.facts is None:
            return False
        words = substance_words(question)
        return bool(words) and any(words <= _own_words(fact) and not _DENIES.search(fact.text)
                                   for fact in self.facts.facts)

    def _support(self, question: str, about: list[str]) -> frozenset[str]:
        """For a yes-no question, the words (stems) of the facts it is about that it does not say itself: a
        "Yes" must go on to say one of them (see :class:`~agent.dialog.grounding.Guard`)."""
        if self.facts is None or not any(_YES_NO.match(plain(part)) for part in re.split(r"[,;]", question)):
            return frozenset()  # ("My toilet won't flush, can you help?" asks yes or no too)
        said = substance_words(f"{question} {self.facts.name} {self.facts.kind}") | {"yes"}
        return frozenset(substance_words(" ".join(line.partition(": ")[2] for line in about)) - said)

    def _about(self, history: list[Message], text: str) -> str:
        """What a question is about, as said back to the caller ("our hours on Saturday"); "" for no topic."""
        best = self._relevant(history, text, 1)
        if not best:
            return ""
        fact = best[0]
        topic = fact.topic.lower()
        key = fact.key if fact.key and fact.key.lower() in plain(text) else ""
        if not key:
            return f"our {topic}"
        if key.split()[0].lower() in _DAY_NAMES:
            return f"our {topic} on {key}"
        return f"our {topic} for {key.lower()}"

    def _relevant(self, history: list[Message], text: str, limit: int) -> list[Fact]:
        """The facts ``text`` is about; a follow-up is looked up with the question before it."""
        if self.facts is None:
            return []
        earlier = [m.text for m in history if m.role == "user"]
        if not is_follow_up(text) or not earlier:
            return self.facts.relevant(text, limit=limit)
        merged = self.facts.relevant(f"{earlier[-1]} {text}", limit=limit + 8)
        before = self.facts.relevant(earlier[-1], limit=1)
        # "And the pasta?" after "How much is a pizza?": the follow-up's own words pick within the topic before
        # ("How much is it?" has none: the question before decides)
        words = {word for word in substance_words(text) if not asking_word(word)}
        own = [fact for fact in self.facts.relevant(text, limit=limit + 8)
               if before and fact.topic == before[0].topic and words & fact.words]
        return [*own, *(fact for fact in merged if fact not in own)][:limit]

    def _topic(self, history: list[Message], text: str) -> str | None:
        if self._about_call(text):  # (the call's own facts win a tie: "my booking" on a call about it)
            assert self.facts is not None
            return next(fact.topic for fact in self.facts.relevant(text, len(self.facts.facts))
                        if fact in self.call_facts)
        relevant = self._relevant(history, text, 1)
        return relevant[0].topic if relevant else None

    # -- the model's view --------------------------------------------------

    def model_text(self, text: str, later: bool = False, history: list[Message] | None = None) -> str:
        """The caller's words as the model sees them: with the facts they are about, and the time.

        The first question of a call starts with its whole topic, whose KV state is kept; a ``later``
        one (after the call's history, which no kept state holds) with only the two facts that match
        best: a whole topic is up to ~150 tokens, over 1 s to evaluate for the 1.5B on 2 cores.
        """
        if self.facts is None:
            return text
        history = history or []
        topic = self._topic(history, text)
        when = f" (It is {spoken_time(self.now())}.)" if _NOW.search(text) else ""
        # a call's own facts after the topic's (whose start of a turn the model may have kept), before the words
        call = f"({'; '.join(fact.line() for fact in self.call_facts)})\n" if self.call_facts else ""
        if topic is None or any(fact.topic == topic for fact in self.call_facts):
            return f"{call}{text.strip()}{when}"
        lines = self._note_lines(history, text, topic, later)
        return f"({'; '.join(lines)})\n{call}{text.strip()}{when}"

    def _note_lines(self, history: list[Message], text: str, topic: str, later: bool) -> list[str]:
        """The facts a question's turn starts with: its whole topic, or (``later``) the two that match best."""
        assert self.facts is not None
        if later:
            return [fact.line() for fact in self._relevant(history, text, 2)]
        return [fact.line() for fact in self.facts.facts if fact.topic == topic]

    def keep_topic_prefixes(self) -> None:
        """Let the model evaluate, once, the start of a turn for each topic of the facts."""
        keep = getattr(self.inner, "keep_prefixes", None)
        if self.facts is None or not callable(keep):
            return
        notes = [topic_note(self.facts, topic) for topic in dict.fromkeys(f.topic for f in self.facts.facts)]
        keep(notes)  # a call without a greeting
        keep(notes, [Message("assistant", self.greeting() or "")])  # the first turn after this greeting

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str | CallAction]:
        rule = self._rule(history, user_text, unsure)
        if rule is not None:
            logger.info("receptionist %x: %r answered by rule: %s%s", id(self), user_text, rule.kind,
                        f" ({rule.why})" if rule.why else "")
            yield Decision("rule", rule.kind, rule.why)
            if rule.looked_up is not None:
                yield rule.looked_up
            yield rule.text
            if rule.transfer:
                yield Transfer(self.transfer_to, self.transfer_who)
            return
        asked = user_text
        last = _last_reply(history)
        if last.startswith(_ASKED_ABOUT) and answers_offer(user_text) == "yes":
            earlier = [m.text for m in history if m.role == "user"]
            heard_as = (self.facts.heard_as(earlier[-1]) or self.facts.run_heard_as(earlier[-1])
                        if self.facts is not None and earlier else None)
            # the question as the words it sounded like, else the topic said back
            asked = heard_as[0] if heard_as else f"Tell me about {last.removeprefix(_ASKED_ABOUT).rstrip('?')}."
        topic = self._topic(history, asked)
        later = any(message.role == "user" for message in history)
        lines = self._note_lines(history, asked, topic, later) if topic is not None else []
        if self.facts is not None and topic is not None:
            yield LookUp(topic, tuple(lines))
        seen = self.model_text(asked, later, history)
        as_seen = self._as_seen(history)
        with self._seen_lock:
            self._seen[(_questions(history), user_text)] = seen
        replies = self.inner.reply(as_seen, seen, cancel)
        if self.facts is None:
            yield from replies
            return
        about = [fact.line() for fact in self._relevant(history, asked, ABOUT_FACTS)]
        about += [fact.line() for fact in self.call_facts if fact.line() not in about]
        clock = seen[seen.rfind("(It is "):] if seen.endswith(".)") and "(It is " in seen else ""
        held, denied = self._holds(asked), self._denied(asked)
        guard = Guard(f"{self.facts.describe()}\n{self.transfer_who}\n{seen}", asked, "\n".join([*about, clock]),
                      holds=held is not None, denies=denied is not None,
                      support=frozenset() if self._vouched(asked) else self._support(asked, about))
        yield from self._guarded(replies, guard, about, held or denied)

    def _guarded(self, replies: Iterator[str | CallAction], guard: Guard, lines: list[str],
                 held: Fact | None = None) -> Iterator[str | CallAction]:
        """The model's reply up to its first claim the facts do not support; then the fact that best answers
        the question instead (for a "No", the fact that holds what was asked, for a "Yes" the one that denies
        it; or "I don't know"), and the model is stopped."""
        said = False
        try:
            for delta in replies:
                if not isinstance(delta, str):
                    yield delta
                    continue
                text = guard.feed(delta)
                if text:
                    said = True
                    yield text
                if guard.slip is not None:
                    break
            else:
                text = guard.finish()
                if text:
                    yield text
        finally:
            close = getattr(replies, "close", None)
            if callable(close):
                close()  # the model stops at once: its request is abandoned
        if guard.slip is None:
            return
        if guard.slip.kind in ("no", "yes") and held is not None:
            lines = [held.line()]
        fact = _as_said(lines[0]) if lines else ""
        if fact:
            instead = f" — sorry, to be exact: {fact}" if said else fact
        else:
            offer = self._any_offer()
            instead = f"{' — sorry,' if said else ''} I don't have that information.{offer}".lstrip()
        logger.info("receptionist %x: the reply was cut at %s, not in the facts; said instead: %r", id(self),
                    guard.slip, instead)
        yield Decision("guard", guard.slip.kind, f"{guard.slip.word} -> {instead.strip()}")
        yield instead

    def _as_seen(self, history: list[Message]) -> list[Message]:
        """The history with each earlier question as the model saw it, facts and all: the prompt then starts
        with what the call's last reply left in the model's context, and only the new question is evaluated."""
        seen: list[Message] = []
        with self._seen_lock:
            for message in history:
                if message.role == "user":
                    message = Message("user", self._seen.get((_questions(seen), message.text), message.text))
                seen.append(message)
        return seen

    def prepare(self, history: list[Message]) -> None:
        """Let the model evaluate, while the line is quiet, the history its next reply will start with."""
        self.inner.prepare(self._as_seen(history))

    def greeting(self) -> str | None:
        if self.facts is not None:
            return f"Hello, {self.facts.name}, how can I help you?"
        return self.inner.greeting()

    def is_goodbye(self, user_text: str) -> bool:
        return self.inner.is_goodbye(user_text)

    def close(self) -> None:
        self.inner.close()


_BOOKING = re.compile(r"\b(?:book|reserve|reservation)\b|\b(?:make|get|have|want|need|like|arrange) (?:an |a )?"
                      r"(?:appointment|booking)\b|\b(?:appointment|booking) for\b|\btable for\b|\bcome and\b"
                      r"|\bcome (?:out|round|over) (?:and|to (?:fix|look|see|repair))\b")
_THEIR_OWN = re.compile(r"\b(?:my|our|mine|ours)\b")
_ASKS_WHAT = re.compile(r"^(?:and |so |sorry |um |uh )*(?:what|which|when|how|who|whose|where)\b")
_YES_NO = re.compile(r"^(?:do|does|can|could|is|are|will|would|have|has|may)\b")
_DENIES = re.compile(r"\b(?:no|not|never|closed|except|only|cannot)\b|n't\b", re.IGNORECASE)
_CANNOT = re.compile(r"^the receptionist cannot ", re.IGNORECASE)
_OFFER_NOTE = re.compile(r",? so offer to put the caller through", re.IGNORECASE)
_HOURS = re.compile(r"\b(?:open|opening|opens|close|closing|closes|closed|hours|shut)\b")
_HOURS_TOPICS = {"hours", "opening hours", "opening times"}


def _days_said(words: str, now: datetime.datetime) -> list[str]:
    """The days a question asks about, in its order ("saturdays" is Saturday, "the weekend" is both)."""
    days: list[str] = []
    for word in words.split():
        day = word[:-1] if word.endswith("s") and word[:-1] in _DAY_NAMES else word
        found = [day] if day in _DAY_NAMES else []
        if word in ("today", "tonight"):
            found = [WEEK[now.weekday()]]
        elif word == "tomorrow":
            found = [WEEK[(now.weekday() + 1) % 7]]
        elif word in ("weekend", "weekends"):
            found = ["saturday", "sunday"]
        days += [d for d in found if d not in days]
    return days


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _as_said(line: str) -> str:
    """A fact line as a sentence to say: "Hours, Saturday: 12 noon to 10:30 pm" -> "Saturday, 12 noon to 10:30
    pm."."""
    head, _sep, text = line.partition(": ")
    key = head.partition(", ")[2]
    if key and key.lower().rstrip("s") in text.lower():  # "Weddings, Wedding and event hair": the text says it
        key = ""
    return f"{key[:1].upper()}{key[1:]}, {text.rstrip('.')}." if key else f"{text.rstrip('.')}."


def _own_words(fact: Fact) -> set[str]:
    """The words (stems) ``fact`` says itself, without their families ("check" is not "card")."""
    return substance_words(f"{fact.topic} {fact.key} {fact.text}")


def _last_reply(history: list[Message]) -> str:
    """The agent's last words, if they are the last message ("" otherwise)."""
    return history[-1].text.strip() if history and history[-1].role == "assistant" else ""


def _mostly_known(text: str, unknown: int) -> bool:
    """Do the facts explain most words of substance of ``text``?  Then the few they do not are more likely
    misheard ("what's up you're opening our month Saturday") than a question about something else ("is
    there live music on Friday?", "is the food spicy?")."""
    days = sum(word in _DAY_NAMES for word in plain(text).split())  # a day is a word the facts know
    return unknown < (len(substance_words(text)) + days) / 2


def _questions(history: list[Message]) -> int:
    return sum(message.role == "user" for message in history)


def _questions_back(history: list[Message]) -> int:
    """How many questions back in a row the agent has just asked (a caller's reply between each)."""
    count = 0
    for message in reversed(history):
        if message.role != "assistant":
            continue
        if not message.text.startswith(_CLARIFYING):
            break
        count += 1
    return count
