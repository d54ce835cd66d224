"""A call's events reach the business's webhook over real SIP: signed, with the transcript, across a kill -9."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

from agent.tools.records import call_folders, read_jsonl
from tests.agent_proc import AgentProcess, run_caller
from tests.peers.webhook import WebhookReceiver

SECRET = "events-secret"
SCRIPT = """
greeting = "Trattoria Bella, hello."
[[rule]]
pattern = '\\bhours\\b'
reply = "We open at noon."
"""
STEPS = [{"wait_audio": 15}, {"wait_quiet": 1.0}, {"say": "What are your hours?"}, {"wait_audio": 15},
         {"wait_quiet": 1.0}]


def _agent(tmp_path: Path, webhook: str, name: str = "agent") -> AgentProcess:
    script = tmp_path / "script.toml"
    script.write_text(SCRIPT)
    return AgentProcess(tmp_path, [
        "--brain", "scripted", "--script", str(script), "--greeting", "auto", "--bind", "127.0.0.1",
        "--no-register", "--port", "0", "--records-dir", str(tmp_path / "records"),
        "--state-dir", str(tmp_path / "state"), "--webhook", webhook], name=name,
        env={"SIP_AGENT_WEBHOOK_SECRET": SECRET})


def test_a_call_is_reported_as_started_and_ended_with_its_transcript(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET) as hook, _agent(tmp_path, hook.url).start(timeout=120) as agent:
        run_caller(agent.uri, "--steps", json.dumps(STEPS), timeout=120)
        events = hook.wait_for(lambda e: [x["type"] for x in e] == ["call.started", "call.ended"])
    started, ended = events
    assert all(d.signed_with(SECRET) for d in hook.deliveries)
    assert started["version"] == 1 and started["call_id"] == ended["call_id"] and started["id"] != ended["id"]
    assert started["direction"] == "inbound" and started["from"].startswith("sip:")
    assert started["caller_number"] == ""  # the test caller's user part is a name
    assert started["time"].endswith("Z") and started["sip_call_id"]
    assert ended["ended_by"] == "caller" and ended["cause"] == "caller hung up" and ended["outcome"] == "answered"
    assert 2 < ended["duration_secs"] < 60
    said = [(r["role"], r["text"]) for r in ended["transcript"] if r["role"] != "action"]
    assert said[0] == ("assistant", "Trattoria Bella, hello.") and said[-1] == ("assistant", "We open at noon.")
    assert "hours" in said[1][1].lower()
    (folder,) = call_folders(tmp_path / "records")
    assert ended["transcript"] == read_jsonl(folder / "transcript.jsonl")


def test_events_kept_while_the_webhook_is_down_arrive_once_after_a_kill_and_restart(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    agent = _agent(tmp_path, url).start(timeout=120)
    run_caller(agent.uri, "--steps", json.dumps(STEPS), timeout=120)
    agent.wait_for(r"call 1 from .* ended")
    agent.wait_for(r"webhook: call.started .* not delivered to .*: .*refused")
    agent.stop(signal.SIGKILL)
    with WebhookReceiver(SECRET, port=port) as hook:
        again = _agent(tmp_path, url, name="restarted").start(timeout=120)
        with again:
            again.wait_for(r"outbox .*, 2 event\(s\) pending")
            events = hook.wait_for(lambda e: len(e) == 2, timeout=30)
            again.wait_for(r"webhook: call.ended .* delivered \(200\)")
    assert [e["type"] for e in events] == ["call.started", "call.ended"]
    assert len(hook.accepted()) == 2  # each once
