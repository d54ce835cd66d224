"""Serving every call's replies from one llama.cpp context, all of them in each step.

One model, one context, one thread, several calls.  The context holds a
sequence per call (:mod:`agent.dialog.batch`): what the call's last turn
evaluated stays there, so its next turn evaluates only its new words, never
the system prompt, the facts or the history again.  At each step the LLM
thread evaluates, in one batch, the next token of every reply whose caller
asked for it and a slice of the prompts of the calls whose replies start;
then it samples a token for each.  On a CPU a batch of two tokens costs less
than two steps of one, and no call waits for another's whole reply.

Who goes first still matters: a step takes a slice of one prompt only, the
neediest's (:mod:`agent.scheduler`: a waiting caller first, then speculation,
then a reply already playing with audio in hand; at one priority the call
that has had it longest), so a caller who has waited longer is not held back
by another's prompt.  While a better-ranked caller waits for a reply's first
words, a step carries that reply's token and no prompt (~35 ms, not ~250); once
the reply has audio in hand, the slice is short, so its tokens keep coming.  A
prompt nobody waits for (a call's next turn evaluated ahead, while the line is
quiet) goes in short slices too, so the speech of a call that waits for the
cores never waits long.  The step holds one compute slot at the best priority
in its batch.

A fresh reply starts from the longest prompt start any sequence holds: its
call's own (its last turn), a prefix kept at start-up (the system prompt and
the start of a turn on each topic), or another call's (their cells are
shared, not copied).  A sequence whose call has ended is dropped at once; the
idle ones are dropped, least recently used first, when the cells run out.

A request's next token is computed only once its caller asked for it
(``wanted``): a call whose synthesis is busy leaves the model to the others.
A reply just handed a token gets :data:`GRACE_SECS` to ask for the next one
before a step goes without it.

An error evaluating a step goes to the callers in it (their sequences are
dropped).  An error of the loop itself (choosing, admitting) is the LLM
thread's to handle: it calls :meth:`ReplyServer.reset`, which fails every
open request and clears the context, and serves on (:mod:`agent.dialog.llm`).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.dialog.batch import BatchContext, ContextFull, Row
from agent.metrics import METRICS
from agent.scheduler import SCHEDULER, CallDemand, Priority, bound

__all__ = ["GRACE_SECS", "MARKDOWN_RE", "POLL_SECS", "PREFILL_SLICE", "SENTENCE_END", "InjectedFault", "LlmStats",
           "ReplyServer", "Request", "RequestDone", "SHARED_SLICE", "common_prefix"]

log = logging.getLogger(__name__)

PREFILL_SLICE = 32
"""Rows a step fills with a prompt's tokens (with the replies' tokens it carries): ~0.45 s for Qwen-1.5B on
2 cores.  ggml evaluates a batch in blocks of 16 rows, below 8 rows one by one (~22 ms a row): on 2 cores 6
rows take 133 ms, 8 rows 214, 9 rows 230, 16 rows 254, 17 rows 303, 32 rows 448.  So a step with a prompt
fills up to a multiple of 16."""
SHARED_SLICE = 16
"""Rows a step fills while a better-ranked reply with audio in hand is being spoken in it, or for a prompt
nobody waits for (a call's next prompt evaluated ahead): ~0.25 s, so speech the caller waits for never waits
long for the cores (the compute slot of a step is not taken back).  While a better-ranked reply's caller waits
for its first words, a step carries no prompt at all."""
DRAFT_NGRAM = 3
"""Prompt lookup matches the last 3 tokens of a reply, else its last 2 (one token alone drafts poorly)."""
GRACE_SECS = 0.015
"""How long a reply just handed a token may take to ask for the next one before a step goes without it."""
POLL_SECS = 0.05
MARKDOWN_RE = re.compile(r"[*#`_~]")
SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True)
class LlmStats:
    """Timing of one request (seconds, monotonic clock)."""

    queue_secs: float
    """Waiting for the worker (other calls' replies)."""
    first_token_secs: float
    """From the start of generation to the first token."""
    generate_secs: float
    tokens: int
    cancelled: bool
    held_secs: float = 0.0
    """Waiting for the caller to ask for the next token (e.g. while its audio was synthesised)."""
    evaluated: int = 0
    """Prompt tokens evaluated for it: those no sequence held (a call's later turn: only its new words)."""

    @property
    def tokens_per_sec(self) -> float:
        after_first = self.generate_secs - self.first_token_secs - self.held_secs
        return (self.tokens - 1) / after_first if self.tokens > 1 and after_first > 0 else 0.0


@dataclass
class Request:
    messages: list[dict[str, str]]
    cancel: threading.Event
    max_tokens: int
    out: queue.Queue[object] = field(default_factory=queue.Queue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    t_submitted: float = 0.0
    wanted: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    """Tokens the caller asked for and has not got yet (the first one from the start)."""
    demand_driven: bool = True
    prompt: str | None = None
    """A ready ChatML prompt instead of ``messages`` (a prefix to evaluate and keep)."""
    demand: CallDemand | None = field(default_factory=bound)
    """The call it is for (the submitting thread's), which sets its priority."""
    background: bool = False
    """Nobody waits for it (a prefix evaluated ahead of the next turn)."""
    fault: bool = False
    """Test only (``SIP_AGENT_FAULT``, see :mod:`agent.dialog.llm`): its first step raises :class:`InjectedFault`
    outside the per-request error handling, as a bug in the serving loop would."""

    def stopped(self) -> bool:
        return self.cancel.is_set() or self.abandoned.is_set()

    def wait_wanted(self) -> float:
        """Block until the caller wants another token (or stops); seconds waited."""
        if not self.demand_driven or self.wanted.acquire(blocking=False):
            return 0.0
        started = time.monotonic()
        while not self.wanted.acquire(timeout=POLL_SECS):
            if self.stopped():
                break
        return time.monotonic() - started

    def rank(self) -> tuple[Priority, float]:
        """Its call's priority and since when the call has had it (see :class:`CallDemand`)."""
        if self.background:
            return Priority.BACKGROUND, self.t_submitted
        return self.demand.rank() if self.demand is not None else (Priority.WAITING, self.t_submitted)


class InjectedFault(RuntimeError):
    """The error a request marked ``fault`` raises (tests of the LLM thread's supervision)."""


@dataclass(frozen=True)
class RequestDone:
    stats: LlmStats | None


@dataclass(eq=False)
class _Seq:
    """A sequence of the context and what its cells hold."""

    id: int
    tokens: list[int] = field(default_factory=list)
    """The tokens it holds, from position 0."""
    demand: CallDemand | None = None
    """The call it is kept for (None: for any request)."""
    prefix: bool = False
    """A prompt prefix kept at start-up (never dropped for a call's)."""
    owner: _Generation | None = None
    used: float = 0.0


@dataclass(eq=False)
class _Generation:
    """A request's progress in its sequence."""

    request: Request
    tokens: list[int]
    """The prompt, then every token sampled."""
    sampler: Any
    seq: _Seq
    pending: list[int] = field(default_factory=list)
    """Tokens to evaluate before the next sample: the prompt after what the sequence held, then the last token."""
    keep: bool = False
    """A prompt prefix to evaluate and keep: nothing is sampled."""
    t_start: float = 0.0
    t_first: float = 0.0
    evaluated: int = 0
    """Prompt tokens evaluated for it (the rest were in a sequence's cells)."""
    sampled: int = 0
    emitted: int = 0
    text: bytes = b""
    """Bytes of a character not complete yet."""
    ticket: bool = False
    """The caller asked for a token this request has not delivered yet."""
    t_blocked: float = 0.0
    held: float = 0.0

    def ready(self, now: float) -> bool:
        request = self.request
        if not request.demand_driven or self.ticket:
            return True
        if request.wanted.acquire(blocking=False):
            self.ticket = True
            if self.t_blocked:
                self.held += now - self.t_blocked
            return True
        return False


class ReplyServer:
    """The requests open on the LLM thread and the step that serves them (see the module docstring).

    Only the LLM thread calls it.  ``exclusive(request)`` serves a request whole the old way (a model without
    ChatML); ``threads()`` fits and returns llama.cpp's thread count; ``tokenize(request)`` builds a request's
    prompt (None: served whole).  ``call_tokens``: what a call's prompt and reply may take of the context.
    ``draft_tokens``: the most tokens drafted for a reply alone in its step (0: none).
    """

    def __init__(self, llama: Any, context: BatchContext, *, clock: Callable[[], float], temperature: float,
                 sentence_stop_tokens: int, tokenize: Callable[[Request], list[int] | None],
                 exclusive: Callable[[Request], LlmStats], threads: Callable[[], int],
                 on_done: Callable[[Request, LlmStats], None], stop_texts: list[str], call_tokens: int,
                 draft_tokens: int = 0) -> None:
        self._llama = llama
        self.context = context
        self._clock = clock
        self.temperature = temperature
        self.sentence_stop_tokens = sentence_stop_tokens
        self._tokenize = tokenize
        self._exclusive = exclusive
        self._threads = threads
        self._on_done = on_done
        self.call_tokens = call_tokens
        self._stop_ids = {llama.token_eos()}
        for text in stop_texts:
            ids = llama.tokenize(text.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._stop_ids.add(ids[0])
        self._open: list[_Generation | Request] = []
        self._seqs = [_Seq(n) for n in range(context.n_seq)]
        self._forget = threading.Event()
        self.prefix_hits = 0
        self.call_hits = 0
        """Requests that started from a kept prefix, from their call's last turn."""
        self.shared_steps = 0
        """Steps that evaluated the tokens of more than one request."""
        self.draft_tokens = draft_tokens
        self.drafted = 0
        self.accepted = 0
        """Tokens drafted (:func:`lookup`), and those the model said as drafted."""

    # -- the LLM thread's loop ---------------------------------------------
    def admit(self, request: Request) -> None:
        self._open.append(request)

    def forget(self) -> None:
        """Drop what the idle sequences hold at the next step (the next prompts are evaluated whole)."""
        self._forget.set()

    def step(self) -> bool:
        """Evaluate one batch: the next token of every reply whose caller asked for it, and a slice of the
        prompts starting; False if no request was ready."""
        now = self._clock()
        if self._forget.is_set():
            self._forget.clear()
            for seq in self._seqs:
                if seq.owner is None:
                    self._drop(seq)
        self._drop_ended()
        calls = {id(_request(item).demand) for item in self._open if not _request(item).background}
        for item in list(self._open):
            request = _request(item)
            if request.stopped() or (request.background and request.demand is not None
                                     and id(request.demand) in calls):
                self._finish(item, cancelled=True)  # a reply for the call supersedes its prefill
        self._wait_for_readers(now)
        ready = [item for item in self._open if not isinstance(item, _Generation) or item.ready(now)]
        if any(not _request(item).background for item in self._open):
            ready = [item for item in ready if not _request(item).background]  # prefill when no reply is open
        if not ready:
            return False
        ready.sort(key=self._key)
        first = ready[0]
        if isinstance(first, Request) and first.fault:
            first.fault = False
            raise InjectedFault("injected fault (SIP_AGENT_FAULT): a reply request's first step raised")
        served = False
        batch: list[_Generation] = []
        for item in ready:
            if isinstance(item, Request):
                try:
                    started = self._start(item)
                except Exception as error:
                    log.exception("llm: a request could not start")
                    self._fail([item], error)
                    served = True
                    continue
                served = served or item not in self._open
                if started is None:
                    continue
                item = started
            batch.append(item)
        if not batch:
            return served
        try:
            self._advance(batch)
        except Exception as error:
            log.exception("llm: generation failed")
            self._fail(batch, error)
        return True

    def _fail(self, items: list[_Generation] | list[Request], error: Exception) -> None:
        """Requests whose step raised: the error goes to their callers; their sequences are dropped."""
        for item in items:
            if item in self._open:
                self._open.remove(item)
            if isinstance(item, _Generation):
                item.seq.owner = None
                self._drop(item.seq)
            _request(item).out.put(error)

    def close(self) -> None:
        for item in list(self._open):
            self._finish(item, cancelled=True)

    def reset(self, error: BaseException) -> int:
        """After the LLM thread's loop crashed: every open request gets ``error`` and the calls' sequences are
        dropped (the prefixes kept at start-up stay: complete, and evaluated by requests that succeeded);
        returns how many requests were failed."""
        failed = [_request(item) for item in self._open]
        self._open.clear()
        for request in failed:  # first: no caller waits for what follows
            request.out.put(error)
        for seq in self._seqs:
            if seq.owner is not None or not seq.prefix:
                self._drop(seq)
            seq.owner = None
        return len(failed)

    # -- choosing ------------------------------------------------------------
    @staticmethod
    def _key(item: _Generation | Request) -> tuple[Priority, float, float]:
        """The neediest first: its call's priority, then the call that has had it longest, then the oldest."""
        request = _request(item)
        return (*request.rank(), request.t_submitted)

    def _wait_for_readers(self, now: float) -> None:
        """A reply just handed a token: its caller asks for the next one within a moment.  Wait that moment
        rather than evaluate a batch without it."""
        for item in self._open:
            if not isinstance(item, _Generation) or item.ticket or not item.request.demand_driven \
                    or not item.t_blocked:
                continue
            left = GRACE_SECS - (self._clock() - item.t_blocked)
            if left > 0 and item.request.wanted.acquire(timeout=left):
                item.ticket = True
                item.held += self._clock() - item.t_blocked

    # -- sequences -------------------------------------------------------------
    def _seq_for(self, request: Request) -> _Seq | None:
        """The sequence a request starts in: its call's, else an empty one, else the least recently used idle
        one that is not a kept prefix; None if every sequence is busy (or, for a prefix, if the kept prefixes
        have half the sequences already)."""
        idle = [seq for seq in self._seqs if seq.owner is None]
        if request.prompt is not None and sum(seq.prefix for seq in self._seqs) >= self.context.n_seq // 2:
            return None  # the other half is the calls'
        if request.prompt is None:
            own = [seq for seq in idle if seq.tokens and not seq.prefix and seq.demand is request.demand]
            if own:
                return max(own, key=lambda seq: seq.used)
        empty = [seq for seq in idle if not seq.tokens]
        if empty:
            return empty[0]
        spare = [seq for seq in idle if not seq.prefix]
        if not spare:
            return None
        seq = min(spare, key=lambda seq: seq.used)
        self._drop(seq)
        return seq

    def _share(self, seq: _Seq, tokens: list[int], limit: int, request: Request) -> int:
        """Make ``seq`` hold the longest start of ``tokens`` (up to ``limit``) any sequence holds; its length."""
        source, length = seq, common_prefix(seq.tokens, tokens)
        for other in self._seqs:
            if other is not seq and len(other.tokens) > length:
                shared = common_prefix(other.tokens, tokens)
                if shared > length:
                    source, length = other, shared
        length = min(length, limit)
        if source is seq:
            self.context.keep(seq.id, length)
            del seq.tokens[length:]
        else:
            self.context.copy(source.id, seq.id, length)
            seq.tokens = tokens[:length]
        if length and source.prefix:
            self.prefix_hits += 1
            origin = "a kept prefix"
        elif length and source is seq and request.demand is not None and seq.demand is request.demand:
            self.call_hits += 1
            origin = "its call's last turn"
        else:
            origin = "another request's" if length and source is not seq else "the sequence"
        log.debug("llm: %s: %d prompt tokens, %d held from %s, %d to evaluate", request.demand or "no call",
                  len(tokens), length, origin, len(tokens) - length)
        return length

    def _drop(self, seq: _Seq) -> None:
        self.context.keep(seq.id, 0)  # also cells a failed step evaluated and its tokens do not list yet
        seq.tokens, seq.demand, seq.prefix = [], None, False

    def _drop_ended(self) -> None:
        """A call that has ended frees its sequence."""
        for seq in self._seqs:
            if seq.owner is None and seq.demand is not None and seq.demand.ended():
                self._drop(seq)

    def _drop_idle(self) -> bool:
        """Out of cells: drop every idle sequence but the kept prefixes (then those too); False if none was."""
        idle = [seq for seq in self._seqs if seq.owner is None and seq.tokens]
        drop = [seq for seq in idle if not seq.prefix] or idle
        for seq in drop:
            self._drop(seq)
        return bool(drop)

    # -- serving ---------------------------------------------------------------
    def _start(self, request: Request) -> _Generation | None:
        """A request's first step: a whole-request one is served now; otherwise its generation starts in a
        sequence (None: none is free yet)."""
        tokens = self._tokenize(request)
        if tokens is None:
            self._open.remove(request)
            self._done(request, self._exclusive(request))
            return None
        keep = request.prompt is not None
        need = len(tokens) + (0 if keep else request.max_tokens)
        if need > self.call_tokens:
            raise ValueError(f"the prompt takes {len(tokens)} tokens and its reply up to {request.max_tokens}: "
                             f"more than the {self.call_tokens} a call has in the context")
        seq = self._seq_for(request)
        if seq is None and keep:
            log.warning("llm: a prompt prefix is not kept: the kept prefixes have %d of the %d sequences",
                        self.context.n_seq // 2, self.context.n_seq)
            self._finish(request)
            return None
        if seq is None:
            return None
        start = self._share(seq, tokens, len(tokens) if keep else len(tokens) - 1, request)
        sampler = None if keep else self._llama._init_sampler(temp=self.temperature, repeat_penalty=1.1)
        generation = _Generation(request, tokens, sampler, seq, pending=tokens[start:], keep=keep,
                                 t_start=self._clock())
        seq.owner, seq.demand, seq.prefix, seq.used = generation, request.demand, keep, generation.t_start
        self._open[self._open.index(request)] = generation
        generation.ready(generation.t_start)  # takes the first token's ticket
        if keep and not generation.pending:  # a prefix held already
            self._finish(generation)
            return None
        return generation

    def _advance(self, batch: list[_Generation]) -> None:
        """Evaluate one batch for ``batch`` (neediest first) and sample a token for each reply due one."""
        rows: list[Row] = []
        sampled: list[tuple[_Generation, int]] = []
        taken: list[tuple[_Generation, int]] = []
        drafts: dict[_Generation, list[int]] = {}
        speaking = [g for g in batch if len(g.pending) == 1 and not g.keep]
        starting = [g for g in batch if g not in speaking]
        for generation in speaking:
            at = len(generation.seq.tokens)
            sampled.append((generation, len(rows)))
            rows.append(Row(generation.pending[0], at, generation.seq.id, True))
            taken.append((generation, 1))
            if self.draft_tokens and len(speaking) == 1 and not starting:  # a reply alone: draft its next words
                left = generation.request.max_tokens - generation.sampled - 1
                drafts[generation] = draft = lookup(generation.tokens, min(self.draft_tokens, left))
                rows.extend(Row(token, at + 1 + n, generation.seq.id, True) for n, token in enumerate(draft))
        behind = bool(speaking and starting and self._key(speaking[0]) < self._key(starting[0]))
        if behind and self._key(speaking[0])[0] is Priority.WAITING:
            starting = []  # a caller waits for the better-ranked reply's first words: its tokens alone, ~35 ms a step
        if starting:  # the neediest prompt alone: another's slice would hold back its first token
            generation = starting[0]
            target = PREFILL_SLICE
            if generation.request.background or behind:
                target = SHARED_SLICE  # nobody waits for it, or a better-ranked reply with audio in hand
            budget = target - len(rows) if len(rows) < target else 16 - len(rows) % 16  # whole blocks of 16 rows
            part = generation.pending[:budget]
            last = len(part) == len(generation.pending) and not generation.keep
            at = len(generation.seq.tokens)
            rows.extend(Row(token, at + n, generation.seq.id, False) for n, token in enumerate(part))
            if last:
                rows[-1] = Row(part[-1], at + len(part) - 1, generation.seq.id, True)
                sampled.append((generation, len(rows) - 1))
            taken.append((generation, len(part)))
            generation.evaluated += len(part)
        best = batch[0].request
        with SCHEDULER.slot("llm", self._threads(), demand=best.demand,
                            priority=Priority.BACKGROUND if best.background else None):
            code = self.context.decode(rows)
            if code == 1 and self._drop_idle():
                code = self.context.decode(rows)
            if code == 1:
                raise ContextFull(f"the context's {self.context.n_ctx} cells are all in use")
            if code != 0:
                raise RuntimeError(f"llama_decode returned {code}")
            tokens = [(generation, self._sample(generation, index, drafts.get(generation, [])))
                      for generation, index in sampled]
        if len(taken) > 1:
            self.shared_steps += 1
        now = self._clock()
        for generation, count in taken:
            generation.seq.tokens.extend(generation.pending[:count])
            generation.seq.used = now
            del generation.pending[:count]
            if generation.keep and not generation.pending:
                self._finish(generation)
        for generation, said in tokens:
            draft = drafts.get(generation, [])
            if draft:  # the drafts it said are in its cells; the others are dropped
                accepted = len(said) - 1
                generation.seq.tokens.extend(draft[:accepted])
                self.context.keep(generation.seq.id, len(generation.seq.tokens))
                self.drafted += len(draft)
                self.accepted += accepted
            for token in said:
                if generation not in self._open:
                    break
                self._take(generation, token)

    def _sample(self, generation: _Generation, index: int, draft: list[int]) -> list[int]:
        """The token sampled from row ``index``, then, while each is the next drafted token, the token sampled
        from that draft's row: what sampling one token at a time would say (the sampler sees each in turn)."""
        said = [self.context.sample(generation.sampler, index)]
        for n, token in enumerate(draft):
            if said[-1] != token:
                break
            said.append(self.context.sample(generation.sampler, index + 1 + n))
        return said

    def _take(self, generation: _Generation, token: int) -> None:
        request = generation.request
        if token in self._stop_ids:
            self._finish(generation)
            return
        generation.tokens.append(token)
        generation.pending = [token]
        generation.sampled += 1
        generation.text += self._llama.detokenize([token])
        try:
            text = generation.text.decode("utf-8")
        except UnicodeDecodeError:
            text = "" if len(generation.text) < 4 else generation.text.decode("utf-8", errors="ignore")
        if text:
            generation.text = b""
            now = self._clock()
            generation.emitted += 1
            if generation.emitted == 1:
                generation.t_first = now - generation.t_start - generation.held
            request.out.put(MARKDOWN_RE.sub("", text))
            generation.ticket, generation.t_blocked = False, now
            if generation.emitted >= self.sentence_stop_tokens and text.rstrip().endswith(SENTENCE_END):
                self._finish(generation)
                return
        if generation.sampled >= request.max_tokens:
            self._finish(generation)

    def _finish(self, item: _Generation | Request, cancelled: bool = False) -> None:
        if item in self._open:
            self._open.remove(item)
        if isinstance(item, Request):
            item.out.put(RequestDone(None))
            return
        request = item.request
        now = self._clock()
        item.seq.owner = None  # what it evaluated stays for the call's next turn (and others' shared prefixes)
        item.seq.used = now
        if request.demand is not None and request.demand.ended():
            self._drop(item.seq)
        stats = LlmStats(queue_secs=item.t_start - request.t_submitted, first_token_secs=item.t_first,
                         generate_secs=now - item.t_start, tokens=item.emitted,
                         cancelled=cancelled or request.cancel.is_set(), held_secs=item.held,
                         evaluated=item.evaluated)
        self._done(request, stats)

    def _done(self, request: Request, stats: LlmStats) -> None:
        self._on_done(request, stats)
        request.out.put(RequestDone(stats))


def lookup(tokens: list[int], limit: int) -> list[int]:
    """Up to ``limit`` tokens drafted by prompt lookup: those that followed the latest earlier occurrence of the
    last :data:`DRAFT_NGRAM` tokens (or the last two), in the prompt (its facts) or the reply so far."""
    if limit <= 0 or len(tokens) <= DRAFT_NGRAM:
        return []
    ids = np.asarray(tokens, dtype=np.int32)
    for n in range(DRAFT_NGRAM, 1, -1):
        windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], n)
        hits = np.flatnonzero((windows == ids[-n:]).all(axis=1))
        if hits.size:
            start = int(hits[-1]) + n
            return [int(t) for t in ids[start:start + limit]]
    return []


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _request(item: _Generation | Request) -> Request:
    return item.request if isinstance(item, _Generation) else item


def queue_wait_metric(request: Request, stats: LlmStats) -> None:
    """Record how long a reply request waited for the LLM (prefixes and prefill are not replies)."""
    if request.prompt is None and request.demand_driven:
        METRICS.llm_queue_wait(stats.queue_secs)
