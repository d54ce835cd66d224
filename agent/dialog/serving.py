"""Serving every call's replies from one llama.cpp context, a token at a time.

One model, one context, one thread, several calls.  Served one reply after
another, a caller who has just stopped speaking waits for another call's whole
reply.  Here the LLM thread keeps every open request and, at each step, serves
the one whose call needs it most (:mod:`agent.scheduler`: a waiting caller
first, then speculation, then a reply already playing with audio in hand;
at one priority the call that has had it longest): it evaluates the request's
next token (or the next slice of its prompt, so a long prompt cannot hold the
cores either) and samples one token.

Switching from one request to another keeps the first one's KV state of
sequence 0 (the tokens it has evaluated, ~28 kB a token for Qwen-1.5B) and
loads the other's.  A fresh request starts from the longest of: what the
context holds, or a prompt prefix kept at start-up.

A request's next token is computed only once its caller asked for it
(``wanted``): a call whose synthesis is busy leaves the model to the others.
The request that has the context gets :data:`GRACE_SECS` to ask for its next
token before another is served, so a reply is not switched out at every token.

An error serving one request goes to that request's caller (the context
starts afresh).  An error of the loop itself (choosing, admitting) is the LLM
thread's to handle: it calls :meth:`ReplyServer.reset`, which fails every open
request and clears the context, and serves on (:mod:`agent.dialog.llm`).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.dialog.kvstate import KvState, common_prefix, load_state, save_state
from agent.metrics import METRICS
from agent.scheduler import SCHEDULER, CallDemand, Priority, bound

__all__ = ["GRACE_SECS", "MARKDOWN_RE", "POLL_SECS", "PREFILL_SLICE", "SENTENCE_END", "InjectedFault", "LlmStats",
           "ReplyServer", "Request", "RequestDone"]

log = logging.getLogger(__name__)

PREFILL_SLICE = 32
"""Prompt tokens evaluated in one step (a slice of 32 takes ~0.3 s for Qwen-1.5B on 2 cores)."""
KEPT_CALLS = 8
"""Calls whose last reply's state is kept for their next turn (~10-30 MB each for Qwen-1.5B)."""
GRACE_SECS = 0.015
"""How long the request that has the context may take to ask for its next token before another is served."""
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


@dataclass
class _Generation:
    """A request's progress in the shared context."""

    request: Request
    tokens: list[int]
    """The prompt, then every token sampled."""
    sampler: Any
    pending: list[int] = field(default_factory=list)
    """Tokens to evaluate before the next sample (None yet: the prompt, from where the context diverges)."""
    saved: KvState | None = None
    """While another request has the context: what this one had evaluated."""
    parked: KvState | None = None
    """The last state saved (its buffer is reused)."""
    t_start: float = 0.0
    t_first: float = 0.0
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
    """The requests open on the LLM thread and the step that serves the neediest (see the module docstring).

    Only the LLM thread calls it.  ``exclusive(request)`` serves a request whole
    the old way (a prefix to keep, a model without ChatML); ``threads()`` fits and returns llama.cpp's
    thread count; ``tokenize(messages)`` builds a request's prompt.
    """

    def __init__(self, llama: Any, *, clock: Callable[[], float], temperature: float, sentence_stop_tokens: int,
                 tokenize: Callable[[Request], list[int] | None],
                 exclusive: Callable[[Request], LlmStats], threads: Callable[[], int],
                 on_done: Callable[[Request, LlmStats], None], stop_texts: list[str]) -> None:
        self._llama = llama
        self._clock = clock
        self.temperature = temperature
        self.sentence_stop_tokens = sentence_stop_tokens
        self._tokenize = tokenize
        self._exclusive = exclusive
        self._threads = threads
        self._on_done = on_done
        self._stop_ids = {llama.token_eos()}
        for text in stop_texts:
            ids = llama.tokenize(text.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._stop_ids.add(ids[0])
        self._open: list[_Generation | Request] = []
        self._owner: _Generation | None = None
        self.prefixes: list[KvState] = []
        """Prompt prefixes kept at start-up (the system prompt and the start of a turn on each topic)."""
        self._kept: OrderedDict[int, KvState] = OrderedDict()
        """By call: what its last reply left in the context."""
        self.prefix_hits = 0
        self.call_hits = 0
        """Requests that started from a kept prefix, from their call's last reply."""
        self.switches = 0
        """Times the context went from one unfinished request to another."""

    # -- the LLM thread's loop ---------------------------------------------
    def admit(self, request: Request) -> None:
        self._open.append(request)

    def step(self) -> bool:
        """Serve one step of the neediest request that is ready; False if none was."""
        now = self._clock()
        replies = any(not _request(item).background for item in self._open)
        for item in list(self._open):
            request = _request(item)
            if request.stopped() or (replies and request.background and isinstance(item, Request)):
                self._finish(item, cancelled=True)  # a prefill would only push a reply's state out
        self._owner_asks_soon(now)
        ready = [item for item in self._open if not isinstance(item, _Generation) or item.ready(now)]
        if not ready:
            return False
        chosen = self._choose(ready)
        if isinstance(chosen, Request) and chosen.fault:
            chosen.fault = False
            raise InjectedFault("injected fault (SIP_AGENT_FAULT): a reply request's first step raised")
        try:
            generation = self._start(chosen) if isinstance(chosen, Request) else chosen
            if generation is not None:
                self._advance(generation)
        except Exception as error:
            log.exception("llm: generation failed")
            self._fail(chosen, error)
        return True

    def _fail(self, item: _Generation | Request, error: Exception) -> None:
        """A request whose step raised: the error goes to its caller; the context starts afresh."""
        for open_item in list(self._open):
            if open_item is item or (isinstance(open_item, _Generation) and open_item.request is _request(item)):
                self._open.remove(open_item)
        if self._owner is None or self._owner.request is _request(item):
            self._owner = None
            self._llama._ctx.kv_cache_clear()
            self._llama.n_tokens = 0
        _request(item).out.put(error)

    def close(self) -> None:
        for item in list(self._open):
            self._finish(item, cancelled=True)

    def reset(self, error: BaseException) -> int:
        """After the LLM thread's loop crashed: every open request gets ``error``, the context and the calls'
        kept states are cleared; returns how many requests were failed.

        The prefixes kept at start-up stay: copies made then, outside the context, by requests that succeeded.
        """
        failed = [_request(item) for item in self._open]
        self._open.clear()
        self._owner = None
        self._kept.clear()
        for request in failed:  # first: no caller waits for what follows
            request.out.put(error)
        self._llama._ctx.kv_cache_clear()
        self._llama.n_tokens = 0
        return len(failed)

    # -- choosing ------------------------------------------------------------
    def _choose(self, ready: list[_Generation | Request]) -> _Generation | Request:
        """The neediest: its call's priority, then the call that has had it longest, then the request that
        has the context, then the oldest."""
        def key(item: _Generation | Request) -> tuple[Priority, float, bool, float]:
            request = _request(item)
            return (*request.rank(), item is not self._owner, request.t_submitted)

        return min(ready, key=key)

    def _owner_asks_soon(self, now: float) -> None:
        """The request that has the context was just handed a token: its caller asks for the next one within
        a moment.  Wait that moment rather than switch to another request and back."""
        owner = self._owner
        if owner is None or owner.ticket or not owner.request.demand_driven or owner not in self._open:
            return
        left = GRACE_SECS - (now - owner.t_blocked)
        if left > 0 and owner.request.wanted.acquire(timeout=left):
            owner.ticket = True
            owner.held += self._clock() - owner.t_blocked

    # -- serving ---------------------------------------------------------------
    def _start(self, request: Request) -> _Generation | None:
        """A request's first step: a whole-request one is served now; otherwise its generation starts."""
        tokens = self._tokenize(request)
        if tokens is None:
            self._open.remove(request)
            self._park_owner()  # the whole-request path uses the context as it likes
            self._done(request, self._exclusive(request))
            return None
        sampler = self._llama._init_sampler(temp=self.temperature, repeat_penalty=1.1)
        generation = _Generation(request, tokens, sampler, t_start=self._clock())
        self._open[self._open.index(request)] = generation
        generation.ready(generation.t_start)  # takes the first token's ticket
        return generation

    def _advance(self, generation: _Generation) -> None:
        request = generation.request
        with SCHEDULER.slot("llm", self._threads(), demand=request.demand,
                            priority=Priority.BACKGROUND if request.background else None):
            self._activate(generation)
            if len(generation.pending) > PREFILL_SLICE + 1:
                self._llama.eval(generation.pending[:PREFILL_SLICE])
                generation.pending = generation.pending[PREFILL_SLICE:]
                return
            self._llama.eval(generation.pending)
            generation.pending = []
            token = generation.sampler.sample(self._llama._ctx, -1)
        self._take(generation, token)

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
        if self._owner is item:
            self._owner = None  # what it evaluated stays in the context for the next request to share
            self._keep_for_call(item)
        request = item.request
        now = self._clock()
        stats = LlmStats(queue_secs=item.t_start - request.t_submitted, first_token_secs=item.t_first,
                         generate_secs=now - item.t_start, tokens=item.emitted,
                         cancelled=cancelled or request.cancel.is_set(), held_secs=item.held)
        self._done(request, stats)

    def _done(self, request: Request, stats: LlmStats) -> None:
        self._on_done(request, stats)
        request.out.put(RequestDone(stats))

    # -- the context -------------------------------------------------------------
    def _activate(self, generation: _Generation) -> None:
        """Make the context hold what ``generation`` evaluated (the step's slot is held)."""
        if self._owner is generation:
            return
        self._park_owner()
        self._owner = generation
        if generation.saved is not None:
            state, generation.saved = generation.saved, None
            if not load_state(self._llama, state):
                log.warning("llm: a request's KV state could not be loaded: evaluating its %d tokens again",
                            len(state.ids))
                generation.pending = state.ids + generation.pending
            return
        held = self._best_start(generation)
        held = min(held, len(generation.tokens) - 1)  # at least one token to evaluate: its logits are sampled
        self._llama.n_tokens = held
        generation.pending = generation.tokens[held:]

    def _best_start(self, generation: _Generation) -> int:
        """Start from the longest of: what the context holds, a kept prefix, what the call's last reply left."""
        llama, tokens = self._llama, generation.tokens
        held = common_prefix([int(t) for t in llama.input_ids[: llama.n_tokens]], tokens)
        options = [(len(state.ids), state) for state in self.prefixes
                   if len(state.ids) > held and tokens[: len(state.ids)] == state.ids]
        kept = self._kept.get(id(generation.request.demand))
        if kept is not None:
            options.append((common_prefix(kept.ids, tokens), kept))
        if not options:
            return held
        length, state = max(options, key=lambda option: option[0])
        if length <= held:
            return held
        if not load_state(llama, state, length):
            return 0
        if state is kept:
            self.call_hits += 1
        else:
            self.prefix_hits += 1
        return length

    def _park_owner(self) -> None:
        owner = self._owner
        if owner is not None and owner in self._open:
            owner.saved = save_state(self._llama, owner.parked)
            owner.parked = owner.saved
            self.switches += 1
        self._owner = None

    def _keep_for_call(self, generation: _Generation) -> None:
        """A reply is over: keep what it left in the context for its call's next turn, whose prompt starts
        with it (the most recent :data:`KEPT_CALLS` calls)."""
        demand = generation.request.demand
        if demand is None or generation.request.background:
            return
        key = id(demand)
        old = self._kept.pop(key, None) or generation.parked
        self._kept[key] = save_state(self._llama, old)
        while len(self._kept) > KEPT_CALLS:
            self._kept.popitem(last=False)


def _request(item: _Generation | Request) -> Request:
    return item.request if isinstance(item, _Generation) else item


def queue_wait_metric(request: Request, stats: LlmStats) -> None:
    """Record how long a reply request waited for the LLM (prefixes and prefill are not replies)."""
    if request.prompt is None and request.demand_driven:
        METRICS.llm_queue_wait(stats.queue_secs)
