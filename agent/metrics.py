"""Prometheus metrics and health endpoints (``--metrics-port``; off by default).

One process-wide :data:`METRICS`: a no-op until :meth:`Metrics.serve` is called,
so the call path records unconditionally and pays nothing when metrics are off.
The HTTP server (a daemon thread) answers:

    /metrics   the Prometheus text format (names ``sip_agent_*``, plus ``process_*``)
    /healthz   200 while the process runs
    /readyz    200 once the models are loaded and, when registering, the account
               is registered; 503 with the reason otherwise
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["METRICS", "Metrics", "STAGE_BUCKETS", "V2V_BUCKETS"]

log = logging.getLogger(__name__)

V2V_BUCKETS = (0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Voice to voice, seconds: finer around the 1-1.5 s where a phone turn feels prompt or slow."""
STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class Metrics:
    """The agent's metrics (see the module docstring); every method is safe to call when off."""

    def __init__(self) -> None:
        self.enabled = False
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._ready: Callable[[], tuple[bool, str]] = lambda: (False, "starting")

    def serve(self, host: str, port: int, ready: Callable[[], tuple[bool, str]] | None = None) -> int:
        """Create the metrics and start the HTTP server; returns the bound port (``port`` 0: any)."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, CPU seconds, open fds
        prefix = "sip_agent_"
        self.calls_active = Gauge(prefix + "calls_active", "Calls answered and not yet ended", registry=registry)
        self.calls = Counter(prefix + "calls", "Calls answered", registry=registry)
        self.refused = Counter(prefix + "calls_refused", "Calls refused, by reason", ["reason"], registry=registry)
        self.turns = Counter(prefix + "turns", "Caller turns answered", registry=registry)
        self.v2v = Histogram(prefix + "voice_to_voice_seconds", "End of the caller's speech to the agent's first "
                             "audio frame out", buckets=V2V_BUCKETS, registry=registry)
        self.stages = Histogram(prefix + "turn_stage_seconds", "Each stage of a turn (endpoint_wait, stt_final, "
                                "first_token, first_chunk_text, synthesis, playout)", ["stage"],
                                buckets=STAGE_BUCKETS, registry=registry)
        self.llm_wait = Histogram(prefix + "llm_queue_wait_seconds", "Time a reply request waited for the shared "
                                  "LLM", buckets=STAGE_BUCKETS, registry=registry)
        self.barge_ins = Counter(prefix + "barge_ins", "Replies the caller interrupted", registry=registry)
        self.rtp_gaps = Counter(prefix + "rtp_tx_gaps", "Outgoing 20 ms frames handed out more than 40 ms after "
                                "the one before", registry=registry)
        self.registered = Gauge(prefix + "registered", "1 while the account is registered", registry=registry)
        self.actions = Counter(prefix + "call_actions", "Call actions carried out, by action and outcome",
                               ["action", "outcome"], registry=registry)
        self.compute_waits = Histogram(prefix + "compute_wait_seconds", "Time native work (stt, tts, llm) waited "
                                       "for the cores, by the priority it was served at", ["kind", "priority"],
                                       buckets=STAGE_BUCKETS, registry=registry)
        self.capacity = Gauge(prefix + "capacity_calls", "Calls the agent admits at once now (--max-calls, or "
                              "what auto has learnt)", registry=registry)
        self.llm_restarts = Counter(prefix + "llm_restarts", "Times the LLM worker's loop crashed and was "
                                    "restarted", registry=registry)
        self.reply_fallbacks = Counter(prefix + "reply_fallbacks", "Turns whose reply failed and were answered "
                                       "with the spoken fallback instead", registry=registry)
        self.decisions = Counter(prefix + "reply_decisions", "Replies decided by a rule (asked back, not in the "
                                 "facts, a person, the clock...) or cut short by the grounding guard (by the claim "
                                 "it stopped)", ["by", "kind"], registry=registry)
        self._registry = registry
        if ready is not None:
            self._ready = ready
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        self.enabled = True
        self.port = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics (also /healthz, /readyz)", host, self.port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.enabled = False

    def set_ready(self, ready: Callable[[], tuple[bool, str]]) -> None:
        """What /readyz reports: (ready, why not)."""
        self._ready = ready

    # -- recording (any thread) ---------------------------------------------
    def call_answered(self) -> None:
        if self.enabled:
            self.calls.inc()
            self.calls_active.inc()

    def call_ended(self, tx_gaps: int) -> None:
        if self.enabled:
            self.calls_active.dec()
            self.rtp_gaps.inc(tx_gaps)

    def call_refused(self, reason: str) -> None:
        if self.enabled:
            self.refused.labels(reason).inc()

    def turn(self, record: dict[str, Any]) -> None:
        """A turn's timeline record (:meth:`agent.timeline.TurnTimeline.record`)."""
        if not self.enabled:
            return
        self.turns.inc()
        if record.get("voice_to_voice_ms") is not None:
            self.v2v.observe(record["voice_to_voice_ms"] / 1000.0)
        for stage, ms in record.get("stages_ms", {}).items():
            self.stages.labels(stage).observe(ms / 1000.0)

    def barge_in(self) -> None:
        if self.enabled:
            self.barge_ins.inc()

    def llm_queue_wait(self, secs: float) -> None:
        if self.enabled:
            self.llm_wait.observe(secs)

    def llm_restart(self) -> None:
        if self.enabled:
            self.llm_restarts.inc()

    def reply_fallback(self) -> None:
        if self.enabled:
            self.reply_fallbacks.inc()

    def compute_wait(self, kind: str, priority: str, secs: float) -> None:
        if self.enabled:
            self.compute_waits.labels(kind, priority).observe(secs)

    def set_capacity(self, calls: Callable[[], int]) -> None:
        """What the capacity gauge reads at each scrape."""
        if self.enabled:
            self.capacity.set_function(calls)

    def registration(self, registered: bool) -> None:
        if self.enabled:
            self.registered.set(1 if registered else 0)

    def action(self, action: str, outcome: str) -> None:
        if self.enabled:
            self.actions.labels(action, outcome).inc()

    def decision(self, by: str, kind: str) -> None:
        if self.enabled:
            self.decisions.labels(by, kind).inc()

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self._registry))


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                from prometheus_client import CONTENT_TYPE_LATEST

                self._reply(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ready, why = metrics._ready()
                self._reply(200 if ready else 503, b"ready\n" if ready else f"not ready: {why}\n".encode())
            else:
                self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
            log.debug("metrics: %s", format % args)

    return Handler


METRICS = Metrics()
"""The process's metrics (off until :meth:`Metrics.serve`)."""
