"""Tests of the llama-cpp-python brain with the real default model (qwen-1.5b, agent.models.DEFAULT_LLM)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from agent.dialog.base import Message, create_brain
from agent.dialog.llm import LlmBrain
from agent.dialog.receptionist import Receptionist
from agent.dialog.serving import Request
from agent.errors import ModelError
from agent.scheduler import CallDemand, Priority, bind
from agent.turn.state import State


@pytest.fixture(scope="module")
def brain() -> Iterator[LlmBrain]:
    created = create_brain("llm", max_tokens=40)
    assert isinstance(created, Receptionist)  # the rules that never depend on the model, around it
    assert isinstance(created.inner, LlmBrain)
    yield created.inner
    created.close()


def first_token_secs(brain: LlmBrain, text: str) -> float:
    deltas = list(brain.reply([], text, threading.Event()))
    assert deltas and brain.last_stats is not None
    return brain.last_stats.first_token_secs


def test_streams_a_reply(brain: LlmBrain) -> None:
    deltas = list(brain.reply([], "What is the capital of France?", threading.Event()))
    assert len(deltas) > 1
    assert "".join(deltas).strip()
    stats = brain.last_stats
    assert stats is not None and stats.tokens == len(deltas) and not stats.cancelled
    assert stats.tokens <= 40


def test_history_and_interrupted_turns(brain: LlmBrain) -> None:
    history = [
        Message("user", "My name is Ann."),
        Message("assistant", "Nice to meet you, Ann. How can", interrupted=True),
    ]
    messages = brain._messages(history, "What is my name?")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"].endswith("How can...")
    assert "".join(brain.reply(history, "What is my name?", threading.Event())).strip()


def test_reused_prompt_prefix_gives_a_faster_first_token(brain: LlmBrain) -> None:
    questions = ["How are you?", "Where is the station?", "What time do you open?"]
    cold: list[float] = []
    for question in questions:
        brain.forget()  # forget the KV cache: the whole prompt is evaluated
        cold.append(first_token_secs(brain, question))
    first_token_secs(brain, "Hello.")  # the system prompt is now cached
    warm = [first_token_secs(brain, question + " Thanks.") for question in questions]
    assert statistics.median(warm) < 0.8 * statistics.median(cold), (warm, cold)


def test_a_kept_prefix_answers_exactly_as_a_full_evaluation_would() -> None:
    """Two calls asking about different topics in turn: each turn starts from its topic's kept KV
    state, and the words are the same as when the whole prompt is evaluated from scratch."""
    llm = LlmBrain(max_tokens=16, temperature=0.0)
    try:
        notes = ["(Hours, Saturday: 12 noon to 10:30 pm)\n", "(Prices, Pizza: from 11 to 16 pounds)\n"]
        asked = [notes[0] + "When do you open on Saturday?", notes[1] + "How much is a pizza?"]
        scratch = []
        for text in asked:
            llm.forget()
            scratch.append("".join(llm.reply([], text, threading.Event())))
        llm.keep_prefixes(notes)
        again = ["".join(llm.reply([], text, threading.Event())) for text in asked + asked]
        assert again == scratch + scratch
        assert llm.prefix_hits == 4  # each turn after the other topic's: restored, not re-evaluated
    finally:
        llm.close()


def test_cancel_stops_generation_promptly(brain: LlmBrain) -> None:
    cancel = threading.Event()
    deltas: list[str] = []
    for delta in brain.reply([], "Tell me a very long story about a dragon.", cancel):
        deltas.append(delta)
        if len(deltas) == 3:
            cancel.set()
    assert len(deltas) == 3
    # The worker notices within a token and serves the next request.
    assert "".join(brain.reply([], "Say hello.", threading.Event())).strip()
    assert brain.last_stats is not None and not brain.last_stats.cancelled


def test_the_next_token_is_computed_only_when_asked_for(brain: LlmBrain) -> None:
    """Backpressure: a consumer that stops asking (its audio is being synthesised) stops generation."""
    stream = brain.reply([], "Count from one to twenty.", threading.Event())
    first = next(stream)
    t_taken = time.monotonic()
    assert first
    worker = brain._worker  # now waiting to be asked for the next token, not generating
    time.sleep(0.5)
    held = time.monotonic() - t_taken  # what this reader held it, at least the 0.5 s asked for
    rest = list(stream)
    assert rest, "generation did not go on once asked"
    stats = brain.last_stats
    assert stats is not None and stats.tokens == 1 + len(rest) and not worker.exited.is_set()
    # the time held is the reader's (measured here, in the same run), not generation's
    assert 0.4 <= stats.held_secs < held + 0.5 * (stats.generate_secs - stats.held_secs), (held, stats)
    assert stats.generate_secs >= stats.held_secs


def test_a_reply_read_at_once_is_not_held(brain: LlmBrain) -> None:
    deltas = list(brain.reply([], "Say hello.", threading.Event()))
    assert "".join(deltas).strip()
    stats = brain.last_stats
    # a reader that asks at once holds the worker for a small part of the reply's time (a ratio: a loaded
    # machine slows the reader and generation alike)
    assert stats is not None and stats.held_secs < 0.2 * stats.generate_secs, stats


def test_concurrent_requests_are_evaluated_by_the_worker_alone(brain: LlmBrain,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers at once: the model is evaluated by the worker's thread alone, one batch at a time, and each
    caller gets a whole reply."""
    evals: list[str] = []
    running = [0]
    overlapped = threading.Event()
    evaluate = brain._context.decode

    def watched(rows: list) -> int:
        running[0] += 1
        if running[0] > 1:
            overlapped.set()
        evals.append(threading.current_thread().name)
        try:
            return evaluate(rows)
        finally:
            running[0] -= 1

    monkeypatch.setattr(brain._context, "decode", watched)
    replies: dict[int, str] = {}

    def ask(n: int) -> None:
        replies[n] = "".join(brain.reply([], f"Give me the number {n}.", threading.Event()))

    threads = [threading.Thread(target=ask, args=(n,), name=f"caller-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a caller still waits for its reply"
    assert sorted(replies) == [0, 1] and all(text.strip() for text in replies.values()), replies
    assert evals and set(evals) == {brain._worker.name}, set(evals)  # never on a caller's thread
    assert not overlapped.is_set(), "two batches ran at once"


def test_missing_model_is_one_line_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "none.gguf"
    with pytest.raises(ModelError) as caught:
        LlmBrain(missing)
    assert str(caught.value).startswith(f"LLM model not found: {missing} (")
    assert "\n" not in str(caught.value)


def test_not_a_gguf_file_is_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelError, match=rf"^LLM model is not a GGUF file: {junk} \("):
        LlmBrain(junk)


def test_truncated_gguf_is_model_error(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match=rf"^LLM model cannot be loaded: {truncated}: "):
        LlmBrain(truncated)


def test_history_window_moves_in_half_steps_to_keep_the_cached_prefix() -> None:
    from agent.dialog.llm import history_start

    starts = [history_start(n, 8) for n in range(0, 20)]
    assert starts[:9] == [0] * 9
    assert starts[9:13] == [4] * 4 and starts[13:17] == [8] * 4
    assert all(n - s <= 8 for n, s in enumerate(starts))


def test_it_runs_on_the_cores_a_busy_neighbour_leaves() -> None:
    import subprocess
    import sys

    from agent.compute import CpuShare, usable_cores

    if usable_cores() < 2:
        pytest.skip("needs two cores")
    share = CpuShare(window_secs=0.5)
    llm = LlmBrain(n_threads=2, max_tokens=8, cpu_share=share)
    try:
        # processes that want every core but one
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(usable_cores() - 1)]
        try:
            time.sleep(1.2)
            share.others_busy()
            time.sleep(0.6)
            assert "".join(llm.reply([], "Say hello.", threading.Event())).strip()
            assert llm.threads == 1
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
        time.sleep(1.2)
        share.others_busy()
        time.sleep(0.6)
        assert "".join(llm.reply([], "Say hello.", threading.Event())).strip()
        assert llm.threads == 2  # the cores are back
    finally:
        llm.close()


def _read(brain: LlmBrain, demand: CallDemand, question: str, out: dict[str, list[str]], name: str,
          events: list[str], started: threading.Event | None = None) -> None:
    bind(demand)  # as a call's dialog thread is bound to its call
    for delta in brain.reply([], question, threading.Event()):
        out.setdefault(name, []).append(delta)
        events.append(name)
        if started is not None and len(out[name]) == 3:
            started.set()


def test_a_waiting_caller_is_served_before_a_reply_already_playing_and_both_say_what_they_would_alone() -> None:
    """One model, two calls: a caller who has just stopped speaking (WAITING) gets the model between the
    tokens of another call's reply that is playing with audio in hand (AHEAD); the two are evaluated in the same
    batches, and both replies are word for word what they are when served alone."""
    llm = LlmBrain(max_tokens=40, temperature=0.0)
    try:
        playing = CallDemand("a", lambda: State.SPEAKING, lambda: 5.0)
        waiting = CallDemand("b", lambda: State.THINKING, lambda: 0.0)
        assert playing.priority() is Priority.AHEAD and waiting.priority() is Priority.WAITING
        long_q, short_q = "Count from one to thirty in words, separated by commas.", "Say hello to Ann."
        alone = {q: "".join(llm.reply([], q, threading.Event())) for q in (long_q, short_q)}
        out: dict[str, list[str]] = {}
        events: list[str] = []
        started = threading.Event()
        a = threading.Thread(target=_read, args=(llm, playing, long_q, out, "a", events, started))
        a.start()
        assert started.wait(30)
        b = threading.Thread(target=_read, args=(llm, waiting, short_q, out, "b", events))
        b.start()
        for thread in (a, b):
            thread.join(60)
        assert "".join(out["a"]) == alone[long_q] and "".join(out["b"]) == alone[short_q]
        last_b = len(events) - 1 - events[::-1].index("b")
        assert "a" in events[last_b:], f"the playing reply finished before the waiting caller's: {events}"
        assert llm._server.shared_steps >= 1

        # Two callers waiting at once: the one who has waited longer is served first (rather than both
        # waiting for both); once its reply plays with audio in hand, the other has the model.
        out.clear()
        events.clear()
        llm.forget()  # both prompts evaluated whole: a prompt held already costs one row in the other's steps
        c_state = [State.THINKING]
        c = CallDemand("c", lambda: c_state[0], lambda: 5.0)
        d = CallDemand("d", lambda: State.THINKING, lambda: 0.0)
        c_started = threading.Event()
        first = threading.Thread(target=_read, args=(llm, c, long_q, out, "c", events, c_started))
        first.start()
        time.sleep(0.05)
        second = threading.Thread(target=_read, args=(llm, d, short_q, out, "d", events))
        second.start()
        assert c_started.wait(30)
        c_state[0] = State.SPEAKING  # its first clause is out
        for thread in (first, second):
            thread.join(60)
        assert "".join(out["c"]) == alone[long_q] and "".join(out["d"]) == alone[short_q]
        assert events[:3] == ["c"] * 3, events
        last_d = len(events) - 1 - events[::-1].index("d")
        assert "c" in events[last_d:], f"the playing reply finished before the waiting caller's: {events}"
    finally:
        llm.close()


def test_a_calls_next_turn_evaluates_only_its_new_words_even_after_another_call() -> None:
    """Call A asks, call B asks, A asks again: A's second prompt is evaluated from what A's first turn left in
    its sequence (its new words alone, counted), and the words are those of a full evaluation."""
    llm = LlmBrain(max_tokens=24, temperature=0.0)
    try:
        a, b = (CallDemand(n, lambda: State.THINKING, lambda: 0.0) for n in "ab")
        bind(a)
        first = "".join(llm.reply([], "My name is Ann. Say hello to me.", threading.Event()))
        bind(b)
        assert "".join(llm.reply([], "What is the capital of Italy?", threading.Event())).strip()
        history = [Message("user", "My name is Ann. Say hello to me."), Message("assistant", first)]
        bind(a)
        again = "".join(llm.reply(history, "What is my name?", threading.Event()))
        assert llm._server.call_hits == 1
        stats = llm.last_stats
        assert stats is not None
        def prompt(history: list[Message], text: str) -> int:
            tokens = llm._prompt_tokens(Request(llm._messages(history, text), threading.Event(), 1))
            assert tokens is not None
            return len(tokens)

        whole = prompt(history, "What is my name?")
        before = prompt([], history[0].text) + len(llm._llama.tokenize(first.strip().encode(), add_bos=False))
        # the new words alone (the end of its last reply, the question and the turn's tags), never the history
        assert 0 < stats.evaluated <= whole - before + 2 < 30, (stats.evaluated, whole, before)
        llm.forget()
        bind(None)
        assert again == "".join(llm.reply(history, "What is my name?", threading.Event()))
        assert llm.last_stats is not None and llm.last_stats.evaluated == whole  # the whole prompt
    finally:
        bind(None)
        llm.close()


def test_a_bare_yes_from_the_model_is_replaced_by_the_fact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model says "Yes, I can help with that." to a plumber's caller: the guard holds the "Yes",
    finds nothing of the facts in its sentence, and says the repairs fact instead."""
    from agent.dialog.actions import Decision
    from agent.dialog.facts import load_facts
    from tests.agent_proc import REPO

    facts = load_facts(REPO / "agent" / "tools" / "bench" / "businesses" / "plumber.toml")
    monkeypatch.setattr(LlmBrain, "keep_prefixes", lambda *_args: None)
    created = create_brain("llm", max_tokens=40, facts=facts, timezone="UTC", warm_up=False)
    try:
        assert isinstance(created, Receptionist)
        call = created.for_call()
        question = "My toilet won't flush, can you help?"
        out = list(call.reply([], question, threading.Event()))
        said = "".join(d for d in out if isinstance(d, str))
        assert said == "Repairs, Leaks, burst pipes, blocked drains, dripping taps and toilets that will not flush."
        assert [(d.by, d.kind) for d in out if isinstance(d, Decision)] == [("guard", "yes")]
    finally:
        created.close()


def test_replies_in_one_batch_are_word_for_word_the_replies_alone() -> None:
    """One, two, three and four calls asking at once: every step evaluates all of them in one batch, and each
    reply is what the model says to that call alone (temperature 0)."""
    llm = LlmBrain(max_tokens=24, temperature=0.0)
    try:
        questions = ["Say hello to Ann.", "What is the capital of Italy?", "Name three colours.",
                     "How many legs does a spider have?"]
        alone = {}
        for question in questions:
            llm.forget()
            alone[question] = "".join(llm.reply([], question, threading.Event()))
        for callers in (1, 2, 3, 4):
            llm.forget()
            steps, shared = llm._context.decodes, llm._server.shared_steps
            out: dict[str, list[str]] = {}
            events: list[str] = []
            # replies playing with audio in hand: a caller waiting for a reply's first words would have the
            # steps to itself (its tokens alone), so these share every step
            demands = [CallDemand(q, lambda: State.SPEAKING, lambda: 5.0) for q in questions[:callers]]
            threads = [threading.Thread(target=_read, args=(llm, d, d.name, out, d.name, events)) for d in demands]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert {q: "".join(out[q]) for q in questions[:callers]} == {q: alone[q] for q in questions[:callers]}
            if callers > 1:  # the replies were evaluated together, in fewer steps than one by one
                assert llm._server.shared_steps - shared >= 5
                assert llm._context.decodes - steps < len(events), (llm._context.decodes - steps, len(events))
    finally:
        bind(None)
        llm.close()


def test_a_call_that_hangs_up_mid_reply_frees_its_sequence_at_once() -> None:
    llm = LlmBrain(max_tokens=60, temperature=0.0)
    try:
        state = [State.THINKING]
        demand = CallDemand("gone", lambda: state[0], lambda: 0.0)
        cancel = threading.Event()
        bind(demand)
        stream = llm.reply([], "Count from one to fifty in words.", cancel)
        assert next(stream) and next(stream)
        held = [seq for seq in llm._server._seqs if seq.demand is demand]
        assert len(held) == 1 and held[0].owner is not None and llm._context.length(held[0].id) > 10
        state[0] = State.ENDED  # the caller hangs up: the call ends, its reply is cancelled
        cancel.set()
        assert not list(stream)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and (held[0].demand is demand or held[0].tokens):
            time.sleep(0.01)
        assert held[0].demand is None and not held[0].tokens and llm._context.length(held[0].id) == 0
        # a call that ends after its reply is over frees its sequence as well
        state[0] = State.THINKING
        other = CallDemand("later", lambda: state[0], lambda: 0.0)
        bind(other)
        assert "".join(llm.reply([], "Say hello.", threading.Event())).strip()
        (kept,) = [seq for seq in llm._server._seqs if seq.demand is other]
        assert kept.owner is None and llm._context.length(kept.id) > 10  # kept for its next turn
        state[0] = State.ENDED
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and kept.tokens:
            time.sleep(0.01)
        assert not kept.tokens and llm._context.length(kept.id) == 0
    finally:
        bind(None)
        llm.close()


def test_prompt_lookup_drafts_never_change_the_words() -> None:
    """Replies that say the facts as the prompt says them: with drafted tokens checked in the same step, the
    words are those of one token a step, in fewer steps."""
    llm = LlmBrain(max_tokens=40, temperature=0.0, draft_tokens=0)
    try:
        asked = ["(Prices, Corkage: 10 pounds a bottle, free on Tuesdays)\nHow much is the corkage?",
                 "(Location: 14 Harbour Street, Brighton, BN1 2AB, by the pier)\nWhere are you?",
                 "(Dogs: welcome on the terrace, not inside)\nCan I bring my dog?",
                 "Count from one to ten in words."]
        def ask(text: str) -> str:
            llm.forget()  # the whole prompt each time: the steps counted differ by the drafts alone
            return "".join(llm.reply([], text, threading.Event()))

        steps = llm._context.decodes
        plain = [ask(text) for text in asked]
        plain_steps = llm._context.decodes - steps
        llm._server.draft_tokens = 4
        steps = llm._context.decodes
        drafted = [ask(text) for text in asked]
        assert drafted == plain
        assert llm._server.accepted >= 5, (llm._server.accepted, llm._server.drafted)
        assert llm._context.decodes - steps < plain_steps, (llm._context.decodes - steps, plain_steps)
    finally:
        llm.close()
