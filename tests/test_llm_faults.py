"""The LLM worker's supervision and the context that must hold the prompt, with the real small model (SmolLM2).

A crash of the worker's loop (injected with ``SIP_AGENT_FAULT``) fails the open
requests, is reported to the supervision board, restarts the loop and clears
the report once it serves again; the third crash within a minute gives up.  A
failed reply becomes the spoken fallback in the dialog stage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from agent.dialog.base import FALLBACK_REPLY, Brain, Message, ReplyFailed, create_brain
from agent.dialog.facts import parse_facts
from agent.dialog.pacer import Pacer
from agent.dialog.receptionist import Receptionist
from agent.dialog.serving import InjectedFault
from agent.dialog.stage import DialogStage
from agent.errors import ConfigError, ModelError
from agent.frames import Frame, ReplyGenerated, ReplyRequest, TextChunk
from agent.queues import FrameQueue
from agent.supervision import Supervision, Supervisor

pytest.importorskip("llama_cpp")

from agent.dialog.llm import CONTEXT_ROOM_TOKENS, FAULT_ENV, MAX_CONTEXT_TOKENS, LlmBrain  # noqa: E402

MODEL = "smollm2"


class Board(Supervision):
    """The supervision board, remembering every report in order."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[str, str]] = []

    def fail(self, engine: str, reason: str) -> None:
        self.history.append(("fail", f"{engine}: {reason}"))
        super().fail(engine, reason)

    def recover(self, engine: str) -> None:
        self.history.append(("recover", engine))
        super().recover(engine)


def supervised(monkeypatch: pytest.MonkeyPatch, fault: str, board: Board, gave_up: list[str]) -> LlmBrain:
    monkeypatch.setenv(FAULT_ENV, fault)
    supervisor = Supervisor("llm", board=board, give_up=lambda engine, why: gave_up.append(f"{engine}: {why}"))
    return LlmBrain(MODEL, max_tokens=8, temperature=0.0, supervisor=supervisor)


def ask(brain: Brain, text: str) -> str:
    return "".join(str(delta) for delta in brain.reply([], text, threading.Event()))


def test_a_crash_of_the_loop_fails_every_open_request_then_the_worker_serves_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    board, gave_up = Board(), list[str]()
    brain = supervised(monkeypatch, "llm-step:2", board, gave_up)
    try:
        playing = brain.reply([], "Count from one to ten.", threading.Event())  # reply 1: open, one token taken
        assert next(playing)
        with pytest.raises(ReplyFailed, match="InjectedFault") as failed:
            ask(brain, "What is the capital of France?")  # reply 2: its first step crashes the loop
        assert isinstance(failed.value.__cause__, InjectedFault)
        with pytest.raises(ReplyFailed):
            list(playing)  # the other open request failed too: its caller does not wait forever
        assert ask(brain, "Say hello.").strip()  # reply 3: served after the restart
        assert board.history[0][0] == "fail" and board.history[0][1].startswith("llm: crashed (InjectedFault: ")
        assert board.history[1:] == [("recover", "llm")] and board.problem() == ""
        assert brain._supervisor.restarts == 1 and not gave_up and not brain._worker.exited.is_set()
    finally:
        brain.close()


def test_the_prefixes_kept_at_start_stay_through_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    board, gave_up = Board(), list[str]()
    brain = supervised(monkeypatch, "llm-step:1", board, gave_up)
    try:
        note = "(Hours, Monday: closed)\n"
        brain.keep_prefixes([note])
        with pytest.raises(ReplyFailed, match="InjectedFault"):
            ask(brain, note + "Are you open on Monday?")  # its first step crashes the loop
        assert ask(brain, note + "Are you open on Monday?").strip()  # after the restart
        assert sum(seq.prefix for seq in brain._server._seqs) == 1
        # started from the prefix kept before the crash: the question's words evaluated, not the note again
        question = len(brain._llama.tokenize(b"Are you open on Monday?", add_bos=False))
        assert brain.prefix_hits >= 1 and brain.last_stats is not None
        assert brain.last_stats.evaluated <= question + 6, (brain.last_stats.evaluated, question)
    finally:
        brain.close()


def test_the_third_crash_within_a_minute_gives_up_and_later_replies_fail_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    board, gave_up = Board(), list[str]()
    brain = supervised(monkeypatch, "llm-step:1,llm-step:2,llm-step:3", board, gave_up)
    try:
        for _ in range(3):
            with pytest.raises(ReplyFailed):
                ask(brain, "Say hello.")
        assert brain._worker.exited.wait(5)  # the requests fail first, then the worker gives up
        assert len(gave_up) == 1 and gave_up[0].startswith("llm: crashed 3 times within 60 s (last: InjectedFault")
        assert board.problem().startswith("llm: crashed 3 times")  # /readyz stays 503 (the process exits)
        with pytest.raises(ReplyFailed, match="not running"):
            ask(brain, "Say hello.")
    finally:
        brain.close()


def test_a_failed_reply_is_spoken_as_the_fallback_and_the_next_turn_is_answered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    board, gave_up = Board(), list[str]()
    brain = supervised(monkeypatch, "llm-step:1", board, gave_up)
    frames: list[Frame] = []  # what goes to synthesis
    stage = DialogStage("dialog-test", Receptionist(brain), FrameQueue(), frames.append, lambda _frame: None,
                        Pacer(), pace=False)
    try:
        for number, text in enumerate(["What is the capital of France?", "Say hello."], start=1):
            stage.handle(ReplyRequest(number, text, ()))
        done = [f for f in frames if isinstance(f, ReplyGenerated)]
        assert [d.reply for d in done] == [1, 2]
        assert done[0].text == FALLBACK_REPLY
        assert done[1].text.strip() and done[1].text != FALLBACK_REPLY
        spoken = " ".join(f.text for f in frames if isinstance(f, TextChunk) and f.reply == 1)
        assert spoken.strip() == FALLBACK_REPLY  # it goes to synthesis like any reply
    finally:
        brain.close()


class Failing(Brain):
    """A brain that says a few words and then fails."""

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
        yield "Let me see."
        raise RuntimeError("a bug")


def test_a_reply_that_fails_after_some_words_ends_with_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    frames: list[Frame] = []  # what goes to synthesis
    stage = DialogStage("dialog-test", Failing(), FrameQueue(), frames.append, lambda _frame: None, Pacer(),
                        pace=False)
    stage.handle(ReplyRequest(1, "Hello?", ()))
    (done,) = [f for f in frames if isinstance(f, ReplyGenerated)]
    assert done.text == f"Let me see. {FALLBACK_REPLY}"
    failures = [r for r in caplog.records if "saying the fallback" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # once, with the traceback of the bug


# SmolLM2 evaluates ~220 prompt tokens a second on 2 cores: the long prompts below are counted, not evaluated.

def test_a_prompt_longer_than_the_default_context_gets_a_bigger_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.dialog.llm")
    brain = LlmBrain(MODEL, max_tokens=8, warm_up=False)
    try:
        assert brain.n_ctx == brain._llama.n_ctx() == 2048  # a short prompt keeps the default
    finally:
        brain.close()
    lines = "\n".join(f"- Room {n}: a double room on floor {n % 9}, 95 pounds a night" for n in range(110))
    sized = LlmBrain(MODEL, max_tokens=8, system_prompt=f"You answer the phone.\n{lines}", warm_up=False)
    try:
        tokens = len(sized._llama.tokenize(sized.system_prompt.encode(), add_bos=True, special=True))
        assert 2048 < tokens + CONTEXT_ROOM_TOKENS <= sized.n_ctx == sized._llama.n_ctx() <= MAX_CONTEXT_TOKENS
        assert f"context sized up from 2048 to {sized.n_ctx} tokens" in caplog.text
    finally:
        sized.close()


def test_the_longest_topic_of_the_facts_is_counted_with_the_system_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system prompt alone would fit 2048 tokens; with the first question on the largest topic it does not."""
    menu = "\n".join(f'"Dish {n}" = "pasta with tomato, basil and cheese number {n}, 12 pounds"' for n in range(25))
    facts = parse_facts(f'name = "Trattoria"\n[menu]\n{menu}\n')
    monkeypatch.setattr(LlmBrain, "keep_prefixes", lambda *_args: None)
    created = create_brain("llm", model_path=MODEL, max_tokens=8, facts=facts, timezone="UTC", warm_up=False)
    try:
        assert isinstance(created, Receptionist) and isinstance(created.inner, LlmBrain)
        inner = created.inner
        system = len(inner._llama.tokenize(inner.system_prompt.encode(), add_bos=True, special=True))
        assert system + CONTEXT_ROOM_TOKENS < 2048 < inner.n_ctx
    finally:
        created.close()


def test_a_prompt_that_cannot_fit_is_one_config_error_with_the_token_counts() -> None:
    lines = "\n".join(f"- Room {n}: a double room on floor {n % 9}, 95 pounds a night" for n in range(600))
    with pytest.raises(ConfigError) as caught:
        LlmBrain(MODEL, system_prompt=f"You answer the phone.\n{lines}", prompt_origin="the test prompt")
    message = str(caught.value)
    assert message.startswith("the test prompt is too long for the LLM: it takes ") and "\n" not in message
    assert f"{CONTEXT_ROOM_TOKENS} more for the call's history and reply" in message
    assert f"over the {MAX_CONTEXT_TOKENS} the model can have" in message


def test_a_malformed_fault_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.dialog.llm import fault_plan

    assert fault_plan("llm-step:2, stt-decode:1,llm-step:5") == {2, 5}
    assert fault_plan("") == frozenset()
    monkeypatch.setenv(FAULT_ENV, "llm-step:zero")
    with pytest.raises(ConfigError, match=r"^SIP_AGENT_FAULT='llm-step:zero': expected llm-step:N"):
        LlmBrain(MODEL)


def test_context_size_grows_in_steps_up_to_the_model_and_the_cap() -> None:
    from agent.dialog.llm import context_size

    assert context_size(1000, 1024, 2048, 8192) == 2048  # it fits
    assert context_size(1100, 1024, 2048, 8192) == 2560  # 2124 -> the next multiple of 512
    assert context_size(7168, 1024, 2048, 32768) == MAX_CONTEXT_TOKENS
    assert context_size(7169, 1024, 2048, 32768) == 0  # over the cap
    assert context_size(3000, 1024, 2048, 4096) == 4096  # just within what the model was trained for
    assert context_size(3100, 1024, 2048, 4096) == 0  # over it
    assert context_size(3000, 1024, 2048, 0) == 4096  # training context unknown: the cap alone


def test_a_prefix_the_model_cannot_keep_fails_the_start_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    brain = LlmBrain(MODEL, warm_up=False)
    try:
        monkeypatch.setattr(brain._context, "decode", lambda _rows: -1)  # llama.cpp's code for an invalid batch
        with pytest.raises(ModelError) as caught:
            brain.keep_prefixes(["(Hours, Monday: closed)\n"])
        message = str(caught.value)
        assert message.startswith("LLM model SmolLM2-135M-Instruct.Q4_1.gguf cannot evaluate the start of a turn")
        assert "RuntimeError: llama_decode returned -1" in message and "\n" not in message
        assert "could not be kept" in caplog.text and "Traceback" in caplog.text  # logged where it happened
        assert not brain._worker.exited.is_set()  # a failed request, not a crash: the worker serves on
    finally:
        brain.close()


def test_prompt_prefixes_keep_at_most_half_the_sequences(caplog: pytest.LogCaptureFixture) -> None:
    """Facts with very many topics: the prefixes past half the context's sequences are not kept (logged), start-up
    does not wait for a sequence that never frees, and calls still get theirs."""
    brain = LlmBrain(MODEL, warm_up=False)
    try:
        seqs = brain._context.n_seq
        brain.keep_prefixes([f"(Topic {n}: open on day {n})\n" for n in range(seqs // 2 + 4)])
        assert sum(seq.prefix for seq in brain._server._seqs) == seqs // 2
        assert "a prompt prefix is not kept" in caplog.text
        assert ask(brain, "Hello.").strip()
    finally:
        brain.close()
