"""One SIP call: answer, connect its audio to a media port, carry out call actions, report its life in one line.

Call actions come from the call's pipeline through the SIP thread: a blind
transfer sends REFER and waits for the NOTIFY that ends it (or
``TRANSFER_TIMEOUT_SECS``); DTMF goes out as RFC 4733 telephone events.  How
each ended goes back to the pipeline as an :class:`~agent.frames.ActionResult`.
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable

import pjsua2 as pj

from ..dialog.actions import SendDigits, Transfer
from ..frames import ActionResult, AudioChunk, DtmfEvent
from ..media.playout import PlayoutBuffer
from ..media.port import CallMediaPort
from ..session import CallSession
from .gate import header_value, tag_of
from .pjsip import end_session

__all__ = ["AgentCall"]

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECS = 8.0
"""A call answered but never ACKed (a broken or hostile client, or a forged source) is ended this long after
the 200 OK (sent five times by then), its session at once: no BYE waits for the ACK that never comes."""
UNCONFIRMED_YIELD_SECS = 2.0
"""A call not ACKed this long after its 200 OK (sent three times by then) gives its place to a new caller
when the agent is full."""
TRANSFER_TIMEOUT_SECS = 30.0
"""A transfer whose outcome is not known by then has failed (the caller is told, the call goes on)."""


class AgentCall(pj.Call):
    """A call the agent answered, or (``outbound``) placed.  All methods run on the SIP (main) thread."""

    def __init__(
        self,
        account: pj.Account,
        call_id: int,
        number: int,
        remote: str,
        on_media_ready: Callable[[AgentCall], None],
        on_ended: Callable[[AgentCall, str], None],
        request_hangup: Callable[[int, str], None],
        request_action: Callable[[int, object], None],
        acquire_port: Callable[[], CallMediaPort],
        invite: bytes = b"",
        outbound: bool = False,
        on_progress: Callable[[AgentCall, str], None] | None = None,
    ) -> None:
        super().__init__(account, call_id)
        self.outbound = outbound
        self._on_progress = on_progress
        """Outbound: told "ringing", "answered" as the call goes on."""
        self.number = number
        self.remote = remote
        self.sip_call_id = header_value(invite, "call-id", "i")
        self.remote_tag = tag_of(header_value(invite, "from", "f"))
        self.local_tag = ""
        """Our To tag, learnt from the 200 OK: with the Call-ID and the remote tag it finds the dialog."""
        self.counted = False
        """Counted in the agent's active calls (answered, not yet ended or given up)."""
        self.t_created = time.monotonic()
        self.t_answered = 0.0
        self.t_confirmed = 0.0
        self.t_ended = 0.0
        self.codec = ""
        self.rejected_code = 0
        self.agent_reason = ""
        self.ended = False
        self.playout = PlayoutBuffer()
        self.port: CallMediaPort | None = None
        self.media_index = 0
        self._rx_packets = -1
        self._t_last_rx = 0.0
        self._acquire_port = acquire_port
        self._on_media_ready = on_media_ready
        self._on_ended = on_ended
        self.rx: queue.SimpleQueue[AudioChunk | None] = queue.SimpleQueue()
        self.session = CallSession(str(number), remote, self.rx, self.playout,
                                   functools.partial(request_hangup, number),
                                   functools.partial(request_action, number))
        self.transfer: Transfer | None = None
        self.t_transfer = 0.0
        self._media_started = False
        self.last_status = 0
        """The SIP status the call ended with (outbound: 486, 487, ...; 200 once answered)."""

    def place(self, uri: str) -> None:
        """Outbound: send the INVITE (raises pj.Error when it cannot be sent)."""
        prm = pj.CallOpParam(True)
        prm.opt.customCallId = self.sip_call_id
        self.makeCall(uri, prm)

    def unanswered_for(self, now: float) -> float:
        """Outbound: seconds since the INVITE while no one answered (0 once answered or ended)."""
        return 0.0 if not self.outbound or self.t_confirmed or self.ended else now - self.t_created

    # -- actions (main thread) ---------------------------------------
    def answer_with(self, code: int, retry_after: int = 0) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        if code >= 300:
            self.rejected_code = code
        else:
            self.t_answered = time.monotonic()
        if retry_after:
            header = pj.SipHeader()
            header.hName, header.hValue = "Retry-After", str(retry_after)
            prm.txOption.headers.append(header)
        self.answer(prm)

    def hangup_now(self, reason: str, wait_for_answer: bool = True) -> None:
        """Send BYE (or a final response if not yet answered).  ``wait_for_answer=False`` (a caller who has
        vanished): the session ends at once, freeing its slot in the SIP stack, instead of when the BYE is
        answered or has timed out (32 s)."""
        if self.ended:
            return
        self.agent_reason = self.agent_reason or reason
        ids = self.dialog()
        try:
            self.hangup(pj.CallOpParam(True))
        except pj.Error as exc:
            log.debug("call %d: hangup: %s", self.number, exc.reason)
        if not wait_for_answer and ids is not None:
            self._end_session(ids)  # the session is alive still: pjsua reported the end but awaits the BYE's answer

    def carry_out(self, action: object) -> None:
        """A call action asked for by the pipeline."""
        if isinstance(action, Transfer):
            self._transfer(action)
        elif isinstance(action, SendDigits):
            self._send_digits(action)

    def _transfer(self, action: Transfer) -> None:
        if self.transfer is not None:
            self.session.events.put(ActionResult(action, False, "a transfer is already under way"))
            return
        self.transfer, self.t_transfer = action, time.monotonic()
        log.info("call %d: transferring to %s (REFER)", self.number, action.target)
        try:
            self.xfer(action.target, pj.CallOpParam(True))
        except pj.Error as exc:
            self._transfer_done(False, f"REFER not sent: {exc.reason}")

    def _transfer_done(self, ok: bool, detail: str) -> None:
        action, self.transfer = self.transfer, None
        if action is not None:
            self.session.events.put(ActionResult(action, ok, detail))

    def dialog(self) -> tuple[str, str, str] | None:
        """(Call-ID, local tag, remote tag) once answered: what :func:`~agent.sip.pjsip.end_session` needs."""
        return (self.sip_call_id, self.local_tag, self.remote_tag) if self.sip_call_id and self.local_tag else None

    def end_session_now(self, reason: str, code: int = 408) -> bool:
        """End the call's INVITE session at once, without waiting for an ACK or a BYE's answer (its slot in the
        SIP stack is free when this returns); False if that cannot be done (then hang up as usual)."""
        ids = self.dialog()
        if self.ended or ids is None:
            return False
        self.agent_reason = self.agent_reason or reason
        return self._end_session(ids, code)

    def _end_session(self, ids: tuple[str, str, str], code: int = 408) -> bool:
        """Only while the INVITE session is known to be alive (pjsip would read a session it has destroyed)."""
        try:
            return end_session(*ids, code)
        except Exception:
            log.exception("call %d: ending its session failed", self.number)
            return False

    def unconfirmed_for(self, now: float) -> float:
        """Seconds since the 200 OK while no ACK came (0 once ACKed, before the answer, or once ended)."""
        if not self.t_answered or self.t_confirmed or self.ended:
            return 0.0
        return now - self.t_answered

    def check_ack(self, now: float) -> None:
        """From the main loop: end a call whose 200 OK was never ACKed after ``ACK_TIMEOUT_SECS``."""
        if self.unconfirmed_for(now) >= ACK_TIMEOUT_SECS:
            log.warning("call %d from %s: no ACK %.0f s after its 200 OK: ending it", self.number, self.remote,
                        ACK_TIMEOUT_SECS)
            reason = f"no ACK within {ACK_TIMEOUT_SECS:.0f} s"
            if not self.end_session_now(reason):
                self.hangup_now(reason)

    def check_transfer(self, now: float) -> None:
        """From the main loop: a transfer with no outcome after ``TRANSFER_TIMEOUT_SECS`` has failed."""
        if self.transfer is not None and now - self.t_transfer >= TRANSFER_TIMEOUT_SECS:
            log.warning("call %d: transfer to %s: no outcome within %.0f s", self.number, self.transfer.target,
                        TRANSFER_TIMEOUT_SECS)
            self._transfer_done(False, f"no outcome within {TRANSFER_TIMEOUT_SECS:.0f} s")

    def _send_digits(self, action: SendDigits) -> None:
        try:
            self.dialDtmf(action.digits)  # RFC 4733 telephone events
        except pj.Error as exc:
            log.warning("call %d: DTMF %s not sent: %s", self.number, action.digits, exc.reason)
            self.session.events.put(ActionResult(action, False, exc.reason))
            return
        log.info("call %d: sent DTMF %s", self.number, action.digits)
        self.session.events.put(ActionResult(action, True, "sent"))

    # -- pjsua2 callbacks (main thread) ------------------------------
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """A REFER from the caller: declined.  Accepted, it would have the agent place a call to any address
        the caller names (toll fraud), and the subscription it starts is a path malformed NOTIFYs can reach."""
        try:
            prm.statusCode = 603
            log.warning("call %d: the caller asked the agent to call %s (REFER): declined", self.number,
                        prm.dstUri)
        except Exception:
            log.exception("call %d: transfer request callback failed", self.number)

    def onCallReplaceRequest(self, prm: pj.OnCallReplaceRequestParam) -> None:
        """An INVITE with Replaces for this call: declined (no one takes over a call with the agent)."""
        try:
            prm.statusCode = 603
            log.warning("call %d: an INVITE asked to replace it: declined", self.number)
        except Exception:
            log.exception("call %d: replace request callback failed", self.number)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        """The REFER's answer, then the NOTIFYs that report the transferred call's progress."""
        try:
            code, reason, final = int(prm.statusCode), str(prm.reason), bool(prm.finalNotify)
            log.info("call %d: transfer: %d %s%s", self.number, code, reason, " (final)" if final else "")
            if final or code >= 300:
                prm.cont = False
                self._transfer_done(final and code // 100 == 2, f"{code} {reason}".strip())
        except Exception:
            log.exception("call %d: transfer status callback failed", self.number)

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
            if not self.local_tag and info.state in (pj.PJSIP_INV_STATE_CONNECTING, pj.PJSIP_INV_STATE_CONFIRMED):
                self._learn_local_tag(prm)
            if info.state == pj.PJSIP_INV_STATE_EARLY and self.outbound and self._on_progress:
                self._on_progress(self, "ringing")
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.t_confirmed:
                self.t_confirmed = time.monotonic()
                log.debug("call %d: confirmed %.1f ms after INVITE", self.number,
                          (self.t_confirmed - self.t_created) * 1000)
                if self.outbound:
                    self.t_answered = self.t_confirmed
                    if self._on_progress:
                        self._on_progress(self, "answered")
                    if self.port is not None and not self._media_started:
                        self._start_media()  # audio came early (a 183 with SDP): the conversation starts now
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
                self.ended = True
                self.t_ended = time.monotonic()
                self._on_ended(self, self._end_cause(info))
        except Exception:
            log.exception("call %d: state callback failed", self.number)

    def _learn_local_tag(self, prm: pj.OnCallStateParam) -> None:
        """Our To tag, from the 200 OK the INVITE transaction sent last."""
        if prm.e.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        sent = str(prm.e.body.tsxState.tsx.lastTx.wholeMsg).encode()
        if sent.startswith(b"SIP/2.0 2"):
            self.local_tag = tag_of(header_value(sent, "to", "t"))

    def _end_cause(self, info: pj.CallInfo) -> str:
        self.last_status = int(info.lastStatusCode)
        if self.rejected_code:
            return f"rejected with {self.rejected_code}"
        if self.agent_reason:
            return self.agent_reason
        code, reason = int(info.lastStatusCode), str(info.lastReason)
        if code // 100 == 2 and self.t_confirmed:
            return "callee hung up" if self.outbound else "caller hung up"
        return f"{code} {reason}".strip()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            self._connect_media()
        except Exception:
            log.exception("call %d: media set-up failed", self.number)
            self.hangup_now("media error")

    def _connect_media(self) -> None:
        info = self.getInfo()
        for idx, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = self.getAudioMedia(idx)
            first = self.port is None
            if self.port is None:
                self.port = self._acquire_port()
                self.port.attach(self.playout, self.rx)
            audio.startTransmit(self.port)
            self.port.startTransmit(audio)
            self.media_index = idx
            stream = self.getStreamInfo(idx)
            self.codec = f"{stream.codecName}/{stream.codecClockRate}"
            self.session.codec = self.codec
            if first and (not self.outbound or self.t_confirmed):
                self._start_media()
            return

    def _start_media(self) -> None:
        """The conversation starts (an outbound call's at its answer, not at early media: ringback is no one)."""
        self._media_started = True
        while not self.rx.empty():  # early media heard before the answer
            self.rx.get_nowait()
        self._on_media_ready(self)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        try:
            self.session.events.put(DtmfEvent(str(prm.digit)))
            log.info("call %d: DTMF %s", self.number, prm.digit)
        except Exception:
            log.exception("call %d: DTMF callback failed", self.number)

    def rtp_silent_for(self, now: float) -> float:
        """Seconds since the caller's last RTP packet (0 while packets arrive)."""
        if self.port is None or self.ended:
            return 0.0
        try:
            packets = int(self.getStreamStat(self.media_index).rtcp.rxStat.pkt)
        except pj.Error:
            return 0.0
        if packets != self._rx_packets:
            self._rx_packets, self._t_last_rx = packets, now
        return now - (self._t_last_rx or now)

    # -- reporting ---------------------------------------------------
    def summary(self, cause: str) -> str:
        end = self.t_ended or time.monotonic()
        talk = end - self.t_confirmed if self.t_confirmed else 0.0
        c = self.port.counters if self.port else None
        gap = self.port.max_tx_gap_secs * 1000 if self.port else 0.0
        underruns = self.playout.underruns
        frames = (f"frames rx {c.rx_frames} tx {c.tx_frames} (silent {c.tx_silent}, underruns {underruns}, "
                  f"rx dropped {c.rx_dropped}, callback errors {c.callback_errors}, largest tx gap {gap:.0f} ms)"
                  if c else "no media")
        return (f"call {self.number} {'to' if self.outbound else 'from'} {self.remote} codec {self.codec or '-'} "
                f"lasted {talk:.1f} s, {frames}, ended: {cause}")

