"""A deliberately broken SIP client: INVITEs from a plain UDP socket, never ACKed.

``NoAckClient(port)`` sends INVITEs to ``127.0.0.1:port`` and reads what
comes back (every response, retransmissions included); it never sends ACK
unless told to (``ack``), as a broken or hostile client would.  It also sends
OPTIONS, as a load balancer's health probe does, or inside a call it ACKed.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from types import TracebackType

__all__ = ["NoAckClient"]


class NoAckClient:
    def __init__(self, port: int, host: str = "127.0.0.1", bind: str = "") -> None:
        self.target = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind or host, 0))
        self.local_host: str = self.sock.getsockname()[0]
        self.local_port: int = self.sock.getsockname()[1]
        self.requests: list[str] = []
        """Requests received (the agent's BYEs, ...), whole."""
        self.responses: list[tuple[str, int, dict[str, str]]] = []
        """(Call-ID, status, headers) of each response received."""

    def invite(self, sdp: bool = True) -> str:
        """Send one INVITE (a new call), with an SDP offer or without; its Call-ID."""
        call_id = uuid.uuid4().hex
        me = f"{self.local_host}:{self.local_port}"
        body = ("v=0\r\no=noack 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.local_port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n") if sdp else ""
        kind = "Content-Type: application/sdp\r\n" if sdp else ""
        message = (f"INVITE sip:agent@{self._target()} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id[:12]}\r\n"
                   f"From: <sip:noack@{me}>;tag={call_id[:8]}\r\n"
                   f"To: <sip:agent@{self._target()}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
                   f"Contact: <sip:noack@{me}>\r\nMax-Forwards: 70\r\n"
                   f"{kind}Content-Length: {len(body)}\r\n\r\n{body}")
        self.sock.sendto(message.encode(), self.target)
        return call_id

    def _target(self) -> str:
        return f"{self.target[0]}:{self.target[1]}"

    def ack(self, call_id: str) -> str:
        """ACK the 200 OK of an INVITE (the call is then confirmed); the agent's To tag."""
        final = self.final(call_id)
        assert final is not None and final[0] == 200, self.responses
        to = final[1]["to"]
        me = f"{self.local_host}:{self.local_port}"
        message = (f"ACK sip:agent@{self._target()} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {me};branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
                   f"From: <sip:noack@{me}>;tag={call_id[:8]}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                   "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        self.sock.sendto(message.encode(), self.target)
        return to.rsplit("tag=", 1)[1]

    def in_dialog(self, method: str, call_id: str, to_tag: str, cseq: int, *headers: str, body: str = "") -> None:
        """Send ``method`` inside the call ``call_id`` (which this client made and ACKed)."""
        me = f"{self.local_host}:{self.local_port}"
        message = "\r\n".join([
            f"{method} sip:agent@{self._target()} SIP/2.0",
            f"Via: SIP/2.0/UDP {me};branch=z9hG4bK{uuid.uuid4().hex[:12]}",
            f"From: <sip:noack@{me}>;tag={call_id[:8]}", f"To: <sip:agent@{self._target()}>;tag={to_tag}",
            f"Call-ID: {call_id}", f"CSeq: {cseq} {method}", f"Contact: <sip:noack@{me}>", "Max-Forwards: 70",
            *headers, f"Content-Length: {len(body.encode())}", "", body])
        self.sock.sendto(message.encode(), self.target)

    def options_in_dialog(self, call_id: str, to_tag: str, cseq: int = 2) -> None:
        """Send OPTIONS inside the call ``call_id`` (a keep-alive, as some phones send)."""
        self.in_dialog("OPTIONS", call_id, to_tag, cseq)

    def refer(self, call_id: str, to_tag: str, target: str, cseq: int = 3) -> None:
        """Ask the agent, inside the call ``call_id``, to call ``target`` (a transfer)."""
        self.in_dialog("REFER", call_id, to_tag, cseq, f"Refer-To: <{target}>")

    def options(self) -> str:
        """Send one OPTIONS outside any dialog; its Call-ID."""
        call_id = uuid.uuid4().hex
        host, port = self.target
        message = (f"OPTIONS sip:agent@{host}:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {self.local_host}:{self.local_port};branch=z9hG4bK{call_id[:12]}\r\n"
                   f"From: <sip:probe@{self.local_host}:{self.local_port}>;tag={call_id[:8]}\r\n"
                   f"To: <sip:agent@{host}:{port}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        self.sock.sendto(message.encode(), self.target)
        return call_id

    def ask(self, secs: float = 2.0) -> int | None:
        """Send OPTIONS and wait for its answer: the status, or None."""
        call_id = self.options()
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            self.read(0.1)
            final = self.final(call_id)
            if final is not None:
                return final[0]
        return None

    def read(self, secs: float) -> list[tuple[str, int, dict[str, str]]]:
        """Collect responses for ``secs``; all received so far."""
        deadline = time.monotonic() + secs
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                break
            status = re.match(r"SIP/2\.0 (\d{3})", data)
            if status is None:
                self.requests.append(data)  # a request (BYE of a call we never ACKed): left unanswered too
                continue
            head = data.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head if ":" in h)}
            self.responses.append((headers.get("call-id", ""), int(status.group(1)), headers))
        return self.responses

    def wait_request(self, method: str, secs: float, after: int = 0) -> str | None:
        """The first request ``method`` received beyond the first ``after`` ones, waiting up to ``secs``."""
        deadline = time.monotonic() + secs
        while True:
            found = [r for r in self.requests if r.startswith(method + " ")]
            if len(found) > after:
                return found[after]
            if time.monotonic() >= deadline:
                return None
            self.read(0.1)

    def respond(self, request: str, code: int, reason: str, *extra: str) -> None:
        """Answer a request the agent sent, with its Via, From, To, Call-ID and CSeq, and ``extra`` headers."""
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        kept = [h for h in head if h.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
        message = "\r\n".join([f"SIP/2.0 {code} {reason}", *kept, *extra, "Content-Length: 0", "", ""])
        self.sock.sendto(message.encode(), self.target)

    def all_for(self, call_id: str) -> list[int]:
        """Every status received for ``call_id``, retransmissions included."""
        return [code for cid, code, _ in self.responses if cid == call_id]

    def final(self, call_id: str) -> tuple[int, dict[str, str]] | None:
        """The first final response to ``call_id`` (status, headers), if any came."""
        return next(((code, h) for cid, code, h in self.responses if cid == call_id and code >= 200), None)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NoAckClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
