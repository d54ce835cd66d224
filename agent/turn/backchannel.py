"""Is what the caller said over the agent an interruption, or only a backchannel?

While the agent speaks, a caller's "mm-hmm", "uh-huh" or "okay" means "go
on", and a recogniser's rendering of a cough or a hum ("Mmm", "A-h-h",
"(coughs)") means nothing.  Anything else (a single real word such as "stop"
or "wait") is an interruption.  Pure and cheap: the turn machine calls it on
each transcript it gets while the agent's audio is paused.
"""

from __future__ import annotations

import re

__all__ = ["is_backchannel", "asks_to_stop", "BACKCHANNEL_WORDS", "STOP_WORDS"]

BACKCHANNEL_WORDS = frozenset({
    "mhm", "hmm", "hm", "um", "umm", "uh", "uhh", "huh", "er", "erm", "ah", "oh", "aha", "ooh",
    "yes", "yeah", "yep", "yup", "okay", "ok", "right", "alright", "sure", "fine", "good", "great", "cool",
})
"""Words that, alone or together, say "go on" (sounds of one letter repeated are covered by a pattern)."""
BACKCHANNEL_PHRASES = ("i see", "got it", "all right", "i know")
"""Phrases that say it too; they are taken out before the words are looked at."""
STOP_WORDS = frozenset({"stop", "wait", "hold", "hang", "sorry", "excuse", "pardon", "no", "hello", "hey"})
"""Words a caller says to stop the agent: short, so the recogniser is less sure of them; a lower bar."""
_SOUND = re.compile(r"^(?:[mh]+|u+[hm]*|a+h*|o+h*|e+r*m*)$")
"""A hum or a vowel drawn out as the recogniser spells it: mmm, mmmm, hmmm, uhh, ahh, ohh, erm."""
_ANNOTATION = re.compile(r"[\[(*][^\])*]*[\])*]")
"""Sound annotations some recognisers emit: (coughs), [BLANK_AUDIO], *sigh*."""


def is_backchannel(text: str) -> bool:
    """True when ``text`` holds no word but backchannels and sounds (an empty text is one)."""
    plain = " ".join(_words(text))
    for phrase in BACKCHANNEL_PHRASES:
        plain = re.sub(rf"\b{phrase}\b", " ", plain)
    words = plain.split()
    return all(word in BACKCHANNEL_WORDS or _SOUND.match(word) for word in words)


def asks_to_stop(text: str) -> bool:
    """True when ``text`` has a word callers use to stop a speaker ("stop", "wait", "sorry", "hold on")."""
    return any(word in STOP_WORDS for word in _words(text))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", _ANNOTATION.sub(" ", text.lower()).replace("-", " "))
