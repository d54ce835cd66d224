"""What a caller's words ask for, decided by rule: a person, the clock, a yes or a no to an offer.

These decide actions that must never hang on a model (a transfer, reading
the clock), so each is written against the ways callers actually say it,
and against what they say that only looks like it:

- :func:`wants_a_person`: "can I speak to someone", "put me through to the
  manager", "operator, please" -- not "a table for a person in a
  wheelchair" nor "are you a real person?" (:func:`asks_if_human`).
- :func:`asks_the_time` / :func:`asks_the_date`: "what time is it", "have
  you got the time" -- not "what time is it open until", "what time is
  lunch" nor "what's the date of the wine evening".
- :func:`answers_offer`: "yes please", "okay, go ahead" -> yes; "no
  thanks", "that's okay", "I'm fine" -> no; anything that says more
  ("okay, and what time do you close?") -> neither: it is a new question.

Each works on :func:`plain` words: lower case, no punctuation, contractions
spelled out.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["answers_offer", "asks_if_human", "asks_the_date", "asks_the_time", "plain", "wants_a_person"]

_CONTRACTIONS = (
    ("what's", "what is"), ("that's", "that is"), ("it's", "it is"), ("i'm", "i am"), ("i'd", "i would"),
    ("i'll", "i will"), ("you're", "you are"), ("can't", "cannot"), ("won't", "will not"), ("don't", "do not"),
    ("doesn't", "does not"), ("isn't", "is not"), ("there's", "there is"), ("let's", "let us"),
    ("today's", "today"), ("who's", "who is"), ("where's", "where is"), ("we're", "we are"),
    ("that'd", "that would"), ("it'd", "it would"), ("you've", "you have"), ("i've", "i have"),
)
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def plain(text: str) -> str:
    """``text`` as plain words: "What's the time?" -> "what is the time"."""
    words = " ".join(_WORDS.findall(text.lower().replace("\u2019", "'")))
    for short, long in _CONTRACTIONS:
        words = re.sub(rf"\b{short}\b", long, words)
    return words


# -- a person ---------------------------------------------------------------

_STAFF = (r"(?:some ?one|some ?body|any ?one|any ?body|a (?:real |live |actual )?(?:person|human(?: being)?)|"
          r"(?:a |the |your )?(?:manager|owner|staff|member of (?:the )?staff|receptionist|reception|operator|"
          r"agent|front desk|chef|boss|supervisor|colleague|team|nurses?|vets?|doctor|plumbers?|engineers?|"
          r"technician|electrician|stylists?|hairdressers?|barber|reservations|(?:the )?office|sales|accounts|"
          r"billing|support)|a real one|(?:him|her|them)|"
          r"(?:a |the )?(?:human|people) (?:there|in charge))")
_ASK_FOR = re.compile(
    rf"\b(?:speak|talk|chat) (?:to|with) {_STAFF}\b"
    rf"|\b(?:put|get|send|pass) me (?:through|over|across)\b"
    rf"|\b(?:transfer|connect|forward) (?:me|my call|this call|the call)\b"
    rf"|\b(?:get|fetch) (?:me )?{_STAFF}(?: on the (?:phone|line))?\b(?! (?:is|are|was|will|would|can|does|do)\b)"
    rf"|\b(?:need|want|like|prefer) (?:to (?:speak|talk) to |)(?:a (?:real |live |actual )?"
    rf"(?:person|human)|someone real|a human being|an operator|the operator)\b"
    rf"|\bis there (?:some ?one|any ?one|some ?body|any ?body) (?:i|we) can (?:speak|talk) (?:to|with)\b",
)
_BARE = re.compile(
    r"^(?:(?:can i|could i|may i) (?:have|get) |(?:give me|get me|i want|i need) )?(?:a |an |the )?"
    r"(?:(?:real|live|actual) )?(?:person|human|operator|reception|receptionist|front desk|agent|manager|"
    r"representative)(?: please)?$"
)
_NOT_TO_PEOPLE = re.compile(r"\b(?:speak|talk)s? (?:to|with) (?:a |the )?(?:menu|booking|table)")


def wants_a_person(text: str) -> bool:
    """Does the caller ask to be put through to a person?"""
    words = plain(text)
    if not words or _NOT_TO_PEOPLE.search(words):
        return False
    if re.search(r"\b(?:do not|no need to|not) (?:want|need) to (?:speak|talk)\b|\bno (?:one|person)\b", words):
        return False
    return bool(_ASK_FOR.search(words) or _BARE.match(words))


_HUMAN_Q = re.compile(r"\bare you (?:a |an )?(?:real|human|person|robot|machine|bot|computer|ai|"
                      r"artificial|automated|recording|answering machine)\b|\bam i (?:talking|speaking) to "
                      r"(?:a |an )?(?:real|human|person|robot|machine|bot|computer)\b|\bis this (?:a |an )?"
                      r"(?:robot|machine|bot|computer|recording|real person|human)\b")


def asks_if_human(text: str) -> bool:
    """Does the caller ask whether they speak to a person or a machine ("are you a robot?")?"""
    return bool(_HUMAN_Q.search(plain(text)))


# -- the clock -----------------------------------------------------------------

_HOURS_WORDS = (r"open|opens|opening|close|closes|closing|closed|shut|shuts|start|starts|finish|finishes|end|ends|"
                r"serve|serving|served|last|lunch|dinner|breakfast|brunch|kitchen|bar|service|booking|bookings|"
                r"appointment|appointments|table|event|check|checkout|checkin|delivery|collection|available|"
                r"ready|done|busy|quiet|best|free|you|the|that|for|on|until|till|from|when")
_TIME_Q = re.compile(
    r"\bwhat time is it\b(?! (?:" + _HOURS_WORDS + r")\b)"
    r"|\bwhat (?:is )?the time\b(?! (?:of|for|on|you|that|when|to|at|in|we)\b)"
    r"|\bwhat time it is\b|\b(?:tell|give) me the time\b(?! (?:of|for|on|you|that|when)\b)"
    r"|\b(?:have|got|know) (?:you got |)the (?:right |correct |current |exact )?time\b(?! (?:of|for|on|to)\b)"
    r"|\bthe (?:current|exact|right|correct) time\b|\bwhat time do you make it\b|\btime is it (?:now|there)\b"
    r"|\bwhat is the time (?:now|there|please)\b"
)
_DATE_Q = re.compile(
    r"\bwhat (?:is )?(?:the )?date(?: is it)?(?: today| now)?(?: please)?$|\bwhat (?:is )?today date\b"
    r"|\bwhat day is (?:it|today)\b(?! (?:that|you|when)\b)|\bwhat is today(?: please)?$|\bwhat (?:day|date) it is\b"
    r"|\bwhat date is (?:it|today)\b|\b(?:tell|give) me the date\b|\bwhat is the date today\b"
    r"|\bwhich day is (?:it|today)\b|\bthe date today\b|\btoday is what (?:day|date)\b|^(?:and |so )?today date\b"
)


def asks_the_time(text: str) -> bool:
    """Does the caller ask what time it is now (not when something opens or happens)?"""
    return bool(_TIME_Q.search(plain(text)))


def asks_the_date(text: str) -> bool:
    """Does the caller ask today's date or day of the week?"""
    return bool(_DATE_Q.search(plain(text)))


# -- yes or no to an offer --------------------------------------------------------

_YES_PHRASES = (
    "yes please", "yes", "yeah", "yep", "yup", "yes yes", "aye", "sure", "of course", "please", "please do", "okay",
    "ok", "alright", "all right", "right", "go ahead", "go on", "go for it", "do it", "do that", "absolutely",
    "definitely", "certainly", "why not", "that would be great", "that would be good", "that would be lovely",
    "that would be perfect", "that would be helpful", "that would help", "that would be fine", "sounds good",
    "sounds great", "perfect", "great", "lovely", "fine", "that is fine", "thank you", "thanks", "cheers",
    "put me through", "put me through please", "connect me", "transfer me", "i would like that", "i would",
    "yes i would", "i would like that please", "let us do that", "that is what i want", "mhm", "mm hmm",
    "uh huh", "ok then", "okay then", "then", "if you could", "if you can", "could you", "can you", "would you",
    "thank you very much", "much appreciated", "brilliant", "wonderful", "excellent", "fantastic", "that is great",
    "that is perfect", "yes that is right", "correct", "exactly", "indeed", "do", "i will", "well", "oh", "um", "uh",
    "er", "erm", "hmm", "so", "to them", "to the front desk", "to someone", "through", "with them", "now",
)
_NO = re.compile(
    r"^(?:(?:um|uh|er|erm|oh|well|hmm|ah) )*(?:no|nope|nah|no thank you|no thanks|not now|not yet|not really|"
    r"not today|not at the moment|not for now|not right now|not necessary|no need|no it is fine|no it is okay|"
    r"that is okay|that is alright|that is all right|that is fine|it is okay|it is fine|it is alright|"
    r"it is all right|i am fine|i am okay|i am good|i am alright|i am all right|never ?mind|do not bother|"
    r"do not worry|no worries|leave it|forget it|i will pass|maybe later|i will call back|"
    r"i will try later|i would rather not|better not|rather not|not bother|don't)"
    r"(?: (?:no|thank you|thanks|cheers|then|though|for now|at the moment|really|not now|that is fine|"
    r"that is okay|it is fine|it is okay|i am fine|i am good|i am okay|i will call back|i will try later|"
    r"that is all|that is everything|thank you very much|very much|anyway|honestly|actually|please|mate|love))*$"
)


def _only(words: str, phrases: tuple[str, ...]) -> bool:
    """Is ``words`` nothing but ``phrases``, one after another?"""
    rest = f" {words} "
    for phrase in sorted(phrases, key=len, reverse=True):
        rest = re.sub(rf"(?<= ){re.escape(phrase)}(?= )", " ", rest)
    return not rest.strip()


def answers_offer(text: str) -> Literal["yes", "no"] | None:
    """A plain yes or no to an offer; None when the caller says anything more (a new question)."""
    words = plain(text)
    if not words:
        return None
    if _NO.match(words):
        return "no"
    if "no" in words.split() or "not" in words.split() and "why not" not in words:
        return None
    if _only(words, _YES_PHRASES) and not _only(words, ("thank you", "thanks", "cheers", "well", "oh", "um", "uh",
                                                         "er", "erm", "hmm", "so", "then", "now", "through")):
        return "yes"
    return None
