"""The outbox and the webhook sender against a real HTTP server: signed, retried, kept, exactly once by id."""

from __future__ import annotations

import http.server
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.events import make_event
from agent.outbox import Outbox, state_dir
from agent.webhook import KILL_AFTER_2XX, WebhookSender, sign
from tests.agent_proc import REPO
from tests.peers.webhook import WebhookReceiver

SECRET = "s3cret-for-tests"


def _event(n: int, type_: str = "call.started") -> dict[str, object]:
    return make_event(type_, f"call-a.{n}", "call-a", **{"from": "sip:+441273555381@pbx"})


def _sender(outbox: Outbox, url: str) -> WebhookSender:
    return WebhookSender(outbox, url, SECRET, timeout_secs=2.0)


def test_the_outbox_is_a_wal_file_and_an_event_is_kept_once_by_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert outbox.commit(_event(1)) and not outbox.commit(_event(1)) and outbox.commit(_event(2))
    outbox.close()
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = Outbox(tmp_path)
    assert [r.id for r in again.rows()] == ["call-a.1", "call-a.2"] and again.counts() == (2, 0)
    assert again.rows()[0].event["from"] == "sip:+441273555381@pbx"


def test_the_state_directory_follows_systemd_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "systemd"))
    assert state_dir() == tmp_path / "systemd" and state_dir(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "sip-agent"


def test_events_arrive_signed_in_order_with_their_id_as_idempotency_key(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    with WebhookReceiver(SECRET) as hook:
        sender = _sender(outbox, hook.url)
        sender.start()
        for n in range(1, 4):
            outbox.commit(_event(n))
        hook.wait_for(lambda events: len(events) == 3, timeout=10)
        sender.stop()
        first = hook.accepted()[0]
    assert [e["id"] for e in hook.events()] == ["call-a.1", "call-a.2", "call-a.3"]
    assert first.signed_with(SECRET) and first.headers["x-signature"] == sign(SECRET.encode(), first.body)
    assert first.headers["idempotency-key"] == "call-a.1" and first.headers["x-event"] == "call.started"
    assert first.headers["content-type"] == "application/json"
    assert outbox.counts() == (0, 3)


def test_a_failing_webhook_is_retried_with_backoff_and_nothing_is_lost(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    with WebhookReceiver(SECRET, answers=[500, 503]) as hook:
        sender = _sender(outbox, hook.url)
        sender.start()
        outbox.commit(_event(1))
        outbox.commit(_event(2))
        hook.wait_for(lambda events: len(events) == 2, timeout=15)
        sender.stop()
    statuses = [d.status for d in hook.deliveries]
    assert statuses[:2] == [500, 503] and statuses.count(200) == 2, statuses
    gaps = [b - a for a, b in zip(_times(hook), _times(hook)[1:], strict=False)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.9, gaps  # 1 s, then 2 s, each drawn between half and all
    assert outbox.counts() == (0, 2)


def _times(hook: WebhookReceiver) -> list[float]:
    return [d.t for d in hook.deliveries]


def test_a_webhook_down_then_up_gets_every_event(tmp_path: Path) -> None:
    port = _free_tcp_port()
    outbox = Outbox(tmp_path)
    sender = _sender(outbox, f"http://127.0.0.1:{port}/hook")
    sender.start()
    for n in range(1, 4):
        outbox.commit(_event(n))
    time.sleep(1.5)
    row = outbox.rows()[0]
    assert outbox.counts() == (3, 0) and row.attempts >= 1 and "refused" in (row.last_error or "").lower()
    with WebhookReceiver(SECRET, port=port) as hook:
        hook.wait_for(lambda events: len(events) == 3, timeout=20)
        sender.stop()
    assert [e["id"] for e in hook.events()] == ["call-a.1", "call-a.2", "call-a.3"]


def test_a_redirect_is_a_failure_not_a_delivery(tmp_path: Path) -> None:
    got: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append("POST")
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            got.append("GET")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outbox = Outbox(tmp_path)
        outbox.commit(_event(1))
        sender = _sender(outbox, f"http://127.0.0.1:{server.server_address[1]}/hook")
        row = outbox.rows()[0]
        assert not sender.send(row)
    finally:
        server.shutdown()
        server.server_close()
    assert got == ["POST"] and outbox.counts() == (1, 0) and outbox.rows()[0].last_status == 302


_COMMIT_AND_DIE = """
import os, signal, sys
from pathlib import Path
from agent.events import make_event
from agent.outbox import Outbox
outbox = Outbox(Path(sys.argv[1]))
outbox.commit(make_event("message.taken", "call-k.1", "call-k", fields={"name": "Ann", "number": "01273555381"}))
os.kill(os.getpid(), signal.SIGKILL)
"""

_DELIVER = """
import sys, time
from pathlib import Path
from agent.outbox import Outbox
from agent.webhook import WebhookSender
outbox = Outbox(Path(sys.argv[1]))
sender = WebhookSender(outbox, sys.argv[2], sys.argv[3])
sender.start()
time.sleep(30)
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_killed_between_commit_and_delivery_the_event_arrives_after_the_restart(tmp_path: Path) -> None:
    died = _python(_COMMIT_AND_DIE, str(tmp_path))
    assert died.returncode == -signal.SIGKILL, died.stderr
    with WebhookReceiver(SECRET) as hook:
        outbox = Outbox(tmp_path)
        sender = _sender(outbox, hook.url)
        sender.start()
        hook.wait_for(lambda events: len(events) == 1, timeout=10)
        sender.stop()
    assert hook.events()[0]["fields"] == {"name": "Ann", "number": "01273555381"}
    assert len(hook.deliveries) == 1


def test_killed_after_the_2xx_before_the_mark_the_same_event_comes_again_and_is_kept_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.commit(make_event("message.taken", "call-k.1", "call-k", fields={"name": "Ann"}))
    outbox.close()
    with WebhookReceiver(SECRET) as hook:
        died = _python(_DELIVER, str(tmp_path), hook.url, SECRET, env={"SIP_AGENT_FAULT": KILL_AFTER_2XX})
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert len(hook.deliveries) == 1
        outbox = Outbox(tmp_path)
        assert outbox.counts() == (1, 0)
        sender = _sender(outbox, hook.url)
        sender.start()
        hook.wait_for(lambda events: len(hook.accepted()) == 2, timeout=10)
        sender.stop()
    first, second = hook.accepted()
    assert first.body == second.body and first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert len(hook.events()) == 1 and outbox.counts() == (0, 1)


def test_outbox_command_lists_and_sends_the_pending_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.commit(_event(1))
    outbox.commit(_event(2, "call.ended"))
    outbox.close()
    cli = [sys.executable, "-m", "agent.cli", "outbox", "--state-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    listed = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0 and "call-a.1" in listed.stdout and "2 pending, 0 delivered" in listed.stderr
    with WebhookReceiver(SECRET) as hook:
        sent = subprocess.run([*cli, "--send", "--webhook", hook.url], capture_output=True, text=True,
                              env={**env, "SIP_AGENT_WEBHOOK_SECRET": SECRET}, timeout=60)
    assert sent.returncode == 0, sent.stderr
    assert [e["type"] for e in hook.events()] == ["call.started", "call.ended"]
    unsigned = subprocess.run([*cli, "--send", "--webhook", hook.url], capture_output=True, text=True,
                              env={k: v for k, v in env.items() if k != "SIP_AGENT_WEBHOOK_SECRET"}, timeout=60)
    assert unsigned.returncode == 2 and unsigned.stderr.count("\n") == 1 and "--webhook-secret" in unsigned.stderr
    nothing = subprocess.run([*cli[:-1], str(tmp_path / "none")], capture_output=True, text=True, env=env,
                             timeout=60)
    assert nothing.returncode == 2 and "no outbox" in nothing.stderr


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



def test_the_caller_number_is_the_caller_ids_digits_when_it_is_a_number() -> None:
    from agent.events import caller_number, ended_by

    assert caller_number("sip:+441273555381@pbx.example") == "+441273555381"
    assert caller_number("<sip:01273555381@10.0.0.1;user=phone>") == "01273555381"
    assert caller_number("tel:+1-202-555-0143") == "+12025550143"
    assert caller_number("sip:alice@pbx") == "" and caller_number("sip:12@pbx") == ""
    assert ended_by("caller hung up") == "caller" and ended_by("agent said goodbye") == "agent"
    assert ended_by("no RTP for 30 s") == "timeout" and ended_by("agent shutting down") == "shutdown"


def test_a_slow_webhook_times_out_and_the_event_is_sent_again(tmp_path: Path) -> None:
    calls: list[float] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(time.monotonic())
            if len(calls) == 1:
                time.sleep(1.5)  # longer than the sender waits
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outbox = Outbox(tmp_path)
        outbox.commit(_event(1))
        sender = WebhookSender(outbox, f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET, timeout_secs=0.5)
        sender.start()
        deadline = time.monotonic() + 10
        while outbox.counts() != (0, 1) and time.monotonic() < deadline:
            time.sleep(0.1)
        sender.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert outbox.counts() == (0, 1) and len(calls) == 2  # timed out once, kept, delivered by the retry
