"""Outbound calls over real SIP: the HTTP API and ``sip-agent dial``, through Kamailio to a second agent that
answers as a person (at length, as a business does: known by the words) or as an answering machine (a long
greeting, or a short one known by its words), a call's own facts, and bad API input."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agent.tools.records import call_folders, read_jsonl
from tests.agent_proc import REPO, AgentProcess, _env
from tests.peers import Kamailio, free_udp_port
from tests.peers.webhook import WebhookReceiver

TOKEN = "outbound-token-0123456789"
SECRET = "outbound-secret"
PASSWORDS = {"agent": "agent-secret", "alice": "alice-secret"}
PERSON = """greeting = "Good morning, Brighton Dental, Sarah speaking."
[[rule]]
pattern = '\\btable\\b'
reply = "Yes, that's right. Thank you, goodbye."
hangup = true
"""
MACHINE = """greeting = "Hi, you have reached Alice. I can't take your call right now. Please leave a message."
fallback = ""
"""
SHORT_MACHINE = """greeting = "Please leave a message."
fallback = ""
"""
ASKS = """greeting = "Hello?"
fallback = ""
[[rule]]
pattern = '\\b(?:8|eight)'
reply = "Lovely, thank you. Goodbye."
hangup = true
[[rule]]
pattern = '\\bdid you ask\\b'
reply = "Yes."
[[rule]]
pattern = '\\bbooking\\b'
reply = "Oh yes. What time is my booking?"
"""
VOICEMAIL = "This is Trattoria Bella, calling about your table on Friday. Please call us back."


def _tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(port: int, path: str, body: Any = None, token: str = TOKEN, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any], dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method="POST" if data is not None else "GET",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def _alice(tmp_path: Path, kamailio: Kamailio, script: str) -> AgentProcess:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice.toml").write_text(script)
    return AgentProcess(tmp_path / "alice", [
        "--domain", kamailio.address, "--user", "alice", "--password", PASSWORDS["alice"], "--bind", "127.0.0.1",
        "--port", str(free_udp_port()), "--brain", "scripted", "--script", str(tmp_path / "alice.toml"),
        "--records-dir", str(tmp_path / "alice-records")], name="alice")


def _agent(tmp_path: Path, kamailio: Kamailio, api_port: int, hook: WebhookReceiver) -> AgentProcess:
    return AgentProcess(tmp_path, [
        "--domain", kamailio.address, "--user", "agent", "--password", PASSWORDS["agent"], "--bind", "127.0.0.1",
        "--port", str(free_udp_port()), "--brain", "scripted", "--greeting", "", "--records-dir",
        str(tmp_path / "records"), "--api-port", str(api_port), "--state-dir", str(tmp_path / "state"),
        "--webhook", hook.url], env={"SIP_AGENT_API_TOKEN": TOKEN, "SIP_AGENT_WEBHOOK_SECRET": SECRET})


@pytest.fixture
def kamailio(tmp_path: Path) -> Any:
    with Kamailio(tmp_path / "kamailio", free_udp_port(), users=PASSWORDS) as pbx:
        yield pbx


def test_sip_agent_dial_calls_a_person_who_hears_the_greeting_and_answers(tmp_path: Path, kamailio: Kamailio) -> None:
    port = _tcp_port()
    with WebhookReceiver(SECRET) as hook, \
            _alice(tmp_path, kamailio, PERSON).start(wait_for="registered as alice@", timeout=120) as alice, \
            _agent(tmp_path, kamailio, port, hook).start(wait_for="registered as agent@", timeout=120):
        dial = subprocess.run(
            [sys.executable, "-m", "agent.cli", "dial", f"sip:alice@{kamailio.address}", "--api-url",
             f"http://127.0.0.1:{port}", "--greeting", "Hello, this is Trattoria Bella, calling to confirm your "
             "table for Friday at 8 pm.", "--purpose", "confirm a booking"],
            capture_output=True, text=True, timeout=120, cwd=REPO, env={**_env(), "SIP_AGENT_API_TOKEN": TOKEN})
        assert dial.returncode == 0, dial.stdout + dial.stderr
        states = [json.loads(line) for line in dial.stdout.splitlines()]
        events = hook.wait_for(lambda e: [x["type"] for x in e] == ["call.started", "call.ended"], timeout=30)
        alice.wait_for(r"call 1 from .* ended")
    assert [s["status"] for s in states][0] == "dialing" and states[-1]["status"] == "ended"
    assert "answered" in [s["status"] for s in states]
    last = states[-1]
    assert last["amd"]["decision"] == "human" and last["outcome"] == "answered" and last["answered"], json.dumps(last)
    # as long as a machine's greeting, but a person's words
    assert last["amd"]["cause"] == "WORDS" and "speaking" in last["amd"]["words"].lower(), last
    started, ended = events
    assert started["direction"] == "outbound" and started["to"] == f"sip:alice@{kamailio.address}"
    assert started["call_id"] == states[0]["id"] and started["purpose"] == "confirm a booking"
    assert ended["amd"]["decision"] == "human" and ended["ended_by"] == "callee"
    said = [(r["role"], r["text"]) for r in ended["transcript"] if r["role"] != "action"]
    assert said[0] == ("assistant", "Hello, this is Trattoria Bella, calling to confirm your table for Friday at 8 pm.")
    assert any(role == "user" and "thank you" in text.lower() for role, text in said), said
    (folder,) = call_folders(tmp_path / "alice-records")
    heard = [r["text"].lower() for r in read_jsonl(folder / "transcript.jsonl") if r["role"] == "user"]
    assert any("table" in text and "friday" in text for text in heard), heard  # the greeting came after hers


def _leave_message(tmp_path: Path, kamailio: Kamailio, machine: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                           list[dict[str, Any]]]:
    """The agent calls alice, an answering machine playing the script ``machine``, to leave ``VOICEMAIL``: the
    call's final state, the events delivered, and alice's transcript."""
    port = _tcp_port()
    with WebhookReceiver(SECRET) as hook, \
            _alice(tmp_path, kamailio, machine).start(wait_for="registered as alice@", timeout=120) as alice, \
            _agent(tmp_path, kamailio, port, hook).start(wait_for="registered as agent@", timeout=120):
        status, call, headers = _api(port, "/v1/calls", {"to": f"sip:alice@{kamailio.address}",
                                                         "on_machine": "leave_message", "voicemail": VOICEMAIL})
        assert status == 202 and headers["Location"] == f"/v1/calls/{call['id']}"
        events = hook.wait_for(lambda e: any(x["type"] == "call.ended" for x in e), timeout=60)
        alice.wait_for(r"call 1 from .* ended")
        _, final, _ = _api(port, f"/v1/calls/{call['id']}")
    (folder,) = call_folders(tmp_path / "alice-records")
    return final, events, read_jsonl(folder / "transcript.jsonl")


def test_an_answering_machine_gets_the_message_after_its_greeting(tmp_path: Path, kamailio: Kamailio) -> None:
    final, events, records = _leave_message(tmp_path, kamailio, MACHINE)
    assert final["amd"]["decision"] == "machine" and final["outcome"] == "voicemail", final
    ended = events[-1]
    assert ended["outcome"] == "voicemail" and ended["cause"] == "voicemail left"
    greeting, message = records[0], [r for r in records if r["role"] == "user"][0]
    assert "your table on friday" in message["text"].lower() and "call us back" in message["text"].lower()
    assert message["start_secs"] > greeting["end_secs"] + 1.0  # after the greeting (and its silence), not over it


def test_a_machine_with_a_short_greeting_is_known_by_its_words(tmp_path: Path, kamailio: Kamailio) -> None:
    """A greeting as short as a person's answer, without a beep: its words say a machine; the message follows."""
    final, _events, records = _leave_message(tmp_path, kamailio, SHORT_MACHINE)
    assert final["amd"]["decision"] == "machine" and final["outcome"] == "voicemail", final
    assert final["amd"]["cause"] == "WORDS" and "leave a message" in final["amd"]["words"].lower(), final
    heard = [r["text"].lower() for r in records if r["role"] == "user"]
    assert any("call us back" in text for text in heard), heard


def test_bad_api_requests_get_a_clear_refusal(tmp_path: Path) -> None:
    port = _tcp_port()
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "echo", "--api-port", str(port),
            "--dial-rate", "1", "--max-calls", "1"]
    with AgentProcess(tmp_path, args, env={"SIP_AGENT_API_TOKEN": TOKEN}).start(timeout=60) as agent:
        assert _api(port, "/v1/calls", {"to": "sip:a@127.0.0.1"}, token="wrong-token-000000000")[0] == 401
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"raw": b"{not json"}, 400, "not JSON"),
            ({"body": {}}, 400, "to: required"),
            ({"body": {"to": "alice"}}, 400, "not a SIP URI"),
            ({"body": {"to": "+441273555019"}}, 400, "--domain"),
            ({"body": {"to": "sip:a@127.0.0.1", "colour": "red"}}, 400, "unknown field 'colour'"),
            ({"body": {"to": "sip:a@127.0.0.1", "facts": "x.toml"}}, 400, "facts: an object of topics"),
            ({"body": {"to": "sip:a@127.0.0.1", "facts": {"Your booking": {"time": ""}}}}, 400, "1 to 1000"),
            ({"body": {"to": "sip:a@127.0.0.1", "facts": {"Your booking": {str(n): "x" for n in range(21)}}}}, 400,
             "at most 20 facts"),
            ({"body": {"to": "sip:a@127.0.0.1", "facts": {"Your booking": {"time": "8 pm"}}}}, 400,
             "run it with --facts"),  # (--brain echo answers from no facts)
            ({"body": {"to": "sip:a@127.0.0.1", "on_machine": "leave_message"}}, 400, "voicemail"),
            ({"body": {"to": "sip:a@127.0.0.1", "ring_timeout_secs": 1}}, 400, "ring_timeout_secs"),
            ({"raw": b"x" * 20000}, 413, "16384 bytes"),
            ({"body": {"to": "sip:a@127.0.0.1"}, "content_type": "text/plain"}, 415, "application/json"),
        ]
        for kwargs, status, words in cases:
            got, answer, _ = _api(port, "/v1/calls", **kwargs)
            assert got == status and words in answer["error"], (kwargs, got, answer)
        assert _api(port, "/v1/calls/00000000-0000-0000-0000-000000000000")[0] == 404
        # a call to no one: refused by the network, ended, kept for GET
        target = f"sip:nobody@127.0.0.1:{free_udp_port()}"
        status, first, _ = _api(port, "/v1/calls", {"to": target, "amd": False, "ring_timeout_secs": 5})
        assert status == 202
        status, second, headers = _api(port, "/v1/calls", {"to": target})
        assert status == 503 and "at capacity" in second["error"] and int(headers["Retry-After"]) > 0
        agent.wait_for(r"call 1 to .*: ended", timeout=40)
        _, again, _ = _api(port, f"/v1/calls/{first['id']}")
        assert again["status"] == "ended" and again["outcome"] in ("failed", "no_answer"), again
        status, _, _ = _api(port, "/v1/calls", {"to": target, "ring_timeout_secs": 5})
        assert status == 202
        agent.wait_for(r"call 2 to .*: ended", timeout=40)
        status, third, headers = _api(port, "/v1/calls", {"to": target})
        assert status == 429 and "calls a minute" in third["error"] and "Retry-After" in headers
    no_token = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--no-register", "--brain", "echo",
                               "--api-port", str(port)], capture_output=True, text=True, env=_env(), timeout=60)
    assert no_token.returncode == 2 and "--api-token" in no_token.stderr and no_token.stderr.count("\n") == 1


def test_an_outbound_call_answers_from_its_own_facts(tmp_path: Path) -> None:
    """``sip-agent dial --fact`` (``facts`` in ``POST /v1/calls``): the agent (the default LLM behind the
    receptionist, with the example facts; not registered, so it calls the SIP URI directly) answers the person
    it called from the call's own facts, which no other call has."""
    from agent.dialog.facts import example_facts_path

    port, alice_port = _tcp_port(), free_udp_port()
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice.toml").write_text(ASKS)
    alice = AgentProcess(tmp_path / "alice", [
        "--no-register", "--bind", "127.0.0.1", "--port", str(alice_port), "--brain", "scripted", "--script",
        str(tmp_path / "alice.toml"), "--records-dir", str(tmp_path / "alice-records")], name="alice")
    agent = AgentProcess(tmp_path, [
        "--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "llm", "--facts",
        str(example_facts_path()), "--records-dir", str(tmp_path / "records"), "--api-port", str(port)],
        env={"SIP_AGENT_API_TOKEN": TOKEN})
    with alice.start(timeout=120), agent.start(timeout=180):
        dial = subprocess.run(
            [sys.executable, "-m", "agent.cli", "dial", f"sip:alice@127.0.0.1:{alice_port}", "--api-url",
             f"http://127.0.0.1:{port}", "--purpose", "confirm a booking", "--greeting",
             "Hello, this is Trattoria Bella, calling about your booking on Friday.",
             "--fact", "Your booking, date: Friday 11 December", "--fact", "Your booking, time: 8 pm",
             "--fact", "Your booking, people: 4", "--fact", "Your booking, name: Alice Green", "--max-secs", "90"],
            capture_output=True, text=True, timeout=180, cwd=REPO, env={**_env(), "SIP_AGENT_API_TOKEN": TOKEN})
        (folder,) = call_folders(tmp_path / "records")
        said = [(r["role"], r["text"]) for r in read_jsonl(folder / "transcript.jsonl") if r["role"] != "action"]
        assert dial.returncode == 0, dial.stdout + dial.stderr
        final = json.loads(dial.stdout.splitlines()[-1])
    assert final["amd"]["decision"] == "human" and final["status"] == "ended", (final, said)
    asked = next(i for i, (role, text) in enumerate(said) if role == "user" and "time" in text.lower())
    answers = [text for role, text in said[asked + 1:] if role == "assistant"]  # (perhaps after a question back)
    # the call's own time ("8 pm"), not the business's "up to 8 people"
    assert any(re.search(r"\b(?:8|eight)(?::00)? ?(?:pm|p\.m\.|o'clock|in the evening)", text.lower())
               for text in answers[:2]), said
    (heard,) = call_folders(tmp_path / "alice-records")
    assert any(r["role"] == "assistant" and "goodbye" in r["text"].lower()
               for r in read_jsonl(heard / "transcript.jsonl")), "the person heard the time and hung up"


def test_dial_takes_a_calls_facts_as_the_lines_the_agent_reads_them_in() -> None:
    from agent.errors import UsageError
    from agent.tools.dial import _facts

    assert _facts(["Your booking, time: 8 pm", "Your booking, people: 4", "Directions: Park at the back"]) == {
        "Your booking": {"time": "8 pm", "people": "4"}, "Directions": {"": "Park at the back"}}
    with pytest.raises(UsageError, match="TOPIC, KEY: TEXT"):
        _facts(["the booking is at 8"])
