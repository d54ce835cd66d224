"""Cut streamed reply text into chunks that text-to-speech can start on early.

The first chunk of a reply is emitted as soon as a clause is complete (a
comma, semicolon, colon or dash after ``min_first_words`` words, or any
sentence end), so the caller hears audio while the rest is still generated;
after ``phrase_words`` words it is also cut before a word that starts a
phrase ("The restaurant is open | from 12 noon..."), a natural place for a
pause that comes a few tokens sooner than the clause's end.
Later chunks are whole sentences, except that a long sentence is cut at a
clause boundary once it reaches ``clause_cut_words`` words, and text without
any punctuation is cut every ``max_words`` words (``max_first_words`` for the
first chunk).

A boundary is only decided once the character after it is known: ``"."``
ends a sentence when whitespace follows, so ``"3.5"``, ``"1,000"``, ``"..."``
and ``"10:30"`` never split, and known abbreviations (``"Dr."``, ``"e.g."``,
``"U.S."``) are not sentence ends.  Because every decision depends only on
the text before the boundary plus a bounded look-ahead, streaming a reply one
character at a time gives exactly the same chunks as pushing it whole.

Pure logic: no I/O, no clock, no threads.
"""

from __future__ import annotations

import enum
import re

__all__ = ["ABBREVIATIONS", "Chunker"]

ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc cf approx dept inc ltd corp fig mt ave gen"
    " capt lt col sgt rev hon vol".split()
)
"""Words (lower case, without their final dot) whose dot never ends a sentence."""

_SENTENCE_END = ".!?"
_CLAUSE_END = ",;:"
_CLOSERS = "\"')]}\u201d\u2019\u00bb"
_OPENERS = "\"'([{\u201c\u2018\u00ab"
_DASHES = "-\u2013\u2014"
_ELLIPSIS = "\u2026"
_INITIALS_RE = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$|^[A-Za-z]$")
_WORD_RE = re.compile(r"\w")
PHRASE_STARTS = frozenset(
    "from at on in for with by until between after before during and but or because so which who where when "
    "while if unless than".split()
)
"""Words before which the first chunk may be cut (prepositions and conjunctions; not "to", as in "like to")."""


class _Kind(enum.Enum):
    NONE = 0
    CLAUSE = 1
    SENTENCE = 2
    UNDECIDED = 3


def _count_words(text: str) -> int:
    """Number of whitespace-separated tokens that contain a letter or digit."""
    return sum(1 for token in text.split() if _WORD_RE.search(token))


class Chunker:
    """Incremental text chunker for streaming TTS (see the module docstring).

    ``push(delta)`` returns the chunks completed by ``delta``; ``flush()``
    returns what is left at the end of a reply; ``reset()`` forgets it all.
    """

    def __init__(
        self,
        min_first_words: int = 3,
        clause_cut_words: int = 12,
        max_first_words: int = 8,
        max_words: int = 25,
        phrase_words: int = 0,
    ) -> None:
        if min(min_first_words, clause_cut_words, max_first_words, max_words) < 1 or phrase_words < 0:
            raise ValueError("chunker word counts must be at least 1 (phrase_words: 0 = off)")
        self.min_first_words = min_first_words
        self.phrase_words = phrase_words
        self.clause_cut_words = clause_cut_words
        self.max_first_words = max_first_words
        self.max_words = max_words
        self._buf = ""
        self._scan = 0
        self._chunks_emitted = 0

    @property
    def chunks_emitted(self) -> int:
        """Chunks returned since the last ``reset()``."""
        return self._chunks_emitted

    def reset(self) -> None:
        """Forget pending text; the next chunk is a "first" chunk again."""
        self._buf = ""
        self._scan = 0
        self._chunks_emitted = 0

    def push(self, delta: str) -> list[str]:
        """Add streamed text; return the chunks that became complete."""
        self._buf += delta
        chunks: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                return chunks
            text = self._buf[:cut].strip()
            self._buf = self._buf[cut:].lstrip()
            self._scan = 0
            if text:
                chunks.append(text)
                self._chunks_emitted += 1

    def flush(self) -> list[str]:
        """End of reply: return the pending text as a last chunk (if speakable)."""
        text = self._buf.strip()
        self._buf = ""
        self._scan = 0
        if not _WORD_RE.search(text):
            return []
        self._chunks_emitted += 1
        return [text]

    # -- boundary search ---------------------------------------------------

    def _find_cut(self) -> int | None:
        """Index just after the next accepted boundary, or None if none yet."""
        buf = self._buf
        first = self._chunks_emitted == 0
        cap_words = self.max_first_words if first else self.max_words
        i = self._scan
        while i < len(buf):
            kind, end = self._boundary_at(buf, i)
            if kind is _Kind.UNDECIDED:
                break
            if kind is not _Kind.NONE and self._accept(kind, _count_words(buf[:end]), first):
                return end
            if first and self.phrase_words and i > 0 and buf[i - 1].isspace() and not buf[i].isspace():
                phrase = self._phrase_starts_at(buf, i)
                if phrase is None:
                    break  # the word is not complete yet
                if phrase:
                    return i
            word_ended = buf[i].isspace() and i > 0 and not buf[i - 1].isspace()
            if word_ended and _count_words(buf[:i]) >= cap_words:
                return i
            i += 1
        self._scan = i
        return None

    def _phrase_starts_at(self, buf: str, i: int) -> bool | None:
        """Does a phrase start with the word at ``i``, after enough words? None: the word is not complete."""
        end = i
        while end < len(buf) and not buf[end].isspace():
            end += 1
        if end >= len(buf):
            return None
        return buf[i:end].lower() in PHRASE_STARTS and _count_words(buf[:i]) >= self.phrase_words

    def _accept(self, kind: _Kind, words: int, first: bool) -> bool:
        if words < 1:
            return False
        if kind is _Kind.SENTENCE:
            return True
        return words >= (self.min_first_words if first else self.clause_cut_words)

    def _boundary_at(self, buf: str, i: int) -> tuple[_Kind, int]:
        """Classify position ``i``: (kind, index just after the boundary)."""
        char = buf[i]
        if char in _SENTENCE_END or char in _CLAUSE_END or char == _ELLIPSIS:
            return self._punctuation_at(buf, i)
        if char in _DASHES:
            return self._dash_at(buf, i)
        if char == "\n":
            return _Kind.SENTENCE, i + 1  # a line break ends a line of a list
        return _Kind.NONE, i

    def _punctuation_at(self, buf: str, i: int) -> tuple[_Kind, int]:
        j = i + 1
        if j < len(buf) and (buf[j] in _SENTENCE_END or buf[j] in _CLAUSE_END):
            return _Kind.NONE, i  # "?!", "...", ".," : decide at the last mark
        while j < len(buf) and buf[j] in _CLOSERS:
            j += 1
        if j >= len(buf):
            return _Kind.UNDECIDED, i
        if not buf[j].isspace():
            return _Kind.NONE, i  # "3.5", "1,000", "10:30", "e.g" so far
        char = buf[i]
        if char == _ELLIPSIS or char in _CLAUSE_END:
            return _Kind.CLAUSE, j
        if char == "." and i > 0 and buf[i - 1] == ".":
            return _Kind.CLAUSE, j  # an ellipsis "..." is a pause, not an end
        if char == "." and _is_abbreviation(buf, i):
            return _Kind.NONE, i
        return _Kind.SENTENCE, j

    def _dash_at(self, buf: str, i: int) -> tuple[_Kind, int]:
        j = i + 1
        if j >= len(buf):
            return _Kind.UNDECIDED, i
        if buf[j] in _DASHES:
            return _Kind.NONE, i  # decide at the last dash of "--"
        prev = buf[i - 1] if i > 0 else " "
        spaced = prev.isspace() and buf[j].isspace()
        doubled = buf[i] == "-" and prev == "-"
        em_dash = buf[i] == "\u2014" and not (prev.isdigit() and buf[j].isdigit())
        if spaced or doubled or em_dash:
            return _Kind.CLAUSE, j
        return _Kind.NONE, i  # "well-known", "1-2", "pages 3\u20135"


def _is_abbreviation(buf: str, dot_index: int) -> bool:
    """True if the word ending at ``buf[dot_index] == "."`` is an abbreviation."""
    start = dot_index
    while start > 0 and not buf[start - 1].isspace():
        start -= 1
    word = buf[start:dot_index].lstrip(_OPENERS)
    if not word:
        return False
    return word.lower() in ABBREVIATIONS or bool(_INITIALS_RE.match(word))
