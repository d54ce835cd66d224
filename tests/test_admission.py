"""Admission against a broken or hostile client: INVITEs never ACKed, too many INVITEs from one source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.manager import RateLimit
from tests.agent_proc import AgentProcess, caller_results, run_caller, start_caller
from tests.peers.raw_sip import NoAckClient
from tests.test_metrics import free_tcp_port, get, total


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


def _agent(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> AgentProcess:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", *extra]
    return AgentProcess(tmp_path, args, env=env).start(timeout=60)


def _client(agent: AgentProcess) -> NoAckClient:
    assert agent.port is not None
    return NoAckClient(agent.port)


@pytest.mark.parametrize("max_calls", ["4", "auto"])
def test_four_invites_never_acked_hold_nothing_and_a_real_call_10_s_later_is_answered(tmp_path: Path,
                                                                                      max_calls: str) -> None:
    with _agent(tmp_path, "--max-calls", max_calls) as agent, _client(agent) as hostile:
        calls = [hostile.invite() for _ in range(4)]
        hostile.read(10.0)
        answered = [c for c in calls if (hostile.final(c) or (0,))[0] == 200]
        assert len(answered) == (4 if max_calls == "4" else 1), hostile.responses  # auto takes one call at first
        assert run_caller(agent.uri, "--duration", "0.3")["status"] == 200
        agent.wait_for(r"call 1 from .* ended: no ACK within 8 s")
        hostile.read(3.0)
        log = agent.log()
    # their sessions ended with the ACK timeout: no 200 OK sent after it (the SIP stack used to send them until
    # 32 s, then only a BYE, until 64 s, and kept the slots); a BYE for each, as RFC 3261 13.3.1.4 asks
    assert all(hostile.all_for(c).count(200) <= 5 for c in answered), hostile.responses
    assert {re.search(r"Call-ID: (\w+)", bye).group(1) for bye in hostile.requests} == set(answered)  # type: ignore[union-attr]
    assert log.count("no ACK within 8 s") == len(answered)


def test_a_caller_that_never_acks_gives_its_place_to_the_next(tmp_path: Path) -> None:
    with _agent(tmp_path, "--max-calls", "1") as agent, _client(agent) as hostile:
        call = hostile.invite()
        hostile.read(2.5)  # its 200 OK sent three times, no ACK
        assert (hostile.final(call) or (0,))[0] == 200
        assert run_caller(agent.uri, "--duration", "0.3")["status"] == 200
        agent.wait_for(r"call 1 from .* ended: gave its place: no ACK")


@pytest.mark.parametrize("gate", ["gate", "no gate"])
def test_an_invite_without_sdp_refused_at_capacity_leaves_the_agent_alive(tmp_path: Path, gate: str) -> None:
    # pjsua2 freed such an INVITE's copy twice when the call was refused inside onIncomingCall: exit 134
    env = {"SIP_AGENT_FAULT": "sip-gate-off"} if gate == "no gate" else {}
    with _agent(tmp_path, "--max-calls", "1", env=env) as agent, _client(agent) as hostile:
        first = hostile.invite()
        hostile.read(0.5)
        refused = [hostile.invite(sdp=False), hostile.invite(sdp=True)]
        hostile.read(1.0)
        assert (hostile.final(first) or (0,))[0] == 200
        assert [(hostile.final(c) or (0,))[0] for c in refused] == [486, 486], hostile.responses
        assert agent.proc is not None and agent.proc.poll() is None
        hostile.ack(first)
        hostile.read(0.5)
        if gate == "gate":  # refused statelessly: no call object, no call number
            assert not re.search(r"call [23] from", agent.log())
        else:
            agent.wait_for(r"SIP gate left out")


def test_an_invite_from_a_source_not_allowed_gets_one_403_and_makes_no_call(tmp_path: Path) -> None:
    metrics = free_tcp_port()
    with _agent(tmp_path, "--allow-from", "127.0.0.1/32", "--metrics-port", str(metrics)) as agent, \
            NoAckClient(agent.port or 0, bind="127.0.0.2") as stranger:
        call = stranger.invite()
        stranger.options()
        stranger.read(3.0)
        assert stranger.all_for(call) == [403], stranger.responses  # one response, nothing retransmitted
        assert len(stranger.responses) == 1  # the OPTIONS got nothing
        agent.wait_for(r"INVITE from sip:noack@127\.0\.0\.2:\d+ \(127\.0\.0\.2:\d+\) refused with 403: source not "
                       r"in the allow list")
        assert total(get(metrics, "/metrics")[1], "sip_agent_calls_refused_total", reason="forbidden") == 1
        assert "call 1 from" not in agent.log()
        assert run_caller(agent.uri, "--duration", "0.3")["status"] == 200


def test_an_options_inside_a_call_is_answered_by_the_dialog_while_the_agent_is_full(tmp_path: Path) -> None:
    with _agent(tmp_path, "--max-calls", "1") as agent, _client(agent) as phone:
        call = phone.invite()
        phone.read(0.5)
        to_tag = phone.ack(call)
        assert phone.ask() == 503  # outside the call: full
        before = len(phone.all_for(call))
        phone.options_in_dialog(call, to_tag)
        phone.read(1.0)
        assert phone.all_for(call)[before:] == [200], phone.responses


def test_an_info_whose_dtmf_body_pjsua_would_overrun_gets_400_and_a_good_one_is_a_digit(tmp_path: Path) -> None:
    # pjsua's reader of such a body made its length negative and pjlib asserted: one datagram in a call aborted
    with _agent(tmp_path) as agent, _client(agent) as phone:
        call = phone.invite()
        phone.read(0.5)
        to_tag = phone.ack(call)
        relay = "Content-Type: application/dtmf-relay"
        phone.in_dialog("INFO", call, to_tag, 2, relay, body="Signal=5")
        phone.in_dialog("INFO", call, to_tag, 3, relay, body="Signal=7\r\nDuration=160\r\n")
        phone.read(1.0)
        assert phone.all_for(call)[-2:] == [400, 200], phone.responses
        agent.wait_for(r"call 1: DTMF 7")
        assert agent.proc is not None and agent.proc.poll() is None
        assert "DTMF 5" not in agent.log()


def test_a_refer_from_the_caller_is_declined(tmp_path: Path) -> None:
    with _agent(tmp_path) as agent, _client(agent) as phone:
        call = phone.invite()
        phone.read(0.5)
        to_tag = phone.ack(call)
        phone.refer(call, to_tag, "sip:premium@198.51.100.7")
        phone.read(1.0)
        assert phone.all_for(call)[-1] == 603, phone.responses
        agent.wait_for(r"REFER refused with 603")
        assert "transferring" not in agent.log()


def test_too_many_invites_from_one_source_get_503_with_retry_after(tmp_path: Path) -> None:
    # room for three calls: only the rate limit may refuse one
    with _agent(tmp_path, "--invite-rate", "6", "--max-calls", "3") as agent, _client(agent) as flood:
        calls = [flood.invite() for _ in range(3)]  # bursts of 2 at 6 a minute
        flood.read(1.0)
        finals = [flood.final(call) for call in calls]
        assert [f[0] if f else None for f in finals] == [200, 200, 503], flood.responses
        assert finals[2] is not None and finals[2][1].get("retry-after") == "10"
        agent.wait_for(r"INVITE from sip:noack@127\.0\.0\.1:\d+ \(127\.0\.0\.1\) refused with 503: "
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
        agent.wait_for(r"INVITE from .* refused with 503: at capacity: 1 calls keep voice to voice within 100 ms")
        assert "max auto (voice to voice within 100 ms) calls" in agent.log()
