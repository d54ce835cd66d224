"""A webhook receiver on loopback: a real HTTP server that takes the agent's events and checks their signatures.

Used by ``sip-agent demo --message`` (the business's end of the demo) and by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WebhookReceiver", "Delivery"]


@dataclass
class Delivery:
    """One POST as it arrived."""

    headers: dict[str, str]
    body: bytes
    status: int
    """What the receiver answered."""
    t: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-signature", ""), expected)


class WebhookReceiver:
    """``with WebhookReceiver(secret) as hook:`` serves ``hook.url``; ``answers`` (status codes, used up in
    order) make it fail first; ``hook.events()`` are the accepted events, one per id (as a business keeps them)."""

    def __init__(self, secret: str, port: int = 0, answers: list[int] | None = None) -> None:
        self.secret = secret
        self.answers = list(answers or [])
        self.deliveries: list[Delivery] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._answer(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/agent"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self.answers.pop(0) if self.answers else 200
            delivery = Delivery(headers, body, status)
            if status == 200 and not delivery.signed_with(self.secret):
                delivery.status = status = 401
            self.deliveries.append(delivery)
            self._lock.notify_all()
            return status

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.status == 200]

    def events(self) -> list[dict[str, Any]]:
        """The accepted events, the first of each id, in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        for delivery in self.accepted():
            seen.setdefault(delivery.event["id"], delivery.event)
        return list(seen.values())

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``predicate(events())`` holds; the events."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                events = self.events_unlocked()
                if predicate(events):
                    return events
                left = deadline - time.monotonic()
                assert left > 0, f"webhook: not what was expected within {timeout} s; got {events}"
                self._lock.wait(left)

    def events_unlocked(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for delivery in self.deliveries:
            if delivery.status == 200:
                seen.setdefault(delivery.event["id"], delivery.event)
        return list(seen.values())
