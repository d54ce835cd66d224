"""The playout buffer (pure): frames out in order, progress reported at each item's start and end,
underruns counted only while more of a reply is expected."""

from __future__ import annotations

import numpy as np

from agent.frames import FRAME_SAMPLES, PlayoutProgress
from agent.media.playout import FRAME_BYTES, PlayoutBuffer


def test_items_go_out_in_order_with_progress_at_start_and_end() -> None:
    ticks = iter(float(n) for n in range(100))
    playout = PlayoutBuffer(clock=lambda: next(ticks))
    seen: list[PlayoutProgress] = []
    playout.on_progress = seen.append
    first = playout.push(np.ones(3 * FRAME_SAMPLES, dtype=np.int16), tag=("r", 0))
    second = playout.push(np.ones(FRAME_SAMPLES + 1, dtype=np.int16), tag=("r", 1))  # padded to 2 frames
    out = [playout.pop() for _ in range(5)]
    assert all(raw is not None and len(raw) == FRAME_BYTES for raw in out)
    assert playout.pop() is None and not playout.playing
    assert seen == [PlayoutProgress(first, 1, 3, 0.0, t=seen[0].t), PlayoutProgress(first, 3, 3, 0.0, t=seen[1].t),
                    PlayoutProgress(second, 1, 2, 1.0, t=seen[2].t), PlayoutProgress(second, 2, 2, 1.0, t=seen[3].t)]
    assert seen[1].done and not seen[2].done and seen[2].heard_fraction == 0.5


def test_clear_drops_what_is_queued_and_progress_says_what_went_out() -> None:
    playout = PlayoutBuffer()
    tag = playout.push(np.ones(10 * FRAME_SAMPLES, dtype=np.int16))
    for _ in range(4):
        playout.pop()
    assert playout.clear() == 6 and playout.pending_frames == 0
    progress = playout.progress(tag)
    assert (progress.played, progress.total, progress.heard_fraction) == (4, 10, 0.4)


def test_an_empty_buffer_is_an_underrun_only_while_more_audio_is_expected() -> None:
    playout = PlayoutBuffer()
    assert playout.pop() is None and playout.underruns == 0  # the line is quiet
    playout.push(np.ones(FRAME_SAMPLES, dtype=np.int16))
    playout.expecting = True  # the next chunk of the reply is still being synthesised
    playout.pop()
    assert playout.pop() is None and playout.pop() is None
    assert playout.underruns == 2
    playout.clear()  # an interrupt: nothing more is coming
    assert playout.pop() is None and playout.underruns == 2
