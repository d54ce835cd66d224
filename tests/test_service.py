"""Running as a service: the systemd unit verifies, its command line is valid, JSON logs parse."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.cli import build_parser
from tests.agent_proc import REPO, AgentProcess

UNIT = REPO / "scripts" / "systemd" / "sip-agent.service"


def _unit_lines() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    # as installed, but in this checkout (systemd-analyze checks that ExecStart exists)
    unit = tmp_path / "sip-agent.service"
    unit.write_text(UNIT.read_text().replace("/opt/sip-agent", str(REPO)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result


def test_the_unit_runs_the_agent_as_its_own_user_with_only_the_real_time_privilege() -> None:
    keys = _unit_lines()
    assert keys["User"] == ["sip-agent"] and keys["Restart"] == ["on-failure"]
    assert keys["AmbientCapabilities"] == ["CAP_SYS_NICE"] and keys["CapabilityBoundingSet"] == ["CAP_SYS_NICE"]
    assert keys["EnvironmentFile"] == ["-/etc/sip-agent/env"] and "RestrictRealtime" not in keys
    command = shlex.split(keys["ExecStart"][0])
    assert command[0] == "/opt/sip-agent/.venv/bin/sip-agent"
    args = build_parser().parse_args(command[1:])  # every flag it passes exists
    assert args.config == "/etc/sip-agent/agent.toml" and vars(args)["service.log_format"] == "json"


def test_json_logs_are_one_object_a_line(tmp_path: Path) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", "--log-format", "json"]
    agent = AgentProcess(tmp_path, args).start(timeout=60)
    assert agent.stop() == 0
    lines = [json.loads(line) for line in agent.log().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("listening for SIP") for line in lines)
