"""Metrics and health endpoints of a real agent process, scraped before, during and after a real call."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.agent_proc import AgentProcess, caller_results, start_caller
from tests.peers import Kamailio, free_udp_port


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def value(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels, if any) in a Prometheus exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in:\n{text}"
    return float(match.group(1))


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
    found = 0.0
    for match in re.finditer(rf"^{re.escape(name)}{{(.*)}} (\S+)$", text, re.MULTILINE):
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            found += float(match.group(2))
    return found


def _first_answer(port: int, deadline: float) -> tuple[int, str]:
    while time.monotonic() < deadline:
        try:
            return get(port, "/readyz")
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.01)
    raise AssertionError("the metrics server never answered")


def test_metrics_move_during_a_real_call_and_readyz_waits_for_the_models(tmp_path: Path) -> None:
    port = free_tcp_port()
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "scripted", "--greeting", "",
            "--metrics-port", str(port)]
    agent = AgentProcess(tmp_path, args).start(wait_for=None)
    with agent:
        code, text = _first_answer(port, time.monotonic() + 60)
        assert (code, text) == (503, "not ready: loading models\n")  # the server is up before the models
        agent.wait_ready(60)
        assert get(port, "/readyz") == (200, "ready\n") and get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/nothing")[0] == 404
        before = get(port, "/metrics")[1]
        assert value(before, "sip_agent_calls_active") == 0 and value(before, "process_resident_memory_bytes") > 1e8
        assert value(before, "sip_agent_capacity_calls") == 1  # --max-calls auto starts with one call
        steps = [{"say": "Give me a short reply please."}, {"wait_audio": 15}, {"wait_quiet": 1.0}, {"sleep": 0.5}]
        caller = start_caller(agent.uri, "--steps", json.dumps(steps))
        agent.wait_for(r"call 1: media up")
        during = get(port, "/metrics")[1]
        assert value(during, "sip_agent_calls_active") == 1
        caller_results(caller, timeout=120)
        agent.wait_for(r"call 1 from .* ended")
        after = get(port, "/metrics")[1]
    assert value(after, "sip_agent_calls_active") == 0 and value(after, "sip_agent_calls_total") == 1
    assert value(after, "sip_agent_turns_total") >= 1
    assert value(after, "sip_agent_voice_to_voice_seconds_count") >= 1
    assert 0.3 < value(after, "sip_agent_voice_to_voice_seconds_sum") < 10
    assert value(after, 'sip_agent_turn_stage_seconds_count{stage="endpoint_wait"}') >= 1
    assert value(after, "sip_agent_rtp_tx_gaps_total") >= 0
    # the caller's words were decoded and the reply synthesised through the compute scheduler
    assert total(after, "sip_agent_compute_wait_seconds_count", kind="stt") >= 1
    assert total(after, "sip_agent_compute_wait_seconds_count", kind="tts") >= 1


def test_a_refused_call_is_counted_by_reason(tmp_path: Path) -> None:
    port = free_tcp_port()
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", "--allow-from", "10.0.0.0/8",
            "--metrics-port", str(port)]
    with AgentProcess(tmp_path, args).start(timeout=60) as agent:
        result = caller_results(start_caller(agent.uri, "--duration", "0.5"))[-1]
        assert result["status"] == 403
        agent.wait_for(r"refused with 403")
        text = get(port, "/metrics")[1]
    assert value(text, 'sip_agent_calls_refused_total{reason="forbidden"}') == 1
    assert value(text, "sip_agent_calls_total") == 0


def test_readyz_follows_the_registration(tmp_path: Path) -> None:
    with Kamailio(tmp_path / "kamailio", free_udp_port(), users={"agent": "secret"}) as pbx:
        for password, ready in (("wrong", False), ("secret", True)):
            port = free_tcp_port()
            args = ["--domain", pbx.address, "--user", "agent", "--password", password, "--bind", "127.0.0.1",
                    "--port", str(free_udp_port()), "--brain", "echo", "--metrics-port", str(port)]
            with AgentProcess(tmp_path / password, args).start(timeout=60) as agent:
                agent.wait_for("registered as agent@" if ready else "registration to .* failed: 403")
                code, text = get(port, "/readyz")
                registered = value(get(port, "/metrics")[1], "sip_agent_registered")
            assert (code == 200, registered) == (ready, float(ready)), text
            if not ready:
                assert text == "not ready: not registered (failed 403)\n"
