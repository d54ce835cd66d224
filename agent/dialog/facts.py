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

import difflib
import functools
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.dialog.capture import CaptureSpec, parse_capture
from agent.errors import ConfigError

__all__ = ["Fact", "Facts", "asking_word", "load_facts", "parse_facts", "stem", "example_facts_path",
           "substance_words"]

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
    "cut cuts haircut haircuts trim trims",
    "child children kid kids",
    "teeth tooth dental dentist",
    "bag bags luggage suitcase suitcases",
    "appointment appointments visit visits",
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
accept allow arrange buy change clean cover deal fit fix handle happen help hold keep look mean miss order pick
provide reach send sell show speak stay stop talk try wait work
exactly quickly soon long fast extra per usually normally still already ever often actually maybe
weekday weekdays
oh ah ooh um umm uh er erm hmm mm
""".split())
"""Words that carry no topic of their own in a question (days and times are read from the facts)."""

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_TOP_KEYS = {"name", "kind", "timezone", "transfer", "capture"}


def stem(word: str) -> str:
    """A crude English stem, enough to match "dogs"/"dog", "booked"/"book", "opening"/"open"."""
    word = word.lower().removesuffix("'s")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")) and len(word) > 4:
        return word[:-2]
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "teeth": "tooth", "feet": "foot",
              "mice": "mouse", "geese": "goose", "wives": "wife", "knives": "knife", "shelves": "shelf"}


def _undone(word: str, known: set[str]) -> bool:
    """Is ``word`` a word the facts hold with "un" before it ("unblock" for their "blocked")?"""
    return word.startswith("un") and len(word) > 5 and word[2:] in known


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {stem(part) for word in words for part in (word, word.replace("-", ""), *word.split("-"))}


_FAMILIES = [_stems(family) for family in ASKING]


@dataclass(frozen=True)
class Fact:
    """One line of the facts: ``topic`` (a block), ``key`` (may be empty) and the text."""

    topic: str
    key: str
    text: str
    words: frozenset[str] = field(default=frozenset(), compare=False)
    """The stems of its words and of every word of their families ("pay": card, cash, check)."""
    said: frozenset[str] = field(default=frozenset(), compare=False)
    """The stems of the words it says itself, without their families ("check" is not "card")."""

    def line(self) -> str:
        head = f"{self.topic}, {self.key}" if self.key else self.topic
        return f"{head}: {self.text}"


def _fact(topic: str, key: str, text: str) -> Fact:
    said = _stems(f"{topic} {key} {text}")
    words = set(said)
    for family in _FAMILIES:
        if words & family:
            words |= family
    return Fact(topic, key, text, frozenset(words), frozenset(said))


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
    capture: tuple[CaptureSpec, ...] = ()
    """What the agent may take down for the business (``[capture]``: messages, booking requests)."""
    call_from: int = -1
    """Where a call's own facts begin among ``facts`` (-1: none; :meth:`with_call_facts`)."""

    def with_call_facts(self, extra: tuple[tuple[str, str, str], ...]) -> Facts:
        """These facts and a call's own ((topic, key, text), an outbound call's ``facts``) after them."""
        return replace(self, facts=self.facts + tuple(_fact(topic, key, text) for topic, key, text in extra),
                       call_from=len(self.facts))

    def describe(self) -> str:
        """The facts as prompt text: who the agent answers for, then one line per fact."""
        who = f"{self.name}, {self.kind}" if self.kind else self.name
        return "\n".join([f"Business: {who}", *(f"- {fact.line()}" for fact in self.facts)])

    def unknown_words(self, question: str) -> set[str]:
        """Words of substance in ``question`` that no fact (nor a caller's phrasing of one) explains."""
        known = set().union(*(fact.words for fact in self.facts)) | _stems(f"{self.name} {self.kind}")
        # "Wi-Fi" is the facts' "wifi", "checkout" their "check-out"
        joined = [word for word in _WORD.findall(question.lower()) if "-" in word]
        question = " ".join(word.replace("-", "") if stem(word.replace("-", "")) in known else word
                            for word in _WORD.findall(question.lower())) if joined else question
        return {w for w in substance_words(question)
                if w not in known and not _family_of(w, known) and not _related(w, known)
                and not _spelled_alike(w, known) and not _undone(w, known)}

    def heard_as(self, question: str) -> tuple[str, str] | None:
        """``question`` with its unknown words read as the facts' words they sound like, and the first word
        so read: ("How much is the set lunch?", "lunch") for "How much is the set lunge?", ("What time is
        checkin?", "check-in") for "What time is chick in?".  None unless every unknown word is explained.

        A recogniser mishears a word as a near spelling of it ("lunge"), or splits it ("brake fast",
        "high lights"); a question about something the facts do not hold ("house wine", "takeaway") has
        words no fact word is spelled like."""
        unknown = self.unknown_words(question)
        if not unknown:
            return None
        words = self._spellings()
        said = re.findall(_WORD.pattern, question, re.IGNORECASE)
        tokens = [token.lower() for token in said]
        out, first, i, explained = [], "", 0, set()
        while i < len(tokens):
            found = None
            if any(stem(token) in unknown for token in tokens[i:i + 3]):
                found = _sounds_like(tokens, i, words, unknown)
                later = _sounds_like(tokens, i + 1, words, unknown) if stem(tokens[i]) not in unknown else None
                if found is not None and later is not None and later[0] >= found[0]:
                    found = None  # "is brake fast": the run starts at "brake"
            if found is None:
                out.append(said[i])
                i += 1
                continue
            _ratio, span, word = found
            explained |= {stem(t) for t in tokens[i:i + span]}
            out.append(word)
            first = first or word
            i += span
        if not unknown <= explained:
            return None
        repaired = " ".join(out)
        return repaired[:1].upper() + repaired[1:] + "?", first

    def run_heard_as(self, question: str) -> tuple[str, str] | None:
        """Like :meth:`heard_as`, for a question whose words are all known but two or three of them run
        together sound like a word of the facts it does not say: ("How much is it to neutering a cat?",
        "neutering") for "How much is it to new to a cat?".  None when there is no such run."""
        words = self._spellings()
        said = re.findall(_WORD.pattern, question, re.IGNORECASE)
        tokens = [token.lower() for token in said]
        for i in range(len(tokens)):
            found = _sounds_like_run(tokens, i, words)
            if found is not None and found[2] not in tokens:
                _ratio, span, word = found
                repaired = " ".join([*said[:i], word, *said[i + span:]])
                return repaired[:1].upper() + repaired[1:] + "?", word
        return None

    def _spellings(self) -> dict[str, str]:
        """The words of the facts (and of a call's own facts' topics), without hyphens ("checkin"), and their stems
        ("neuter") -> as written ("check-in", "neutering")."""
        words: dict[str, str] = {}
        for index, fact in enumerate(self.facts):
            topic = fact.topic if 0 <= self.call_from <= index else ""  # a call's "Your booking" is a word of it
            for word in _WORD.findall(f"{topic} {fact.key} {fact.text}".lower()):
                if len(word) >= 4 and word not in FUNCTION_WORDS and not word.isdigit():
                    words.setdefault(word.replace("-", "").replace("'", ""), word)
        for written, word in list(words.items()):  # "neuter" for "neutering", "landlord" for "landlord's"
            if len(stem(written)) >= 4 and (word.endswith("'s") or not word.endswith("s")):
                words.setdefault(stem(word), word)
        return words

    def relevant(self, question: str, limit: int = 4) -> list[Fact]:
        """The facts ``question`` is about, best first (none: the facts do not cover it): the most words of the
        question, with their families ("pay": card, cash, check), and then the most said as the question says them
        ("Can I pay by card?": payment by card before a yearly health check)."""
        return [fact for _score, _index, fact in self._scored(question)[:limit]]

    def best_score(self, question: str, among: tuple[Fact, ...] | None = None) -> float:
        """How well the fact ``question`` is most about (of ``among``, default all) matches it (0: none does)."""
        scored = [score for score, _index, fact in self._scored(question) if among is None or fact in among]
        return -scored[0] if scored else 0.0

    def _scored(self, question: str) -> list[tuple[float, int, Fact]]:
        asked = {w for w in _stems(question) if not w.isdigit()} - _FUNCTION_STEMS
        days = _stems(question) & _DAYS
        words = set(_WORD.findall(question.lower()))
        if words & {"weekday", "weekdays"}:
            days |= _WEEKDAYS
        if words & {"weekend", "weekends"}:
            days |= _DAYS - _WEEKDAYS
        scored = []
        for index, fact in enumerate(self.facts):
            named = _days_of(f"{fact.key} {fact.text}")
            score = len(asked & fact.words) + 0.25 * len(asked & fact.said) + 0.5 * len(days & named)
            if days and named and not days & named:
                score -= 1  # "lunch on Saturday": not the lunch hours of Tuesday to Friday
            if score > 0:
                scored.append((-score, index, fact))
        return sorted(scored)

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


SOUNDS_LIKE = 0.8
"""How close (difflib's ratio of letters) a misheard word must be spelled to a word of the facts."""


def _sounds_like(tokens: list[str], i: int, words: dict[str, str],
                 unknown: set[str]) -> tuple[float, int, str] | None:
    """The words at ``tokens[i]`` (one, or two or three run together) as a word of the facts: (how close,
    how many tokens, the word).  A run must sound more like its word than any of its tokens alone does (so that
    "emergency cool" is not read as "emergency")."""
    best: tuple[float, int, str] | None = None
    for span in (3, 2, 1):
        part = tokens[i:i + span]
        if len(part) < span or not any(stem(t) in unknown for t in part):
            continue
        joined = _run(part)
        ratio, word = max((_likeness(joined, w), w) for w in words)
        if span > 1 and any(_likeness(t.replace("'", ""), word) >= ratio for t in part):
            continue
        if ratio >= SOUNDS_LIKE and (best is None or ratio > best[0]):
            best = (ratio, span, words[word])
    return best


def _run(tokens: list[str]) -> str:
    """Words run together as one, as said: "new to" is "newta" (an unstressed "to" is a schwa, as in
    "neuter")."""
    said = [("ta" if token == "to" and k else token) for k, token in enumerate(tokens)] if len(tokens) > 1 else tokens
    return "".join(said).replace("-", "").replace("'", "")


def _sounds_like_run(tokens: list[str], i: int, words: dict[str, str]) -> tuple[float, int, str] | None:
    """Known words at ``tokens[i]`` (two or three) that, run together, are a word of the facts the caller did
    not say ("new to" for "neuter", "walk cans" for "walk-ins"): (how close, how many tokens, the word).  The
    run must start as the word does, and with a word of substance, each word alone be far from it, and no words
    of the run be the word itself written apart ("check in")."""
    written = {"".join(tokens[j:j + span]).replace("-", "").replace("'", "")
               for j in range(i, min(i + 3, len(tokens))) for span in (2, 3)}
    if written & words.keys():
        return None
    best: tuple[float, int, str] | None = None
    for span in (2, 3):
        part = tokens[i:i + span]
        joined = _run(part)
        if len(part) < span or len(joined) < 5 or part[0] in FUNCTION_WORDS:
            continue  # ("we come" is not "welcome")
        ratio, word = max((_likeness(joined, w), w) for w in words)
        if (ratio < RUN_SOUNDS_LIKE or len(word) < 5 or joined[0] != word[0]
                or (best is not None and ratio <= best[0])):
            continue
        if any(_likeness(t.replace("'", ""), word) >= SOUNDS_LIKE or t == words[word] for t in part):
            continue
        best = (ratio, span, words[word])
    return best


RUN_SOUNDS_LIKE = 0.85
"""How close words the facts know, run together, must sound to another word of the facts to be read as it."""


_WEEKDAYS = {stem(day) for day in "monday tuesday wednesday thursday friday".split()}
_WEEK = [stem(day) for day in "monday tuesday wednesday thursday friday saturday sunday".split()]


def _days_of(text: str) -> set[str]:
    """The days ``text`` names, a range ("Tuesday to Friday") with the days between."""
    words = [stem(word) for word in _WORD.findall(text.lower())]
    days = {word for word in words if word in _DAYS}
    for i in range(1, len(words) - 1):
        if words[i] == "to" and words[i - 1] in _DAYS and words[i + 1] in _DAYS:
            first, last = _WEEK.index(words[i - 1]), _WEEK.index(words[i + 1])
            days |= {_WEEK[j % 7] for j in range(first, last + 1 if last >= first else last + 8)}
    return days


def _spelled_alike(word: str, known: set[str]) -> bool:
    """Is ``word`` a known word spelled another way ("color" and "colour", "jewelry" and "jewellery")?"""
    return len(word) >= 5 and any(len(other) >= 5 and abs(len(other) - len(word)) <= 2
                                  and difflib.SequenceMatcher(None, word, other).ratio() >= 0.9 for other in known)


def _likeness(heard: str, word: str) -> float:
    """How alike two words are, spelled or as said: the better of difflib's ratio of their letters and of
    their rough sounds ("why fight" and "wi-fi", "boy let" and "boiler" are alike only as said)."""
    spelled = difflib.SequenceMatcher(None, heard, word).ratio()
    if len(heard) < 4 or len(word) < 4:
        return spelled  # ("cat" and "cut": too short to tell by sound)
    return max(spelled, difflib.SequenceMatcher(None, _sound(heard), _sound(word)).ratio(),
               difflib.SequenceMatcher(None, _sound(heard, True), _sound(word, True)).ratio())


_SOUNDS = [("tion", "shun"), ("sion", "shun"), ("ph", "f"), ("wh", "w"), ("ck", "k"), ("gh", ""), ("qu", "kw"),
           ("x", "ks"), ("ew", "u"), ("ee", "i"), ("ea", "i"), ("ie", "i"), ("oo", "u"), ("ou", "u"), ("ow", "o"),
           ("oy", "oi"), ("ay", "ei"), ("ai", "ei"), ("y", "i"), ("ch", "tsh"), ("dge", "dsh"), ("ge", "dsh"),
           ("j", "dsh"), ("c", "k"), ("z", "s")]


@functools.lru_cache(maxsize=4096)
def _sound(word: str, schwa: bool = False) -> str:
    """A rough spelling of how ``word`` is said (English letters to sounds, doubled letters once; "our" after
    c, f, p or y as in "course"); ``schwa``: a last "er" as in "neuter" (a schwa, as "to" in "new to")."""
    word = re.sub(r"c(?=[eiy])", "s", word)
    word = re.sub(r"(?<=[cfpy])our", "or", word).replace("eu", "u")
    if schwa:
        word = re.sub(r"(?<=\w\w)er$", "a", word)
    for letters, sound in _SOUNDS:
        word = word.replace(letters, sound)
    word = re.sub(r"(.)\1+", r"\1", word)
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def _related(word: str, known: set[str]) -> bool:
    """Is ``word`` another form of a known word: "child" of "children", "electrical" of "electrics",
    "cancel" of "cancellation", "unblock" of "blocked"?  (One is the other with an ending, the shorter of
    at least 4 letters, or they share their first 6; "takeaway" is not a form of "take".)"""
    if word.startswith("un") and len(word) >= 6 and _related(word[2:], known):
        return True
    for other in known:
        short, long_ = sorted((word, other), key=len)
        if len(short) >= 4 and long_.startswith(short) and long_[len(short):] in _ENDINGS \
                or len(short) >= 6 and long_[:6] == short[:6]:
            return True
    return False


_ENDINGS = frozenset("e s es ed er ers ing ings al als ally ly ion ions ation ations lation ren ry y ment ments "
                     "ic ics ical ist ists ness able".split())


def asking_word(word: str) -> bool:
    """Is ``word`` (a stem) one of the ways callers ask ("much", "cost", "open"), not a thing asked about?"""
    return any(word in family for family in _FAMILIES)


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
        capture=parse_capture(data["capture"], source) if "capture" in data else (),
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
