"""Messages and booking requests taken over real SIP calls, spoken and keyed, and delivered to a real webhook.

The demo leaves a spoken message (its caller corrects a misheard read-back, as a person would); one agent (the
default LLM behind the receptionist, a restaurant whose facts allow both) takes a booking with its number keyed
in and a correction, and a caller who hangs up half way.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.dialog.facts import example_facts_path
from tests.agent_proc import REPO, AgentProcess, _env, run_caller
from tests.peers.webhook import WebhookReceiver

pytest.importorskip("llama_cpp")

SECRET = "capture-secret"
CAPTURE = """
[capture.message]
digits = "10-11"

[capture.booking]
what = "a table"
max_people = 8
"""


def _facts(folder: Path) -> Path:
    text = example_facts_path().read_text()
    lines = [line for line in text.splitlines() if not line.startswith(("bookings =", "[capture"))]
    path = folder / "facts.toml"
    path.write_text("\n".join(lines).split("[transfer]")[0] + CAPTURE)  # no transfer: it takes messages instead
    return path


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, WebhookReceiver]]:
    folder = tmp_path_factory.mktemp("capture")
    with WebhookReceiver(SECRET) as hook, AgentProcess(folder, [
            "--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "llm", "--facts", str(_facts(folder)),
            "--state-dir", str(folder / "state"), "--webhook", hook.url, "--webhook-secret", SECRET,
            "--records-dir", str(folder / "records")]).start(timeout=180) as process:
        yield process, hook


def _steps(*turns: str | dict[str, Any]) -> str:
    steps: list[dict[str, Any]] = [{"wait_audio": 15}, {"wait_quiet": 1.0}]
    for turn in turns:
        steps += [turn if isinstance(turn, dict) else {"say": turn}, {"wait_audio": 20}, {"wait_quiet": 1.2}]
    return json.dumps(steps)


def _captured(hook: WebhookReceiver, call: str, kind: str) -> dict[str, Any]:
    def found(events: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "call.ended" and e["call_id"] == call for e in events)

    events = [e for e in hook.wait_for(found, timeout=30) if e["call_id"] == call]
    (event,) = [e for e in events if e["type"] == kind]
    return event


def _call_id(hook: WebhookReceiver, before: int) -> str:
    started = [e for e in hook.wait_for(lambda e: sum(x["type"] == "call.started" for x in e) > before)
               if e["type"] == "call.started"]
    return str(started[before]["call_id"])


def test_the_demo_leaves_a_spoken_message_that_arrives_with_every_field(tmp_path: Path) -> None:
    """``sip-agent demo --message`` (the README's command) with a webhook of the test's: the caller answers what
    it is asked and corrects the read-back when a digit was misheard, so every field arrives exactly."""
    with WebhookReceiver(SECRET) as hook:
        demo = subprocess.run(
            [sys.executable, "-m", "agent.cli", "demo", "--message", "--records-dir", str(tmp_path / "records"),
             "--webhook", hook.url, "--webhook-secret", SECRET],
            capture_output=True, text=True, timeout=400, cwd=REPO, env=_env())
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
        events = hook.wait_for(lambda e: any(x["type"] == "call.ended" for x in e))
    (event,) = [e for e in events if e["type"] == "message.taken"]
    assert event["confirmed"] and event["complete"] and event["capture"] == "message"
    assert event["fields"]["name"] == "John Smith" and event["fields"]["number"] == "01273555381", event
    assert "late" in event["fields"]["about"].lower() and "friday" in event["fields"]["about"].lower(), event
    ended = events[-1]
    assert ended["type"] == "call.ended" and ended["outcome"] == "message"
    said = [r["text"] for r in ended["transcript"] if r["role"] == "assistant"]
    assert any("0 1 2 7 3, 5 5 5, 3 8 1" in text and text.endswith("Is that right?") for text in said), said
    assert said[-1].startswith("Thank you. I've passed your message on."), said
    assert f"The business's webhook: {hook.url}" in demo.stdout  # (its own receiver prints what arrives)


def test_a_booking_with_a_keyed_number_and_a_correction(agent: tuple[AgentProcess, WebhookReceiver]) -> None:
    process, hook = agent
    before = sum(e["type"] == "call.started" for e in hook.events())
    run_caller(process.uri, "--from-user", "+441273555019", "--steps", _steps(
        "I'd like to book a table for four on Friday at half past seven.", "My name is Peter Jones.",
        "No.", {"dtmf": "01632960123#"}, "No, the time should be eight o'clock.", "Yes."), timeout=240)
    call = _call_id(hook, before)
    event = _captured(hook, call, "booking.requested")
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    friday = today + datetime.timedelta(days=(4 - today.weekday()) % 7 or 7)
    assert event["fields"] == {"people": 4, "date": friday.isoformat(), "time": "20:00", "name": "Peter Jones",
                               "number": "01632960123"}, event
    assert event["confirmed"] and event["what"] == "a table"
    said = [r["text"] for r in _captured(hook, call, "call.ended")["transcript"] if r["role"] == "assistant"]
    assert any(text.startswith("Shall we call you back on plus 4 4") for text in said), said
    assert sum("Let me check I have that right" in text for text in said) == 2, said


def test_a_caller_who_hangs_up_half_way_leaves_a_partial_record(agent: tuple[AgentProcess, WebhookReceiver]) -> None:
    process, hook = agent
    before = sum(e["type"] == "call.started" for e in hook.events())
    run_caller(process.uri, "--steps", _steps("Could someone call me back please?", "It's Mary Jones."),
               timeout=240)
    call = _call_id(hook, before)
    event = _captured(hook, call, "message.taken")
    assert not event["confirmed"] and not event["complete"]
    assert event["fields"] == {"name": "Mary Jones"}, event
