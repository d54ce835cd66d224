"""The supervision board and the crash policy of an engine's worker, on a fake clock."""

from __future__ import annotations

from agent.supervision import CRASH_LIMIT, CRASH_WINDOW_SECS, Supervision, Supervisor, describe


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_crashes_restart_until_the_limit_within_the_window_then_it_gives_up() -> None:
    board, clock, gave_up = Supervision(), Clock(), list[str]()
    supervisor = Supervisor("llm", board=board, clock=clock, give_up=lambda engine, why: gave_up.append(why))
    assert CRASH_LIMIT == 3 and CRASH_WINDOW_SECS == 60.0
    assert supervisor.crashed(RuntimeError("boom\nmore lines"))
    assert board.problem() == "llm: crashed (RuntimeError: boom), restarting"
    assert supervisor.serving() and board.problem() == "" and not supervisor.serving()
    clock.now = 59.0
    assert supervisor.crashed(ValueError())  # the second within a minute: restarted
    clock.now = 61.0  # the first crash is now more than a minute old: still two in the window
    assert supervisor.crashed(KeyError("k")) and not gave_up
    clock.now = 62.0
    assert not supervisor.crashed(RuntimeError("again"))
    assert gave_up == ["crashed 3 times within 60 s (last: RuntimeError: again)"]
    assert board.problem() == "llm: crashed 3 times within 60 s (last: RuntimeError: again)"
    assert supervisor.restarts == 3


def test_an_error_is_described_in_one_line() -> None:
    assert describe(RuntimeError("first\nsecond")) == "RuntimeError: first"
    assert describe(ValueError("")) == "ValueError"


def test_giving_up_exits_the_process_with_its_code_and_says_why() -> None:
    import subprocess
    import sys

    from agent.supervision import EXIT_GAVE_UP

    code = "from agent.supervision import exit_process; exit_process('llm', 'crashed 3 times'); print('not reached')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == EXIT_GAVE_UP == 70 and "not reached" not in proc.stdout
    assert "llm: crashed 3 times: exiting with code 70" in proc.stderr
