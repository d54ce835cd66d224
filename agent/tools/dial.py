"""``sip-agent dial URI``: place an outbound call through a running agent's API and follow it to its end."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from ..config import API_TOKEN_ENV
from ..errors import AgentError, UsageError

__all__ = ["run_dial"]

POLL_SECS = 0.5


def _request(url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except json.JSONDecodeError:
            return error.code, {"error": error.reason}
    except (urllib.error.URLError, OSError) as error:
        raise AgentError(f"cannot reach the agent's API at {url}: {getattr(error, 'reason', error)} (is it "
                         "running with --api-port?)") from None


def _facts(given: list[str]) -> dict[str, dict[str, str]]:
    """``--fact 'Your booking, time: 8 pm'`` (each) -> ``{"Your booking": {"time": "8 pm"}}``."""
    facts: dict[str, dict[str, str]] = {}
    for fact in given:
        head, sep, text = fact.partition(":")
        topic, _, key = head.partition(",")
        if not sep or not topic.strip() or not text.strip():
            raise UsageError(f"--fact {fact!r}: give it as 'TOPIC, KEY: TEXT' (e.g. 'Your booking, time: 8 pm')")
        facts.setdefault(topic.strip(), {})[key.strip()] = text.strip()
    return facts


def run_dial(args: argparse.Namespace) -> int:
    token = args.api_token or os.environ.get(API_TOKEN_ENV, "")
    if not token:
        raise UsageError(f"--api-token (or {API_TOKEN_ENV}) is required: the agent's API token")
    body: dict[str, Any] = {"to": args.uri, "on_machine": args.on_machine, "amd": not args.no_amd,
                            "ring_timeout_secs": args.ring_timeout}
    for key in ("greeting", "purpose", "voicemail"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if args.fact:
        body["facts"] = _facts(args.fact)
    base = args.api_url.rstrip("/")
    status, answer = _request(f"{base}/v1/calls", token, body)
    if status in (400, 401):
        raise UsageError(f"the agent refused the call ({status}): {answer.get('error', '')}")
    if status != 202:
        print(json.dumps(answer), flush=True)
        print(f"sip-agent: the agent cannot place the call now ({status}): {answer.get('error', '')}",
              file=sys.stderr)
        return 1
    print(json.dumps(answer), flush=True)
    call_id, last = answer["id"], answer
    deadline = time.monotonic() + args.ring_timeout + args.max_secs
    while last.get("status") != "ended" and time.monotonic() < deadline:
        time.sleep(POLL_SECS)
        status, now = _request(f"{base}/v1/calls/{call_id}", token)
        if status == 200 and now != last:
            print(json.dumps(now), flush=True)
            last = now
    return 0 if last.get("answered") else 1
