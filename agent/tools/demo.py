"""``sip-agent demo``: the agent on loopback and a built-in caller that talks to it.

The agent runs in its own process exactly as ``sip-agent run`` (no trunk);
the caller, in this process, speaks synthesised questions over a real SIP
call, waits for each answer and measures, on the wire, the time from the end
of its question to the agent's first audio.  The agent's live transcript and
per-turn latencies are printed as they happen; records go to ``--records-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..dialog.facts import example_facts_path
from .harness import LOOPBACK, AgentProcess
from .receiver import WebhookReceiver
from .records import AUDIO, TIMELINE, TRANSCRIPT, call_folders, timeline, transcript

__all__ = ["DEFAULT_QUESTIONS", "run_demo"]

DEFAULT_QUESTIONS = ["What are your opening hours on Saturday?", "Can you tell me the time please?"]
"""Asked of the example facts (a restaurant); ``--facts`` and ``--question`` ask others."""
MESSAGE_DIALOGUE = 0
"""``--message``: the capture benchmark's first dialogue (John Smith, 01273 555381, late for his table): the
caller answers what the agent asks and corrects its read-back, as a person would."""
SHOWN = ("listening for SIP", "engines ready", "caller:", "agent:", "turn ", "barge-in", " from sip:", "error",
         "ERROR", "Traceback")
"""The agent's log lines the demo shows as they happen."""


def _show(line: str) -> None:
    if any(key in line for key in SHOWN):
        print("  agent | " + line.split(": ", 1)[-1], flush=True)


def run_demo(args: argparse.Namespace) -> int:
    from ..tts.base import create_tts

    person = _person() if args.message else None
    questions = args.question or (person.phrases() if person is not None else DEFAULT_QUESTIONS)
    records = Path(args.records_dir)
    print(f"Starting the agent on loopback (brain: {args.brain}; loading models) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="sip-agent-demo-") as workdir, _Business(args, Path(workdir)) as business:
        facts = ["--facts", args.facts or str(example_facts_path())] if args.brain == "llm" else []
        agent = AgentProcess(Path(workdir), [*LOOPBACK, "--brain", args.brain, "--records-dir", str(records),
                                             "--tts-mode", args.tts_mode, *facts, *business.args],
                             env={**os.environ, **business.env})
        try:
            agent.start(wait=False)
            agent.follow(_show)
            voice = create_tts("piper")  # while the agent loads its models
            spoken = [voice.synthesize(q) for q in questions]
            agent.wait_ready()
            outcome = (_converse(agent.uri, questions, spoken) if person is None else
                       _leave_message(agent.uri, person, dict(zip(questions, spoken, strict=True)), voice,
                                      records))
        finally:
            code = agent.stop()
        if outcome is None:
            return 1
        call, turns = outcome
        _print_summary(call, turns, records, code)
        delivered = business.report()
    return 0 if code == 0 and all(t["answered"] for t in turns) and delivered else 1


class _Business:
    """``--message``: the business's end, a webhook receiver on loopback (or ``--webhook``, the user's own) that
    the agent delivers the call's events to; it prints the message taken."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.receiver: WebhookReceiver | None = None
        self.args: list[str] = []
        self.env: dict[str, str] = {}
        if not args.message and not args.webhook:
            return
        secret = args.webhook_secret or os.environ.get("SIP_AGENT_WEBHOOK_SECRET", "") or secrets.token_hex(16)
        url = args.webhook
        if not url:
            self.receiver = WebhookReceiver(secret)
            url = self.receiver.url
        self.args = ["--webhook", url, "--state-dir", str(workdir / "state")]
        self.env = {"SIP_AGENT_WEBHOOK_SECRET": secret}
        print(f"The business's webhook: {url} (events signed with X-Signature: sha256=HMAC of the body)", flush=True)

    def __enter__(self) -> _Business:
        if self.receiver is not None:
            self.receiver.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.receiver is not None:
            self.receiver.close()

    def report(self) -> bool:
        """Print what reached the webhook; False when a message was expected and none came."""
        if self.receiver is None:
            return True
        try:
            events = self.receiver.wait_for(lambda e: any(x["type"] == "call.ended" for x in e), timeout=10)
        except AssertionError:
            events = self.receiver.events()
        print("\nDelivered to the webhook (signatures checked):")
        for event in events:
            if event["type"] in ("message.taken", "booking.requested"):
                print(f"  {event['type']}: {json.dumps(event['fields'])} (confirmed: {event['confirmed']})")
            else:
                print(f"  {event['type']}" + (f": outcome {event['outcome']}, {len(event['transcript'])} "
                                             f"transcript entries" if event["type"] == "call.ended" else ""))
        return any(e["type"] == "message.taken" and e["confirmed"] for e in events)


def _converse(uri: str, questions: list[str], spoken: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Call ``uri``, ask each question, time the answers; the call's result and the turns (None: no call)."""
    from .caller import Caller

    caller = Caller(refuse_transfers=True)  # no one to put the caller through to on loopback
    caller.start()
    turns: list[dict[str, Any]] = []
    try:
        print(f"Calling {uri} from the built-in caller ...", flush=True)
        if not caller.dial(uri):
            print(f"demo: the call failed: {caller.result.status} {caller.result.reason}", file=sys.stderr)
            return None
        print(f"  call up in {caller.result.setup_ms:.1f} ms, codec {caller.result.codec}", flush=True)
        if caller.wait_agent_audio(0.0, 5.0):
            caller.wait_agent_quiet(0.8, 15.0)
        for question, audio in zip(questions, spoken, strict=True):
            print(f"  caller| says: {question}", flush=True)
            t_end = caller.say(audio)
            t_first = caller.wait_agent_audio(t_end, 20.0)
            wire_ms = (t_first - t_end) * 1000 if t_first else None
            caller.wait_agent_quiet(1.2, 60.0)
            turns.append({"question": question, "answered": t_first is not None, "wire_ms": wire_ms})
            shown = f"{wire_ms:.0f} ms" if wire_ms is not None else "no answer"
            print(f"  caller| heard the answer start {shown} after the end of the question", flush=True)
    finally:
        result = caller.close()
    time.sleep(0.5)
    return result.as_dict(), turns


def _person() -> Any:
    import datetime
    import zoneinfo

    from .bench.capture import DIALOGUES, Person

    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    return Person(DIALOGUES[MESSAGE_DIALOGUE], today)


def _leave_message(uri: str, person: Any, spoken: dict[str, Any], voice: Any,
                   records: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Call ``uri`` and leave the message: say what the agent asks for, check its read-back, correct it."""
    from .caller import Caller

    caller = Caller(refuse_transfers=True)
    caller.start()
    before = len(call_folders(records))
    try:
        print(f"Calling {uri} from the built-in caller ...", flush=True)
        if not caller.dial(uri):
            print(f"demo: the call failed: {caller.result.status} {caller.result.reason}", file=sys.stderr)
            return None
        if caller.wait_agent_audio(0.0, 5.0):
            caller.wait_agent_quiet(0.8, 15.0)

        def agent_said() -> str:
            folders = call_folders(records)[before:]
            said = [r["text"] for r in (transcript(folders[0]) if folders else []) if r.get("role") == "assistant"]
            return said[-1] if said else ""

        def audio(text: str) -> Any:  # what it had not prepared (a spelling, a correction) synthesised now
            return spoken[text] if text in spoken else voice.synthesize(text)

        turns = converse(caller, person, audio, agent_said)
    finally:
        result = caller.close()
    time.sleep(0.5)
    return result.as_dict(), turns


def converse(caller: Any, person: Any, audio: Any, agent_said: Any, max_turns: int = 12) -> list[dict[str, Any]]:
    """The caller's side of leaving a message: say (``audio(text)``) or key what ``person`` answers to what the
    agent last said (``agent_said()``), until the agent thanks it or ``max_turns``; each turn timed on the wire."""
    turns: list[dict[str, Any]] = []
    kind, text = "say", person.d.request
    for _ in range(max_turns):
        keyed = kind == "dtmf"
        if keyed:  # (sent as RFC 2833 events after this returns: the wire time of its end is not known here)
            print(f"  caller| keys: {text}", flush=True)
            caller.send_dtmf(text)
            t_end = time.monotonic()
        else:
            print(f"  caller| says: {text}", flush=True)
            t_end = caller.say(audio(text))
        t_first = caller.wait_agent_audio(t_end, 20.0)
        caller.wait_agent_quiet(1.2, 60.0)
        turns.append({"question": text, "keyed": keyed, "answered": t_first is not None,
                      "wire_ms": (t_first - t_end) * 1000 if t_first and not keyed else None})
        kind, text = person.answer(agent_said())
        if kind == "done":
            break
    return turns


def _print_summary(call: dict[str, Any], turns: list[dict[str, Any]], records: Path, code: int) -> None:
    print("\nSummary")
    print(f"  call: codec {call['codec']}, set-up {call['setup_ms']:.1f} ms, {call['duration_secs']:.1f} s, "
          f"frames sent {call['frames_tx']}, received {call['frames_rx']} ({call['frames_rx_voiced']} voiced)")
    folders = call_folders(records)
    turn_marks = timeline(folders[-1]) if folders else []
    for i, turn in enumerate(turns):
        stages = turn_marks[i]["stages_ms"] if i < len(turn_marks) else {}
        wire = f"{turn['wire_ms']:.0f} ms" if turn["wire_ms"] is not None else "-"
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in stages.items())
        if turn.get("keyed"):
            print(f"  turn {i + 1}: keyed on the keypad ({turn['question']})  [{parts}]")
        else:
            print(f"  turn {i + 1}: end of question -> first answer audio on the wire {wire}  [{parts}]")
    if folders:
        print(f"  records: {folders[-1]}/ ({AUDIO}, {TRANSCRIPT}, {TIMELINE})")
    print(f"  agent exit code: {code}")
