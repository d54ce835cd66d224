"""Outbound calls: what is asked (:class:`DialRequest`), what became of each (:class:`OutboundCalls`), and the
first seconds of an answered call (:func:`answer_outbound`: a person, or a machine to hang up on or leave a
message with).

A request comes from the HTTP API (``POST /v1/calls``, :mod:`agent.api`) or ``sip-agent dial``; the SIP
thread places the call through the account (``AgentApp.dial``).  An answered call runs the agent as an
inbound one does, greeting with the request's ``greeting``, after answering-machine detection
(:mod:`agent.turn.amd`: the greeting's shape, then its words: a person's shape with a machine's words, or a
long answer with a person's) unless ``amd`` is false.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .events import iso_time
from .frames import FRAME_MS
from .session import CallHandler, CallSession
from .turn.amd import AmdResult, BeepDetector, MachineDetector, ReadOn, machine_words, person_words

__all__ = ["DialRequest", "OutboundCalls", "answer_outbound", "parse_dial", "ON_MACHINE", "MACHINE_WAIT_SECS"]

log = logging.getLogger(__name__)

ON_MACHINE = ("hangup", "leave_message", "talk")
"""What to do when a machine answers: hang up, speak ``voicemail`` after its beep, or talk as to a person."""
MACHINE_WAIT_SECS = 30.0
"""How long a machine's greeting may go on before the message is left anyway."""
KEPT_CALLS = 500
HANGUP_WAIT_SECS = 5.0
_URI = re.compile(r"^sips?:[^\s<>\"]{1,250}$")
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_TEXT_LIMIT = 1000
_KEYS = {"to", "greeting", "purpose", "facts", "on_machine", "voicemail", "amd", "ring_timeout_secs"}
MAX_CALL_FACTS = 20
"""A call's own facts: at most this many, each of at most ``_TEXT_LIMIT`` characters."""
_FACTS_EXAMPLE = '{"Your booking": {"date": "Friday 11 December", "time": "8 pm", "people": "4"}}'


@dataclass(frozen=True)
class DialRequest:
    to: str
    greeting: str | None = None
    purpose: str = ""
    on_machine: str = "hangup"
    voicemail: str = ""
    amd: bool = True
    ring_timeout_secs: int = 30
    facts: tuple[tuple[str, str, str], ...] = ()
    """The call's own facts, (topic, key, text): what the agent may answer on this call besides its ``--facts``."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


def parse_dial(body: Any, domain: str = "") -> DialRequest:
    """A request from JSON; a ValueError with the reason (said to the client) when it is not one."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object such as {"to": "sip:alice@example.com"}')
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    to = body.get("to")
    if not isinstance(to, str) or not to.strip():
        raise ValueError('to: required, a SIP URI ("sip:alice@example.com") or a number ("+441273555019")')
    to = to.strip()
    if _NUMBER.match(to):
        if not domain:
            raise ValueError("to: a number needs the agent's --domain to call through; give a SIP URI")
        to = f"sip:{to}@{domain}"
    if not _URI.match(to) or any(c in to for c in "\r\n"):
        raise ValueError(f"to: not a SIP URI: {to[:80]!r}")
    texts = {}
    for key in ("greeting", "purpose", "voicemail"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > _TEXT_LIMIT):
            raise ValueError(f"{key}: text of at most {_TEXT_LIMIT} characters")
        texts[key] = value
    on_machine = body.get("on_machine", "hangup")
    if on_machine not in ON_MACHINE:
        raise ValueError(f"on_machine: one of {', '.join(ON_MACHINE)}")
    if on_machine == "leave_message" and not (texts["voicemail"] or "").strip():
        raise ValueError("voicemail: the message to leave is required with on_machine leave_message")
    amd = body.get("amd", True)
    if not isinstance(amd, bool):
        raise ValueError("amd: true or false")
    ring = body.get("ring_timeout_secs", 30)
    if isinstance(ring, bool) or not isinstance(ring, int) or not 5 <= ring <= 120:
        raise ValueError("ring_timeout_secs: a whole number of seconds from 5 to 120")
    return DialRequest(to, texts["greeting"], (texts["purpose"] or "").strip(), on_machine,
                       (texts["voicemail"] or "").strip(), amd, ring, _call_facts(body.get("facts", {})))


def _call_facts(value: Any) -> tuple[tuple[str, str, str], ...]:
    """``facts``: topics, each of ``key: text`` pairs (as a facts file's blocks), e.g. ``_FACTS_EXAMPLE``."""
    usage = f"facts: an object of topics, each an object of key: text, such as {_FACTS_EXAMPLE}"
    if not isinstance(value, dict):
        raise ValueError(usage)
    out = []
    for topic, block in value.items():
        if not isinstance(block, dict) or not topic.strip() or len(topic) > 100:
            raise ValueError(usage)
        for key, text in block.items():
            if isinstance(text, (int, float)) and not isinstance(text, bool):
                text = str(text)
            if not isinstance(text, str) or not text.strip() or len(text) > _TEXT_LIMIT or len(key) > 100:
                raise ValueError(f"facts: {topic}, {key}: text of 1 to {_TEXT_LIMIT} characters")
            out.append((topic.strip(), key.strip(), " ".join(text.split())))
    if len(out) > MAX_CALL_FACTS:
        raise ValueError(f"facts: at most {MAX_CALL_FACTS} facts for a call, got {len(out)}")
    return tuple(out)


class OutboundCalls:
    """What became of the calls placed (the last ``KEPT_CALLS``): plain dicts, read by the API's threads,
    written by the SIP thread and the calls' threads.  Thread-safe."""

    def __init__(self) -> None:
        self._calls: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def add(self, request: DialRequest) -> dict[str, Any]:
        snapshot = {"id": request.id, "to": request.to, "status": "dialing", "created": iso_time(),
                    "purpose": request.purpose, "sip_status": None, "amd": None, "outcome": None, "cause": None,
                    "answered": None, "ended": None}
        with self._lock:
            self._calls[request.id] = snapshot
            while len(self._calls) > KEPT_CALLS:
                self._calls.popitem(last=False)
            self._changed.notify_all()
            return dict(snapshot)

    def update(self, call_id: str, **fields: Any) -> None:
        with self._lock:
            if call_id in self._calls:
                self._calls[call_id].update(fields)
                self._changed.notify_all()

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._calls.get(call_id)
            return dict(found) if found is not None else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in list(self._calls.values())[-limit:]]

    def in_progress(self) -> int:
        with self._lock:
            return sum(c["status"] != "ended" for c in self._calls.values())


def answer_outbound(handler: CallHandler, session: CallSession, request: DialRequest,
                    report: Callable[[AmdResult], None]) -> str:
    """The first seconds of an answered outbound call, on its thread: detect a machine (unless ``amd`` is off),
    then converse (a person, or ``on_machine`` talk), hang up, or leave ``voicemail`` after the beep.  Returns
    the outcome: "answered", "machine" (hung up on) or "voicemail"."""
    if not request.amd:
        handler.run(session)
        return "answered"
    detector = MachineDetector()
    result = None
    heard: list[np.ndarray] = []
    while result is None:
        frame = session.read_frame(timeout=1.0)
        if frame is None:
            if session.ended.is_set():
                return "answered"
            continue
        heard.append(frame)
        result = detector.feed(frame)
    beep = BeepDetector(heard_voice=result.cause != "INITIALSILENCE")
    if result.decision != "machine":
        result = _read_words(handler, session, result, heard)
    elif result.cause in ("LONGGREETING", "MAXWORDS") and handler.hears:
        _on_to_a_pause(session, heard, beep)  # (what comes meanwhile is the machine's too: its beep is not missed)
        result = _read_words(handler, session, replace(result, after_ms=len(heard) * FRAME_MS), heard)
    report(result)
    log.info("call %s: answered by %s (%s, after %d ms)%s", session.call_id,
             "a machine" if result.decision == "machine" else "a person" if result.decision == "human"
             else "someone (not sure who)", result.cause, result.after_ms,
             f': heard "{result.words}"' if result.words else "")
    if result.decision != "machine" or request.on_machine == "talk":
        handler.run(session)
        return "answered"
    if request.on_machine == "hangup":
        session.hangup("answering machine")
        session.ended.wait(HANGUP_WAIT_SECS)
        return "machine"
    deadline = time.monotonic() + MACHINE_WAIT_SECS
    while time.monotonic() < deadline and not session.ended.is_set():
        frame = session.read_frame(timeout=1.0)
        if frame is not None and beep.feed(frame):
            break
    log.info("call %s: the machine's greeting is over (%s): leaving the message", session.call_id,
             f"a beep at {beep.beep_hz:.0f} Hz" if beep.why == "beep" else beep.why or "waited long enough")
    handler.voicemail(session, request.voicemail)
    session.ended.wait(HANGUP_WAIT_SECS)
    return "voicemail"


def _on_to_a_pause(session: CallSession, heard: list[np.ndarray], beep: BeepDetector) -> None:
    """A long answer, after the shape said a machine: read on to its first pause (:class:`ReadOn`), so that its
    words are whole ("..., Sarah speaking."); every frame also goes to ``beep``."""
    read_on = ReadOn()
    while not session.ended.is_set() and not beep.done:
        frame = session.read_frame(timeout=1.0)
        if frame is None:
            continue
        heard.append(frame)
        beep.feed(frame)
        if read_on.feed(frame):
            return


def _read_words(handler: CallHandler, session: CallSession, result: AmdResult,
                heard: list[np.ndarray]) -> AmdResult:
    """The words of what the shape decided on: a greeting of a person's shape (or none decided) is a machine if
    its words are a machine's; a long answer the shape took for a machine is a person if its words are a
    person's ("Good morning, Brighton Dental, Sarah speaking.")."""
    t0 = time.monotonic()
    try:
        words = handler.hear(np.concatenate(heard))
    except Exception:  # (the shape's decision stands)
        log.exception("call %s: the greeting's words could not be read", session.call_id)
        return result
    if words is None:  # no recogniser (--brain echo, tone)
        return result
    took = round((time.monotonic() - t0) * 1000)
    if machine_words(words):
        return AmdResult("machine", "WORDS", result.after_ms, words, took)
    if result.decision == "machine" and person_words(words):
        return AmdResult("human", "WORDS", result.after_ms, words, took)
    return replace(result, words=words, words_ms=took)


def amd_record(result: AmdResult | None) -> dict[str, Any] | None:
    return asdict(result) if result is not None else None
