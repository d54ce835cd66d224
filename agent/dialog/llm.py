"""A brain backed by a local GGUF model through llama-cpp-python.

One model and one context are shared by every call and owned by a single
worker thread, which serves every open request in each step, in one batch
(:mod:`agent.dialog.serving`).  Each request carries the chat messages, the
caller's cancel event and an output queue of text deltas.  The worker
computes a token only when the caller's iterator asks for it, so a pipeline
that stops asking while synthesis needs the cores stops generation too.  The
context keeps a sequence per call, so a call's later turn evaluates only its
new words; the system prompt and each topic's facts are evaluated once at
start-up (a warm-up request and ``keep_prefixes``) and shared by every call.

The worker is supervised (:class:`~agent.supervision.Supervisor`): if its loop
crashes, the traceback is logged, ``/readyz`` and OPTIONS say 503 (``llm:
crashed ...``), every open request fails (its caller hears the dialog stage's
fallback), the calls' sequences are dropped (the kept prefixes stay) and the loop starts again; a one-token probe
request shows it serves, which clears the 503.  The third crash within a
minute exits the process (:data:`~agent.supervision.EXIT_GAVE_UP`).

The context holds the longest prompt prefix (the system prompt with the facts
and the longest start of a turn) and :data:`CONTEXT_ROOM_TOKENS` more for the
call's history and the reply: it is sized up to :data:`MAX_CONTEXT_TOKENS`
when ``n_ctx`` is too small, and a prompt that still cannot fit is a
:class:`~agent.errors.ConfigError` at start (one line, exit code 2).

Test only: the environment variable ``SIP_AGENT_FAULT=llm-step:N[,llm-step:M...]``
makes the N-th reply request (counting from 1, ``reply`` calls only) raise at
its first step, outside the per-request error handling, as a bug in the
serving loop would: the worker's supervision is tested with the real model and
a real agent process.  Never set it in production.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.compute import CpuShare
from agent.dialog.base import Brain, Message, ReplyFailed
from agent.dialog.batch import BatchContext
from agent.dialog.serving import (
    MARKDOWN_RE,
    POLL_SECS,
    SENTENCE_END,
    LlmStats,
    ReplyServer,
    Request,
    RequestDone,
    queue_wait_metric,
)
from agent.errors import ConfigError, ModelError
from agent.metrics import METRICS
from agent.models import DEFAULT_LLM, LLM_ARCHITECTURES, resolve_llm
from agent.supervision import Supervisor, describe
from agent.worker import STOP, Worker

__all__ = ["CONTEXT_ROOM_TOKENS", "DEFAULT_SYSTEM_PROMPT", "FAULT_ENV", "MAX_CONTEXT_TOKENS", "MODEL_FIX", "LlmBrain",
           "LlmStats", "chatml_prompt", "context_size", "fault_plan", "history_start"]

logger = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly assistant talking to a caller on the phone. "
    "Answer in one or two short, plain sentences. "
    "Never use lists, markdown, emojis or symbols."
)
MODEL_FIX = "run scripts/get-models or pass another .gguf model"
_GGUF_MAGIC = b"GGUF"
CHATML_STOP = ["<|im_end|>", "<|im_start|>", "<|endoftext|>"]
CONTEXT_ROOM_TOKENS = 1024
"""Context left after the longest prompt prefix for the call's history and the reply.  The history is at most
16 messages (``max_history_messages``); with the example facts a caller's later turn (its words and the two
facts that match best) is ~40 tokens and a reply ~30-50 (at most 80, ``max_tokens``): 16 x 50 + 80 = 880.
Less room and a long call's prompt overflows the context; more costs ~28 kB of KV cache a token (Qwen-1.5B)."""
MAX_CONTEXT_TOKENS = 8192
"""The largest context a call's prompt and reply are given (also never beyond the model's training context)."""
POOL_CALLS = 2
"""Calls whose own tokens (history and reply) the shared context holds beside the longest prompt prefix: a
context of ``n_ctx + POOL_CALLS x CONTEXT_ROOM_TOKENS`` cells (~28 kB each for Qwen-1.5B); prefixes shared by
several calls are held once, and idle calls' sequences are dropped, oldest first, when the cells run out.
Small on purpose: a token attends over every cell up to the highest in use, and the cells in use spread over
the context as calls come and go (the example facts' replies: 24.6 tokens a second with 4,096 cells, 18.4
with 6,144)."""
SEQUENCES = 64
"""Sequences of the shared context: the prefixes kept at start-up (two a topic) and the calls'."""
DRAFT_TOKENS = 0
"""Tokens drafted by prompt lookup for a reply alone in its step (0: none): a reply that says a fact as the
prompt says it gets several tokens a step, and the words are those of one token a step.  Off: on a CPU each
drafted token costs ~0.6 of a token's step (Qwen-1.5B on 2 cores: 1, 2, 3, 5 rows take 36, 58, 77, 120 ms),
so even 1 draft a step accepted 10 times in 13 made six fact-reading replies slower (2.81 s after their first
tokens instead of 2.61 s); where extra rows are nearly free (a GPU) it pays."""
BATCH_TOKENS = 512
"""The most tokens one step evaluates (a step's replies and a slice of prompt stay far below)."""
CONTEXT_STEP_TOKENS = 512
"""A context sized up is a multiple of this."""
RESTART_DELAY_SECS = 1.0
"""After a crash the loop starts again this much later: a fault that recurs does not spin the cores, and for
that second OPTIONS and /readyz say 503, so a proxy sends new calls elsewhere (replies asked meanwhile wait)."""
FAULT_ENV = "SIP_AGENT_FAULT"
"""Test only: see the module docstring."""


def fault_plan(value: str) -> frozenset[int]:
    """The reply requests (numbered from 1) whose first step raises, from ``SIP_AGENT_FAULT``'s ``llm-step:N`` items.

    Items for other components (another prefix than ``llm-``) are left to them.
    """
    steps: set[int] = set()
    for item in filter(None, (part.strip() for part in value.split(","))):
        if not item.startswith("llm-"):
            continue
        kind, _, number = item.partition(":")
        if kind != "llm-step" or not number.isdigit() or int(number) < 1:
            raise ConfigError(f"{FAULT_ENV}={value!r}: expected llm-step:N (N from 1) for the LLM (a test-only "
                              "setting)")
        steps.add(int(number))
    return frozenset(steps)


def context_size(prompt_tokens: int, room_tokens: int, n_ctx: int, n_ctx_train: int) -> int:
    """The context a prompt prefix of ``prompt_tokens`` needs with ``room_tokens`` more: ``n_ctx`` if it holds
    them, else the smallest multiple of :data:`CONTEXT_STEP_TOKENS` that does; 0 if that is more than
    :data:`MAX_CONTEXT_TOKENS` or the model's ``n_ctx_train`` (0: unknown) allow."""
    need = prompt_tokens + room_tokens
    if need <= n_ctx:
        return n_ctx
    size = -(-need // CONTEXT_STEP_TOKENS) * CONTEXT_STEP_TOKENS
    cap = min(MAX_CONTEXT_TOKENS, n_ctx_train) if n_ctx_train > 0 else MAX_CONTEXT_TOKENS
    return min(size, cap) if need <= cap else 0


class _LlmWorker(Worker):
    """The one thread that owns the model and serves every call's requests (:mod:`agent.dialog.serving`).

    A crash of its loop is logged and handed to the brain, which restarts the loop on this same thread (the
    model's one owner) or gives up (see the module docstring).
    """

    def __init__(self, brain: LlmBrain) -> None:
        super().__init__(f"llm-{id(brain):x}", brain._requests)
        self._brain = brain

    def body(self) -> None:
        while not self.stopping:
            try:
                self._serve()
                return
            except Exception as error:
                logger.exception("%s: the LLM loop crashed", self.name)
                if not self._brain._restart(error):
                    return

    def _serve(self) -> None:
        brain, server = self._brain, self._brain._server
        while not self.stopping:
            brain._nudge.clear()
            while True:
                try:
                    item = brain._requests.get_nowait()
                except queue.Empty:
                    break
                if item is STOP:
                    return
                if isinstance(item, Request):
                    server.admit(item)
            if not server.step():
                brain._nudge.wait(POLL_SECS)

    def teardown(self) -> None:
        self._brain._server.close()


def _load_llama(path: Path, n_threads: int, n_threads_batch: int, n_ctx: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError(
            "the llm brain needs llama-cpp-python, which is not installed (run scripts/setup)"
        ) from None
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ModelError(
            f"LLM model cannot be read: {path}: {error.strerror} ({MODEL_FIX})"
        ) from None
    if magic != _GGUF_MAGIC:
        raise ModelError(f"LLM model is not a GGUF file: {path} ({MODEL_FIX})")
    try:
        return Llama(
            model_path=str(path),
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            n_ctx=n_ctx,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"LLM model cannot be loaded: {path}: {reason} ({MODEL_FIX})") from None


def _check_metadata(llama: Any, path: Path, name: str) -> bool:
    """Check a named model's GGUF architecture; True if it speaks ChatML (the prompt is then built
    here, not by a template embedded in the file)."""
    meta = getattr(llama, "metadata", None) or {}
    architecture = meta.get("general.architecture", "?")
    expected = LLM_ARCHITECTURES.get(name)
    if expected and architecture != expected:
        raise ModelError(f"LLM model {name} is not the model expected: {path} is a {architecture!r} GGUF, "
                         f"not {expected!r} ({MODEL_FIX})")
    chatml = all(len(llama.tokenize(tag.encode(), add_bos=False, special=True)) == 1
                 for tag in ("<|im_start|>", "<|im_end|>"))
    logger.info("llm: %s is %s (%s), %s", path.name, meta.get("general.name", "unnamed"), architecture,
                "ChatML prompt built here" if chatml else "prompt from the file's chat template")
    return chatml


def chatml_prompt(messages: list[dict[str, str]]) -> str:
    """The ChatML text of ``messages``, ready for the assistant's reply."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content'].strip()}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def history_start(count: int, limit: int) -> int:
    """Index of the first history message to send, moving in steps of ``limit // 2``.

    Dropping one old message per turn would change the prompt's start every
    turn and defeat the KV cache of the common prefix; dropping half the window
    at once keeps the prefix stable for ``limit // 2`` turns.
    """
    if count <= limit:
        return 0
    step = max(1, limit // 2)
    return -(-(count - limit) // step) * step


class LlmBrain(Brain):
    """Replies generated by a local GGUF chat model (default: :data:`agent.models.DEFAULT_LLM`)."""

    name = "llm"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_tokens: int = 80,
        sentence_stop_tokens: int = 48,
        temperature: float = 0.3,
        n_threads: int = 2,
        n_threads_batch: int | None = None,
        n_ctx: int = 2048,
        max_history_messages: int = 16,
        warm_up: bool = True,
        greeting: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        cpu_share: CpuShare | None = None,
        turn_prefixes: Sequence[str] = (),
        prompt_origin: str = "the system prompt",
        supervisor: Supervisor | None = None,
        draft_tokens: int | None = None,
    ) -> None:
        """``turn_prefixes``: the starts of a caller's turn it will be asked with (a topic's facts): the longest,
        after the system prompt, must fit in the context with :data:`CONTEXT_ROOM_TOKENS` to spare
        (``prompt_origin`` names that prompt in the error if it cannot).  ``supervisor``: what a crash of the
        worker's loop does (default: report it as ``llm`` to ``/readyz``, restart, exit on the third in a minute).
        ``draft_tokens``: see :data:`DRAFT_TOKENS`.
        """
        path = resolve_llm(model_path)
        self._faults = fault_plan(os.environ.get(FAULT_ENV, ""))
        started = clock()
        self.system_prompt = system_prompt
        self.max_history_messages = max_history_messages
        threads_batch = n_threads_batch or n_threads
        self._llama = _load_llama(path, n_threads, threads_batch, n_ctx)
        self.chatml = _check_metadata(self._llama, path, str(model_path or DEFAULT_LLM))
        fitted = self._fit_context(n_ctx, turn_prefixes, prompt_origin, str(model_path or DEFAULT_LLM))
        if fitted != n_ctx:
            self._llama.close()
            self._llama = _load_llama(path, n_threads, threads_batch, fitted)
        self.n_ctx = fitted
        self.max_threads = n_threads
        self.threads = n_threads
        self._cpu_share = cpu_share
        logger.info("llm %x: loaded %s in %.2f s", id(self), path.name, clock() - started)
        self.model_path = path
        self.max_tokens = max_tokens
        self.sentence_stop_tokens = sentence_stop_tokens
        self.temperature = temperature
        self._greeting = greeting
        self._clock = clock
        self.last_stats: LlmStats | None = None
        self._supervisor = supervisor or Supervisor("llm")
        self._reply_numbers = itertools.count(1)
        """Numbers the reply requests (``reply`` calls, from any call's thread), for ``SIP_AGENT_FAULT``."""
        self._requests: queue.Queue[object] = queue.Queue()
        self._nudge = threading.Event()
        """Set when a request arrives or a caller asks for a token: the worker looks again."""
        pool = fitted + POOL_CALLS * CONTEXT_ROOM_TOKENS
        try:
            self._context = BatchContext(self._llama, n_ctx=pool, n_seq=SEQUENCES, n_batch=BATCH_TOKENS,
                                         threads=n_threads)
        except ValueError as error:
            self._llama.close()
            raise ModelError(f"LLM model {path.name}: a context of {pool} tokens for {SEQUENCES} sequences cannot "
                             f"be made: {error}") from None
        self._server = ReplyServer(self._llama, self._context, clock=clock, temperature=temperature,
                                   sentence_stop_tokens=sentence_stop_tokens, tokenize=self._prompt_tokens,
                                   exclusive=self._generate, threads=self._fit_threads, on_done=self._done,
                                   stop_texts=CHATML_STOP, call_tokens=fitted,
                                   draft_tokens=DRAFT_TOKENS if draft_tokens is None else draft_tokens)
        self._worker = _LlmWorker(self)
        self._worker.start()
        if warm_up:
            self.warm_up()

    # -- public ------------------------------------------------------------

    def greeting(self) -> str | None:
        return self._greeting

    def warm_up(self) -> None:
        """Evaluate the system prompt now so the first reply reuses its KV cache."""
        for _ in self._submit(self._messages([], "Hello."), threading.Event(), max_tokens=1):
            pass

    def keep_prefixes(self, user_prefixes: list[str], history: list[Message] | None = None) -> None:
        """Evaluate the system prompt (and ``history``, e.g. the greeting) followed by each of these
        starts of a caller's turn, and keep their KV state: a turn that starts the same way is then
        evaluated from where it ends.

        A prefix the model cannot evaluate is a :class:`ModelError` (start-up fails in one line; the
        traceback is in the log): a model that fails on the facts at start fails on every caller's turn.
        """
        if not self.chatml:
            return
        started = self._clock()
        system = chatml_prompt(self._messages(history or [], "-")[:-1]).removesuffix("<|im_start|>assistant\n")
        for prefix in user_prefixes:
            request = Request([], threading.Event(), 1, t_submitted=self._clock(), demand_driven=False,
                              prompt=f"{system}<|im_start|>user\n{prefix}")
            self._put(request)
            try:
                for _ in self._stream(request):
                    pass
            except ReplyFailed as error:
                logger.error("llm %x: the prompt prefix %r could not be kept: %s", id(self), prefix[:60], error)
                raise ModelError(f"LLM model {self.model_path.name} cannot evaluate the start of a turn on the facts "
                                 f"({error}; the log has the details)") from None
        logger.info("llm %x: %d prompt prefixes kept in %.2f s", id(self), len(user_prefixes),
                    self._clock() - started)

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
        """Stream the model's reply; stops within one token of ``cancel``.

        The next token is computed only once the one before it was taken from the iterator.  A reply the
        model fails to give raises :class:`ReplyFailed` (after any text already streamed).
        """
        fault = bool(self._faults) and next(self._reply_numbers) in self._faults
        return self._submit(self._messages(history, user_text), cancel, self.max_tokens, fault=fault)

    def prepare(self, history: list[Message]) -> None:
        """Evaluate, while the line is quiet, the prompt prefix the next reply will share.

        Fire and forget: the next ``reply`` then only evaluates the caller's new words.
        """
        messages = self._messages(history, "")
        self._put(Request(messages, threading.Event(), 1, t_submitted=self._clock(), demand_driven=False,
                          background=True))

    def close(self, timeout_secs: float = 5.0) -> None:
        """Stop the worker (after the request in progress) and free the model."""
        if not self._worker.stop(timeout_secs):
            return
        self._context.close()
        close = getattr(self._llama, "close", None)
        if callable(close):
            close()

    # -- request side ------------------------------------------------------

    def _messages(self, history: list[Message], user_text: str) -> list[dict[str, str]]:
        system = [self.system_prompt] + [m.text for m in history if m.role == "system"]
        turns = [m for m in history if m.role != "system"]
        turns = turns[history_start(len(turns), self.max_history_messages) :]
        messages = [{"role": "system", "content": "\n".join(system)}]
        for message in turns:
            text = f"{message.text.rstrip()}..." if message.interrupted else message.text
            messages.append({"role": message.role, "content": text})
        messages.append({"role": "user", "content": user_text.strip() or "..."})
        return messages

    def _submit(
        self,
        messages: list[dict[str, str]],
        cancel: threading.Event,
        max_tokens: int,
        fault: bool = False,
    ) -> Iterator[str]:
        request = Request(messages, cancel, max_tokens, t_submitted=self._clock(), fault=fault)
        self._put(request)
        return self._stream(request)

    def _stream(self, request: Request) -> Iterator[str]:
        """The text of ``request`` as the worker puts it out; :class:`ReplyFailed` if the worker fails it or is
        not running."""
        cancel = request.cancel
        try:
            while True:
                try:
                    item = request.out.get(timeout=POLL_SECS)
                except queue.Empty:
                    if cancel.is_set():
                        return
                    if self._worker.exited.is_set():
                        raise ReplyFailed("the LLM worker is not running") from None
                    continue
                if isinstance(item, RequestDone):
                    return
                if isinstance(item, BaseException):
                    raise ReplyFailed(f"the LLM failed: {describe(item)}") from item
                if cancel.is_set():
                    return
                assert isinstance(item, str)
                yield item
                request.wanted.release()  # asked for the next token: now it may be computed
                self._nudge.set()
        finally:
            request.abandoned.set()

    # -- worker ------------------------------------------------------------

    def _put(self, request: Request) -> None:
        self._requests.put(request)
        self._nudge.set()

    def _prompt_tokens(self, request: Request) -> list[int] | None:
        """The prompt of a request served a token at a time; None for one served whole (see ``_generate``)."""
        if not self.chatml:
            return None
        text = request.prompt if request.prompt is not None else chatml_prompt(request.messages)
        return list(self._llama.tokenize(text.encode(), add_bos=True, special=True))

    def _restart(self, error: Exception) -> bool:
        """On the worker's thread, after its loop crashed: fail every open request, drop the calls' sequences, and
        (unless the supervisor gives up) serve again, with a one-token probe that shows it does; False: stop the
        worker."""
        try:
            failed = self._server.reset(error)
        except Exception:
            logger.exception("llm %x: the context could not be reset after a crash", id(self))
            self._supervisor.fatal(f"crashed ({describe(error)}) and could not be reset")
            return False
        if not self._supervisor.crashed(error):
            return False
        METRICS.llm_restart()
        logger.warning("llm %x: restarting in %.0f s after a crash (%s): %d open request(s) failed, the calls' "
                       "sequences dropped; not ready until it serves again", id(self), RESTART_DELAY_SECS,
                       describe(error), failed)
        time.sleep(RESTART_DELAY_SECS)
        self._put(Request(self._messages([], "Hello."), threading.Event(), 1, t_submitted=self._clock(),
                          demand_driven=False, background=True))  # a reply served first proves it as well
        return True

    def _done(self, request: Request, stats: LlmStats) -> None:
        """On the worker's thread, after each request."""
        if not stats.cancelled and self._supervisor.serving():
            logger.info("llm %x: serving again after a restart", id(self))
        if request.prompt is not None or stats.cancelled and not stats.tokens:
            return
        self.last_stats = stats
        queue_wait_metric(request, stats)
        logger.debug("llm %x: %d tokens, first after %.0f ms, %.0f tokens/s, held %.0f ms by the caller, "
                     "waited %.0f ms for other calls", id(self), stats.tokens, stats.first_token_secs * 1000.0,
                     stats.tokens_per_sec, stats.held_secs * 1000.0, stats.queue_secs * 1000.0)

    def _fit_threads(self) -> int:
        """Run on the cores other processes leave free: llama.cpp's threads spin at every barrier,
        so one thread that waits for a busy core stalls the others (a token then takes 10x longer)."""
        if self._cpu_share is None:
            return self.threads
        others = self._cpu_share.others_busy()
        want = self._cpu_share.free_cores(self.max_threads)
        if want == self.threads:
            return want
        self._context.set_threads(want)
        self.threads = want
        logger.info("llm %x: %d thread(s) now (other processes keep %.1f cores busy)", id(self), want, others)
        return want

    def _fit_context(self, n_ctx: int, turn_prefixes: Sequence[str], origin: str, name: str) -> int:
        """The context the longest prompt prefix needs (see :data:`CONTEXT_ROOM_TOKENS`); ConfigError if none
        the model can have does."""
        longest = max(turn_prefixes, key=len, default="...")
        text = chatml_prompt(self._messages([], longest)).removesuffix("<|im_start|>assistant\n")
        prompt = len(self._llama.tokenize(text.encode(), add_bos=True, special=True))
        trained = int(self._llama._model.n_ctx_train())
        size = context_size(prompt, CONTEXT_ROOM_TOKENS, n_ctx, trained)
        if size == 0:
            cap = min(MAX_CONTEXT_TOKENS, trained) if trained > 0 else MAX_CONTEXT_TOKENS
            raise ConfigError(f"{origin} is too long for the LLM: it takes {prompt} tokens of {name}, and with "
                              f"{CONTEXT_ROOM_TOKENS} more for the call's history and reply it needs a context of "
                              f"{prompt + CONTEXT_ROOM_TOKENS} tokens, over the {cap} the model can have (shorten it)")
        if size != n_ctx:
            logger.info("llm %x: %s is %d tokens: context sized up from %d to %d tokens (%d for the history and "
                        "reply)", id(self), origin, prompt, n_ctx, size, size - prompt)
        return size

    @property
    def prefix_hits(self) -> int:
        """Replies whose prompt started from a kept prefix."""
        return self._server.prefix_hits

    def forget(self) -> None:
        """Drop what the context holds for calls and prefixes (tests: the next prompt is evaluated whole)."""
        self._server.forget()

    def _generate(self, request: Request) -> LlmStats:
        """Serve a request whole: a reply from a model without ChatML (its own template)."""
        t_start = self._clock()
        options = {"stream": True, "max_tokens": request.max_tokens, "temperature": self.temperature,
                   "repeat_penalty": 1.1}
        stream = self._llama.create_chat_completion(messages=request.messages, **options)
        tokens, t_first, held = 0, 0.0, request.wait_wanted()
        try:
            for part in stream:
                if request.stopped():
                    break
                choice = part["choices"][0]
                delta = choice["text"] if "text" in choice else choice["delta"].get("content")
                if not delta:
                    continue
                tokens += 1
                if tokens == 1:
                    t_first = self._clock() - t_start - held
                request.out.put(MARKDOWN_RE.sub("", delta))
                if tokens >= self.sentence_stop_tokens and delta.rstrip().endswith(SENTENCE_END):
                    break
                held += request.wait_wanted()
        finally:
            stream.close()
        return LlmStats(
            queue_secs=t_start - request.t_submitted,
            first_token_secs=t_first,
            generate_secs=self._clock() - t_start,
            tokens=tokens,
            cancelled=request.cancel.is_set(),
            held_secs=held,
        )
