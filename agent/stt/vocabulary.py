"""The business's own words, given to the recogniser so that it expects them.

A small recogniser hears "Trattoria Bella" as "the tree of Bella" and
"corkage" as "cork age" unless it is told those words may come.  Whisper
takes such a hint as text "said before" the audio (its prompt); the terms
here are written as a short list that precedes every decode.

The terms come from the ``--facts`` file (the business's name and the names
written with capitals inside its facts: streets, towns, people, dishes) and
from ``--stt-vocabulary FILE`` (one term per line, ``#`` for comments).
Common words are left out on purpose: measured on 35 questions about the
example facts and 40 other phone requests in six espeak-ng voices through
PCMU, names alone changed the word error rate by -0.6 and -2.0 points, while
adding the facts' keys ("food", "dogs", "payment", "set lunch") cost +0.5
and +3.3 points: the model wrote listed words where none were said.  ``--stt-vocabulary off`` gives
none.  The list is capped (:data:`MAX_CHARS`): a long prompt costs decoding
time and makes a small model more likely to "hear" a listed word that was
not said.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.dialog.facts import Facts
from agent.errors import ConfigError

__all__ = ["MAX_CHARS", "facts_vocabulary", "load_vocabulary", "vocabulary_prompt"]

MAX_CHARS = 400
"""About 90 tokens of Whisper's 224 for what precedes the audio."""
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:[A-Z][\w'’-]*|[A-Z0-9]{2,4}\b|of|de|la|le|du))*")
_COMMON = frozenset("""
The A An And Or But If When Where What Which Who How We You They It He She I Our Your Their This That These
Those There Here Five Four Three Two One Six Seven Eight Nine Ten Go Turn Walk Cards Dogs Groups Fresh Vegetarian
Gluten Set Monday Tuesday Wednesday Thursday Friday Saturday Sunday No Yes Not From To For Only Please All Any
""".split())
"""Capitalised words that are not names (sentence starts, days: Whisper knows those)."""


def facts_vocabulary(facts: Facts) -> list[str]:
    """The terms of a business's facts a recogniser might not expect, most telling first."""
    terms = [facts.name]
    for fact in facts.facts:
        for match in _NAME.finditer(fact.text):
            name = re.sub(r"(\s+(of|de|la|le|du))+$", "", match.group().strip())
            opens = match.start() == 0 or fact.text[:match.start()].rstrip().endswith((".", "!", "?", ":", ";"))
            if len(name.split()) > 1 or not (opens or name in _COMMON or name.removesuffix("s") in _COMMON):
                terms.append(name)
    return _unique(terms)


def load_vocabulary(path: str | Path) -> list[str]:
    """``--stt-vocabulary FILE``: one term per line; a one-line ConfigError if it cannot be read."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot read --stt-vocabulary file {file}: {reason}") from None
    terms = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return _unique([term for term in terms if term])


def vocabulary_prompt(terms: list[str], max_chars: int = MAX_CHARS) -> str:
    """The terms as the text that precedes each decode ("Trattoria Bella, Harbour Street, corkage."), capped."""
    kept: list[str] = []
    used = 0
    for term in terms:
        if used + len(term) + 2 > max_chars:
            break
        kept.append(term)
        used += len(term) + 2
    return f"{', '.join(kept)}." if kept else ""


def _unique(terms: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for term in terms:
        key = term.lower()
        if key not in seen:
            seen.add(key)
            out.append(term)
    return out
