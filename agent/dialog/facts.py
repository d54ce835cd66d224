"""What the agent knows about the business it answers for (``--facts FILE``).

A facts file is TOML (see ``example_facts.toml``) or Markdown: the business's
name and kind, its time zone, a person to transfer callers to, and blocks of
facts (hours, prices, policies...).  Each fact becomes one line of the prompt
("Hours, Saturday: 12 noon to 10:30 pm").

The facts also decide, without any model, whether they cover a question:
:meth:`Facts.covers` finds the facts a question is about from their words
and a small vocabulary of how callers ask ("open" -> hours, "how much" ->
prices), and says no when the question has a word of substance that no fact
and no caller phrasing explains ("live music", "takeaway").  A question they
do not cover is answered "I don't know" without asking the model, so it has
no chance to invent an answer.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

__all__ = ["Fact", "Facts", "load_facts", "parse_facts", "stem", "example_facts_path", "substance_words"]

ASKING = (
    "open opening opens close closing closes closed hour hours late early",
    "price prices cost costs much charge expensive cheap pound pounds fee",
    "address where located location find street postcode",
    "directions get way there station walk drive bus train far",
    "phone number call ring",
    "book booking bookings reserve reservation table tables",
    "pay payment card cards cash cheque cheques check checks contactless credit debit visa mastercard amex",
    "dog dogs pet pets animal",
    "park parking car",
    "vegetarian vegan veggie meat",
    "gluten coeliac celiac allergy allergies",
    "party event events private birthday room group groups hire rent function celebration",
    "menu food dish dishes eat serve",
    "walk-in walk-ins walk in",
)
"""Word families of phone questions: a question word in a family stands for every word in it."""

FUNCTION_WORDS = frozenset("""
a an the and or but if of to in on at by for from with about into over under up down out off as than then so
until till since before after during between both either neither
is are was were be been being am do does did done have has had having will would shall should can could may
might must i me my mine you your yours we us our ours they them their it its he she his her this that these
those there here what which who whom whose when why how not no yes please thank thanks hello hi hey
okay ok well just also too very really any some all much many more most other another each every own same
tell know like want need get got give go going come make let see say said ask think sure bring take use
today tonight tomorrow now time day days week weekend morning afternoon evening night
one two three four five six seven eight nine ten eleven twelve people person us anything something
option options choice choices available offer kind type sort
goodbye bye good great fine perfect lovely cheers sorry pardon repeat again that's right wrong mean
monday tuesday wednesday thursday friday saturday sunday
i'm i've i'd i'll you're you've you'd you'll we're we've we'd we'll they're it's it'll that's there's here's
what's where's how's when's who's let's can't won't don't doesn't didn't isn't aren't wasn't haven't hasn't
wouldn't couldn't shouldn't
""".split())
"""Words that carry no topic of their own in a question (days and times are read from the facts)."""

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_TOP_KEYS = {"name", "kind", "timezone", "transfer"}


def stem(word: str) -> str:
    """A crude English stem, enough to match "dogs"/"dog", "booked"/"book", "opening"/"open"."""
    word = word.lower().removesuffix("'s")
    if word.endswith(("ches", "shes", "sses", "xes", "zes")) and len(word) > 4:
        return word[:-2]
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {stem(part) for word in words for part in (word, *word.split("-"))}


_FAMILIES = [_stems(family) for family in ASKING]


@dataclass(frozen=True)
class Fact:
    """One line of the facts: ``topic`` (a block), ``key`` (may be empty) and the text."""

    topic: str
    key: str
    text: str
    words: frozenset[str] = field(default=frozenset(), compare=False)

    def line(self) -> str:
        head = f"{self.topic}, {self.key}" if self.key else self.topic
        return f"{head}: {self.text}"


def _fact(topic: str, key: str, text: str) -> Fact:
    words = _stems(f"{topic} {key} {text}")
    for family in _FAMILIES:
        if words & family:
            words |= family
    return Fact(topic, key, text, frozenset(words))


@dataclass(frozen=True)
class Facts:
    """A business's facts (see the module docstring)."""

    name: str
    kind: str = ""
    timezone: str = "UTC"
    transfer_to: str = ""
    transfer_who: str = "a colleague"
    facts: tuple[Fact, ...] = ()
    source: str = "<facts>"

    def describe(self) -> str:
        """The facts as prompt text: who the agent answers for, then one line per fact."""
        who = f"{self.name}, {self.kind}" if self.kind else self.name
        return "\n".join([f"Business: {who}", *(f"- {fact.line()}" for fact in self.facts)])

    def unknown_words(self, question: str) -> set[str]:
        """Words of substance in ``question`` that no fact (nor a caller's phrasing of one) explains."""
        known = set().union(*(fact.words for fact in self.facts)) | _stems(f"{self.name} {self.kind}")
        return {w for w in substance_words(question) if w not in known and not _family_of(w, known)}

    def relevant(self, question: str, limit: int = 4) -> list[Fact]:
        """The facts ``question`` is about, best first (none: the facts do not cover it)."""
        asked = {w for w in _stems(question) if not w.isdigit()} - _FUNCTION_STEMS
        days = _stems(question) & _DAYS
        scored = []
        for index, fact in enumerate(self.facts):
            score = len(asked & fact.words) + 0.5 * len(days & _stems(f"{fact.key} {fact.text}"))
            if score > 0:
                scored.append((-score, index, fact))
        return [fact for _score, _index, fact in sorted(scored)[:limit]]

    def covers(self, question: str) -> list[Fact]:
        """The facts that answer ``question``; empty when it asks about something they do not hold."""
        if self.unknown_words(question):
            return []
        return self.relevant(question)


def substance_words(question: str) -> set[str]:
    """The stems of the words of ``question`` that carry a topic (not "the", "what", "Saturday", "7")."""
    parts = [part for word in _WORD.findall(question.lower()) for part in word.split("-")]
    words = {stem(w) for w in parts if w not in FUNCTION_WORDS and not w.isdigit()}
    return {w for w in words if w not in FUNCTION_WORDS}


_FUNCTION_STEMS = {stem(w) for w in FUNCTION_WORDS} - set().union(*_FAMILIES)
_DAYS = {stem(day) for day in "monday tuesday wednesday thursday friday saturday sunday".split()}


def _family_of(word: str, known: set[str]) -> bool:
    return any(word in family and family & known for family in _FAMILIES)


def _fail(source: str, problem: str) -> ConfigError:
    return ConfigError(f"bad facts file {source}: {problem}")


def _text(value: Any, source: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(source, f"{where} must be text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise _fail(source, f"{where} is empty")
    return text


def _from_toml(data: dict[str, Any], source: str) -> Facts:
    name = _text(data.get("name", ""), source, "name") if "name" in data else ""
    if not name:
        raise _fail(source, 'it needs name = "..." (the business the agent answers for)')
    facts: list[Fact] = []
    for key, value in data.items():
        if key in _TOP_KEYS:
            continue
        if isinstance(value, dict):
            facts += [_fact(key.capitalize(), str(k), _text(v, source, f"{key}.{k}")) for k, v in value.items()]
        elif isinstance(value, list):
            facts += [_fact(key.capitalize(), "", _text(v, source, f"{key}[{i}]")) for i, v in enumerate(value)]
        else:
            facts.append(_fact(key.capitalize(), "", _text(value, source, key)))
    transfer = data.get("transfer", {})
    if not isinstance(transfer, dict):
        raise _fail(source, '[transfer] must be a table: to = "sip:...", who = "..."')
    to = _text(transfer["to"], source, "transfer.to") if "to" in transfer else ""
    if to and not to.startswith(("sip:", "sips:", "tel:")):
        raise _fail(source, f"transfer.to must be a SIP URI (sip:user@host), got {to!r}")
    return Facts(
        name=name,
        kind=_text(data["kind"], source, "kind") if "kind" in data else "",
        timezone=_timezone(data.get("timezone", "UTC"), source),
        transfer_to=to,
        transfer_who=_text(transfer["who"], source, "transfer.who") if "who" in transfer else "a colleague",
        facts=tuple(facts),
        source=source,
    )


def _timezone(value: Any, source: str) -> str:
    zone = _text(value, source, "timezone")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(source, f"unknown timezone {zone!r} (use a name such as Europe/London)") from None
    return zone


def _from_markdown(text: str, source: str) -> Facts:
    """``# Name``, then ``## Topic`` blocks of ``- key: text`` (or plain ``- text``) lines."""
    name, topic, facts = "", "About", []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("# "):
            name = line[2:].strip()
        elif line.startswith("## "):
            topic = line[3:].strip()
        elif line.startswith(("- ", "* ")) or (line and not line.startswith("#")):
            body = line[2:].strip() if line.startswith(("- ", "* ")) else line
            key, sep, value = body.partition(":")
            facts.append(_fact(topic, key.strip(), value.strip()) if sep and value.strip() else _fact(topic, "", body))
    if not name:
        raise _fail(source, "it needs a first heading with the business's name (# Name)")
    return Facts(name=name, facts=tuple(facts), source=source)


def parse_facts(text: str, source: str = "<facts>", markdown: bool = False) -> Facts:
    """Facts from TOML (or Markdown) text; a one-line ConfigError when they are malformed."""
    if markdown:
        return _from_markdown(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _fail(source, str(error)) from None
    return _from_toml(data, source)


def load_facts(path: str | Path) -> Facts:
    """Read ``--facts FILE`` (``.toml``, else Markdown)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot read --facts file {file}: {reason}") from None
    return parse_facts(text, str(file), markdown=file.suffix.lower() != ".toml")


def example_facts_path() -> Path:
    """The example facts the project ships (a restaurant)."""
    return Path(__file__).resolve().parent / "example_facts.toml"
