"""Keeping and restoring the KV state of llama.cpp's sequence 0: what a prompt left in the context.

A state is the tokens evaluated and their keys and values (~28 kB a token for
Qwen-1.5B), copied out of the context into a buffer and back by llama.cpp
itself, which runs without the GIL: the media clock thread, which needs the
GIL 50 times a second, never waits for a copy.  The buffer is a numpy array
made with ``np.empty``, not zeroed while holding the GIL (a ctypes array of
20 MB is: ~11 ms), and reused for the next save when it is large enough.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["KvState", "common_prefix", "load_state", "save_state"]

log = logging.getLogger(__name__)


@dataclass
class KvState:
    ids: list[int]
    """The tokens it holds, in order."""
    buffer: np.ndarray
    """Bytes (uint8): the state as llama.cpp wrote it, in its first ``size``."""
    size: int


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def save_state(llama: Any, reuse: KvState | None = None) -> KvState:
    """The context's sequence 0 as it is (``reuse``'s buffer if it is large enough)."""
    import llama_cpp

    ids = [int(t) for t in llama.input_ids[: llama.n_tokens]]
    size = llama_cpp.llama_state_seq_get_size(llama.ctx, 0)
    buffer = reuse.buffer if reuse is not None and reuse.buffer.size >= size else np.empty(size, dtype=np.uint8)
    written = llama_cpp.llama_state_seq_get_data(llama.ctx, _pointer(buffer), size, 0)
    return KvState(ids, buffer, written)


def load_state(llama: Any, state: KvState, upto: int | None = None) -> bool:
    """Make the context hold ``state`` (its first ``upto`` tokens); False (and an empty context) if it failed."""
    import llama_cpp

    upto = len(state.ids) if upto is None else min(upto, len(state.ids))
    llama._ctx.kv_cache_clear()
    if not upto or llama_cpp.llama_state_seq_set_data(llama.ctx, _pointer(state.buffer), state.size, 0) != state.size:
        llama._ctx.kv_cache_clear()
        llama.n_tokens = 0
        return False
    if upto < len(state.ids):
        llama._ctx.kv_cache_seq_rm(0, upto, -1)
    llama.input_ids[:upto] = state.ids[:upto]
    llama.n_tokens = upto
    return True


def _pointer(buffer: np.ndarray) -> Any:
    return buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
