"""Command line: bad input gives one line and exit code 2; --help teaches every flag."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import Config, load_config
from tests.agent_proc import REPO, _env


def sip_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(), cwd=REPO)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_help_documents_every_flag_with_its_default() -> None:
    out = sip_agent("run", "--help").stdout
    for flag in ["--user", "--password", "--domain", "--registrar", "--proxy", "--no-register", "--bind", "--port",
                 "--rtp-port-min", "--rtp-port-max", "--codecs", "--max-calls", "--allow-from", "--log-level",
                 "--config", "--brain", "--stt", "--vosk-model", "--llm-model", "--piper-voice", "--system-prompt",
                 "--greeting", "--endpoint-ms", "--endpoint-max-ms", "--end-of-turn", "--turn-model",
                 "--barge-in-ms", "--barge-in-confirm-ms", "--vad", "--tts-mode",
                 "--records-dir"]:
        assert flag in out
    assert out.count("default") >= 20


@pytest.mark.parametrize("args,words", [
    (["run", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["run", "--port"], ["--port", "expected one argument"]),
    (["run", "--port", "x"], ["--port", "invalid int value"]),
    (["run", "--no-register", "--allow-from", "10.0.0.0/33"], ["bad --allow-from entry '10.0.0.0/33'"]),
    (["run"], ["--domain is required"]),
    (["run", "--no-register", "--max-calls", "0"], ["--max-calls must be at least 1"]),
    (["run", "--no-register", "--drain-timeout", "-1"], ["--drain-timeout must be 0 or more seconds"]),
    (["run", "--config", "/nonexistent/agent.toml"], ["cannot read config file /nonexistent/agent.toml"]),
    (["run", "--no-register", "--codecs", "opus"], ["unknown codec 'opus'"]),
    (["run", "--no-register", "--webhook", "ftp://example/x", "--webhook-secret", "s"],
     ["--webhook must be an http:// or https:// URL"]),
    (["run", "--no-register", "--webhook", "http://127.0.0.1:9/hook"], ["--webhook needs --webhook-secret"]),
    (["run", "--no-register", "--brain", "tone", "--state-dir", "/proc/none", "--webhook", "http://127.0.0.1:9/h",
      "--webhook-secret", "s"], ["cannot open the outbox /proc/none/outbox.sqlite3"]),
    (["run", "--no-register", "--brain", "tone", "--max-calls", "5"], ["--max-calls 5", "at most 4 calls at once"]),
    (["run", "--no-register", "--brain", "scripted", "--piper-voice", "/nope/voice.onnx"], ["/nope/voice.onnx"]),
    (["run", "--no-register", "--vosk-model", "/nope/vosk"], ["/nope/vosk"]),
    (["run", "--no-register", "--llm-model", "/nope/model.gguf"], ["/nope/model.gguf"]),
    (["run", "--no-register", "--vad", "webrtc"], ["--vad", "invalid choice: 'webrtc'"]),
    (["run", "--no-register", "--barge-in-confirm-ms", "-5"], ["--barge-in-confirm-ms", "not negative"]),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    one_line_error(sip_agent(*args, "--port", "0") if "--port" not in args and args != ["run"] else sip_agent(*args),
                   *words)


def test_invalid_config_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sip\nuser = 1\n")
    one_line_error(sip_agent("run", "--config", str(bad)), "invalid config file", str(bad))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[sip]\nmax_calls = "many"\n')
    one_line_error(sip_agent("run", "--config", str(wrong)), "sip.max_calls must be an integer")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[sip]\ncolour = 1\n")
    one_line_error(sip_agent("run", "--config", str(unknown)), "unknown key 'sip.colour'")


def test_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        one_line_error(sip_agent("run", "--no-register", "--brain", "tone", "--bind", "127.0.0.1",
                                 "--port", str(port)), "already in use", str(port))


def test_flags_override_the_file_and_the_example_config_loads(tmp_path: Path) -> None:
    cfg = load_config(REPO / "agent.example.toml")
    assert isinstance(cfg, Config) and cfg.sip.codecs == ["G722", "PCMU", "PCMA"]
    from agent.cli import build_parser, config_from_args

    args = build_parser().parse_args(["run", "--config", str(REPO / "agent.example.toml"), "--max-calls", "9"])
    assert config_from_args(args).sip.max_calls == 9
