"""The per-call playout buffer: 20 ms frames waiting to be sent to the caller.

Written by worker threads (``push``), read by the media clock thread
(``pop``).  Both ends are O(1): a ``collections.deque`` whose append/popleft
are atomic under the GIL, so no lock is held by the clock thread.
"""

from __future__ import annotations

import collections
import time
from typing import Callable

import numpy as np

from ..frames import FRAME_SAMPLES

__all__ = ["PlayoutBuffer", "FRAME_BYTES"]

FRAME_BYTES = FRAME_SAMPLES * 2


class PlayoutBuffer:
    """Frames of 16 kHz int16 audio tagged with the id of the item they belong to.

    ``played`` maps an item id to the number of its frames already handed to
    the media clock, and ``first_out`` to the monotonic time of its first
    frame: together they tell what the caller actually heard.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._frames: collections.deque[tuple[bytes, int]] = collections.deque()
        self._clock = clock
        self._next_id = 1
        self.played: dict[int, int] = {}
        self.first_out: dict[int, float] = {}
        self.queued: dict[int, int] = {}
        self.underruns = 0

    def push(self, samples: np.ndarray) -> int:
        """Queue 16 kHz int16 audio; returns the item id (the last frame is zero-padded)."""
        pcm = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
        pad = (-len(pcm)) % FRAME_SAMPLES
        if pad:
            pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
        item = self._next_id
        self._next_id += 1
        raw = pcm.tobytes()
        count = len(raw) // FRAME_BYTES
        self.queued[item] = count
        self.played[item] = 0
        self._frames.extend(
            (raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES], item) for i in range(count)
        )
        return item

    def pop(self) -> bytes | None:
        """Next frame, or None when empty.  Runs on the media clock thread: O(1)."""
        try:
            raw, item = self._frames.popleft()
        except IndexError:
            return None
        done = self.played.get(item, 0)
        if done == 0:
            self.first_out[item] = self._clock()
        self.played[item] = done + 1
        return raw

    def clear(self) -> int:
        """Drop every queued frame at once (barge-in); returns how many were dropped."""
        dropped = len(self._frames)
        self._frames.clear()
        return dropped

    @property
    def playing(self) -> bool:
        return bool(self._frames)

    @property
    def pending_frames(self) -> int:
        return len(self._frames)

    def heard_fraction(self, item: int) -> float:
        """Share of an item's frames that have been sent to the caller (0..1)."""
        total = self.queued.get(item, 0)
        return 1.0 if total == 0 else min(1.0, self.played.get(item, 0) / total)
