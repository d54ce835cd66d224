"""Health by capacity and drain, over SIP on loopback: OPTIONS answered by whether a call can be taken;
SIGTERM/SIGUSR1 stop new calls while the calls in progress go on, then the agent exits 0."""

from __future__ import annotations

import datetime
import signal
import subprocess
import time
from pathlib import Path

from tests.agent_proc import AgentProcess, caller_results, start_caller
from tests.peers.raw_sip import NoAckClient


def _agent(tmp_path: Path, *extra: str) -> AgentProcess:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", *extra]
    return AgentProcess(tmp_path, args).start(timeout=60)


def _uri(agent: AgentProcess) -> str:
    return f"sip:agent@127.0.0.1:{agent.port}"


def _logged_at(agent: AgentProcess, message: str) -> float:
    """When the agent logged ``message`` (a regex), by its own clock: a load on the machine that slows this test
    down does not move it."""
    line = agent.wait_for(rf"(?m)^(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}}) .*{message}")
    return datetime.datetime.strptime(line[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _signal_mid_call(agent: AgentProcess, sig: int,
                     duration: str) -> tuple[subprocess.Popen[str], subprocess.Popen[bytes]]:
    """Place a call of ``duration`` seconds; once its media is up, send ``sig`` to the agent.
    Returns the caller and the agent's process."""
    caller = start_caller(_uri(agent), "--duration", duration)
    agent.wait_for("call 1: media up")
    assert agent.proc is not None
    agent.proc.send_signal(sig)
    return caller, agent.proc


def test_options_get_200_while_a_call_can_be_taken_and_503_when_full(tmp_path: Path) -> None:
    with _agent(tmp_path, "--max-calls", "1") as agent, NoAckClient(agent.port or 0) as probe:
        assert probe.ask() == 200
        caller = start_caller(_uri(agent), "--duration", "4")
        agent.wait_for("call 1: media up")
        assert probe.ask() == 503
        agent.wait_for(r"answering OPTIONS with 503: full: 1 of 1 call\(s\)")
        assert caller_results(caller)[-1]["status"] == 200
        agent.wait_for("call 1 .* ended")
        assert probe.ask() == 200


def test_sigterm_drains_the_call_in_progress_refuses_new_ones_then_exits_0(tmp_path: Path) -> None:
    agent = _agent(tmp_path, "--drain-timeout", "30")
    try:
        caller, proc = _signal_mid_call(agent, signal.SIGTERM, "5")
        agent.wait_for("draining: 1 call")
        with NoAckClient(agent.port or 0) as other:
            assert other.ask() == 503  # the dispatcher stops sending calls here
            refused = other.invite()
            other.read(1.0)
            final = other.final(refused)
            assert final is not None and final[0] == 503 and final[1].get("retry-after") == "60", other.responses
        result = caller_results(caller)[-1]
        assert result["status"] == 200 and result["hung_up_by"] == "caller"  # the call went on to its end
        assert proc.wait(15) == 0  # once drained: its drain timeout (30 s) is far off
        log = agent.log()
        assert "drained: no call in progress" in log and "refused with 503: draining" in log
        assert "drain timeout" not in log
        assert "Traceback" not in log
    finally:
        agent.stop()


def test_a_second_signal_or_the_drain_timeout_hangs_up_with_bye(tmp_path: Path) -> None:
    agent = _agent(tmp_path, "--drain-timeout", "2")
    try:
        caller, proc = _signal_mid_call(agent, signal.SIGUSR1, "30")  # the drain signal that is not a stop request
        assert proc.wait(15) == 0  # the call would go on for 30 s
        result = caller_results(caller)[-1]
        assert result["status"] == 200 and result["hung_up_by"] == "agent"
        # at the drain timeout by the agent's clock: not before it, and not at the call's end
        waited = _logged_at(agent, "drain timeout: hanging up 1 call") - _logged_at(agent, "SIGUSR1 received: draining")
        assert 2.0 - 0.01 <= waited < 5 * 2.0, waited
    finally:
        agent.stop()
    agent = _agent(tmp_path / "second", "--drain-timeout", "30")
    try:
        caller, proc = _signal_mid_call(agent, signal.SIGTERM, "30")
        agent.wait_for("SIGTERM received: draining")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0  # at once: its drain timeout and its call are 30 s
        assert caller_results(caller)[-1]["hung_up_by"] == "agent"
    finally:
        agent.stop()


def test_invites_arriving_while_it_stops_do_not_crash_it(tmp_path: Path) -> None:
    """INVITEs keep coming as a drained agent stops (a proxy that has not probed it yet): each gets 503
    while it drains, none is left to outlive the SIP library, and it exits 0 (it used to abort)."""
    agent = _agent(tmp_path, "--drain-timeout", "30", "--invite-rate", "0")
    try:
        caller = start_caller(_uri(agent), "--duration", "1.5")
        agent.wait_for("call 1: media up")
        time.sleep(0.8)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        with NoAckClient(agent.port or 0) as flood:
            for _ in range(100):
                flood.invite()
                time.sleep(0.03)
                if agent.proc.poll() is not None:
                    break
        assert agent.proc.wait(20) == 0, agent.log_tail()
        assert caller_results(caller)[-1]["hung_up_by"] == "caller"
    finally:
        agent.stop()
