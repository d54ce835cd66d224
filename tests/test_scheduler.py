"""The compute scheduler: slots on the cores by priority, round robin between calls, weights."""

from __future__ import annotations

import threading
import time

import pytest

from agent.scheduler import LOW_AHEAD_SECS, CallDemand, CallEnded, ComputeScheduler, Priority, bind, turn_priority
from agent.turn.state import State


def call(name: str, priority: Priority) -> CallDemand:
    demand = CallDemand(name, lambda: State.LISTENING, lambda: 0.0)
    demand.priority = lambda: priority  # type: ignore[method-assign]
    return demand


@pytest.mark.parametrize(("state", "ahead", "expected"), [
    (State.THINKING, 0.0, Priority.WAITING),
    (State.SPEAKING, LOW_AHEAD_SECS / 2, Priority.WAITING),  # about to run out of audio
    (State.SPEAKING, 3.0, Priority.AHEAD),
    (State.PAUSED, 3.0, Priority.AHEAD),
    (State.LISTENING, 0.0, Priority.SPECULATIVE),
    (State.SPECULATING, 0.0, Priority.SPECULATIVE),
    (State.INTERRUPTED, 0.0, Priority.SPECULATIVE),
    (State.ENDED, 0.0, Priority.BACKGROUND),
])
def test_a_calls_priority_follows_its_turn(state: State, ahead: float, expected: Priority) -> None:
    assert turn_priority(state, ahead) is expected


def queue_behind(scheduler: ComputeScheduler, tickets: list[tuple[str, CallDemand | None, Priority | None]],
                 weight: int = 1) -> list[str]:
    """Hold the cores, queue ``tickets`` one by one, let go: the order they were served in."""
    order: list[str] = []
    threads = []
    hold = threading.Event()

    def holder() -> None:
        with scheduler.slot("test", scheduler.capacity):
            hold.wait(10)

    def work(name: str, demand: CallDemand | None, priority: Priority | None) -> None:
        with scheduler.slot("test", weight, demand=demand, priority=priority):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    for n, (name, demand, priority) in enumerate(tickets):
        thread = threading.Thread(target=work, args=(name, demand, priority))
        thread.start()
        threads.append(thread)
        while len(scheduler._waiting) < n + 1:  # queued in this order
            time.sleep(0.001)
    hold.set()
    for thread in [first, *threads]:
        thread.join(10)
    return order


def test_work_is_served_by_its_calls_priority_at_the_moment_the_cores_free() -> None:
    scheduler = ComputeScheduler(capacity=1)
    changing = call("late", Priority.BACKGROUND)
    order = queue_behind(scheduler, [
        ("prefill", None, Priority.BACKGROUND),
        ("later clause", call("a", Priority.AHEAD), None),
        ("partial", call("b", Priority.SPECULATIVE), None),
        ("became urgent", changing, None),
        ("first answer", call("c", Priority.WAITING), None),
    ])
    assert order[:3] == ["first answer", "partial", "later clause"]
    changing.priority = lambda: Priority.WAITING  # type: ignore[method-assign]
    order = queue_behind(scheduler, [
        ("prefill", None, Priority.BACKGROUND),
        ("later clause", call("a", Priority.AHEAD), None),
        ("became urgent", changing, None),
        ("partial", call("b", Priority.SPECULATIVE), None),
    ])
    assert order == ["became urgent", "partial", "later clause", "prefill"]


def test_at_one_priority_the_caller_who_has_waited_longest_goes_first() -> None:
    """Two callers stop speaking one after the other: the first one's work goes first, so the second
    waits for the first one's first clause rather than both waiting for both."""
    scheduler = ComputeScheduler(capacity=1)
    now = [10.0]
    first, second = (CallDemand(n, lambda: State.THINKING, lambda: 0.0, clock=lambda: now[0]) for n in "ab")
    assert first.rank() == (Priority.WAITING, 10.0)
    now[0] = 11.0
    assert second.rank() == (Priority.WAITING, 11.0) and first.rank() == (Priority.WAITING, 10.0)
    order = queue_behind(scheduler, [("second", second, None), ("first", first, None), ("second again", second, None)])
    assert order == ["first", "second", "second again"]


def test_never_more_threads_than_cores() -> None:
    scheduler = ComputeScheduler(capacity=2)
    running, peak = [0], [0]
    lock = threading.Lock()

    def work(weight: int) -> None:
        with scheduler.slot("test", weight):
            with lock:
                running[0] += weight
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= weight

    threads = [threading.Thread(target=work, args=(1 + n % 2,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 2
    assert sum(scheduler.granted.values()) == 12


def test_a_thread_bound_to_a_call_works_at_its_priority() -> None:
    scheduler = ComputeScheduler(capacity=1)
    got: list[Priority] = []

    def stage() -> None:
        bind(call("x", Priority.AHEAD))
        with scheduler.slot("test") as priority:
            got.append(priority)

    thread = threading.Thread(target=stage)
    thread.start()
    thread.join(5)
    with scheduler.slot("test") as unbound:  # work for no call: as if a caller waited
        got.append(unbound)
    assert got == [Priority.AHEAD, Priority.WAITING]


def test_max_calls_auto_agrees_with_the_capacity_bench_on_the_same_turns() -> None:
    from agent.tools.bench.capacity import auto_limit

    def level(v2v_ms: float, n: int) -> dict[str, object]:
        return {"v2v_ms": [v2v_ms] * 4 * n, "missing": 0}

    held_two = {"1": level(800, 1), "2": level(1100, 2), "3": level(1700, 3), "4": level(2500, 4)}
    assert auto_limit(held_two, 1500) == 2
    none_held = {"1": level(2000, 1), "2": level(3000, 2)}
    assert auto_limit(none_held, 1500) == 1  # one call is always taken
    unanswered = {"1": level(800, 1), "2": {"v2v_ms": [900] * 6, "missing": 2}}
    assert auto_limit(unanswered, 1500) == 1


def test_work_for_a_call_that_ends_while_it_waits_is_withdrawn() -> None:
    """Speech for a caller who hangs up while it waits for the cores is not made; the slots stay counted."""
    scheduler = ComputeScheduler(capacity=1)
    state = [State.SPEAKING]
    gone = CallDemand("gone", lambda: state[0], lambda: 0.0)
    outcome: list[str] = []

    def synthesise() -> None:
        try:
            with scheduler.slot("tts", demand=gone, until_ended=True):
                outcome.append("made")
        except CallEnded:
            outcome.append("withdrawn")

    with scheduler.slot("llm"):
        waiter = threading.Thread(target=synthesise)
        waiter.start()
        time.sleep(0.15)
        assert outcome == []  # waiting for the cores
        state[0] = State.ENDED
        waiter.join(2.0)
        assert outcome == ["withdrawn"]
    with scheduler.slot("stt", demand=gone):  # a caller's last words are still decoded, and the core is free
        outcome.append("decoded")
    assert outcome == ["withdrawn", "decoded"] and scheduler._used == 0 and not scheduler._waiting
