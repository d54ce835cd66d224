"""Agents behind Kamailio's dispatcher (deploy/kamailio/kamailio.cfg), in network namespaces made here.

    10.77.0.1        Kamailio: the dispatcher over the three agents
    10.77.0.11-13    three agents (--no-register, calls only from the proxy, --brain tone)
    10.77.0.100      the callers (the built-in pjsua2 caller)

Each test builds the network and removes it (namespaces, links, processes), also when it fails.
Root only: skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.tools.harness import AgentProcess
from tests.agent_proc import caller_results
from tests.peers.netns import Network, netns_unavailable

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "kamailio" / "kamailio.cfg"
PROXY = "10.77.0.1"
AGENTS = {"a1": "10.77.0.11", "a2": "10.77.0.12", "a3": "10.77.0.13"}
CALLER = "10.77.0.100"
PROBE_SECS = 2.0
"""The config's ds_ping_interval (probing threshold 1): an agent's state is known this long after it changed."""

pytestmark = pytest.mark.skipif(netns_unavailable() is not None, reason=str(netns_unavailable()))


class Site:
    """The network, Kamailio and the agents of one test."""

    def __init__(self, net: Network, workdir: Path) -> None:
        self.net = net
        self.workdir = workdir
        self.agents: dict[str, AgentProcess] = {}
        self.kamailio: subprocess.Popen[bytes] | None = None

    def start_agent(self, name: str, *extra: str) -> AgentProcess:
        args = ["--no-register", "--bind", AGENTS[name], "--port", "5060", "--brain", "tone",
                "--allow-from", f"{PROXY}/32", "--rtp-timeout", "5", *extra]
        agent = AgentProcess(self.workdir / name, args, name, prefix=self.net.exec(name))
        self.agents[name] = agent.start(timeout=90)
        return agent

    def start_proxy(self) -> None:
        listing = self.workdir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:{address}:5060\n" for address in AGENTS.values()))
        run = self.workdir / "kamailio"
        run.mkdir(parents=True, exist_ok=True)
        cmd = [*self.net.exec("proxy"), "kamailio", "-f", str(CONFIG), "-DD", "-E", "-n", "1", "-Y", str(run),
               "-P", str(run / "kamailio.pid"), "-m", "32", "-M", "4", "-A", f"LISTEN=udp:{PROXY}:5060",
               "-A", f'DISPATCHER_LIST="{listing}"']
        with open(self.workdir / "kamailio.log", "wb") as out:
            self.kamailio = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        time.sleep(PROBE_SECS + 1.0)  # a first round of probes
        assert self.kamailio.poll() is None, self.proxy_log()[-3000:]

    def proxy_log(self) -> str:
        return (self.workdir / "kamailio.log").read_text(errors="replace")

    def call(self, *args: str, repeat: int = 1) -> subprocess.Popen[str]:
        """Callers' pjsua2 caller through the proxy (``repeat`` calls one after another)."""
        cmd = [*self.net.exec("callers"), sys.executable, "-m", "agent.cli", "call", f"sip:agent@{PROXY}:5060",
               "--bind", CALLER, "--repeat", str(repeat), *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def answered(self, name: str) -> int:
        """Calls an agent answered so far."""
        return len(re.findall(r"call \d+ from .*: answering", self.agents[name].log()))

    def invited(self, name: str) -> int:
        """INVITEs an agent received so far (answered or refused)."""
        return len(re.findall(r"call \d+ from \S+ \(\S+\)(: answering| refused)", self.agents[name].log()))

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stop(signal.SIGINT)
        if self.kamailio is not None and self.kamailio.poll() is None:
            self.kamailio.terminate()
            try:
                self.kamailio.wait(5)
            except subprocess.TimeoutExpired:
                self.kamailio.kill()
                self.kamailio.wait()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with Network(f"{os.getpid() % 10000}") as net:
        net.add("proxy", PROXY)
        for name, address in AGENTS.items():
            net.add(name, address)
        net.add("callers", CALLER)
        running = Site(net, tmp_path)
        try:
            yield running
        finally:
            running.close()


def _start(site: Site, *extra: str) -> None:
    for name in AGENTS:
        site.start_agent(name, *extra)
    site.start_proxy()


def _results(proc: subprocess.Popen[str], timeout: float = 120.0) -> list[dict[str, Any]]:
    return caller_results(proc, timeout)


def test_calls_are_spread_over_every_agent(site: Site) -> None:
    _start(site)
    results = _results(site.call("--duration", "0.5", repeat=12))
    assert [r["status"] for r in results] == [200] * 12
    spread = {name: site.answered(name) for name in AGENTS}
    assert sum(spread.values()) == 12 and min(spread.values()) >= 2, spread


def test_a_killed_agent_loses_only_its_call_and_calls_after_the_probe_all_succeed(site: Site) -> None:
    _start(site, "--max-calls", "4")  # room beside the held calls
    held = [site.call("--duration", "20") for _ in range(3)]  # one on each agent
    time.sleep(3.0)
    assert all(site.answered(name) == 1 for name in AGENTS), {n: site.answered(n) for n in AGENTS}
    victim = site.agents["a2"]
    assert victim.proc is not None
    victim.proc.kill()  # SIGKILL: no BYE, no goodbye
    t_kill = time.monotonic()
    # At once, before the probe has noticed: a call sent to the dead agent waits the proxy's 2 s
    # transaction timer, then goes to the next agent.
    early = _results(site.call("--duration", "0.3", repeat=3))
    time.sleep(max(0.0, 2 * PROBE_SECS + 0.5 - (time.monotonic() - t_kill)))  # its probe has timed out
    late = _results(site.call("--duration", "0.3", repeat=6))
    assert [r["status"] for r in early + late] == [200] * 9
    assert site.answered("a1") + site.answered("a3") == 2 + 9
    assert max(r["setup_ms"] for r in late) < 1000, "a call after the probe bound went to the dead agent"
    failed_over = site.proxy_log().count(f"agent sip:{AGENTS['a2']}:5060 failed the call")
    outcomes = [_results(proc)[-1] for proc in held]
    lost = [r for r in outcomes if r["frames_rx_voiced"] < 0.8 * 20 * 50]
    assert len(lost) == 1, outcomes  # only the killed agent's call
    print(f"SIGKILL: {len(lost)} of 3 calls in progress lost; {failed_over} new call(s) failed over "
          f"(setup {max(r['setup_ms'] for r in early):.0f} ms at most); calls {2 * PROBE_SECS + 0.5:.1f} s after "
          f"the kill set up in {max(r['setup_ms'] for r in late):.0f} ms at most")
    site.start_agent("a2", "--max-calls", "4")  # restarted, it rejoins by itself at the next probe
    time.sleep(PROBE_SECS + 1.0)
    before = site.answered("a2")
    assert [r["status"] for r in _results(site.call("--duration", "0.3", repeat=6))] == [200] * 6
    assert site.answered("a2") - before >= 1


def test_a_drained_agent_finishes_its_call_takes_no_new_one_and_exits_0(site: Site) -> None:
    _start(site, "--drain-timeout", "30", "--max-calls", "4")
    held = [site.call("--duration", "8") for _ in range(3)]
    time.sleep(3.0)
    draining = site.agents["a1"]
    assert draining.proc is not None and site.answered("a1") == 1
    draining.proc.send_signal(signal.SIGTERM)
    draining.wait_for("draining: 1 call")
    time.sleep(PROBE_SECS + 0.5)  # the probe has seen its 503
    results = _results(site.call("--duration", "0.3", repeat=6))
    assert [r["status"] for r in results] == [200] * 6
    assert site.invited("a1") == 1  # no new call was routed to it
    outcomes = [_results(proc)[-1] for proc in held]
    assert all(r["status"] == 200 and r["hung_up_by"] == "caller" for r in outcomes), outcomes
    assert draining.proc.wait(15) == 0
    assert "drained: no call in progress" in draining.log()


def test_a_full_agent_answers_options_503_and_gets_no_invite(site: Site) -> None:
    _start(site, "--max-calls", "1")
    held = site.call("--duration", "15")
    time.sleep(1.5)
    full = next(name for name in AGENTS if site.answered(name) == 1)
    site.agents[full].wait_for(r"answering OPTIONS with 503: full: 1 of 1 call\(s\)", timeout=2 * PROBE_SECS + 2)
    time.sleep(PROBE_SECS)
    results = _results(site.call("--duration", "0.3", repeat=4))
    assert [r["status"] for r in results] == [200] * 4
    assert site.invited(full) == 1, f"{full} was sent an INVITE while full"
    assert _results(held)[-1]["hung_up_by"] == "caller"


def test_a_rolling_restart_of_every_agent_drops_no_call(site: Site) -> None:
    """Calls keep coming (two callers, one short call after another) while each agent in turn is
    drained (SIGTERM), exits 0 and is started again: every call is answered and runs to its end."""
    extra = ("--drain-timeout", "30", "--max-calls", "4")
    _start(site, *extra)
    callers = [site.call("--duration", "1.5", repeat=22) for _ in range(2)]
    time.sleep(2.0)
    for name in AGENTS:
        agent = site.agents[name]
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(40) == 0, agent.log_tail()
        site.start_agent(name, *extra)
        time.sleep(PROBE_SECS + 1.0)  # back in rotation
    results = [r for proc in callers for r in _results(proc, 180)]
    assert len(results) == 44 and all(r["status"] == 200 for r in results), [(r["status"], r["reason"]) for r in
                                                                             results if r["status"] != 200]
    cut = [r for r in results if r["hung_up_by"] != "caller" or r["frames_rx_voiced"] < 0.8 * 1.5 * 50]
    assert not cut, cut
