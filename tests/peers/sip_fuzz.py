"""A SIP fuzzer: mutated copies of real messages sent over UDP, reproducible from a seed.

``SipFuzzer(port, seed)`` first sets up one real dialog with the target (an
INVITE with SDP, its 200 OK ACKed), so in-dialog requests can carry live tags,
then sends ``count`` datagrams, each a real message (INVITE with SDP, ACK, BYE,
CANCEL, PRACK, UPDATE, INFO, REFER, NOTIFY, REGISTER, OPTIONS, MESSAGE,
SUBSCRIBE, a stray response) with one to three mutations: truncation, huge and
duplicated headers, NUL bytes, a wrong Content-Length, bad SDP, flipped bytes,
dropped or garbled headers and request lines, bare LF line ends, a hundred Vias.
It reads whatever comes back and answers nothing (no ACK but the first).
"""

from __future__ import annotations

import collections
import random
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["SipFuzzer", "FuzzReport"]

MAX_DATAGRAM = 65000
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY", "REGISTER", "OPTIONS",
           "MESSAGE", "SUBSCRIBE"]
IN_DIALOG = {"ACK", "BYE", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY", "INVITE", "OPTIONS"}


@dataclass
class _Dialog:
    call_id: str
    from_tag: str
    to_tag: str
    cseq: int = 2


@dataclass
class FuzzReport:
    sent: int = 0
    too_big: int = 0
    responses: collections.Counter[int] = field(default_factory=collections.Counter)
    requests: collections.Counter[str] = field(default_factory=collections.Counter)


def _sdp(rng: random.Random, port: int) -> str:
    return ("v=0\r\no=fuzz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 9 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")


def _bad_sdp(rng: random.Random) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
    choice = rng.randrange(9)
    if choice == 0:
        lines = [line for line in lines if not line.startswith(rng.choice(["v=", "c=", "m=", "o=", "t="]))]
    elif choice == 1:
        lines[5] = f"m=audio {rng.choice(['-1', '65536', '99999999999', 'x', ''])} RTP/AVP 0"
    elif choice == 2:
        lines[5] = "m=audio 4000 RTP/AVP " + " ".join(str(rng.randrange(128)) for _ in range(rng.randrange(0, 200)))
    elif choice == 3:
        lines += [f"m=audio {4000 + 2 * i} RTP/AVP 0" for i in range(rng.randrange(20, 80))]
    elif choice == 4:
        lines[3] = rng.choice(["c=IN IP4 999.1.1.1", "c=IN IP6 ::::", "c=IN", "c=IN IP4 " + "9" * 300])
    elif choice == 5:
        lines.append("a=rtpmap:0 " + "P" * rng.randrange(100, 3000))
    elif choice == 6:
        lines = ["".join(chr(rng.randrange(1, 256)) for _ in range(rng.randrange(1, 80))) for _ in range(10)]
    elif choice == 7:
        lines[5] = "m=video 4000 RTP/AVP 31"
    else:
        lines.insert(rng.randrange(len(lines)), "\x00" * rng.randrange(1, 20))
    return "\r\n".join(lines) + "\r\n"


class SipFuzzer:
    """Fuzzes the SIP agent at ``host:port`` from a UDP socket of its own (see the module docstring)."""

    def __init__(self, port: int, seed: int, host: str = "127.0.0.1", bind: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.local = f"{bind}:{self.sock.getsockname()[1]}"
        self.dialog: _Dialog | None = None
        self.report = FuzzReport()
        self.sent: collections.deque[bytes] = collections.deque(maxlen=200)
        """The last datagrams sent (to find the one that did harm)."""

    # -- a real dialog for in-dialog requests --------------------------------------
    def open_dialog(self, timeout: float = 3.0) -> bool:
        """A real call: INVITE with SDP, wait for its 200 OK, ACK it.  False if none came."""
        call_id, from_tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
        self._send(self._request("INVITE", call_id, from_tag, "", 1, body=_sdp(self.rng, 4000)).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data in self._receive(0.1):
                if data.startswith(b"SIP/2.0 200") and call_id.encode() in data:
                    to = re.search(rb"\r\n(?:To|t):[^\r\n]*;tag=([^;\s>\r]+)", data, re.IGNORECASE)
                    if to is None:
                        return False
                    self.dialog = _Dialog(call_id, from_tag, to.group(1).decode())
                    self._send(self._request("ACK", call_id, from_tag, self.dialog.to_tag, 1).encode())
                    return True
        return False

    def close_dialog(self) -> None:
        """End the real call with a clean BYE (the fuzz may have ended it already)."""
        if self.dialog is not None:
            d = self.dialog
            self._send(self._request("BYE", d.call_id, d.from_tag, d.to_tag, d.cseq + 1000).encode())
            self._receive(0.3)

    # -- the fuzz ------------------------------------------------------------------
    def run(self, count: int, per_sec: float = 800.0) -> FuzzReport:
        """Send ``count`` mutated datagrams at about ``per_sec``, reading what comes back."""
        started = time.monotonic()
        for i in range(count):
            self._send(self._mutated(self._base()))
            if i % 20 == 0:
                self._receive(0.0)
                ahead = started + i / per_sec - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        self._receive(0.5)
        return self.report

    def _base(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.04:  # a stray response
            return (f"SIP/2.0 {rng.choice([100, 180, 200, 401, 486, 503])} Whatever\r\n"
                    f"Via: SIP/2.0/UDP {self.local};branch=z9hG4bK{uuid.uuid4().hex[:10]}\r\n"
                    f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n"
                    f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()
        method = rng.choice(METHODS + ["INVITE"] * 4)  # INVITEs more often: they make calls
        dialog = self.dialog if self.dialog is not None and method in IN_DIALOG and rng.random() < 0.5 else None
        if dialog is not None:
            dialog.cseq += 1
            call_id, from_tag, to_tag, cseq = dialog.call_id, dialog.from_tag, dialog.to_tag, dialog.cseq
        else:
            call_id, from_tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
            to_tag = uuid.uuid4().hex[:8] if rng.random() < 0.2 else ""
            cseq = rng.randrange(1, 100)
        body = ""
        if method in ("INVITE", "UPDATE", "PRACK") and rng.random() < 0.8:
            body = _sdp(rng, rng.randrange(1024, 65000, 2))
        elif method == "INFO":
            body = "Signal=5\r\nDuration=160\r\n"
        elif method == "NOTIFY":
            body = "SIP/2.0 200 OK\r\n"
        return self._request(method, call_id, from_tag, to_tag, cseq, body=body).encode()

    def _request(self, method: str, call_id: str, from_tag: str, to_tag: str, cseq: int, body: str = "") -> str:
        host, port = self.target
        extra = ""
        if method == "REFER":
            extra = f"Refer-To: <sip:someone@{host}>\r\n"
        elif method in ("NOTIFY", "SUBSCRIBE"):
            extra = "Event: refer\r\nSubscription-State: active;expires=60\r\n"
        elif method == "PRACK":
            extra = f"RAck: 1 {cseq - 1} INVITE\r\n"
        elif method == "REGISTER":
            extra = "Expires: 60\r\n"
        to = f"<sip:agent@{host}:{port}>" + (f";tag={to_tag}" if to_tag else "")
        kind = ("application/sdp" if "v=0" in body else "application/dtmf-relay" if "Signal" in body
                else "message/sipfrag")
        ctype = f"Content-Type: {kind}\r\n" if body else ""
        cseq_method = "INVITE" if method in ("ACK", "CANCEL") else method
        return (f"{method} sip:agent@{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.local};rport;branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:fuzz@{self.local}>;tag={from_tag}\r\nTo: {to}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} {cseq_method}\r\nContact: <sip:fuzz@{self.local}>\r\n"
                f"{extra}{ctype}Content-Length: {len(body.encode())}\r\n\r\n{body}")

    def _mutated(self, message: bytes) -> bytes:
        for _ in range(self.rng.choice([1, 1, 2, 3])):
            message = self.rng.choice(_MUTATIONS)(self.rng, message)
        return message[:MAX_DATAGRAM]

    # -- the socket ----------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.target)
            self.report.sent += 1
            self.sent.append(data)
        except OSError:
            self.report.too_big += 1

    def _receive(self, secs: float) -> list[bytes]:
        got: list[bytes] = []
        deadline = time.monotonic() + secs
        while True:
            self.sock.settimeout(max(0.0, deadline - time.monotonic()) or None)
            if secs <= 0:
                self.sock.setblocking(False)
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, TimeoutError):
                break
            got.append(data)
            status = re.match(rb"SIP/2\.0 (\d{3})", data)
            if status:
                self.report.responses[int(status.group(1))] += 1
            else:
                self.report.requests[data.split(b" ", 1)[0].decode("latin-1")] += 1
            if secs > 0 and time.monotonic() >= deadline:
                break
        self.sock.setblocking(True)
        return got

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SipFuzzer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# -- mutations ----------------------------------------------------------------------
def _split(message: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = message.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _truncate(rng: random.Random, m: bytes) -> bytes:
    return m[: rng.randrange(0, max(1, len(m)))]


def _huge_header(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    lines.insert(rng.randrange(1, len(lines) + 1), b"X-Fill: " + b"a" * rng.choice([500, 3500, 5000, 20000, 64000]))
    return _join(lines, body)


def _duplicate_header(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    if len(lines) < 2:
        return m
    line = lines[rng.randrange(1, len(lines))]
    for _ in range(rng.choice([1, 2, 10, 60])):
        lines.insert(rng.randrange(1, len(lines) + 1), line)
    return _join(lines, body)


def _nul_bytes(rng: random.Random, m: bytes) -> bytes:
    data = bytearray(m)
    for _ in range(rng.randrange(1, 10)):
        data.insert(rng.randrange(0, len(data) + 1), 0)
    return bytes(data)


def _content_length(rng: random.Random, m: bytes) -> bytes:
    value = rng.choice([b"-1", b"0", b"99999999", b"x", b"", b"4294967296", str(len(m) * 2).encode(), b"1 1"])
    return re.sub(rb"Content-Length: *\d*", b"Content-Length: " + value, m, count=1)


def _bad_body(rng: random.Random, m: bytes) -> bytes:
    lines, _ = _split(m)
    body = _bad_sdp(rng).encode("latin-1")
    lines = [line for line in lines if not line.lower().startswith((b"content-length", b"content-type"))]
    lines += [b"Content-Type: application/sdp", b"Content-Length: " + str(len(body)).encode()]
    return _join(lines, body)


def _flip_bytes(rng: random.Random, m: bytes) -> bytes:
    data = bytearray(m)
    for _ in range(rng.randrange(1, 20)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _drop_header(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    if len(lines) > 1:
        del lines[rng.randrange(1, len(lines))]
    return _join(lines, body)


def _garble_header(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    if len(lines) < 2:
        return m
    i = rng.randrange(1, len(lines))
    name = lines[i].split(b":", 1)[0]
    value = rng.choice([b"", b"<", b";;;;", b"<sip:>", b"\xff\xfe" * 20, b"9" * 400, b"sip:a@b;tag=" + b"t" * 300,
                        b'"unterminated <sip:x@y>', b"SIP/2.0/UDP", b"1 INVITE extra", b"-5 BYE"])
    lines[i] = name + b": " + value
    return _join(lines, body)


def _request_line(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    lines[0] = rng.choice([b"INVITE sip:agent SIP/3.0", b"FOO sip:agent@127.0.0.1 SIP/2.0", b"INVITE  SIP/2.0",
                           b"INVITE sip:" + b"x" * 2000 + b"@h SIP/2.0", b"INVITE <sip:a@b> SIP/2.0", b"",
                           b"sip:agent@127.0.0.1 INVITE SIP/2.0", b"INVITE tel:+1234 SIP/2.0"])
    return _join(lines, body)


def _cseq_method(rng: random.Random, m: bytes) -> bytes:
    return re.sub(rb"CSeq: *(\d+) *\w+", b"CSeq: \\1 " + rng.choice(METHODS).encode(), m, count=1)


def _bare_lf(rng: random.Random, m: bytes) -> bytes:
    return m.replace(b"\r\n", b"\n") if rng.random() < 0.5 else m.replace(b"\r\n\r\n", b"\r\n", 1)


def _many_vias(rng: random.Random, m: bytes) -> bytes:
    lines, body = _split(m)
    via = next((line for line in lines if line.lower().startswith(b"via")), b"Via: SIP/2.0/UDP 1.2.3.4")
    for _ in range(rng.choice([30, 100])):
        lines.insert(1, via.replace(b"branch=z9hG4bK", b"branch=z9hG4bK" + str(rng.random()).encode()))
    return _join(lines, body)


def _via_params(rng: random.Random, m: bytes) -> bytes:
    extra = rng.choice([b";maddr=127.0.0.9", b";received=10.1.1.1", b";rport=0", b";branch=", b";ttl=300"])
    return re.sub(rb"(Via: [^\r\n]*)", lambda match: match.group(1) + extra, m, count=1)


_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _truncate, _huge_header, _duplicate_header, _nul_bytes, _content_length, _bad_body, _flip_bytes, _drop_header,
    _garble_header, _request_line, _cseq_method, _bare_lf, _many_vias, _via_params,
]
