"""The running agent: the SIP event loop, call admission, handlers and shutdown.

Threads: the main thread owns every pjsua2 object and runs ``poll()``; the
pj media clock thread moves frames; each answered call runs its handler on a
thread of its own.  Handlers reach the SIP side only through ``post()``.
"""

from __future__ import annotations

import collections
import datetime
import functools
import gc
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pjsua2 as pj

from .config import Config, parse_cidrs
from .events import caller_number, ended_by, iso_time
from .manager import ACCEPT, Admission, Capacity, Decision, RateLimit, RefusalMemory, default_allow_list, source_ip
from .media.playout import PlayoutBuffer
from .media.port import CallMediaPort
from .media.priority import GIL_SWITCH_SECS
from .metrics import METRICS
from .outbound import DialRequest, OutboundCalls, amd_record, answer_outbound
from .outbox import Outbox
from .records import MediaRecorder
from .session import CallHandler, CallSession
from .sip.account import AgentAccount
from .sip.call import UNCONFIRMED_YIELD_SECS, AgentCall
from .sip.endpoint import SipEndpoint
from .sip.gate import DROP, Inbound, SipGate, Verdict, header_value
from .sip.pjsip import call_slots
from .supervision import SUPERVISION
from .turn.amd import AmdResult
from .worker import Worker

__all__ = ["AgentApp"]

log = logging.getLogger(__name__)

POLL_MS = 20
SHUTDOWN_CALLS_SECS = 1.0
SHUTDOWN_UNREGISTER_SECS = 0.3
HANDLER_JOIN_SECS = 1.0
STACK_FULL_RETRY_AFTER_SECS = 2
FAULT_ENV = "SIP_AGENT_FAULT"
GATE_OFF = "sip-gate-off"
"""Test only: ``SIP_AGENT_FAULT=sip-gate-off`` leaves the gate out, to test the path without it."""
FORBIDDEN = Decision(403, "source not in the allow list", "forbidden")
FOREIGN_ANSWERS_A_MINUTE = 60
"""403s a minute for one source not allowed (bursts of 10); beyond, its INVITEs get no answer."""


class AgentApp:
    """Registers, answers calls and runs ``handler`` for each of them until stopped."""

    def __init__(self, cfg: Config, handler: CallHandler, outbox: Outbox | None = None) -> None:
        self.cfg = cfg
        self.handler = handler
        self.outbox = outbox
        """Where each call's events for the business are committed (None: no --webhook and no captures)."""
        self.endpoint = SipEndpoint(cfg.sip, cfg.log_level)
        self.account: AgentAccount | None = None
        allow = parse_cidrs(cfg.sip.allow_from) if cfg.sip.allow_from else default_allow_list(cfg.sip)
        self.admission = Admission(allow, cfg.sip.max_calls, RateLimit(cfg.sip.invite_rate),
                                   Capacity(cfg.sip.target_v2v_ms))
        self._active = 0
        """Calls answered and not ended (read by call threads when they report a turn)."""
        self.calls: dict[int, AgentCall] = {}
        self._dead: list[AgentCall] = []
        self._spare_ports: list[CallMediaPort] = []
        self._threads: dict[int, Worker] = {}
        self._recorders: dict[int, MediaRecorder] = {}
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._drain_deadline: float | None = None
        self.gate = SipGate(self._screen)
        self._refusals = RefusalMemory()
        self._foreign_answers = RateLimit(FOREIGN_ANSWERS_A_MINUTE)
        self._options_why = ""
        self._numbers = 0
        self._next_media_check = 0.0
        self.stats = collections.Counter[str]()
        self.outbound = OutboundCalls()
        """The calls placed (``dial``), for the API."""
        self._dials: dict[int, DialRequest] = {}
        self._dial_rate = RateLimit(cfg.service.dial_rate)
        self._dial_lock = threading.Lock()
        self._dials_pending = 0

    # -- public -------------------------------------------------------
    def post(self, command: Callable[[], None]) -> None:
        """Run ``command`` on the SIP thread at its next loop turn (thread-safe)."""
        self._commands.put(command)

    def request_hangup(self, number: int, reason: str) -> None:
        """Hang up call ``number`` from any thread (BYE is sent by the SIP thread)."""
        self._on_call(number, lambda call: call.hangup_now(reason))

    def request_action(self, number: int, action: object) -> None:
        """Carry out a call action (transfer, DTMF) on call ``number`` from any thread."""
        self._on_call(number, lambda call: call.carry_out(action))

    def _on_call(self, number: int, command: Callable[[AgentCall], None]) -> None:
        """Run ``command`` on call ``number`` on the SIP thread, if the call is still there then."""

        def run() -> None:
            call = self.calls.get(number)
            if call is not None:
                command(call)

        self.post(run)

    def stop(self) -> None:
        self._stop.set()

    def dial(self, request: DialRequest) -> tuple[int, str, int]:
        """Place an outbound call (any thread): (202, "", 0), or the refusal (HTTP status, reason, seconds to
        retry after).  The SIP thread sends the INVITE; ``outbound`` says what became of it."""
        if request.facts and not self.handler.takes_facts:
            return 400, "facts: this agent answers from no facts to add a call's to (run it with --facts)", 0
        ready, why = self.readiness()
        if not ready:
            return 503, f"not ready: {why}", 5
        if self.admission.draining:
            return 503, "draining: no new calls", 30
        with self._dial_lock:
            limit = self.admission.limit()
            if self._active + self._dials_pending >= limit:
                return 503, f"at capacity: {self._active + self._dials_pending} of {limit} call(s) in progress", 10
            if not self._dial_rate.allow("api"):
                return 429, f"more than {self.cfg.service.dial_rate} calls a minute", self._dial_rate.retry_after()
            self._dials_pending += 1
        self.outbound.add(request)
        self.post(functools.partial(self._place, request))
        return 202, "", 0

    def drain(self) -> None:
        """Take no new call (503, and OPTIONS 503); stop once the calls in progress end or ``--drain-timeout``
        passes (then they are hung up with BYE).  Thread-safe; a second drain stops at once."""
        if self.admission.draining:
            self._stop.set()
            return
        self.admission.draining = True
        timeout = self.cfg.sip.drain_timeout_secs
        self._drain_deadline = time.monotonic() + timeout
        log.info("draining: %d call(s) in progress may go on for up to %d s; new calls get 503", self._active,
                 timeout)

    def availability(self) -> tuple[bool, str]:
        """For OPTIONS (the SIP thread): (can take a call now, why not)."""
        ready, why = self.readiness()
        if not ready:
            return False, why
        if self.admission.draining:
            return False, "draining"
        limit = self.admission.limit()
        if self._active >= limit and not self._stale_unconfirmed(time.monotonic()):
            return False, f"full: {self._active} of {limit} call(s)"
        return True, ""

    def readiness(self) -> tuple[bool, str]:
        """For /readyz (any thread): (ready to take calls, why not)."""
        if self.account is None or self._stop.is_set():
            return False, "starting" if not self._stop.is_set() else "shutting down"
        if self.cfg.sip.register and self.account.state != "registered":
            return False, f"not registered ({self.account.state})"
        problem = SUPERVISION.problem()
        if problem:
            return False, problem
        return True, ""

    def run(self, ready: Callable[[AgentApp], None] | None = None) -> int:
        """Start, serve until SIGINT/SIGTERM or ``stop()``, shut down cleanly; returns 0."""
        sys.setswitchinterval(GIL_SWITCH_SECS)
        self.endpoint.start()
        slots = call_slots()[1]
        self.admission.capacity.ceiling = min(self.admission.capacity.ceiling, slots)
        sip = self.cfg.sip
        self.account = AgentAccount(sip, self._on_incoming)
        self.account.open(self.endpoint.bound_port)
        where = f"{sip.bind}:{self.endpoint.bound_port}"
        mode = f"registering as {sip.user}@{sip.registrar or sip.domain}" if sip.register else "not registering"
        log.info("listening for SIP on udp %s, %s, codecs %s, max %s calls",
                 where, mode, ", ".join(self.endpoint.codec_ids),
                 sip.max_calls if sip.max_calls > 0 else f"auto (voice to voice within {sip.target_v2v_ms} ms)")
        self._install_signals()
        if GATE_OFF in os.environ.get(FAULT_ENV, "").split(","):
            log.warning("SIP gate left out (%s=%s, a test setting): refusals go through call objects", FAULT_ENV,
                        GATE_OFF)
        else:
            self.gate.install()
        if ready:
            ready(self)
        while not self._stop.is_set():
            self.endpoint.poll(POLL_MS)
            self._run_commands()
            self.account.tick()
            self._check_media()
            self._check_drain()
            self._bury()
        self._shutdown()
        return 0

    # -- signals and commands ----------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if not self._stop.is_set():
                log.info("%s received: shutting down", signal.Signals(signum).name)
            self._stop.set()

        def on_drain(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received: %s", signal.Signals(signum).name,
                     "shutting down now" if self.admission.draining else "draining")
            self.drain()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_drain)
        signal.signal(signal.SIGUSR1, on_drain)

    def _check_drain(self) -> None:
        if self._drain_deadline is None:
            return
        if self._active == 0:
            log.info("drained: no call in progress")
            self._stop.set()
        elif time.monotonic() >= self._drain_deadline:
            log.info("drain timeout: hanging up %d call(s)", self._active)
            self._stop.set()

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except Exception:
                log.exception("SIP command failed")

    # -- calls --------------------------------------------------------
    # -- the gate: new requests outside a dialog (SIP thread) -----------
    def _screen(self, inbound: Inbound) -> Verdict | None:
        """Answer for a new request outside a dialog before the SIP stack makes anything of it: None lets it
        through (to a call, or pjsua's OPTIONS 200), a :class:`Verdict` is answered statelessly or dropped."""
        self._log_unlogged_refusals()
        if not self.admission.allowed(inbound.source):
            return self._foreign(inbound)
        if inbound.method == "OPTIONS":
            ok, why = self.availability()
            if ok:
                self._options_why = ""
                return None
            if why != self._options_why:
                log.info("answering OPTIONS with 503: %s", why)
                self._options_why = why
            return Verdict(503)
        if inbound.method != "INVITE":
            return None
        call_id = inbound.header("call-id", "i")
        decision = self._refusals.recall(call_id)
        if decision is None:  # not a retransmission of an INVITE refused already
            decision = self._admit(inbound.source)
            if not decision.code:
                return None
            self._refusals.remember(call_id, decision)
            self._refused(decision, _uri_of(inbound.header("from", "f")), inbound.source)
        return Verdict(decision.code, decision.retry_after)

    def _foreign(self, inbound: Inbound) -> Verdict:
        """A request from a source not allowed: an INVITE gets one stateless 403 (at most
        ``FOREIGN_ANSWERS_A_MINUTE`` a source, never to a Via ``maddr``: nothing is retransmitted or sent on to
        another address), anything else no answer; logged once a minute per source, an INVITE counted once."""
        verdict = DROP
        if inbound.method == "INVITE":
            call_id = inbound.header("call-id", "i")
            if self._refusals.recall(call_id) is None:
                self._refusals.remember(call_id, FORBIDDEN)
                self.stats["rejected_403"] += 1
                METRICS.call_refused("forbidden")
            if "maddr" not in inbound.header("via", "v").lower() and self._foreign_answers.allow(inbound.source):
                verdict = Verdict(403)
        if self._refusals.may_log_source(inbound.source):
            log.warning("%s from %s (%s:%d) %s: source not in the allow list (logged once a minute per source)",
                        inbound.method, _uri_of(inbound.header("from", "f")), inbound.source, inbound.port,
                        "refused with 403" if verdict.code else "dropped unanswered")
        return verdict

    def _admit(self, source: str) -> Decision:
        """Take a new call from ``source``, or why not."""
        if self._stop.is_set():
            return Decision(503, "shutting down", "draining")
        if self._active >= self.admission.limit():
            self._give_up_stale_unconfirmed()
        decision = self.admission.decide(source, self._active)
        if decision.code:
            return decision
        held, slots = call_slots()
        if held >= slots:
            return Decision(503, f"all {slots} call slots of the SIP stack are held by calls still ending",
                            "stack_full", STACK_FULL_RETRY_AFTER_SECS)
        return ACCEPT

    def _refused(self, decision: Decision, remote: str, source: str) -> None:
        """Count a refused INVITE and log it (at most ``RefusalMemory.LINES`` lines a window)."""
        self.stats[f"rejected_{decision.code}"] += 1
        METRICS.call_refused(decision.label)
        if self._refusals.may_log(decision.label):
            log.info("INVITE from %s (%s) refused with %d: %s", remote, source, decision.code, decision.reason)

    def _log_unlogged_refusals(self) -> None:
        unlogged = self._refusals.take_unlogged()
        if unlogged:
            log.warning("%d more INVITE(s) refused in the last %.0f s, not logged one by one: %s",
                        sum(unlogged.values()), RefusalMemory.WINDOW_SECS,
                        ", ".join(f"{count} {label}" for label, count in unlogged.most_common()))

    def _stale_unconfirmed(self, now: float) -> list[AgentCall]:
        """Calls answered and not ACKed for ``UNCONFIRMED_YIELD_SECS``, oldest first."""
        stale = [c for c in self.calls.values() if c.counted and c.unconfirmed_for(now) >= UNCONFIRMED_YIELD_SECS]
        return sorted(stale, key=lambda c: c.t_answered)

    def _give_up_stale_unconfirmed(self) -> None:
        """Full: the call whose 200 OK has waited longest for an ACK gives its place to the new caller.  It is
        ended right after this poll (ending it here, inside pjsip's handling of the new INVITE, could let the
        new call reuse its slot while its object is alive)."""
        stale = self._stale_unconfirmed(time.monotonic())
        if not stale:
            return
        call = stale[0]
        call.counted = False
        self._active -= 1
        log.warning("call %d from %s: no ACK %.1f s after its 200 OK, and a new caller is waiting: ending it",
                    call.number, call.remote, time.monotonic() - call.t_answered)

        def end() -> None:
            if not call.end_session_now("gave its place: no ACK"):
                call.hangup_now("gave its place: no ACK")

        self.post(end)

    # -- calls --------------------------------------------------------
    def _on_incoming(self, prm: pj.OnIncomingCallParam) -> None:
        """A call pjsua made for an INVITE the gate let through.  It is never ended inside this callback:
        pjsua2 frees the INVITE's copy once more when the callback returns, and a call ended inside it (an
        INVITE without SDP refused at once) has freed that copy already, which aborts the process."""
        if self._stop.is_set():  # shutting down: no call object that could outlive the library
            log.info("an INVITE during shutdown: left to the SIP stack (it ends it with the library)")
            return
        assert self.account is not None
        src = source_ip(str(prm.rdata.srcAddress))
        message = str(prm.rdata.wholeMsg).encode("utf-8", "surrogateescape")
        remote = _uri_of(header_value(message, "from", "f")) or "unknown"
        self._numbers += 1
        call = AgentCall(self.account, prm.callId, self._numbers, remote,
                         self._on_media_ready, self._on_ended, self.request_hangup, self.request_action,
                         self._acquire_port, message)
        self.calls[call.number] = call
        decision = ACCEPT if self.gate.enabled else self._admit(src)
        if decision.code:  # no gate: refused through the call object, once this callback has returned
            self._refused(decision, remote, src)
            call.rejected_code = decision.code
            self.post(functools.partial(call.answer_with, decision.code, decision.retry_after))
            return
        log.info("call %d from %s (%s): answering", call.number, remote, src)
        METRICS.call_answered()
        self._active += 1
        call.counted = True
        call.session.on_turn = self._turn_done
        call.session.outbox = self.outbox
        call.session.sip_call_id = call.sip_call_id
        call.answer_with(200)

    def _place(self, request: DialRequest) -> None:
        """On the SIP thread: send an outbound call's INVITE."""
        with self._dial_lock:
            self._dials_pending -= 1
        if self.account is None or self._stop.is_set():
            self.outbound.update(request.id, status="ended", outcome="failed", cause="the agent is stopping",
                                 ended=iso_time())
            return
        self._numbers += 1
        call = AgentCall(self.account, pj.PJSUA_INVALID_ID, self._numbers, request.to, self._on_media_ready,
                         self._on_ended, self.request_hangup, self.request_action, self._acquire_port,
                         outbound=True, on_progress=self._progress)
        call.sip_call_id = f"{request.id}@sip-agent"
        session = call.session
        session.id, session.direction, session.greeting = request.id, "outbound", request.greeting
        session.facts = request.facts
        session.outbox, session.sip_call_id, session.on_turn = self.outbox, call.sip_call_id, self._turn_done
        self.calls[call.number] = call
        self._dials[call.number] = request
        self._active += 1
        call.counted = True
        METRICS.call_answered()
        log.info("call %d to %s: dialing (api call %s)", call.number, request.to, request.id)
        own = f"sip:{self.cfg.sip.user}@{self.cfg.sip.domain or self.cfg.sip.bind}"
        session.emit("call.started", "started", direction="outbound", to=request.to, purpose=request.purpose,
                     sip_call_id=call.sip_call_id, **{"from": own}, caller_number="")
        try:
            call.place(request.to)
        except pj.Error as exc:
            log.warning("call %d to %s: not placed: %s", call.number, request.to, exc.reason)
            self.outbound.update(request.id, status="ended", outcome="failed", cause=f"not placed: {exc.reason}",
                                 ended=iso_time())
            self._end_unanswered(call, f"not placed: {exc.reason}", 0, request)
            METRICS.call_ended(0)
            self.calls.pop(call.number, None)
            self._dials.pop(call.number, None)
            call.counted = False
            self._active -= 1
            self._dead.append(call)

    def _progress(self, call: AgentCall, status: str) -> None:
        request = self._dials.get(call.number)
        if request is not None:
            fields = {"status": status}
            if status == "answered":
                fields["answered"] = iso_time()
                log.info("call %d to %s: answered", call.number, call.remote)
            self.outbound.update(request.id, **fields)

    def _end_unanswered(self, call: AgentCall, cause: str, code: int, request: DialRequest) -> None:
        """An outbound call no one answered: its end for the business (there was no conversation to report it)."""
        outcome = ("busy" if code in (486, 600) else "declined" if code in (603,) else
                   "no_answer" if code in (408, 480, 487) or cause.startswith("no answer") else "failed")
        by = "agent" if not code or cause.startswith("no answer") else "callee"  # (our CANCEL is answered 487)
        call.session.emit("call.ended", "ended", duration_secs=0.0, ended_by=by,
                          cause=cause, outcome=outcome, transcript=[], to=call.remote, purpose=request.purpose,
                          amd=None)
        self.outbound.update(request.id, outcome=outcome)

    def _on_media_ready(self, call: AgentCall) -> None:
        session = call.session
        if self.cfg.speech.records_dir and call.port is not None:
            folder = _records_folder(Path(self.cfg.speech.records_dir), call.number)
            session.records_dir = str(folder)  # made by the recorder's thread (or the call's, first)
            taps = call.port.record()
            recorder = MediaRecorder(folder / "audio.wav", taps.rx, taps.tx)
            recorder.start()
            self._recorders[call.number] = recorder
        log.info("call %d: media up, codec %s, %.1f ms after INVITE",
                 call.number, call.codec, (time.monotonic() - call.t_created) * 1000)
        request = self._dials.get(call.number)
        worker = _HandlerWorker(self.handler, session, request, self.outbound)
        self._threads[call.number] = worker
        worker.start()

    def _on_ended(self, call: AgentCall, cause: str) -> None:
        call.session.mark_ended(cause)
        request = self._dials.pop(call.number, None)
        if request is not None:
            code = call.last_status
            self.outbound.update(request.id, sip_status=code or None, cause=cause, ended=iso_time())
            if call.number not in self._threads:  # never answered (or no media): no conversation reports it
                self._end_unanswered(call, cause, code, request)
                self.outbound.update(request.id, status="ended")  # (else once its conversation is over)
            log.info("call %d to %s: ended: %s", call.number, call.remote, cause)
        recorder = self._recorders.get(call.number)
        if recorder:
            recorder.finish()  # it writes the rest and closes on its own thread; joined at shutdown
        self._recorders = {number: r for number, r in self._recorders.items() if not r.exited.is_set()}
        if not call.rejected_code:
            log.info("%s", call.summary(cause))
            self.stats["calls"] += 1
            METRICS.call_ended(call.port.counters.tx_gaps if call.port else 0)
        if call.counted:
            call.counted = False
            self._active -= 1

        self.calls.pop(call.number, None)
        self._threads.pop(call.number, None)
        log.debug("call %d ended; active calls: %d", call.number,
                  sum(1 for c in self.calls.values() if not c.rejected_code))
        if call.port is not None:  # its media is gone: nothing calls the port any more
            self._spare_ports.append(call.port)
            call.port = None
        self._dead.append(call)

    def _turn_done(self, record: dict[str, Any]) -> None:
        """A call's turn was answered (its thread): what ``--max-calls auto`` learns from."""
        v2v = record.get("voice_to_voice_ms")
        if v2v is not None:
            self.admission.capacity.observe(float(v2v), self._active)

    def _check_media(self) -> None:
        """Once a second: end calls never ACKed, fail transfers with no outcome, hang up calls whose caller
        sent no RTP for --rtp-timeout."""
        now = time.monotonic()
        if now < self._next_media_check:
            return
        self._next_media_check = now + 1.0
        self._log_unlogged_refusals()
        limit = self.cfg.sip.rtp_timeout_secs
        for call in list(self.calls.values()):
            call.check_ack(now)
            call.check_transfer(now)
            request = self._dials.get(call.number)
            if request is not None and call.unanswered_for(now) >= request.ring_timeout_secs:
                log.info("call %d to %s: no answer within %d s: cancelling", call.number, call.remote,
                         request.ring_timeout_secs)
                call.hangup_now(f"no answer within {request.ring_timeout_secs} s")
            if limit and call.rtp_silent_for(now) >= limit:
                log.warning("call %d: no RTP from the caller for %d s", call.number, limit)
                call.hangup_now(f"no RTP for {limit} s", wait_for_answer=False)

    def _acquire_port(self) -> CallMediaPort:
        """A media port for a new call: a spare one, or a new one (they are never destroyed mid-run)."""
        if self._spare_ports:
            return self._spare_ports.pop()
        return CallMediaPort(f"port{self._numbers}", PlayoutBuffer(), queue.SimpleQueue())

    def _bury(self) -> None:
        """Release ended calls once their callbacks have returned (pjsua reuses their ids)."""
        self._dead.clear()

    # -- shutdown -----------------------------------------------------
    def _shutdown(self) -> None:
        if self.calls:
            log.info("hanging up %d call(s)", len(self.calls))
        self._hangup_all("agent shutting down")  # (a loop variable here would keep a Call alive)
        self._pump(lambda: not self.calls, SHUTDOWN_CALLS_SECS)
        deadline = time.monotonic() + HANDLER_JOIN_SECS
        for worker in list(self._threads.values()):
            worker.stop(max(0.0, deadline - time.monotonic()))
        for recorder in self._recorders.values():
            recorder.finish()  # all write their last frames at once, then each is waited for
        for recorder in self._recorders.values():
            recorder.stop()
        self._recorders.clear()
        self.endpoint.stop_media_clock()  # before any media port is released
        self.calls.clear()
        self._dead.clear()
        self._pump(lambda: False, 0.05)
        self._spare_ports.clear()
        self._threads.clear()
        if self.account is not None:
            registered = self.account.state == "registered"
            if registered:
                log.info("unregistering from %s", self.cfg.sip.registrar or self.cfg.sip.domain)
            self.account.shutdown()
            if registered:  # let the un-REGISTER go out and its answer come back
                self._pump(lambda: False, SHUTDOWN_UNREGISTER_SECS)
            self.account = None
        self.handler.close()
        gc.collect()  # a Call object alive after libDestroy() would abort the process
        self.endpoint.destroy()  # unregisters every module, the health one too (new INVITEs got 503 until then)
        log.info("stopped")

    def _hangup_all(self, reason: str) -> None:
        for call in list(self.calls.values()):
            call.hangup_now(reason)

    def _pump(self, done: Callable[[], bool], secs: float) -> None:
        deadline = time.monotonic() + secs
        while not done() and time.monotonic() < deadline:
            self.endpoint.poll(POLL_MS)
            self._run_commands()


class _HandlerWorker(Worker):
    """The thread of one answered call: runs the handler (an outbound call's after answering-machine detection);
    a failure hangs up that call only."""

    def __init__(self, handler: CallHandler, session: CallSession, request: DialRequest | None = None,
                 outbound: OutboundCalls | None = None) -> None:
        super().__init__(f"call-{session.call_id}", on_failure=lambda _failed: session.hangup("handler error"),
                         lower_priority=False)
        self.handler = handler
        self.session = session
        self.request = request
        self.outbound = outbound
        self.amd: AmdResult | None = None

    def _heard(self, result: AmdResult) -> None:
        self.amd = result
        if self.request is not None and self.outbound is not None:
            self.outbound.update(self.request.id, amd=amd_record(result))

    def body(self) -> None:
        s = self.session
        s.t_started = time.monotonic()
        s.emit("call.started", "started", direction=s.direction, **{"from": s.remote},
               caller_number=caller_number(s.remote), sip_call_id=s.sip_call_id)
        outcome = ""
        try:
            if self.request is not None:
                outcome = answer_outbound(self.handler, s, self.request, self._heard)
            else:
                self.handler.run(s)
        finally:
            cause = s.end_reason or "handler error"
            outcome = s.outcomes[-1] if s.outcomes else outcome if outcome not in ("", "answered") else "answered"
            extra: dict[str, Any] = {}
            if self.request is not None:
                extra = {"to": self.request.to, "purpose": self.request.purpose, "amd": amd_record(self.amd)}
                if self.outbound is not None:
                    self.outbound.update(self.request.id, outcome=outcome, status="ended")
            s.emit("call.ended", "ended", duration_secs=round(time.monotonic() - s.t_started, 1),
                   ended_by=ended_by(cause), cause=cause, outcome=outcome, transcript=s.transcript, **extra)


def _uri_of(value: str) -> str:
    """The URI of a From or To header value, for logs."""
    value = value.strip()
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0]


def _records_folder(root: Path, number: int) -> Path:
    """The call's records folder, named now and not created here: its writers make it, off the SIP thread."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{stamp}-call{number}"
