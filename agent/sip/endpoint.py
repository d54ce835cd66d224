"""The pjsua2 library: create, configure, pump events and destroy in a safe order.

Every pjsua2 call of the agent happens on the thread that created the
endpoint (``threadCnt = 0``): SIP callbacks arrive from ``poll()``.  Only the
media clock thread runs concurrently, inside the media ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import pjsua2 as pj

from ..config import SipConfig
from ..errors import SipError
from ..manager import AUTO_MAX_CALLS
from .pjsip import call_slots

__all__ = ["SipEndpoint", "PJ_LOG_LEVELS"]

log = logging.getLogger(__name__)

PJ_LOG_LEVELS = {"debug": 4, "info": 1, "warning": 1, "error": 0}
USER_AGENT = "sip-agent/0.1"
ANY_CALLS = 1024


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class _PjLogWriter(pj.LogWriter):
    """Route pjsip's own log lines into Python logging (debug level only)."""

    def write(self, entry: pj.LogEntry) -> None:
        try:
            log.debug("pj: %s", entry.msg.rstrip())
        except Exception:
            pass


class SipEndpoint:
    """Owns the pjsua2 ``Endpoint`` and the UDP transport."""

    def __init__(self, cfg: SipConfig, log_level: str = "info") -> None:
        self.cfg = cfg
        self.ep = pj.Endpoint()
        self._log_writer = _PjLogWriter()
        self._log_level = log_level
        self.transport_id = -1
        self.bound_port = 0
        self.codec_ids: list[str] = []

    def start(self) -> None:
        """Create and start the library; raise SipError (one line) if it cannot."""
        ep = self.ep
        with _quiet_stdout():  # pjlib logs to stdout until libInit applies our config
            ep.libCreate()
        epcfg = pj.EpConfig()
        epcfg.uaConfig.threadCnt = 0
        epcfg.uaConfig.mainThreadOnly = False
        epcfg.uaConfig.maxCalls = ANY_CALLS  # pjsua takes as many as it was built for (PJSUA_MAX_CALLS)
        epcfg.uaConfig.userAgent = USER_AGENT
        epcfg.logConfig.level = PJ_LOG_LEVELS[self._log_level]
        epcfg.logConfig.consoleLevel = 0
        epcfg.logConfig.writer = self._log_writer
        med = epcfg.medConfig
        med.clockRate = 16000
        med.sndClockRate = 16000
        med.channelCount = 1
        med.audioFramePtime = 20
        med.ptime = 20
        med.noVad = True
        med.ecTailLen = 0
        med.quality = 6
        ep.libInit(epcfg)
        self._check_max_calls()
        self._create_transport()
        ep.libStart()
        ep.audDevManager().setNullDev()
        self.codec_ids = self._set_codecs(self.cfg.codecs)

    def _check_max_calls(self) -> None:
        """A fixed ``--max-calls`` must fit the call slots the SIP stack was built with."""
        slots = call_slots()[1]
        log.debug("the SIP stack holds at most %d calls (auto admits up to %d)", slots, min(slots, AUTO_MAX_CALLS))
        if self.cfg.max_calls > slots:
            self.ep.libDestroy()
            raise SipError(f"--max-calls {self.cfg.max_calls}: this build of the SIP stack (pjsua2) holds at most "
                           f"{slots} calls at once")

    def _create_transport(self) -> None:
        tcfg = pj.TransportConfig()
        tcfg.port = self.cfg.port
        tcfg.boundAddress = self.cfg.bind
        try:
            self.transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        except pj.Error as exc:
            self.ep.libDestroy()
            where = f"{self.cfg.bind}:{self.cfg.port}"
            if "in use" in exc.info().lower() or exc.status == 120098:
                raise SipError(f"SIP port {where} is already in use (choose another --port)") from None
            raise SipError(f"cannot listen for SIP on {where}: {exc.reason}") from None
        info = self.ep.transportGetInfo(self.transport_id)
        self.bound_port = int(str(info.localName).rsplit(":", 1)[1])

    def _set_codecs(self, wanted: list[str]) -> list[str]:
        """Enable exactly the wanted codecs, first = highest priority."""
        available = [c.codecId for c in self.ep.codecEnum2()]
        chosen: list[str] = []
        for name in wanted:
            match = [c for c in available if c.lower().split("/")[0] == name.lower().split("/")[0]
                     and c.lower().startswith(name.lower())]
            if not match:
                names = sorted({c.split("/")[0] for c in available})
                self.ep.libDestroy()
                raise SipError(f"unknown codec '{name}' (available: {', '.join(names)})")
            chosen.extend(m for m in match if m not in chosen)
        for codec in available:
            prio = 0
            if codec in chosen:
                prio = 250 - chosen.index(codec)
            self.ep.codecSetPriority(codec, prio)
        log.debug("codecs in order: %s", ", ".join(chosen))
        return chosen

    def poll(self, max_ms: int) -> None:
        """Run due SIP work; returns after at most ``max_ms`` milliseconds."""
        self.ep.libHandleEvents(max_ms)

    def stop_media_clock(self) -> None:
        """Stop the media clock (the null sound device's thread) for good.

        A media port may only be destroyed once nothing can call it back: its
        C++ destructor runs without the GIL, so a frame callback arriving then
        finds a half-freed Python object (heap corruption, a rare segfault
        later).  Ports are therefore released after this and before
        :meth:`destroy`, which cannot outlive them either.
        """
        try:
            self.ep.audDevManager().setNoDev()
        except pj.Error as exc:  # pragma: no cover - best effort at exit
            log.warning("stopping the media clock: %s", exc.reason)

    def destroy(self) -> None:
        """Destroy the library. Every Call and port must already be released (see stop_media_clock)."""
        try:
            self.ep.libDestroy()
        except pj.Error as exc:  # pragma: no cover - best effort at exit
            log.warning("library shutdown: %s", exc.reason)
