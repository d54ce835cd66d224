"""A brain backed by a local GGUF model through llama-cpp-python.

One ``Llama`` instance is shared by every call and owned by a single worker
thread that serves requests from a queue, one at a time.  Each request
carries the chat messages, the caller's cancel event and an output queue of
text deltas.  The worker computes a token only when the caller's iterator
asks for it, so a pipeline that stops asking while
synthesis needs the cores stops generation too.  llama-cpp-python keeps the KV cache of the previous prompt and
only evaluates the tokens after the longest common prefix, so with a fixed
system prompt (evaluated once at start-up by a warm-up request) the first
token of a reply comes quickly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agent.compute import CpuShare
from agent.dialog.base import Brain, Message
from agent.dialog.kvstate import save_state
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
from agent.errors import ModelError
from agent.models import DEFAULT_LLM, LLM_ARCHITECTURES, resolve_llm
from agent.worker import STOP, Worker

__all__ = ["DEFAULT_SYSTEM_PROMPT", "MODEL_FIX", "LlmBrain", "LlmStats", "chatml_prompt", "history_start"]

logger = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly assistant talking to a caller on the phone. "
    "Answer in one or two short, plain sentences. "
    "Never use lists, markdown, emojis or symbols."
)
MODEL_FIX = "run scripts/get-models or pass another .gguf model"
_GGUF_MAGIC = b"GGUF"
CHATML_STOP = ["<|im_end|>", "<|im_start|>", "<|endoftext|>"]


class _LlmWorker(Worker):
    """The one thread that owns the model and serves every call's requests (:mod:`agent.dialog.serving`)."""

    def __init__(self, brain: LlmBrain) -> None:
        super().__init__(f"llm-{id(brain):x}", brain._requests)
        self._brain = brain

    def body(self) -> None:
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
    """Replies generated by a local GGUF chat model (default: Qwen2.5-Coder-0.5B-Instruct)."""

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
    ) -> None:
        path = resolve_llm(model_path)
        started = clock()
        self._llama = _load_llama(path, n_threads, n_threads_batch or n_threads, n_ctx)
        self.chatml = _check_metadata(self._llama, path, str(model_path or DEFAULT_LLM))
        self.max_threads = n_threads
        self.threads = n_threads
        self._cpu_share = cpu_share
        logger.info("llm %x: loaded %s in %.2f s", id(self), path.name, clock() - started)
        self.model_path = path
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.sentence_stop_tokens = sentence_stop_tokens
        self.temperature = temperature
        self.max_history_messages = max_history_messages
        self._greeting = greeting
        self._clock = clock
        self.last_stats: LlmStats | None = None
        self._requests: queue.Queue[object] = queue.Queue()
        self._nudge = threading.Event()
        """Set when a request arrives or a caller asks for a token: the worker looks again."""
        self._server = ReplyServer(self._llama, clock=clock, temperature=temperature,
                                   sentence_stop_tokens=sentence_stop_tokens, tokenize=self._prompt_tokens,
                                   exclusive=self._generate,
                                   threads=self._fit_threads, on_done=self._done, stop_texts=CHATML_STOP)
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
        evaluated from where it ends."""
        if not self.chatml:
            return
        started = self._clock()
        system = chatml_prompt(self._messages(history or [], "-")[:-1]).removesuffix("<|im_start|>assistant\n")
        for prefix in user_prefixes:
            request = Request([], threading.Event(), 1, t_submitted=self._clock(), demand_driven=False,
                              prompt=f"{system}<|im_start|>user\n{prefix}")
            self._put(request)
            while not isinstance(request.out.get(), (RequestDone, BaseException)):
                pass
        logger.info("llm %x: %d prompt prefixes kept in %.2f s", id(self), len(user_prefixes),
                    self._clock() - started)

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event) -> Iterator[str]:
        """Stream the model's reply; stops within one token of ``cancel``.

        The next token is computed only once the one before it was taken from the iterator.
        """
        return self._submit(self._messages(history, user_text), cancel, self.max_tokens)

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
    ) -> Iterator[str]:
        request = Request(messages, cancel, max_tokens, t_submitted=self._clock())
        self._put(request)
        try:
            while True:
                try:
                    item = request.out.get(timeout=POLL_SECS)
                except queue.Empty:
                    if cancel.is_set() or self._worker.exited.is_set():
                        return
                    continue
                if isinstance(item, RequestDone):
                    return
                if isinstance(item, BaseException):
                    raise item
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
        if request.prompt is not None or not self.chatml:
            return None
        return list(self._llama.tokenize(chatml_prompt(request.messages).encode(), add_bos=True, special=True))

    def _done(self, request: Request, stats: LlmStats) -> None:
        """On the worker's thread, after each request."""
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
        import llama_cpp

        llama_cpp.llama_set_n_threads(self._llama.ctx, want, want)
        self.threads = want
        logger.info("llm %x: %d thread(s) now (other processes keep %.1f cores busy)", id(self), want, others)
        return want

    def _keep_prefix(self, prompt: str) -> None:
        """Evaluate ``prompt`` and keep the KV state after it (sequence 0 only: a few MB)."""
        llama = self._llama
        tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
        llama.create_completion(tokens, max_tokens=1, temperature=0.0)
        llama._ctx.kv_cache_seq_rm(0, len(tokens), -1)
        llama.n_tokens = len(tokens)
        self._server.prefixes.append(save_state(llama))

    @property
    def prefix_hits(self) -> int:
        """Replies whose prompt started from a kept prefix."""
        return self._server.prefix_hits

    def _generate(self, request: Request) -> LlmStats:
        """Serve a request whole: a prefix to keep, or a reply from a model without ChatML (its own template)."""
        t_start = self._clock()
        options = {"stream": True, "max_tokens": request.max_tokens, "temperature": self.temperature,
                   "repeat_penalty": 1.1}
        if request.prompt is not None:
            self._keep_prefix(request.prompt)
            return LlmStats(0.0, 0.0, self._clock() - t_start, 0, False)
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
