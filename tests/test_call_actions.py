"""Call actions over real SIP: DTMF out and in, and blind transfer (REFER) through Kamailio with digest auth.

The transfer target is a second agent process registered to Kamailio as
``frontdesk``: after the transfer the caller hears it and it hears the caller.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.tools.records import call_folders, read_jsonl
from agent.turn.state import TRANSFER_FAILED
from tests.agent_proc import AgentProcess, run_caller
from tests.peers import Kamailio, free_udp_port
from tests.peers.webhook import WebhookReceiver

PASSWORDS = {"agent": "agent-secret", "frontdesk": "desk-secret"}
SCRIPT = """
[[rule]]
pattern = '\\bcode\\b'
reply = "Here is your code."
digits = "159#"

[[rule]]
pattern = '\\b4711\\b'
reply = "Booking 4711 is confirmed."

[[rule]]
pattern = '\\b(front desk|reception)\\b'
reply = "Of course, please hold."
transfer = "{target}"

[[rule]]
pattern = '\\bhours\\b'
reply = "We open at noon."
"""
DESK_SCRIPT = 'greeting = "Front desk, Maria speaking."\nfallback = "Maria heard: {text}."\n'


def _records(root: Path) -> list[dict[str, Any]]:
    (folder,) = call_folders(root)
    return read_jsonl(folder / "transcript.jsonl")


def _script(tmp_path: Path, target: str = "sip:frontdesk@127.0.0.1") -> Path:
    path = tmp_path / "script.toml"
    path.write_text(SCRIPT.replace("{target}", target))
    return path


def _scripted_agent(tmp_path: Path, script: Path, *extra: str) -> AgentProcess:
    args = ["--brain", "scripted", "--script", str(script), "--greeting", "", "--bind", "127.0.0.1",
            "--records-dir", str(tmp_path / "records"), *extra]
    return AgentProcess(tmp_path, args)


def test_the_agent_sends_dtmf_and_keyed_digits_are_a_turn(tmp_path: Path) -> None:
    steps = [{"say": "Can you send me the code?"}, {"wait_audio": 15}, {"wait_quiet": 1.5},
             {"dtmf": "4711#"}, {"wait_audio": 15}, {"wait_quiet": 1.0}]
    with _scripted_agent(tmp_path, _script(tmp_path), "--no-register", "--port", "0").start(timeout=120) as agent:
        result = run_caller(agent.uri, "--steps", json.dumps(steps), timeout=120)
        agent.wait_for(r"call 1 from .* ended")
    received = "".join(e["dtmf_received"] for e in result["events"] if "dtmf_received" in e)
    assert received == "159#", result["events"]
    records = _records(tmp_path / "records")
    sent = [r for r in records if r["role"] == "action" and r["action"] == "send_digits"]
    assert [r["result"] for r in sent] == ["requested", "sent"] and sent[0]["digits"] == "159#"
    assert {"role": "user", "text": "4711"}.items() <= records[-2].items()
    assert records[-1]["text"] == "Booking 4711 is confirmed."


def test_a_refused_transfer_is_said_and_the_call_goes_on(tmp_path: Path) -> None:
    steps = [{"say": "Put me through to the front desk please."}, {"wait_audio": 15}, {"wait_quiet": 2.0},
             {"say": "What are your hours?"}, {"wait_audio": 15}, {"wait_quiet": 1.0}]
    with _scripted_agent(tmp_path, _script(tmp_path), "--no-register", "--port", "0").start(timeout=120) as agent:
        result = run_caller(agent.uri, "--refuse-transfer", "--steps", json.dumps(steps), timeout=120)
        agent.wait_for(r"call 1 from .* ended: caller hung up")
    assert [e.get("refused") for e in result["events"] if "transfer_request" in e] == [True]
    records = _records(tmp_path / "records")
    transfer = [r for r in records if r["role"] == "action"]
    assert [(r["result"], r.get("ok")) for r in transfer] == [("requested", None), ("603 Decline", False)]
    said = [r["text"] for r in records if r["role"] == "assistant"]
    assert said == ["Of course, please hold.", TRANSFER_FAILED, "We open at noon."]
    assert "transfer to sip:frontdesk@127.0.0.1 failed: 603 Decline; the call goes on" in agent.log()


@pytest.fixture
def kamailio(tmp_path: Path) -> Any:
    with Kamailio(tmp_path / "kamailio", free_udp_port(), users=PASSWORDS) as pbx:
        yield pbx


def test_a_caller_who_asks_for_a_person_is_put_through_to_them(tmp_path: Path, kamailio: Kamailio) -> None:
    desk_uri = f"sip:frontdesk@{kamailio.address}"
    facts = tmp_path / "facts.toml"
    facts.write_text(f'name = "Trattoria Bella"\ntimezone = "Europe/London"\n[hours]\nmonday = "closed"\n'
                     f'[transfer]\nto = "{desk_uri}"\nwho = "the front desk"\n')
    (tmp_path / "desk").mkdir()
    (tmp_path / "desk.toml").write_text(DESK_SCRIPT)
    desk = AgentProcess(tmp_path / "desk", [
        "--domain", kamailio.address, "--user", "frontdesk", "--password", PASSWORDS["frontdesk"],
        "--bind", "127.0.0.1", "--port", str(free_udp_port()), "--brain", "scripted",
        "--script", str(tmp_path / "desk.toml"), "--records-dir", str(tmp_path / "desk-records")], name="desk")
    hook = WebhookReceiver("transfer-secret").__enter__()
    agent = AgentProcess(tmp_path, [
        "--domain", kamailio.address, "--user", "agent", "--password", PASSWORDS["agent"], "--bind", "127.0.0.1",
        "--port", str(free_udp_port()), "--brain", "llm", "--facts", str(facts),
        "--records-dir", str(tmp_path / "records"), "--state-dir", str(tmp_path / "state"),
        "--webhook", hook.url, "--webhook-secret", "transfer-secret"])
    steps = [{"wait_audio": 15}, {"wait_quiet": 1.0}, {"say": "Can I speak to a person please?"},
             {"wait_transfer": 30}, {"wait_audio": 15}, {"wait_quiet": 1.0},  # the front desk's greeting
             {"say": "I would like to book a table."}, {"wait_audio": 15}, {"wait_quiet": 1.0}]
    with desk.start(wait_for="registered as frontdesk@", timeout=120), \
            agent.start(wait_for="registered as agent@", timeout=120):
        result = run_caller(f"sip:agent@{kamailio.address}", "--steps", json.dumps(steps), timeout=180)
        agent.wait_for(rf"call 1 from .* ended: transferred to {desk_uri}")
        desk.wait_for(r"call 1 from .* ended")
    events = result["events"]
    assert [e["transfer_request"] for e in events if "transfer_request" in e] == [desk_uri]
    (moved,) = [e for e in events if e.get("transferred")]
    # the front desk's greeting reached the caller after the transfer
    waits = [e for e in events if "audio_start" in e]
    assert waits[1]["audio_start"] and waits[1]["audio_start"] > moved["t"]
    records = _records(tmp_path / "records")
    said = [r["text"] for r in records if r["role"] == "assistant"]
    assert said[-1] == "Of course. I'll put you through to the front desk now, please hold.", said
    outcome = [r for r in records if r["role"] == "action"][-1]
    assert outcome["action"] == "transfer" and outcome["ok"] and outcome["result"].startswith("200")
    # the caller's words reached the front desk, and its answer the caller
    desk_records = _records(tmp_path / "desk-records")
    heard = [r["text"].lower() for r in desk_records if r["role"] == "user"]
    assert any("book a table" in text for text in heard), desk_records
    assert [r["text"] for r in desk_records if r["role"] == "assistant"][0] == "Front desk, Maria speaking."
    assert waits[2]["audio_start"], events
    # the business heard of it: the transfer, and the call's outcome
    reported = hook.wait_for(lambda e: [x["type"] for x in e] == ["call.started", "transfer", "call.ended"])
    hook.close()
    assert {"target": desk_uri, "ok": True}.items() <= reported[1].items() and reported[1]["detail"].startswith("200")
    assert reported[2]["outcome"] == "transferred" and reported[2]["transcript"] == records
