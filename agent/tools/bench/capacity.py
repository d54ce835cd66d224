"""Bench phase ``capacity``: 1, 2, 3, 4 callers at once, each a process of its own asking questions.

One agent (the default models, ``--max-calls 4``) serves every level.  At each
level N, N ``sip-agent call`` processes start together and each asks
``TURNS`` spoken questions, waiting for each answer.  Voice to voice is
measured on the wire by the callers (end of the question's speech -> first
answer audio at the caller); the agent's CPU use and RSS are sampled from
/proc (its outgoing RTP gaps are in the bench's RTP figures).  The box holds
N calls if every level up to N answered every question with voice to voice
p95 within the objective.  Then ``CHURN_CALLS`` short calls one after another: the agent's RSS
and threads before and after, as a slope per call (flat: nothing kept per call).

The callers share the box with the agent, so they run at nice 19 (:data:`CALLER_NICE`): the agent
does not count niced time as a neighbour's (:mod:`agent.compute`), and its work comes first.  Their
media clock threads still run in time: like the agent's, they ask for real-time scheduling, which
nice does not touch.  Their questions are synthesised before each call is placed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..harness import AgentProcess

__all__ = ["OBJECTIVE_MS", "capacity_phase"]

OBJECTIVE_MS = 1500.0
"""Voice to voice p95 within which a level counts as held."""
TURNS = 4
CALLER_NICE = 19
CHURN_CALLS = 200
CAPACITY_QUESTIONS = (
    "What are your opening hours on Saturday?",
    "How much is the corkage?",
    "Can I bring my dog?",
    "Where are you?",
    "Do you take credit cards?",
    "What time do you close on Sunday?",
)


def capacity_phase(bench: Any, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    from ...dialog.facts import example_facts_path

    levels = (1, 2) if quick else (1, 2, 3, 4)
    # (no INVITE rate limit: the calls in a row come from one address, faster than a caller would)
    agent, _records = bench.agent("capacity", "--brain", "llm", "--facts", str(example_facts_path()),
                                  "--max-calls", str(max(levels)), "--invite-rate", "0")
    result: dict[str, Any] = {"objective_ms": OBJECTIVE_MS, "turns_per_call": 2 if quick else TURNS,
                              "rss_mb_idle": _rss_mb(agent.pid), "levels": {}}
    try:
        for n in levels:
            result["levels"][str(n)] = _level(agent, n, result["turns_per_call"])
            cell = result["levels"][str(n)]
            say(f"capacity: {n} at once: voice to voice p50 {cell['v2v_ms_p50']} ms, p95 {cell['v2v_ms_p95']} ms "
                f"(n={cell['n']}, {cell['missing']} unanswered), agent CPU {cell['cpu_cores']} cores, "
                f"RSS {cell['rss_mb_max']} MB")
        result["churn"] = _churn(agent, 20 if quick else CHURN_CALLS)
        churn = result["churn"]
        say(f"capacity: {churn['calls']} calls in a row: RSS {churn['rss_kb_per_call']:+.1f} kB a call, "
            f"threads {churn['threads_before']} -> {churn['threads_after']}")
    finally:
        agent.stop()
    held = 0
    for n in levels:
        cell = result["levels"][str(n)]
        if cell["missing"] or cell["v2v_ms_p95"] is None or cell["v2v_ms_p95"] > OBJECTIVE_MS:
            break
        held = n
    result["calls_within_objective"] = held
    result["auto_would_admit"] = auto_limit(result["levels"], OBJECTIVE_MS)
    return result


def auto_limit(levels: dict[str, dict[str, Any]], objective_ms: float) -> int:
    """The limit ``--max-calls auto`` learns from these turns (its own rule, fed level by level, as the
    calls' turns would reach it); it must agree with ``calls_within_objective`` (at least 1)."""
    from ...manager import Capacity

    capacity = Capacity(objective_ms)
    for n in sorted(levels, key=int):
        if int(n) > capacity.limit:
            break  # auto would have refused this level's extra calls
        for v2v_ms in levels[n]["v2v_ms"]:
            capacity.observe(v2v_ms, int(n))
        if levels[n]["missing"]:
            capacity.limit = min(capacity.limit, max(1, int(n) - 1))
    return capacity.limit


def _level(agent: AgentProcess, n: int, turns: int) -> dict[str, Any]:
    sampler = _Sampler(agent.pid).start()
    callers = []
    for i in range(n):
        steps: list[dict[str, Any]] = []
        for k in range(turns):
            question = CAPACITY_QUESTIONS[(i + k) % len(CAPACITY_QUESTIONS)]
            steps += [{"say": question}, {"wait_audio": 30}, {"wait_quiet": 1.2}]
        callers.append(subprocess.Popen([sys.executable, "-m", "agent.cli", "call", agent.uri, "--steps",
                                         json.dumps(steps)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=_niced))
    v2v: list[float] = []
    missing = 0
    for proc in callers:
        out, _err = proc.communicate(timeout=60 + 45 * turns)
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        waits = [e for line in lines for e in line.get("events", []) if "v2v_ms" in e]
        v2v += [float(e["v2v_ms"]) for e in waits if e["v2v_ms"] is not None]
        missing += sum(e["v2v_ms"] is None for e in waits) + (turns - len(waits))
    cpu, rss = sampler.stop()
    ordered = sorted(v2v)
    return {"n": len(v2v), "missing": missing, "v2v_ms": [round(v) for v in v2v],
            "v2v_ms_p50": round(statistics.median(ordered)) if ordered else None,
            "v2v_ms_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]) if ordered else None,
            "cpu_cores": cpu, "rss_mb_max": rss}


def _churn(agent: AgentProcess, calls: int) -> dict[str, Any]:
    """``calls`` short calls one after another (a tone each): RSS and threads before and after."""
    before_rss, before_threads = _status(agent.pid, "VmRSS"), _status(agent.pid, "Threads")
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "call", agent.uri, "--duration", "0.3", "--repeat",
                           str(calls)], capture_output=True, text=True, timeout=30 + 3 * calls, preexec_fn=_niced)
    answered = sum(json.loads(line)["status"] == 200 for line in proc.stdout.splitlines() if line.startswith("{"))
    time.sleep(3.0)  # the last call's clean-up
    after_rss, after_threads = _status(agent.pid, "VmRSS"), _status(agent.pid, "Threads")
    return {"calls": calls, "answered": answered, "rss_kb_before": before_rss, "rss_kb_after": after_rss,
            "rss_kb_per_call": round((after_rss - before_rss) / calls, 2), "threads_before": before_threads,
            "threads_after": after_threads}


def _niced() -> None:
    """In a caller's process before it runs: it yields the cores to the agent."""
    os.nice(CALLER_NICE)


def _status(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class _Sampler:
    """The agent's CPU (cores in use, on average) and largest RSS while a level runs, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._stop = threading.Event()
        self._rss = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()
        self._cpu0 = _cpu_secs(pid)

    def start(self) -> _Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._rss = max(self._rss, _rss_mb(self.pid))

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        secs = time.monotonic() - self._t0
        return round((_cpu_secs(self.pid) - self._cpu0) / secs, 2), round(self._rss, 1)


def _cpu_secs(pid: int) -> float:
    import os

    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    return _status(pid, "VmRSS") / 1024
