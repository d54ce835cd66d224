"""Sample-rate conversion with a real (band-limited) resampler."""

from __future__ import annotations

import numpy as np
import soxr

__all__ = ["resample", "to_int16"]


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Convert float audio in [-1, 1] (or any int array) to int16, clipping."""
    if samples.dtype == np.int16:
        return samples
    if np.issubdtype(samples.dtype, np.floating):
        return np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)
    return np.clip(samples, -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample mono audio from ``src_rate`` to ``dst_rate`` Hz; returns int16.

    Uses libsoxr (high quality), which releases the GIL while it works.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    pcm = to_int16(np.asarray(samples).reshape(-1))
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm.copy()
    out = soxr.resample(pcm, src_rate, dst_rate, quality="HQ")
    return to_int16(np.asarray(out))
