"""The dialog stage: reply requests in, text deltas and speakable chunks out.

For each :class:`~agent.frames.ReplyRequest` it streams the brain's reply
through the :class:`~agent.dialog.chunker.Chunker`: every delta goes to the
conductor as a :class:`~agent.frames.TextDelta`, every chunk to the TTS stage
(and the conductor) as a :class:`~agent.frames.TextChunk`, every call action
(:mod:`agent.dialog.actions`) to the conductor as an
:class:`~agent.frames.ActionRequested`, and the end as a
:class:`~agent.frames.ReplyGenerated`.  It asks the brain for the next delta
only when the :class:`~agent.dialog.pacer.Pacer` allows it (backpressure), and
stops within one delta when the request's ``cancel`` is set.

A reply whose stream raises (the brain failed, e.g. the LLM worker crashed
under it) ends with :data:`~agent.dialog.base.FALLBACK_REPLY`, said like any
reply text after whatever was already said: the caller never gets silence.
Each such turn is logged once and counted (``sip_agent_reply_fallbacks_total``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from agent.dialog.actions import CALL_ACTIONS, CallAction
from agent.dialog.base import FALLBACK_REPLY, Brain, ReplyFailed
from agent.dialog.chunker import Chunker
from agent.dialog.pacer import MAX_HOLD_SECS, Pacer
from agent.frames import ActionRequested, Frame, ReplyGenerated, ReplyRequest, StageFailed, TextChunk, TextDelta
from agent.metrics import METRICS
from agent.worker import Inbox, Worker

__all__ = ["DialogStage"]

log = logging.getLogger(__name__)

FIRST_CHUNK = {"min_first_words": 1, "phrase_words": 3}
"""A reply's first chunk is as short as "No," or "The restaurant is open" (cut before "from ..."): a
local LLM makes ~13 tokens a second on 2 cores, so each word less is ~80 ms sooner to the first audio."""


class DialogStage(Worker):
    """The call's ``dialog`` thread (see the module docstring)."""

    def __init__(
        self,
        name: str,
        brain: Brain,
        inbox: Inbox,
        to_tts: Callable[[Frame], None],
        to_conductor: Callable[[Frame], None],
        pacer: Pacer,
        *,
        pace: bool = True,
        on_failure: Callable[[StageFailed], None] | None = None,
    ) -> None:
        super().__init__(name, inbox, on_failure)
        self.brain = brain
        self._to_tts = to_tts
        self._to_conductor = to_conductor
        self.pacer = pacer
        self.pace = pace

    def handle(self, item: object) -> None:
        if not isinstance(item, ReplyRequest) or item.cancel.is_set():
            return
        if item.prepare:
            self.brain.prepare(list(item.history))
        else:
            self._reply(item)

    def _reply(self, job: ReplyRequest) -> None:
        self.pacer.begin(job.reply)
        chunker = Chunker(**FIRST_CHUNK)
        parts: list[str] = []
        pacing = self.pace
        for delta in self._deltas(job):
            if job.cancel.is_set() or self.stopping:
                break
            if isinstance(delta, CALL_ACTIONS):
                self._to_conductor(ActionRequested(job.reply, delta))
                continue
            self._to_conductor(TextDelta(job.reply, delta))
            parts.append(delta)
            self._send_all(job, chunker, chunker.push(delta), pacing)
            if pacing and self.pacer.holding and not self.pacer.wait(job.cancel, MAX_HOLD_SECS):
                if job.cancel.is_set():
                    break
                log.debug("%s: synthesis not done within %.1f s: generating on without it", self.name,
                          MAX_HOLD_SECS)
                pacing = False
        if job.cancel.is_set():
            return
        self._send_all(job, chunker, chunker.flush(), pacing=False)
        done = ReplyGenerated(job.reply, "".join(parts).strip(), chunker.chunks_emitted)
        self._to_tts(done)
        self._to_conductor(done)

    def _deltas(self, job: ReplyRequest) -> Iterator[str | CallAction]:
        """The brain's reply; if it raises, :data:`FALLBACK_REPLY` after what it gave (see the module docstring)."""
        said = False
        try:
            for delta in self.brain.reply(list(job.history), job.text, job.cancel, job.unsure):
                said = said or isinstance(delta, str) and bool(delta.strip())
                yield delta
        except Exception as error:
            if job.cancel.is_set() or self.stopping:
                return
            if isinstance(error, ReplyFailed):  # its cause was logged with its traceback where it happened
                log.warning("%s: reply %d failed (%s): saying the fallback", self.name, job.reply, error)
            else:
                log.exception("%s: reply %d failed: saying the fallback", self.name, job.reply)
            METRICS.reply_fallback()
            yield f" {FALLBACK_REPLY}" if said else FALLBACK_REPLY

    def _send_all(self, job: ReplyRequest, chunker: Chunker, texts: list[str], pacing: bool) -> None:
        first = chunker.chunks_emitted - len(texts)  # the chunker has counted them already
        for offset, text in enumerate(texts):
            self._send(job, first + offset, text, pacing)

    def _send(self, job: ReplyRequest, index: int, text: str, pacing: bool) -> None:
        chunk = TextChunk(job.reply, index, text)
        self._to_conductor(chunk)
        if pacing and self.pacer.sent(job.reply):
            log.debug("%s: brain held while %r is synthesised", self.name, text)
        self._to_tts(chunk)
