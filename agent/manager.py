"""Call admission: who may call the agent, how often, and how many calls at once."""

from __future__ import annotations

import collections
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import SipConfig, parse_cidrs

__all__ = ["AUTO_MAX_CALLS", "Admission", "Capacity", "Decision", "RateLimit", "RefusalMemory", "default_allow_list",
           "source_ip"]

AUTO_MAX_CALLS = 8
"""The most calls ``--max-calls auto`` ever admits (and never more than the SIP stack's call slots: 4 in the
pjsua2 wheel, see :func:`agent.sip.pjsip.call_slots`)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    code: int  # 0 = accept, else the SIP status to answer with
    reason: str
    label: str = ""
    """The reason in one word, for metrics: ``forbidden``, ``draining``, ``rate_limited``, ``capacity``, ``busy``."""
    retry_after: int = 0
    """Seconds for a Retry-After header (0: none)."""


ACCEPT = Decision(0, "accepted")
DRAIN_RETRY_AFTER_SECS = 60


def _host_of(target: str) -> str:
    """'sip:pbx.example.com:5060;transport=udp' -> 'pbx.example.com'."""
    host = target.split(":", 1)[1] if target.startswith(("sip:", "sips:")) else target
    host = host.split(";", 1)[0].split("@")[-1]
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def default_allow_list(cfg: SipConfig) -> list[Network]:
    """The registrar's and proxy's addresses when registering, else loopback."""
    if not cfg.register:
        return parse_cidrs(["127.0.0.0/8", "::1/128"])
    nets: list[Network] = []
    for target in (cfg.registrar or cfg.domain, cfg.proxy):
        if not target:
            continue
        host = _host_of(target)
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            continue
        for info in infos:
            nets.append(ipaddress.ip_network(str(info[4][0])))
    return nets


def source_ip(src_address: str) -> str:
    """'127.0.0.1:5060' or '[::1]:5060' -> the IP part."""
    if src_address.startswith("["):
        return src_address[1 : src_address.index("]")]
    return src_address.rsplit(":", 1)[0]


class RateLimit:
    """New INVITEs per source address: ``per_minute`` a minute on average, in bursts of up to
    ``max(2, per_minute // 6)`` (a token bucket per source; 0 = no limit)."""

    MAX_SOURCES = 10_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_sec = per_minute / 60.0
        self.burst = float(max(2, per_minute // 6))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """Source -> (tokens, when counted)."""

    def allow(self, source: str) -> bool:
        if self.per_sec <= 0:
            return True
        now = self._clock()
        tokens, then = self._buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_sec)
        if len(self._buckets) >= self.MAX_SOURCES:  # forget the sources whose bucket is full again
            self._buckets = {s: b for s, b in self._buckets.items()
                             if b[0] + (now - b[1]) * self.per_sec < self.burst}
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            return False
        self._buckets[source] = (tokens - 1.0, now)
        return True

    def retry_after(self) -> int:
        """Seconds until a source that was refused has a token again (at most)."""
        return max(1, round(1.0 / self.per_sec)) if self.per_sec > 0 else 0


class Capacity:
    """``--max-calls auto``: how many calls at once keep voice to voice within ``objective_ms``.

    Learnt from the turns, each observed with the number of calls active when it was answered:
    one call is always taken; once ``PROBE_TURNS`` turns at the current limit had p95 within
    ``HEADROOM`` of the objective, one more call is admitted; when the turns at N calls miss the
    objective, the limit falls to N - 1 (at least 1).  Thread-safe: calls report their turns.
    """

    PROBE_TURNS = 4
    HEADROOM = 0.8
    WINDOW = 8

    def __init__(self, objective_ms: float, ceiling: int = AUTO_MAX_CALLS) -> None:
        self.objective_ms = objective_ms
        self.ceiling = ceiling
        self.limit = 1
        self._turns: dict[int, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def observe(self, v2v_ms: float, active: int) -> None:
        with self._lock:
            recent = self._turns.setdefault(max(1, active), collections.deque(maxlen=self.WINDOW))
            recent.append(v2v_ms)
            ordered = sorted(recent)
            p95 = ordered[int(0.95 * (len(ordered) - 1))]
            before = self.limit
            if active > 1 and len(recent) >= 2 and p95 > self.objective_ms:
                self.limit = min(self.limit, active - 1)
            elif (active >= self.limit < self.ceiling and len(recent) >= self.PROBE_TURNS
                  and p95 <= self.HEADROOM * self.objective_ms):
                self.limit += 1
        if self.limit != before:
            log.info("capacity: %d call(s) at once (voice to voice p95 %.0f ms with %d active, objective %.0f ms)",
                     self.limit, p95, active, self.objective_ms)


class Admission:
    """Decides 403 (source not allowed), 503 (too many INVITEs from the source; at capacity with
    ``auto``), 486 (busy: ``max_calls`` reached) or accept.  ``max_calls`` below 1 is ``auto``."""

    def __init__(self, allow: list[Network], max_calls: int, rate: RateLimit | None = None,
                 capacity: Capacity | None = None) -> None:
        self.allow = allow
        self.max_calls = max_calls
        self.rate = rate or RateLimit(0)
        self.capacity = capacity or Capacity(1500.0)
        self.draining = False
        """Set on SIGTERM/SIGUSR1: every new call gets 503 (a proxy tries another box)."""

    def limit(self) -> int:
        """Calls admitted at once now: ``max_calls``, or what ``auto`` has learnt."""
        return self.max_calls if self.max_calls >= 1 else self.capacity.limit

    def allowed(self, src_ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(src_ip)
        except ValueError:
            return False
        return any(addr in net for net in self.allow)

    def decide(self, src_ip: str, active_calls: int) -> Decision:
        if not self.allowed(src_ip):
            return Decision(403, f"source {src_ip} not in allow list", "forbidden")
        if self.draining:
            return Decision(503, "draining: no new calls", "draining", DRAIN_RETRY_AFTER_SECS)
        if not self.rate.allow(src_ip):
            return Decision(503, f"more than {self.rate.per_sec * 60:g} INVITEs a minute from {src_ip}",
                            "rate_limited", self.rate.retry_after())
        if self.max_calls < 1 and active_calls >= self.capacity.limit:
            return Decision(503, f"at capacity: {active_calls} calls keep voice to voice within "
                            f"{self.capacity.objective_ms:.0f} ms", "capacity", 30)
        if 0 < self.max_calls <= active_calls:
            return Decision(486, f"busy: {active_calls} of {self.max_calls} calls active", "busy")
        return ACCEPT


class RefusalMemory:
    """What the gate answered recently, so a retransmitted INVITE gets the same answer and is logged and counted
    once, and how much of it to log: at most ``LINES`` refusal lines a ``WINDOW_SECS`` (the rest are summed up
    in one line), a source not allowed at most once a ``SOURCE_LOG_SECS``."""

    REMEMBERED = 1024
    LINES = 10
    WINDOW_SECS = 10.0
    SOURCE_LOG_SECS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._decided: collections.OrderedDict[str, Decision] = collections.OrderedDict()
        self._window = (-self.WINDOW_SECS, 0)
        """(when the current window started, lines logged in it)."""
        self.unlogged = collections.Counter[str]()
        """Refusals not logged in this window, by reason label."""
        self._sources: dict[str, float] = {}

    def recall(self, call_id: str) -> Decision | None:
        return self._decided.get(call_id) if call_id else None

    def remember(self, call_id: str, decision: Decision) -> None:
        if not call_id:
            return
        self._decided[call_id] = decision
        while len(self._decided) > self.REMEMBERED:
            self._decided.popitem(last=False)

    def may_log(self, label: str) -> bool:
        """Log this refusal's line?  (Call :meth:`take_unlogged` first, to close a window that is over.)"""
        started, lines = self._window
        if self._clock() - started >= self.WINDOW_SECS:
            started, lines = self._clock(), 0
        if lines < self.LINES:
            self._window = (started, lines + 1)
            return True
        self._window = (started, lines)
        self.unlogged[label] += 1
        return False

    def take_unlogged(self) -> collections.Counter[str]:
        """Once the window is over: the refusals it did not log one by one, by label (then forgotten)."""
        if self._clock() - self._window[0] < self.WINDOW_SECS or not self.unlogged:
            return collections.Counter[str]()
        unlogged, self.unlogged = self.unlogged, collections.Counter[str]()
        return unlogged

    def may_log_source(self, source: str) -> bool:
        """Once a ``SOURCE_LOG_SECS`` per source (a bounded table)."""
        now = self._clock()
        if now - self._sources.get(source, -self.SOURCE_LOG_SECS) < self.SOURCE_LOG_SECS:
            return False
        if len(self._sources) >= RateLimit.MAX_SOURCES:
            self._sources = {s: t for s, t in self._sources.items() if now - t < self.SOURCE_LOG_SECS}
            if len(self._sources) >= RateLimit.MAX_SOURCES:
                return False
        self._sources[source] = now
        return True
