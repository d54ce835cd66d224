"""The HTTP API (``--api-port``): place outbound calls and follow them.

    POST /v1/calls        {"to": "sip:alice@example.com", "greeting": ..., "purpose": ..., "on_machine": ...,
                          "voicemail": ..., "amd": true, "ring_timeout_secs": 30,
                          "facts": {"Your booking": {"time": "8 pm", ...}}}
                          -> 202 {"id": ..., "status": "dialing", ...}, Location: /v1/calls/{id}
    GET  /v1/calls/{id}   -> 200 the call: status (dialing, ringing, answered, ended), sip_status, amd, outcome,
                          cause, times
    GET  /v1/calls        -> 200 {"calls": [the last 50]}

Every request needs ``Authorization: Bearer <--api-token>``.  Errors are JSON ``{"error": reason}``: 400 a
bad body (the reason names the field), 401 no or a wrong token, 404, 405, 411 no Content-Length, 413 a body
over 16 KiB, 415 not JSON, 429 over ``--dial-rate`` (with Retry-After), 503 at capacity, draining or not
registered (with Retry-After).  Bound to 127.0.0.1 unless ``--api-bind`` says otherwise.  Served by the
standard library's threading HTTP server on a thread of its own; a dial reaches the SIP thread through
``AgentApp.dial``.
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from .outbound import parse_dial

if TYPE_CHECKING:
    from .app import AgentApp

__all__ = ["ApiServer", "MAX_BODY_BYTES"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
REQUEST_TIMEOUT_SECS = 10.0
_CALL = re.compile(r"^/v1/calls/([0-9a-f-]{36})$")


class ApiServer:
    """The API on ``bind:port`` (port 0: any free port, then ``port`` is the one bound)."""

    def __init__(self, app: AgentApp, bind: str, port: int, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = http.server.ThreadingHTTPServer((bind, port), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="api", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("API on http://%s:%d/v1/calls", self.server.server_address[0], self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), self.token)


class _Handler(http.server.BaseHTTPRequestHandler):
    api: ApiServer
    timeout = REQUEST_TIMEOUT_SECS
    server_version = "sip-agent"

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        if not self._allowed():
            return
        if self.path == "/v1/calls":
            self._send(200, {"calls": self.api.app.outbound.recent()})
            return
        match = _CALL.match(self.path)
        found = self.api.app.outbound.get(match.group(1)) if match else None
        if found is None:
            self._send(404, {"error": f"no such call: {self.path}"})
            return
        self._send(200, found)

    def do_POST(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        if self.path != "/v1/calls":
            self._send(404 if not _CALL.match(self.path) else 405, {"error": f"no such resource: {self.path}"})
            return
        body = self._body()
        if body is None:
            return
        try:
            request = parse_dial(body, self.api.app.cfg.sip.domain)
        except ValueError as error:
            self._send(400, {"error": str(error)})
            return
        status, reason, retry_after = self.api.app.dial(request)
        if status != 202:
            log.info("API: call to %s refused (%d): %s", request.to, status, reason)
            self._send(status, {"error": reason}, {"Retry-After": str(retry_after)} if retry_after else {})
            return
        log.info("API: call %s to %s requested", request.id, request.to)
        self._send(202, self.api.app.outbound.get(request.id) or {"id": request.id},
                   {"Location": f"/v1/calls/{request.id}"})

    def do_PUT(self) -> None:  # noqa: N802
        self._not_allowed()

    def do_DELETE(self) -> None:  # noqa: N802
        self._not_allowed()

    def do_PATCH(self) -> None:  # noqa: N802
        self._not_allowed()

    def _not_allowed(self) -> None:
        if self._allowed():
            self._send(405, {"error": f"{self.command} is not allowed here"}, {"Allow": "GET, POST"})

    def _allowed(self) -> bool:
        if self.api.authorised(self.headers.get("Authorization", "")):
            return True
        self._send(401, {"error": "a bearer token is required (Authorization: Bearer <--api-token>)"},
                   {"WWW-Authenticate": "Bearer"})
        return False

    def _body(self) -> Any:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or "Content-Length" not in self.headers:
            self._send(411, {"error": "Content-Length is required"})
            return None
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            self._send(400, {"error": "Content-Length is not a number"})
            return None
        if length > MAX_BODY_BYTES or length < 0:
            self._send(413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"})
            return None
        if self.headers.get_content_type() != "application/json":
            self._send(415, {"error": "Content-Type must be application/json"})
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._send(400, {"error": f"the body is not JSON: {error}"})
            return None

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        log.debug("API %s: " + format, self.client_address[0], *args)
