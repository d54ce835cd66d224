"""The per-call session interface used by the speech path (and any other handler).

A ``CallSession`` never touches pjsua2: audio comes from the media port's
queue, goes to its playout buffer, and hang-up is posted to the SIP thread.

    session.audio         the queue of received 20 ms frames (AudioChunk, stamped on arrival)
    session.frames()      iterate received frames' samples (int16, 16 kHz)
    session.play(x, rate) queue audio at any rate (resampled with soxr)
    session.clear()       drop queued audio at once (barge-in)
    session.playing       is audio still queued?
    session.hangup()      end the call (BYE)
    session.transfer(a)   blind transfer (REFER); an ActionResult frame reports how it ended
    session.send_digits(a) DTMF out (RFC 4733); an ActionResult frame reports a failure
    session.events        DTMF and hang-up frames from the SIP side
    session.emit(t, k)    commit an event for the business to the outbox (``agent/events.py``)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .events import make_event
from .frames import SAMPLE_RATE, ActionResult, AudioChunk, Hangup
from .media.playout import PlayoutBuffer
from .media.resample import resample
from .queues import FrameQueue

if TYPE_CHECKING:
    from .outbox import Outbox

__all__ = ["CallSession", "CallHandler"]

log = logging.getLogger(__name__)


class CallSession:
    """One call as seen from worker threads."""

    def __init__(
        self,
        call_id: str,
        remote: str,
        rx: queue.SimpleQueue[AudioChunk | None],
        playout: PlayoutBuffer,
        request_hangup: Callable[[str], None],
        request_action: Callable[[Any], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self.remote = remote
        self.audio = rx
        self.playout = playout
        self._request_hangup = request_hangup
        self._request_action = request_action
        self.events = FrameQueue()
        """The call's control inbox: DTMF and hang-up from the SIP side, then every stage's reports."""
        self.ended = threading.Event()
        self.codec = ""
        self.records_dir: str | None = None
        self.on_turn: Callable[[dict[str, Any]], None] | None = None
        """Told each turn's timeline record (admission learns the box's capacity from them)."""
        self.id = str(uuid.uuid4())
        """The call's id in the events for the business (call numbers restart with the agent)."""
        self.direction = "inbound"
        self.sip_call_id = ""
        self.t_started = time.monotonic()
        self.t_started_wall = time.time()
        self.end_reason = ""
        self.transcript: list[dict[str, Any]] = []
        """What was said and done, as in the records' transcript.jsonl (kept without --records-dir too)."""
        self.outcomes: list[str] = []
        """What the call achieved for the business ("transferred", "message", "booking"), in order."""
        self.outbox: Outbox | None = None
        self._events = 0
        self.greeting: str | None = None
        """An outbound call's own greeting (None: the agent's)."""
        self.facts: tuple[tuple[str, str, str], ...] = ()
        """An outbound call's own facts (topic, key, text), besides the agent's ``--facts``."""

    # -- caller audio -------------------------------------------------
    def read_frame(self, timeout: float | None = None) -> np.ndarray | None:
        """The next received frame, or None at hang-up or on timeout."""
        if self.ended.is_set() and self.audio.empty():
            return None
        try:
            chunk = self.audio.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if chunk is None else chunk.samples

    def frames(self, timeout: float = 0.5) -> Iterator[np.ndarray]:
        """Iterate received frames until the call ends."""
        while True:
            frame = self.read_frame(timeout)
            if frame is not None:
                yield frame
            elif self.ended.is_set():
                return

    # -- agent audio --------------------------------------------------
    def play(self, samples: np.ndarray, rate: int = SAMPLE_RATE, tag: Hashable | None = None) -> Hashable:
        """Queue audio for the caller; returns its playout tag."""
        pcm = samples if rate == SAMPLE_RATE else resample(samples, rate, SAMPLE_RATE)
        return self.playout.push(pcm, tag)

    def clear(self) -> int:
        """Stop playout now (barge-in): drops every queued frame."""
        return self.playout.clear()

    @property
    def playing(self) -> bool:
        return self.playout.playing

    # -- control ------------------------------------------------------
    def hangup(self, reason: str = "agent hung up") -> None:
        """Ask the SIP thread to end the call with BYE."""
        if not self.ended.is_set():
            self._request_hangup(reason)

    def transfer(self, action: Any) -> None:
        """Ask the SIP thread to transfer the call (an :class:`~agent.dialog.actions.Transfer`)."""
        self._sip_action(action)

    def send_digits(self, action: Any) -> None:
        """Ask the SIP thread to send DTMF (a :class:`~agent.dialog.actions.SendDigits`)."""
        self._sip_action(action)

    def _sip_action(self, action: Any) -> None:
        if self.ended.is_set():
            return
        if self._request_action is None:
            self.events.put(ActionResult(action, False, "not possible on this call"))
            return
        self._request_action(action)

    def emit(self, type_: str, key: str = "", **fields: Any) -> bool:
        """Commit an event of this call to the outbox; True once it is on disk (or was already: the same
        ``key`` within a call is the same event).  No outbox: False.  A failure is logged, never raised."""
        if self.outbox is None:
            return False
        if not key:
            self._events += 1
            key = f"{self._events}"
        event = make_event(type_, f"{self.id}.{key}", self.id, **fields)
        try:
            self.outbox.commit(event)
        except Exception:
            log.exception("call %s: the %s event could not be stored in the outbox", self.call_id, type_)
            return False
        return True

    def mark_ended(self, reason: str) -> None:
        """Called by the SIP side when the call is over (any side hung up)."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        self.events.put_control(Hangup(reason))
        self.audio.put(None)


class CallHandler:
    """What runs for each answered call, on its own thread.  Subclass and override ``run``."""

    def run(self, session: CallSession) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def takes_facts(self) -> bool:
        """Whether its calls answer from facts, and so can be given a call's own."""
        return False

    hears = False
    """Whether :meth:`hear` reads words (it has a recogniser)."""

    def hear(self, audio: np.ndarray) -> str | None:
        """The words in ``audio`` (int16, 16 kHz: an outbound call's first seconds), or None: this handler has no
        recogniser."""
        return None

    def voicemail(self, session: CallSession, text: str) -> None:
        """Leave ``text`` on an answering machine (after its beep), then hang up.  This handler has no voice: it
        hangs up."""
        session.hangup("answering machine: no voice to leave a message with")

    def close(self) -> None:
        """Release shared resources at agent shutdown."""
