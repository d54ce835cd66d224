"""The outbox: every event for the business is committed here before anything is sent.

One SQLite file (``outbox.sqlite3`` in the state directory) in WAL mode with
``synchronous=FULL``: a commit has reached the disk when :meth:`Outbox.commit`
returns, so a process killed (or a box that loses power) right after it loses
nothing.  The webhook sender (:mod:`agent.webhook`) reads the pending rows,
oldest first, and marks each delivered once the business's server answered
2xx.  A row is sent as the exact bytes stored (never serialised again), so a
retry after a crash between the answer and the mark is the same body with the
same ``id``: the receiver keeps the first and ignores the rest.

Rows are keyed by the event's ``id``: committing the same event twice (a reply
prepared twice) stores it once.  Delivered rows are pruned after
``KEEP_DELIVERED_DAYS``; pending ones are never dropped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["Outbox", "Row", "state_dir", "OUTBOX_FILE", "KEEP_DELIVERED_DAYS"]

OUTBOX_FILE = "outbox.sqlite3"
KEEP_DELIVERED_DAYS = 30
BUSY_TIMEOUT_SECS = 10.0
"""How long a commit waits for another process (``sip-agent outbox --send``) holding the write lock."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    call_id TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    delivered REAL,
    last_status INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pending ON outbox(next_attempt, seq) WHERE delivered IS NULL;
"""


def state_dir(configured: str = "") -> Path:
    """Where the agent keeps what must survive a restart: ``--state-dir``, else systemd's ``$STATE_DIRECTORY``,
    else ``$XDG_STATE_HOME/sip-agent``, else ``~/.local/state/sip-agent``."""
    if configured:
        return Path(configured)
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = os.environ.get("XDG_STATE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "sip-agent"


@dataclass(frozen=True)
class Row:
    """One event in the outbox."""

    seq: int
    id: str
    type: str
    call_id: str
    body: bytes
    created: float
    attempts: int
    next_attempt: float
    delivered: float | None
    last_status: int | None
    last_error: str | None

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


_COLUMNS = "seq, id, type, call_id, body, created, attempts, next_attempt, delivered, last_status, last_error"


class Outbox:
    """The outbox file, shared by the threads of one process (one connection, a lock) and by other processes
    (SQLite's locks).  Thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / OUTBOX_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECS, isolation_level=None,
                                       check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open the outbox {self.path}: {exc}") from None
        if str(mode).lower() != "wal":
            raise UsageError(f"the outbox {self.path} cannot use a write-ahead log (journal mode {mode}): "
                             "is the state directory on a network file system?")
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        """Notified after each commit (the sender waits on it)."""

    def commit(self, event: dict[str, Any]) -> bool:
        """Store ``event`` (its ``id`` is the key) durably; False if that id was stored already."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox(id, type, call_id, body, created) VALUES (?, ?, ?, ?, ?)",
                (event["id"], event["type"], event.get("call_id", ""), body, time.time()))
            self.changed.notify_all()
            return cur.rowcount == 1

    def due(self, now: float) -> Row | None:
        """The oldest pending row whose next attempt is due."""
        with self._lock:
            found = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE delivered IS NULL AND next_attempt <= ? "
                                     "ORDER BY seq LIMIT 1", (now,)).fetchone()
        return Row(*found) if found else None

    def next_due(self) -> float | None:
        """When the next pending row is due (None: nothing pending)."""
        with self._lock:
            found = self._db.execute("SELECT MIN(next_attempt) FROM outbox WHERE delivered IS NULL").fetchone()
        return None if found[0] is None else float(found[0])

    def delivered(self, row: Row, status: int) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET delivered = ?, attempts = attempts + 1, last_status = ?, "
                             "last_error = NULL WHERE id = ?", (time.time(), status, row.id))

    def failed(self, row: Row, status: int | None, error: str, retry_at: float) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, last_status = ?, last_error = ?, "
                             "next_attempt = ? WHERE id = ?", (status, error[:500], retry_at, row.id))

    def retry_now(self) -> int:
        """Make every pending row due at once; how many there are."""
        with self._lock:
            return self._db.execute("UPDATE outbox SET next_attempt = 0 WHERE delivered IS NULL").rowcount

    def rows(self, pending_only: bool = True, limit: int = 1000) -> list[Row]:
        where = "WHERE delivered IS NULL" if pending_only else ""
        with self._lock:
            found = self._db.execute(f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY seq DESC LIMIT ?",
                                     (limit,)).fetchall()
        return [Row(*r) for r in reversed(found)]

    def counts(self) -> tuple[int, int]:
        """(pending, delivered)."""
        with self._lock:
            pending, total = self._db.execute(
                "SELECT COALESCE(SUM(delivered IS NULL), 0), COUNT(*) FROM outbox").fetchone()
        return int(pending), int(total) - int(pending)

    def prune(self, days: float = KEEP_DELIVERED_DAYS) -> int:
        """Forget rows delivered more than ``days`` ago."""
        with self._lock:
            return self._db.execute("DELETE FROM outbox WHERE delivered IS NOT NULL AND delivered < ?",
                                    (time.time() - days * 86400,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
