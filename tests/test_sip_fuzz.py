"""Malformed SIP from the network: thousands of mutated datagrams, then a real call.

Each run fuzzes a real agent from loopback (``tests/peers/sip_fuzz.py``) with
2,000 mutated copies of real messages for each of three seeds, and after each
seed checks that the agent is alive, that its memory grew by less than 20 MB,
and that a real call is answered within 2 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.agent_proc import AgentProcess, proc_stats, run_caller
from tests.peers.sip_fuzz import SipFuzzer

SEEDS = (1, 2, 3)
DATAGRAMS = 2000
RSS_GROWTH_KB = 20 * 1024
SETTLE_SECS = 2.5
"""After the fuzz, calls it left answered and never ACKed give their place to a new caller after 2 s."""


def _answered(agent: AgentProcess) -> dict[str, object]:
    result = run_caller(agent.uri, "--duration", "0.3")
    assert result["status"] == 200, result
    assert float(str(result["setup_ms"])) < 2000, result
    return result


@pytest.mark.parametrize("extra", [[], ["--max-calls", "2", "--records-dir", "records"]],
                         ids=["default", "max-calls-2-records"])
def test_fuzzed_sip_neither_kills_nor_locks_out(tmp_path: Path, extra: list[str]) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "tone", *extra]
    with AgentProcess(tmp_path, args).start(timeout=60) as agent:
        assert agent.port is not None and agent.proc is not None
        _answered(agent)  # warm: the first call's allocations are not growth
        rss = proc_stats(agent.proc.pid)["VmRSS"]
        for seed in SEEDS:
            with SipFuzzer(agent.port, seed) as fuzzer:
                assert fuzzer.open_dialog(), "no real dialog for the in-dialog requests"
                report = fuzzer.run(DATAGRAMS)
                fuzzer.close_dialog()
            assert agent.proc.poll() is None, f"seed {seed}: the agent died:\n{agent.log()[-3000:]}"
            assert report.sent >= DATAGRAMS * 0.95 and report.responses, report
            time.sleep(SETTLE_SECS)
            _answered(agent)
            grown = proc_stats(agent.proc.pid)["VmRSS"] - rss
            assert grown < RSS_GROWTH_KB, f"seed {seed}: RSS grew {grown} kB"
        log = agent.log()
    assert "Traceback" not in log and "Assertion" not in log, log[-3000:]
