"""The one reader of the agent's per-call records (``--records-dir``).

The agent writes one folder per answered call, ``<YYYYmmdd-HHMMSS>-call<N>``
(``N`` counts the calls of one agent run from 1), holding ``audio.wav``
(caller left, agent right), ``transcript.jsonl`` (what was said, one line per
utterance) and ``timeline.jsonl`` (one line per turn, ``time.monotonic()``
marks and stage durations).  The demo, the benchmark and the tests read them
through here; the writers are ``agent/app.py`` and the call's conversation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["AUDIO", "TRANSCRIPT", "TIMELINE", "call_folders", "call_number", "read_jsonl", "timeline",
           "timelines", "transcript", "user_texts"]

AUDIO = "audio.wav"
TRANSCRIPT = "transcript.jsonl"
TIMELINE = "timeline.jsonl"

_FOLDER = re.compile(r"^(\d{8}-\d{6})-call(\d+)$")


def call_number(folder: Path) -> int:
    """The call number in a call folder's name (1 for the first call of an agent run)."""
    match = _FOLDER.match(folder.name)
    if match is None:
        raise ValueError(f"not a call folder: {folder}")
    return int(match.group(2))


def call_folders(records_dir: Path) -> list[Path]:
    """The call folders in ``records_dir``, oldest first (none if it does not exist).

    Sorted by call number within one agent run; folders left by earlier runs
    (whose numbers start again at 1) come before, by the time in their names.
    """
    if not records_dir.is_dir():
        return []
    found = [(m.group(1), int(m.group(2)), p) for p in records_dir.iterdir()
             if p.is_dir() and (m := _FOLDER.match(p.name))]
    return [p for _stamp, _number, p in sorted(found, key=lambda f: (f[0], f[1]))]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; none if it does not exist.

    A last line without its newline is one still being written and is left out.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete (or empty)
    return [json.loads(line) for line in lines if line.strip()]


def transcript(folder: Path) -> list[dict[str, Any]]:
    """A call's utterances: ``role`` (user | assistant), ``text``, ``interrupted``, times."""
    return read_jsonl(folder / TRANSCRIPT)


def timeline(folder: Path) -> list[dict[str, Any]]:
    """A call's turns: ``t_end_of_speech``, ``stages_ms``, ``voice_to_voice_ms``, ..."""
    return read_jsonl(folder / TIMELINE)


def timelines(records_dir: Path) -> list[dict[str, Any]]:
    """Every turn of every call in ``records_dir``, in call order."""
    return [turn for folder in call_folders(records_dir) for turn in timeline(folder)]


def user_texts(folders: list[Path]) -> list[str]:
    """What the agent heard the caller say in these calls, turn by turn."""
    return [str(u.get("text", "")) for folder in folders for u in transcript(folder) if u.get("role") == "user"]
