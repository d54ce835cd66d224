"""Delivers the outbox's events to the business's webhook, signed, until each is taken.

Each event is one POST of its stored JSON bytes with::

    Content-Type: application/json
    X-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with --webhook-secret>
    Idempotency-Key: <the event's id>
    X-Event: <the event's type>

A 2xx answer marks it delivered.  Anything else (a refused connection, a
timeout, a 3xx, a 4xx or 5xx) is a failure: the event stays pending and is
tried again after a backoff (1 s doubling to ``MAX_BACKOFF_SECS``, each
drawn between half and all of it, at least what a ``Retry-After`` asks), for as long as it
takes, across restarts.  While the webhook fails, the sender waits out the
backoff before trying any event, so a server that is down is not hammered.
Redirects are not followed: urllib would turn the POST into a GET without the
body, and its 200 would lose the event.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from . import __version__
from .errors import ConfigError
from .outbox import Outbox, Row

__all__ = ["WebhookSender", "sign", "check_webhook_url", "MAX_BACKOFF_SECS"]

log = logging.getLogger(__name__)

TIMEOUT_SECS = 10.0
BASE_BACKOFF_SECS = 1.0
MAX_BACKOFF_SECS = 60.0
MAX_RETRY_AFTER_SECS = 3600.0
FAULT_ENV = "SIP_AGENT_FAULT"
KILL_AFTER_2XX = "webhook-kill-after-2xx"
"""Test only: ``SIP_AGENT_FAULT=webhook-kill-after-2xx`` kills the process (SIGKILL) when a delivery was answered
2xx, before it is marked delivered: the event is sent again after the restart, with the same id and body."""
SHUTDOWN_FLUSH_SECS = 2.0
"""At shutdown, how long the sender may go on delivering what is due (the rest waits for the next start)."""


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Signature`` header's value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_webhook_url(url: str) -> None:
    """A ConfigError naming what is wrong with ``--webhook``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--webhook must be an http:// or https:// URL with a host, got '{url}'")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx is raised as an HTTPError: a failure, retried


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if loopback:  # a proxy from the environment never reaches this box's own server
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


class WebhookSender:
    """One thread that delivers the outbox's pending events in the order they were committed."""

    def __init__(self, outbox: Outbox, url: str, secret: str, timeout_secs: float = TIMEOUT_SECS,
                 clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.url = url
        self.secret = secret.encode("utf-8")
        self.timeout_secs = timeout_secs
        self.clock = clock
        self._opener = _opener(url)
        self._kill_after_2xx = KILL_AFTER_2XX in os.environ.get(FAULT_ENV, "").split(",")
        self._stop = threading.Event()
        self._failures = 0
        self._pause_until = 0.0
        self._failing_since = 0.0
        self.delivered = 0
        self.exited = threading.Event()
        self._thread = threading.Thread(target=self._main, name="webhook", daemon=True)

    def start(self) -> None:
        """Start delivering; what is pending from before goes first, in the order it was committed."""
        pending = self.outbox.retry_now()
        if pending:
            log.info("webhook: %d event(s) pending from before, delivering to %s", pending, self.url)
        self._thread.start()

    def stop(self, flush_secs: float = SHUTDOWN_FLUSH_SECS) -> None:
        """Deliver what is due for up to ``flush_secs`` (unless the webhook is failing), then stop."""
        deadline = time.monotonic() + flush_secs
        while (self._failures == 0 and time.monotonic() < deadline and self._thread.is_alive()
               and self.outbox.due(self.clock()) is not None):
            time.sleep(0.05)
        self._stop.set()
        with self.outbox.changed:
            self.outbox.changed.notify_all()
        self._thread.join(self.timeout_secs + 1.0)
        pending, _ = self.outbox.counts()
        if pending:
            log.info("webhook: %d event(s) still pending in %s, delivered after the next start (or by "
                     "sip-agent outbox --send)", pending, self.outbox.path)

    # -- the thread ---------------------------------------------------------
    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                now = self.clock()
                row = self.outbox.due(now) if now >= self._pause_until else None
                if row is None:
                    self._wait(now)
                    continue
                self.send(row)
        except Exception:
            log.exception("webhook: the sender failed; pending events are kept for the next start")
        finally:
            self.exited.set()

    def _wait(self, now: float) -> None:
        due = self.outbox.next_due()
        until = max(self._pause_until, due) if due is not None else None
        with self.outbox.changed:
            if not self._stop.is_set():
                self.outbox.changed.wait(min(max(until - now, 0.01), 1.0) if until is not None else 1.0)

    def send(self, row: Row) -> bool:
        """POST one event; mark it delivered or schedule its retry.  True when delivered."""
        request = urllib.request.Request(self.url, data=row.body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"sip-agent/{__version__}",
            "X-Signature": sign(self.secret, row.body), "Idempotency-Key": row.id, "X-Event": row.type})
        status: int | None = None
        retry_after = 0.0
        try:
            with self._opener.open(request, timeout=self.timeout_secs) as answer:
                answer.read(65536)
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"{exc.code} {exc.reason}"
            retry_after = _retry_after(exc.headers.get("Retry-After", ""))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            error = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
        else:
            if 200 <= status < 300:
                if self._kill_after_2xx:  # test only: the crash between the answer and the mark
                    os.kill(os.getpid(), signal.SIGKILL)
                self.outbox.delivered(row, status)
                self.delivered += 1
                self._recovered()
                log.info("webhook: %s %s delivered (%d)", row.type, row.id, status)
                return True
            error = f"{status}"
        self._failed(row, status, error, retry_after)
        return False

    def _failed(self, row: Row, status: int | None, error: str, retry_after: float) -> None:
        self._failures += 1
        ceiling = min(MAX_BACKOFF_SECS, BASE_BACKOFF_SECS * 2 ** min(self._failures - 1, 20))
        delay = max(random.uniform(ceiling / 2, ceiling), retry_after)
        now = self.clock()
        self._pause_until = now + delay
        self.outbox.failed(row, status, error, now + delay)
        if self._failures == 1:
            self._failing_since = now
            log.warning("webhook: %s %s not delivered to %s: %s; kept, retrying with backoff",
                        row.type, row.id, self.url, error)
        else:
            log.debug("webhook: attempt %d failed: %s; next in %.1f s", self._failures, error, delay)

    def _recovered(self) -> None:
        if self._failures:
            log.info("webhook: delivering again after %d failed attempt(s) over %.0f s", self._failures,
                     self.clock() - self._failing_since)
        self._failures = 0
        self._pause_until = 0.0


def _retry_after(value: str) -> float:
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECS)
    except ValueError:
        return 0.0
