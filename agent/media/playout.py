"""The per-call playout buffer: 20 ms frames waiting to be sent to the caller.

Written by worker threads (``push``), read by the media clock thread
(``pop``).  Both ends are O(1): a ``collections.deque`` whose append/popleft
are atomic under the GIL, so no lock is held by the clock thread.  Each pushed
item has a tag; when its first and its last frame go out, ``pop`` hands a
:class:`~agent.frames.PlayoutProgress` to ``on_progress`` (an enqueue).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable

import numpy as np

from ..frames import FRAME_SAMPLES, PlayoutProgress

__all__ = ["PlayoutBuffer", "FRAME_BYTES"]

FRAME_BYTES = FRAME_SAMPLES * 2


class PlayoutBuffer:
    """Frames of 16 kHz int16 audio, each tagged with the item it belongs to.

    ``played`` counts, per tag, the frames already handed to the media clock,
    ``queued`` the frames pushed and ``first_out`` the time of the first one
    out: together they say what the caller actually heard (:meth:`progress`).
    ``expecting`` is set while more audio of the reply in progress is coming:
    an empty buffer then is an underrun, and is counted.  While ``held`` (the
    caller made a sound over the agent), nothing goes out and nothing is lost.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._frames: collections.deque[tuple[bytes, Hashable]] = collections.deque()
        self._clock = clock
        self._next_id = 1
        self.played: dict[Hashable, int] = {}
        self.first_out: dict[Hashable, float] = {}
        self.queued: dict[Hashable, int] = {}
        self.expecting = False
        self.held = False
        self.underruns = 0
        self.on_progress: Callable[[PlayoutProgress], None] | None = None

    def push(self, samples: np.ndarray, tag: Hashable | None = None) -> Hashable:
        """Queue 16 kHz int16 audio as one item; returns its tag (the last frame is zero-padded)."""
        pcm = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
        pad = (-len(pcm)) % FRAME_SAMPLES
        if pad:
            pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
        if tag is None:
            tag = self._next_id
            self._next_id += 1
        raw = pcm.tobytes()
        count = len(raw) // FRAME_BYTES
        self.queued[tag] = self.queued.get(tag, 0) + count
        self.played.setdefault(tag, 0)
        self._frames.extend((raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES], tag) for i in range(count))
        return tag

    def pop(self) -> bytes | None:
        """Next frame, or None when empty or held.  Runs on the media clock thread: O(1), never blocks."""
        if self.held:
            return None
        try:
            raw, tag = self._frames.popleft()
        except IndexError:
            if self.expecting:
                self.underruns += 1
            return None
        done = self.played.get(tag, 0) + 1
        self.played[tag] = done
        sink = self.on_progress
        if done == 1:
            self.first_out[tag] = self._clock()
            if sink is not None:
                sink(self.progress(tag))
        if done == self.queued.get(tag, 0) and sink is not None and done > 1:
            sink(self.progress(tag))
        return raw

    def progress(self, tag: Hashable) -> PlayoutProgress:
        """How much of item ``tag`` has gone out so far."""
        return PlayoutProgress(tag, self.played.get(tag, 0), self.queued.get(tag, 0),
                               self.first_out.get(tag, 0.0))

    def clear(self) -> int:
        """Drop every queued frame at once (barge-in); returns how many were dropped."""
        dropped = len(self._frames)
        self._frames.clear()
        self.expecting = False
        self.held = False
        return dropped

    @property
    def playing(self) -> bool:
        return bool(self._frames)

    @property
    def pending_frames(self) -> int:
        return len(self._frames)

    def heard_fraction(self, tag: Hashable) -> float:
        """Share of an item's frames that have been sent to the caller (0..1)."""
        return self.progress(tag).heard_fraction
