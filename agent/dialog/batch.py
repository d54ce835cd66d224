"""A llama.cpp context with a sequence per call, decoded in batches.

One KV cache of ``n_ctx`` cells is shared by every sequence (``kv_unified``):
a prompt prefix that several sequences start with (the system prompt, a
topic's facts) is stored once, and copying it to another sequence only marks
its cells as that sequence's too.  One :meth:`BatchContext.decode` evaluates
rows of several sequences at once (each its own token at its own position),
with llama.cpp's threads and without the GIL.

llama-cpp-python's ``Llama`` class serves one sequence; this context is made
on the same loaded model through its low-level API, and ``Llama`` keeps the
tokenizer, the metadata and the path for models without ChatML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BatchContext", "ContextFull", "Row"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One token to evaluate: at ``pos`` of sequence ``seq``; ``logits``: its next token will be sampled."""

    token: int
    pos: int
    seq: int
    logits: bool


class ContextFull(RuntimeError):
    """No free cells for a batch, even after the idle sequences were dropped."""


class BatchContext:
    """The context (only the LLM thread uses it)."""

    def __init__(self, llama: Any, *, n_ctx: int, n_seq: int, n_batch: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaContext

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self._context = LlamaContext(model=llama._model, params=params, verbose=False)
        self.ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self.ctx))
        self.n_seq = n_seq
        self.n_batch = n_batch
        self.decodes = 0
        """Batches decoded (tests count them)."""
        self.rows = 0
        """Rows evaluated in all (tests count them)."""
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        batch = self._batch
        self._token = np.ctypeslib.as_array(batch.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(batch.pos, shape=(n_batch,))
        self._n_seq_id = np.ctypeslib.as_array(batch.n_seq_id, shape=(n_batch,))
        self._logits = np.ctypeslib.as_array(batch.logits, shape=(n_batch,))
        self._seq_ids = [batch.seq_id[i] for i in range(n_batch)]

    def decode(self, rows: list[Row]) -> int:
        """Evaluate ``rows`` (at most ``n_batch``) in one batch: llama.cpp's code (0 done, 1 no free cells)."""
        if not 0 < len(rows) <= self.n_batch:
            raise ValueError(f"a batch of {len(rows)} rows (1 to {self.n_batch})")
        for i, row in enumerate(rows):
            self._token[i] = row.token
            self._pos[i] = row.pos
            self._n_seq_id[i] = 1
            self._seq_ids[i][0] = row.seq
            self._logits[i] = row.logits
        self._batch.n_tokens = len(rows)
        code = int(self._lib.llama_decode(self.ctx, self._batch))
        if code == 0:
            self.decodes += 1
            self.rows += len(rows)
        return code

    def sample(self, sampler: Any, index: int) -> int:
        """Sample the next token from the logits of the batch's row ``index`` (a ``LlamaSampler``)."""
        return int(self._lib.llama_sampler_sample(sampler.sampler, self.ctx, index))

    def keep(self, seq: int, upto: int) -> None:
        """Sequence ``seq`` keeps its first ``upto`` tokens (0: none)."""
        self._lib.llama_memory_seq_rm(self._memory, seq, upto if upto > 0 else -1, -1)

    def copy(self, source: int, seq: int, upto: int) -> None:
        """Sequence ``seq`` becomes the first ``upto`` tokens of ``source`` (their cells are shared)."""
        self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        if upto > 0:
            self._lib.llama_memory_seq_cp(self._memory, source, seq, 0, upto)

    def length(self, seq: int) -> int:
        """Tokens sequence ``seq`` holds (its next position)."""
        return int(self._lib.llama_memory_seq_pos_max(self._memory, seq)) + 1

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)

    def set_threads(self, threads: int) -> None:
        self._lib.llama_set_n_threads(self.ctx, threads, threads)

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        self._context.close()
