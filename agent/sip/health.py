"""SIP OPTIONS as a health check by capacity: 200 while the agent can take a call, 503 otherwise.

A proxy's load balancer (Kamailio's ``dispatcher``) probes each agent with
OPTIONS and sends calls only to those that answer 2xx.  pjsua answers every
OPTIONS itself with 200, and pjsua2 has no hook for it, so this module adds a
pjsip module of its own (through ctypes, into the pjsua2 extension's own
pjsip) one step ahead of pjsua's: while ``available()`` says no (full, at
capacity, draining, not registered) an OPTIONS outside a dialog gets a
stateless ``503 Service Unavailable``; otherwise it passes on to pjsua, which
answers 200 with its Allow and Accept headers.  Requests inside a dialog are
the dialog layer's, which comes before both.

While the agent stops (``stopping()``), a new INVITE gets the same stateless
503, so a proxy tries another agent: no call object is made that could
outlive the SIP library.

It runs on the SIP thread (``threadCnt=0``), the only thread that polls pjsip.
The object must live until the library is destroyed, which unregisters it.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["OptionsHealth"]

log = logging.getLogger(__name__)

PRIORITY = 31
"""Just ahead of pjsua's own OPTIONS handler (``PJSIP_MOD_PRIORITY_APPLICATION``, 32), after the dialog layer."""
_ON_RX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


class _PjsipModule(ctypes.Structure):
    """``struct pjsip_module`` (pjsip/sip_module.h)."""

    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("name", _PjStr), ("id", ctypes.c_int),
                ("priority", ctypes.c_int), ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p), ("on_rx_request", _ON_RX),
                ("on_rx_response", ctypes.c_void_p), ("on_tx_request", ctypes.c_void_p),
                ("on_tx_response", ctypes.c_void_p), ("on_tsx_state", ctypes.c_void_p)]


def _pjsip() -> Any:
    import pjsua2

    lib = ctypes.CDLL(pjsua2._pjsua2.__file__)  # the extension already loaded: the same pjsip, not a copy
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
    lib.pjsip_rx_data_get_info.restype = ctypes.c_char_p
    lib.pjsip_rx_data_get_info.argtypes = [ctypes.c_void_p]
    lib.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.pjsip_endpt_respond_stateless.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                  ctypes.c_void_p, ctypes.c_void_p]
    return lib


class OptionsHealth:
    """Answers OPTIONS 503 while ``available()`` returns (False, why) (see the module docstring)."""

    def __init__(self, available: Callable[[], tuple[bool, str]], stopping: Callable[[], bool] = lambda: False) -> None:
        self.available = available
        self.stopping = stopping
        self.answered = {200: 0, 503: 0}
        self._lib: Any = None
        self._endpt: int | None = None
        self._name = b"mod-agent-health"
        self._callback = _ON_RX(self._on_rx_request)  # kept alive as long as the module is registered
        self._module = _PjsipModule(name=_PjStr(self._name, len(self._name)), id=-1, priority=PRIORITY,
                                    on_rx_request=self._callback)
        self._last_why = ""

    def install(self) -> bool:
        """Register the module (after the library started); False, logged, if it cannot be."""
        try:
            self._lib = _pjsip()
            self._endpt = self._lib.pjsua_get_pjsip_endpt()
            status = self._lib.pjsip_endpt_register_module(self._endpt, ctypes.byref(self._module))
        except (OSError, AttributeError) as exc:
            log.warning("OPTIONS will always get 200: cannot hook pjsip (%s)", exc)
            return False
        if status != 0:
            log.warning("OPTIONS will always get 200: registering the health module failed (status %d)", status)
            return False
        return True

    def _on_rx_request(self, rdata: int) -> int:
        try:
            info = self._lib.pjsip_rx_data_get_info(rdata) or b""
            if info.startswith(b"Request msg INVITE/") and self.stopping():
                self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 503, None, None, None)
                return 1
            if not info.startswith(b"Request msg OPTIONS/"):
                return 0
            ok, why = self.available()
            if ok:
                self.answered[200] += 1
                return 0  # pjsua answers 200
            if why != self._last_why:
                log.info("answering OPTIONS with 503: %s", why)
                self._last_why = why
            self.answered[503] += 1
            self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 503, None, None, None)
            return 1
        except Exception:  # never across the C boundary
            log.exception("OPTIONS health check failed")
            return 0
