"""Admission against a broken or hostile client: INVITEs never ACKed, too many INVITEs from one source."""

from __future__ import annotations

from pathlib import Path

from agent.manager import RateLimit
from tests.agent_proc import AgentProcess, caller_results, run_caller, start_caller
from tests.peers.raw_sip import NoAckClient


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_is_a_bucket_per_source() -> None:
    clock = Clock()
    limit = RateLimit(60, clock)  # one a second, bursts of 10
    assert [limit.allow("a") for _ in range(11)] == [True] * 10 + [False]
    assert limit.allow("b") and limit.retry_after() == 1
    clock.now = 2.0
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    assert all(RateLimit(0, clock).allow("a") for _ in range(1000))


def _agent(tmp_path: Path, *extra: str) -> AgentProcess:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", *extra]
    return AgentProcess(tmp_path, args).start(timeout=60)


def _client(agent: AgentProcess) -> NoAckClient:
    assert agent.port is not None
    return NoAckClient(agent.port)


def test_invites_never_acked_free_their_slots_and_a_real_call_is_answered_next(tmp_path: Path) -> None:
    with _agent(tmp_path, "--max-calls", "2") as agent, _client(agent) as hostile:
        calls = [hostile.invite(), hostile.invite()]
        hostile.read(1.0)
        assert all((hostile.final(call) or (0,))[0] == 200 for call in calls), hostile.responses
        assert run_caller(agent.uri, "--duration", "0.3")["status"] == 486  # both slots are taken
        agent.wait_for(r"call 2 from .* ended: no ACK within 8 s", timeout=15)
        agent.wait_for(r"call 1 from .* ended: no ACK within 8 s", timeout=5)
        assert run_caller(agent.uri, "--duration", "0.3")["status"] == 200  # at once, not after the RTP timeout
        log = agent.log()
    assert log.count("refused with 486") == 1


def test_too_many_invites_from_one_source_get_503_with_retry_after(tmp_path: Path) -> None:
    # room for three calls: only the rate limit may refuse one
    with _agent(tmp_path, "--invite-rate", "6", "--max-calls", "3") as agent, _client(agent) as flood:
        calls = [flood.invite() for _ in range(3)]  # bursts of 2 at 6 a minute
        flood.read(1.0)
        finals = [flood.final(call) for call in calls]
        assert [f[0] if f else None for f in finals] == [200, 200, 503], flood.responses
        assert finals[2] is not None and finals[2][1].get("retry-after") == "10"
        agent.wait_for(r"call 3 from sip:noack@127\.0\.0\.1:\d+ \(127\.0\.0\.1\) refused with 503: "
                       r"more than 6 INVITEs a minute from 127\.0\.0\.1")


def test_auto_capacity_grows_while_turns_keep_the_objective_and_falls_when_they_miss_it() -> None:
    from agent.manager import Capacity

    capacity = Capacity(1500.0, ceiling=3)
    assert capacity.limit == 1  # one call is always taken
    for _ in range(3):
        capacity.observe(900.0, 1)
    assert capacity.limit == 1  # not enough turns yet
    capacity.observe(900.0, 1)
    assert capacity.limit == 2
    for _ in range(4):
        capacity.observe(1300.0, 2)  # within the objective, not within its headroom: no more
    assert capacity.limit == 2
    capacity.observe(2500.0, 2)
    capacity.observe(2600.0, 2)
    assert capacity.limit == 1  # two calls missed it


def test_auto_admission_refuses_with_503_when_the_box_is_at_capacity(tmp_path: Path) -> None:
    # an objective no turn can keep: the box holds one call, a second one at the same time is refused
    with _agent(tmp_path, "--max-calls", "auto", "--target-v2v-ms", "100") as agent:
        first = start_caller(agent.uri, "--duration", "4")
        agent.wait_for(r"call 1: media up")
        second = run_caller(agent.uri, "--duration", "0.3")
        assert second["status"] == 503, second
        assert caller_results(first)[-1]["status"] == 200
        agent.wait_for(r"call 2 from .* refused with 503: at capacity: 1 calls keep voice to voice within 100 ms")
        assert "max auto (voice to voice within 100 ms) calls" in agent.log()
