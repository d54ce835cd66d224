"""A built-in pjsua2 caller: the "second real caller" of the demo, the tests and the benchmark.

It places calls, plays audio into them and records what it receives with
arrival times (``time.monotonic()``, system-wide on Linux).  ``sip-agent call``
(``agent.tools.call``) runs it in a process of its own and prints a JSON summary.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pjsua2 as pj

from ..config import SipConfig
from ..frames import FRAME_SAMPLES, SAMPLE_RATE
from ..media.playout import PlayoutBuffer
from ..media.port import CallMediaPort, vector_bytes
from ..media.priority import GIL_SWITCH_SECS
from ..sip.account import account_config
from ..sip.endpoint import SipEndpoint

__all__ = ["Caller", "CallerResult", "VoicedIndex", "SILENCE_DBFS", "speech_end_offset", "speech_start_offset"]

log = logging.getLogger(__name__)

SILENCE_DBFS = -50.0
"""A received frame quieter than this counts as silence."""
SPEECH_DBFS = -45.0
"""A sample of synthesised speech louder than this is speech (for its leading and trailing silence)."""


def _dbfs(rms: np.ndarray | float) -> np.ndarray:
    return 20 * np.log10(np.maximum(rms, 1e-3) / 32768.0)


def frame_dbfs(raw: bytes) -> float:
    x = np.frombuffer(raw, dtype=np.int16).astype(np.float32)
    return float(_dbfs(float(np.sqrt(np.mean(x * x))) if len(x) else 0.0))


def _loud(audio: np.ndarray) -> np.ndarray:
    return np.nonzero(np.abs(audio.astype(np.int32)) > 32768 * 10 ** (SPEECH_DBFS / 20))[0]


def speech_start_offset(audio: np.ndarray) -> float:
    """Seconds of leading silence before synthesised speech."""
    loud = _loud(audio)
    return (loud[0] if len(loud) else 0) / SAMPLE_RATE


def speech_end_offset(audio: np.ndarray) -> float:
    """Seconds of trailing silence at the end of synthesised speech."""
    loud = _loud(audio)
    return (len(audio) - (loud[-1] + 1 if len(loud) else len(audio))) / SAMPLE_RATE


class _RecordingPort(CallMediaPort):
    """A media port that also stamps the arrival time of each received frame."""

    def __init__(self, playout: PlayoutBuffer) -> None:
        import queue

        super().__init__("caller", playout, queue.SimpleQueue())
        self.rx_log: list[tuple[float, bytes]] = []
        self.tx_log: list[tuple[float, int]] = []
        self.voiced = VoicedIndex(self.rx_log)

    def reset(self, playout: PlayoutBuffer) -> None:
        """Serve a new call (only while connected to none)."""
        import queue

        self.attach(playout, queue.SimpleQueue())
        self.rx_log = []
        self.tx_log = []
        self.voiced = VoicedIndex(self.rx_log)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        """Real time: stamp and keep the frame."""
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                self.rx_log.append((time.monotonic(), vector_bytes(frame.buf)))
                self.counters.rx_frames += 1
        except Exception:
            self.counters.rx_dropped += 1

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        """Real time: send the next frame, remembering when it left."""
        playing = self.playout.playing
        super().onFrameRequested(frame)
        if playing:
            self.tx_log.append((time.monotonic(), self.counters.tx_frames))


class VoicedIndex:
    """Arrival times of the non-silent frames a port received, kept up to date incrementally.

    Each frame is measured once, in batches, so polling it while the call
    runs costs the measuring thread (and the media clock waiting on its GIL)
    almost nothing, however long the call.  It holds the port's ``rx_log``,
    never the port: a reference cycle would leave the port to the cyclic
    garbage collector, which may run on the media clock thread and destroy
    the port under it.
    """

    def __init__(self, rx_log: list[tuple[float, bytes]]) -> None:
        self._log = rx_log
        self._scanned = 0
        self.times: list[float] = []

    def update(self) -> list[float]:
        log_ = self._log
        end = len(log_)
        if end > self._scanned:
            new = log_[self._scanned : end]
            self._scanned = end
            pcm = np.frombuffer(b"".join(raw for _, raw in new), dtype=np.int16).astype(np.float32)
            if len(pcm) == len(new) * FRAME_SAMPLES:
                rms = np.sqrt(np.mean(pcm.reshape(len(new), FRAME_SAMPLES) ** 2, axis=1))
                loud = _dbfs(rms) > SILENCE_DBFS
                self.times.extend(t for (t, _), is_loud in zip(new, loud, strict=True) if is_loud)
            else:  # odd-sized frames: one at a time
                self.times.extend(t for t, raw in new if frame_dbfs(raw) > SILENCE_DBFS)
        return self.times

    def first_after(self, t_after: float) -> float | None:
        import bisect

        times = self.update()
        i = bisect.bisect_right(times, t_after)
        return times[i] if i < len(times) else None

    def last(self) -> float:
        times = self.update()
        return times[-1] if times else 0.0


class _OutgoingCall(pj.Call):
    def __init__(self, caller: Caller, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        assert caller.account is not None
        super().__init__(caller.account, call_id)
        self.state = "calling"
        self.status = 0
        self.reason = ""
        self.codec = ""
        self.t_confirmed = 0.0
        self._caller = caller

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """REFER from the agent: call the target (a new call), unless told to refuse transfers."""
        try:
            self._caller.transfer_requested(prm)
        except Exception:
            log.exception("caller: transfer request callback failed")

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        try:
            self._caller.result.events.append({"dtmf_received": str(prm.digit), "t": time.monotonic()})
        except Exception:
            log.exception("caller: DTMF callback failed")

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
            self.status, self.reason = int(info.lastStatusCode), str(info.lastReason)
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                self.state = "confirmed"
                self.t_confirmed = time.monotonic()
                self._caller.confirmed(self)
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.state = "disconnected"
        except Exception:
            log.exception("caller: state callback failed")

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            info = self.getInfo()
            for idx, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    stream = self.getStreamInfo(idx)
                    self.codec = f"{stream.codecName}/{stream.codecClockRate}"
                    self._caller._on_media(self.getAudioMedia(idx))
                    return
        except Exception:
            log.exception("caller: media callback failed")


@dataclass
class CallerResult:
    status: int = 0
    reason: str = ""
    codec: str = ""
    setup_ms: float = 0.0
    duration_secs: float = 0.0
    frames_tx: int = 0
    frames_rx: int = 0
    frames_rx_voiced: int = 0
    hung_up_by: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Account(pj.Account):
    """The caller's account: a call to it is answered when the caller is told to (``Caller.answer_calls``)."""

    def __init__(self, caller: Caller) -> None:
        super().__init__()
        self._caller = caller

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        try:
            self._caller.incoming(prm.callId)
        except Exception:
            log.exception("caller: incoming call callback failed")


class Caller:
    """One pjsua2 user agent that places a single call (main thread only); told to, it answers one instead."""

    def __init__(self, bind: str = "127.0.0.1", codecs: list[str] | None = None, user: str = "caller",
                 refuse_transfers: bool = False) -> None:
        cfg = SipConfig(user=user, bind=bind, port=0, register=False, codecs=codecs or ["G722", "PCMU", "PCMA"],
                        rtp_port_min=42000, rtp_port_max=42999)
        self.endpoint = SipEndpoint(cfg, "warning")
        self.cfg = cfg
        self.playout = PlayoutBuffer()
        self.port: _RecordingPort | None = None
        self.account: pj.Account | None = None
        self.call: _OutgoingCall | None = None
        self.result = CallerResult()
        self._t_invite = 0.0
        self._spare: _RecordingPort | None = None
        self.refuse_transfers = refuse_transfers
        self._transfers: list[_OutgoingCall] = []
        """Calls placed on the agent's REFER, until one is confirmed; then the call is that one."""
        self._gone: list[_OutgoingCall] = []
        """Calls replaced by a transfer (kept: a Call must not be collected on a pjsua thread)."""

    def start(self) -> None:
        # As in the agent: a frame callback waiting on the GIL delays the arrival stamps.
        sys.setswitchinterval(GIL_SWITCH_SECS)
        self.endpoint.start()
        self.account = _Account(self)
        self.account.create(account_config(self.cfg, self.endpoint.bound_port))

    @property
    def uri(self) -> str:
        """Where to call this user agent."""
        return f"sip:{self.cfg.user}@{self.cfg.bind}:{self.endpoint.bound_port}"

    def answer_calls(self, on: bool) -> None:
        """Answer calls to :attr:`uri` with 200 (one at a time), or refuse them with 486."""
        self._answering = on

    def incoming(self, call_id: int) -> None:
        """A call to this user agent: it becomes the call (answered), unless one is up or answering is off."""
        call = _OutgoingCall(self, call_id)
        prm = pj.CallOpParam()
        busy = not getattr(self, "_answering", False) or (self.call is not None and self.call.state != "disconnected")
        prm.statusCode = 486 if busy else 200
        if busy:
            self._gone.append(call)
        else:
            self.call = call
            self._t_invite = time.monotonic()
        call.answer(prm)

    def wait_answered(self, timeout: float) -> bool:
        """Until a call to this user agent is up with media."""
        return self.pump_until(lambda: self.call is not None and self.call.state == "confirmed"
                               and self.port is not None, timeout)

    def _on_media(self, audio: pj.AudioMedia) -> None:
        if self.port is None:  # ports are reused, never destroyed mid-run (see CallMediaPort.attach)
            self.port = self._spare or _RecordingPort(self.playout)
            self._spare = None
            self.port.reset(self.playout)
        audio.startTransmit(self.port)
        self.port.startTransmit(audio)

    def dial(self, uri: str, timeout: float = 10.0) -> bool:
        """Call ``uri``; True once the call is confirmed with media."""
        assert self.account is not None
        self.call = _OutgoingCall(self)
        self._t_invite = time.monotonic()
        self.call.makeCall(uri, pj.CallOpParam(True))
        self.pump_until(lambda: self.call is not None and (self.call.state != "calling" and self.port is not None
                                                            or self.call.state == "disconnected"), timeout)
        call = self.call
        self.result.status, self.result.reason = call.status, call.reason
        if call.state != "confirmed":
            return False
        self.result.setup_ms = (call.t_confirmed - self._t_invite) * 1000
        self.result.codec = call.codec
        return True

    @property
    def connected(self) -> bool:
        """In a call: the one dialled, or the one a transfer is placing."""
        if self.call is not None and self.call.state == "confirmed":
            return True
        return any(call.state == "calling" for call in self._transfers)

    # -- transfers (the agent's REFER) -----------------------------------
    def transfer_requested(self, prm: pj.OnCallTransferRequestParam) -> None:
        """REFER: place the new call (pjsua sends the NOTIFYs), or refuse with 603."""
        event: dict[str, Any] = {"transfer_request": str(prm.dstUri), "t": time.monotonic()}
        self.result.events.append(event)
        if self.refuse_transfers:
            prm.statusCode = 603
            event["refused"] = True
            return
        call = _OutgoingCall(self)
        self._transfers.append(call)
        prm.newCall = call

    def wait_transferred(self, timeout: float) -> float | None:
        """Pump until a transfer placed a call that is up; when it came up (None: no transfer in time)."""
        def moved() -> bool:
            return any(e.get("transferred") for e in self.result.events)

        if not self.pump_until(moved, timeout):
            return None
        return float(next(e["t"] for e in self.result.events if e.get("transferred")))

    def confirmed(self, call: _OutgoingCall) -> None:
        """A call is up: if a transfer placed it, it is the call from now on."""
        if call not in self._transfers:
            return
        self._transfers.remove(call)
        if self.call is not None:
            self._gone.append(self.call)
        self.call = call
        self.result.events.append({"transferred": True, "t": call.t_confirmed, "status": call.status})

    def pump(self, secs: float) -> None:
        self.pump_until(lambda: False, secs)

    def pump_until(self, done: Any, secs: float) -> bool:
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if done():
                return True
            self.endpoint.poll(10)
        return bool(done())

    def say(self, samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
        """Queue audio to send; returns the monotonic time its last sample will leave."""
        from ..media.resample import resample

        pcm = samples if rate == SAMPLE_RATE else resample(samples, rate, SAMPLE_RATE)
        ahead = self.playout.pending_frames * 0.02
        self.playout.push(pcm)
        return time.monotonic() + ahead + len(pcm) / SAMPLE_RATE

    def hangup(self) -> None:
        if self.call is not None and self.call.state != "disconnected":
            self.result.hung_up_by = self.result.hung_up_by or "caller"
            self.call.hangup(pj.CallOpParam(True))
            self.pump_until(lambda: self.call is not None and self.call.state == "disconnected", 2.0)
        elif self.call is not None and not self.result.hung_up_by:
            self.result.hung_up_by = "agent"

    def received(self) -> tuple[np.ndarray, np.ndarray]:
        """(arrival times, samples) of everything received so far."""
        log_ = self.port.rx_log if self.port else []
        times = np.array([t for t, _ in log_], dtype=np.float64)
        pcm = np.frombuffer(b"".join(raw for _, raw in log_), dtype=np.int16)
        return times, pcm

    def first_voiced_after(self, t_after: float) -> float | None:
        """Arrival time of the first non-silent received frame after ``t_after``."""
        return self.port.voiced.first_after(t_after) if self.port else None

    def last_voiced(self) -> float:
        """Arrival time of the latest non-silent frame (0.0 if none)."""
        return self.port.voiced.last() if self.port else 0.0

    def voiced_times(self) -> list[float]:
        """Arrival times of every non-silent frame received in this call."""
        return list(self.port.voiced.update()) if self.port else []

    def wait_agent_audio(self, t_after: float, timeout: float) -> float | None:
        """Pump until the agent's audio starts after ``t_after``; its arrival time."""
        found: list[float] = []

        def started() -> bool:
            t = self.first_voiced_after(t_after)
            if t is not None:
                found.append(t)
            return bool(found) or not self.connected

        self.pump_until(started, timeout)
        return found[0] if found else None

    def wait_agent_quiet(self, quiet_secs: float, timeout: float) -> float:
        """Pump until the agent has been silent for ``quiet_secs``; the end of its audio."""
        self.pump_until(lambda: not self.connected or time.monotonic() - self.last_voiced() >= quiet_secs, timeout)
        return self.last_voiced()

    def send_dtmf(self, digits: str) -> None:
        """Send RFC 2833 digits."""
        if self.call is not None and self.connected:
            self.call.dialDtmf(digits)

    def reset(self) -> None:
        """Get ready for another call on the same endpoint."""
        self.playout = PlayoutBuffer()
        self.result = CallerResult()

    def end_call(self) -> CallerResult:
        """Hang up if needed, release the call and its port, return the result."""
        for call in self._transfers:  # transfers still being placed
            if call.state != "disconnected":
                call.hangup(pj.CallOpParam(True))
        self.pump_until(lambda: all(call.state == "disconnected" for call in self._transfers), 2.0)
        if self.call is not None:
            self.hangup()
            self.result.duration_secs = (time.monotonic() - self.call.t_confirmed) if self.call.t_confirmed else 0.0
        if self.port is not None:
            self.result.frames_rx = self.port.counters.rx_frames
            self.result.frames_tx = self.port.counters.tx_frames - self.port.counters.tx_silent
            self.result.frames_rx_voiced = len(self.port.voiced.update())
        if self.port is not None:  # kept for the next call; the call object goes now
            self._spare = self.port
        self.call = None
        self.port = None
        self._transfers, self._gone = [], []
        return self.result

    def shutdown(self) -> None:
        """Release everything in the safe order (calls, account, library)."""
        self.end_call()
        self.pump(0.1)
        if self.account is not None:
            self.account.shutdown()
            self.account = None
            self.pump(0.05)
        self.endpoint.stop_media_clock()  # only then may the port go
        self._spare = None
        gc.collect()
        self.endpoint.destroy()

    def close(self) -> CallerResult:
        """End the call and shut the user agent down; returns the call's result."""
        result = self.end_call()
        self.shutdown()
        return result
