"""The events the agent reports to the business (schema version ``SCHEMA_VERSION``).

Every event is a JSON object with::

    version   the schema version (1)
    type      call.started | call.ended | transfer | message.taken | booking.requested
    id        unique; the idempotency key (the same id is the same event, however often it arrives)
    call_id   the call's id (a UUID), the same in every event of the call
    time      when it happened, ISO 8601 UTC with milliseconds

and, by type:

    call.started       direction ("inbound" or "outbound"), from (the caller's SIP URI), caller_number (the
                       digits of the caller ID when it is a number, else ""), sip_call_id; outbound: to, purpose
    call.ended         duration_secs, ended_by ("caller", "callee", "agent", "timeout", "shutdown", "error"),
                       cause (the words of the log), outcome ("transferred", "message", "booking", "answered";
                       outbound also "voicemail", "machine", "busy", "declined", "no_answer", "failed"),
                       transcript (a list of {"role": "user"|"assistant"|"action", "text"|"action": ...,
                       "t_secs"}); outbound: to, purpose, amd ({"decision", "cause", "after_ms"} or null)
    transfer           target, who, ok (the transfer went through), detail (the SIP outcome)
    message.taken      fields ({"name", "number", "about", ...}), complete (every field was given),
    booking.requested  confirmed (the caller said the read-back was right; false when they hung up first),
                       capture (the name of the [capture] item)

Fields are only ever added to a version, never renamed or removed; a change that would needs version 2.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from typing import Any

__all__ = ["SCHEMA_VERSION", "EVENT_TYPES", "make_event", "caller_number", "iso_time", "ended_by"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EVENT_TYPES = ("call.started", "call.ended", "transfer", "message.taken", "booking.requested")


def iso_time(wall: float | None = None) -> str:
    when = datetime.datetime.fromtimestamp(time.time() if wall is None else wall, datetime.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(type_: str, event_id: str, call_id: str, **fields: Any) -> dict[str, Any]:
    """An event of ``type_`` happening now."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    return {"version": SCHEMA_VERSION, "type": type_, "id": event_id, "call_id": call_id, "time": iso_time(),
            **fields}


_USER_PART = re.compile(r"^(?:sips?|tel):\+?([0-9][0-9\-.() ]{2,30})(?:@|;|$)", re.IGNORECASE)


def caller_number(uri: str) -> str:
    """The caller ID's digits when its user part is a telephone number (``sip:+441273555381@pbx``), else ''."""
    match = _USER_PART.match(uri.strip().strip("<>"))
    if not match:
        return ""
    digits = re.sub(r"\D", "", match.group(1))
    plus = "+" if uri.strip().strip("<>").split(":", 1)[1].startswith("+") else ""
    return plus + digits if len(digits) >= 3 else ""


def ended_by(cause: str) -> str:
    """Who ended a call, from the cause the SIP side logged."""
    cause = cause.lower()
    if cause == "caller hung up":
        return "caller"
    if cause == "callee hung up":
        return "callee"
    if "shutting down" in cause or "drain" in cause:
        return "shutdown"
    if "no rtp" in cause or "no ack" in cause or "timeout" in cause:
        return "timeout"
    if "error" in cause or "failed" in cause:
        return "error"
    return "agent"
