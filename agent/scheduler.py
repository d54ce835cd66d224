"""One compute scheduler for every call: who gets the cores next.

Whisper, llama.cpp and Piper each run a pool of threads as wide as the box.
Run at once they oversubscribe the cores, and their spin-waiting threads make
every one of them slow.  So each unit of native work (a Whisper decode, one
Piper synthesis, one LLM step of a token or a slice of prompt) first takes a
*slot* of :data:`SCHEDULER`, weighted by its threads: never more threads run
than there are cores.  When the cores are busy, the waiting work is served
by the priority of its call at that moment, then by how long the call has been
at that priority (the caller who has waited longest first: the second of two
callers who stop speaking together waits for the first one's first clause,
rather than both waiting for both), then in order of arrival:

    WAITING      a caller waits for this: from the end of its speech to the
                 reply's first audio, or a reply about to run out of audio
    SPECULATIVE  the caller is speaking or pausing: decodes at its pauses, a
                 reply prepared before the endpoint
    AHEAD        a reply is playing with audio in hand: its later clauses
    BACKGROUND   nothing anyone waits for (prompt prefill)

A call's priority comes from its :class:`CallDemand` (its turn state and the
reply audio ready ahead of the caller); the stage threads of a call are bound
to it (:func:`bind`), so an engine takes a slot for the call it is working
for without being told.  The media clock threads never take slots.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from agent.compute import usable_cores
from agent.metrics import METRICS
from agent.turn.state import State

__all__ = ["LOW_AHEAD_SECS", "SCHEDULER", "CallDemand", "CallEnded", "ComputeScheduler", "Priority", "bind", "bound",
           "turn_priority"]

log = logging.getLogger(__name__)

LOW_AHEAD_SECS = 0.6
"""A playing reply with less audio than this ready ahead of the caller is about to fall silent: its work is
as urgent as a first answer."""


ENDED_POLL_SECS = 0.05
"""How often work that waits for a slot looks whether its call has ended (``until_ended``)."""


class CallEnded(RuntimeError):
    """The call a slot was asked for ended while it waited: the work is not to be done."""


class Priority(enum.IntEnum):
    WAITING = 0
    SPECULATIVE = 1
    AHEAD = 2
    BACKGROUND = 3


_PLAYING = (State.SPEAKING, State.PAUSED, State.GOODBYE, State.TRANSFERRING)


def turn_priority(state: State, audio_ahead_secs: float) -> Priority:
    """The priority of a call's work, from its turn state (pure)."""
    if state is State.THINKING:
        return Priority.WAITING
    if state in _PLAYING:
        return Priority.WAITING if audio_ahead_secs < LOW_AHEAD_SECS else Priority.AHEAD
    if state is State.ENDED:
        return Priority.BACKGROUND
    return Priority.SPECULATIVE  # listening, speculating, held, interrupted, discarded: the caller speaks


class CallDemand:
    """How urgent a call's work is right now (read by the scheduler from any thread)."""

    def __init__(self, name: str, state: Callable[[], State], audio_ahead_secs: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._state = state
        self._ahead = audio_ahead_secs
        self._clock = clock
        self._last: tuple[Priority, float] | None = None

    def priority(self) -> Priority:
        state = self._state()
        return turn_priority(state, self._ahead() if state in _PLAYING else 0.0)

    def ended(self) -> bool:
        return self._state() is State.ENDED

    def rank(self) -> tuple[Priority, float]:
        """The priority now and since when the call has had it (first seen: it is read at every grant)."""
        priority = self.priority()
        last = self._last
        if last is None or last[0] is not priority:
            last = self._last = (priority, self._clock())
        return last

    def __repr__(self) -> str:
        return f"CallDemand({self.name})"


_local = threading.local()


def bind(demand: CallDemand | None) -> None:
    """Work done on the calling thread from now on is for this call (None: for no call)."""
    _local.demand = demand


def bound() -> CallDemand | None:
    """The call the calling thread works for, if any."""
    return getattr(_local, "demand", None)


@dataclass
class _Ticket:
    demand: CallDemand | None
    fixed: Priority | None
    weight: int
    arrival: float
    granted: threading.Event = field(default_factory=threading.Event)
    at: Priority = Priority.WAITING
    """The priority it was granted at."""

    def rank(self) -> tuple[Priority, float]:
        if self.fixed is not None:
            return self.fixed, self.arrival
        return self.demand.rank() if self.demand is not None else (Priority.WAITING, self.arrival)


class ComputeScheduler:
    """Slots on the cores, granted by priority (see the module docstring).  Thread-safe."""

    def __init__(self, capacity: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity or usable_cores()
        self._clock = clock
        self._lock = threading.Lock()
        self._used = 0
        self._waiting: list[_Ticket] = []
        self.granted = {p: 0 for p in Priority}
        """Slots granted, by priority at the grant."""

    @contextmanager
    def slot(self, kind: str, weight: int = 1, *, demand: CallDemand | None = None,
             priority: Priority | None = None, until_ended: bool = False) -> Iterator[Priority]:
        """Hold a slot of ``weight`` threads for ``kind`` work; yields the priority it was granted at.

        ``demand`` defaults to the call the thread is bound to; ``priority`` overrides the call's.
        ``until_ended``: if the call ends while the work waits, its ticket is withdrawn and :class:`CallEnded`
        raised (work nobody will hear, such as speech for a caller who has hung up; never a caller's words,
        which reach the transcript).
        """
        ticket = _Ticket(demand if demand is not None else bound(), priority, max(1, min(weight, self.capacity)),
                         self._clock())
        with self._lock:
            self._waiting.append(ticket)
            self._dispatch()
        if until_ended and ticket.demand is not None:
            while not ticket.granted.wait(ENDED_POLL_SECS):
                if ticket.demand.ended():
                    with self._lock:
                        if not ticket.granted.is_set():
                            self._waiting.remove(ticket)
                            self._dispatch()  # it may have been the one the others waited behind
                            raise CallEnded(f"{kind} work for {ticket.demand.name}: the call has ended")
        ticket.granted.wait()
        METRICS.compute_wait(kind, ticket.at.name.lower(), self._clock() - ticket.arrival)
        try:
            yield ticket.at
        finally:
            with self._lock:
                self._used -= ticket.weight
                self._dispatch()

    def _dispatch(self) -> None:
        """Grant waiting tickets while they fit, best first."""
        while self._waiting:
            ranked = [(*t.rank(), t.arrival, t) for t in self._waiting]
            best = min(ranked, key=lambda r: r[:3])
            ticket = best[3]
            if self._used and self._used + ticket.weight > self.capacity:
                break
            self._waiting.remove(ticket)
            self._used += ticket.weight
            self.granted[best[0]] += 1
            ticket.at = best[0]
            ticket.granted.set()


SCHEDULER = ComputeScheduler()
"""The process's one scheduler."""
