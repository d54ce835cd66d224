"""The gate: requests outside a dialog are screened before the SIP stack makes anything of them.

pjsua makes a call object and an INVITE transaction for every INVITE it is
given, and answers every OPTIONS with 200 itself; pjsua2 has no hook before
either.  So the agent registers a pjsip module of its own (through ctypes, into
the pjsua2 extension's own pjsip) at priority :data:`PRIORITY`: after the
transaction layer (16), which absorbs retransmissions, and after the dialog
layer (32), which takes every request that carries a To tag (in-dialog
requests, answered 481 when their dialog is gone), and before pjsua (64).  It
therefore sees only new requests outside any dialog, and for each it asks
``screen`` for a :class:`Verdict`:

- ``None``: the request goes on to pjsua (a call, OPTIONS 200, ...);
- a status code: answered statelessly, with Retry-After when given: no call,
  no transaction, nothing retransmitted;
- :data:`DROP`: no answer at all (a source that is not allowed: nothing is
  sent to an address that may be forged).

A second module, just before the dialog layer (:data:`REFUSE_PRIORITY`),
refuses REFER (:data:`REFUSED`) and INFO bodies pjsua's DTMF reader would
overrun (:func:`dtmf_body_overruns`), and answers OPTIONS inside a live dialog
with 200; it leaves every other request to the dialog layer.

The module's struct is declared here for ctypes; :meth:`SipGate.install`
checks that declaration against the loaded pjsip (it reads pjsip's own
transaction and dialog modules through it) and the request buffer's layout is
checked on every request (its message pointer and summary must be where the
declaration says).  On a mismatch the gate is disabled with a warning and
everything goes on to pjsua, as it would without the gate.

It runs on the SIP thread (``threadCnt=0``), the only thread that polls pjsip.
The object must live until the library is destroyed, which unregisters it.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .pjsip import PjStr, pjsip

__all__ = ["DROP", "Inbound", "SipGate", "Verdict", "dtmf_body_overruns", "header_value", "tag_of", "PRIORITY"]

log = logging.getLogger(__name__)

PRIORITY = 63
"""``PJSIP_MOD_PRIORITY_APPLICATION - 1``: after the dialog layer (32), before pjsua's modules (64)."""
REFUSE_PRIORITY = 31
"""Just before the dialog layer: requests the agent never serves are refused here, in a dialog or not, and an
OPTIONS inside a dialog is answered (pjsua's dialogs would answer it 500)."""
REFUSED = {b"REFER": 603}
"""The agent is never transferred by the far end: a REFER accepted would have it call any address the caller
names (toll fraud), and pjsua's REFER handling reaches pjsip assertions on malformed dialogs (fuzzing aborted
the process there twice)."""
_UA_LAYER = (b"mod-ua", 32)
_TSX_LAYER = (b"mod-tsx-layer", 16)
_MAX_PKT_LEN = 4000
"""``PJSIP_MAX_PKT_LEN`` of the build (checked on every request through the message pointer)."""
_ON_RX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _PjsipModule(ctypes.Structure):
    """``struct pjsip_module`` (pjsip/sip_module.h), plus zeroed room in case a later pjsip adds members."""

    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("name", PjStr), ("id", ctypes.c_int),
                ("priority", ctypes.c_int), ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p), ("on_rx_request", ctypes.c_void_p),
                ("on_rx_response", ctypes.c_void_p), ("on_tx_request", ctypes.c_void_p),
                ("on_tx_response", ctypes.c_void_p), ("on_tsx_state", ctypes.c_void_p),
                ("_room", ctypes.c_void_p * 8)]


class _SockAddr(ctypes.Structure):
    """``pj_sockaddr``: a union whose largest member is ``pj_sockaddr_in6`` (28 bytes, 4-aligned)."""

    _fields_ = [("family", ctypes.c_uint16), ("port", ctypes.c_uint16), ("flowinfo", ctypes.c_uint32),
                ("addr", ctypes.c_uint32 * 4), ("scope_id", ctypes.c_uint32)]


class _RxTpInfo(ctypes.Structure):
    _fields_ = [("pool", ctypes.c_void_p), ("transport", ctypes.c_void_p), ("tp_data", ctypes.c_void_p),
                ("op_key", ctypes.c_void_p * 34), ("rdata", ctypes.c_void_p)]


class _RxPktInfo(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("msec", ctypes.c_long), ("packet", ctypes.c_char * _MAX_PKT_LEN),
                ("zero", ctypes.c_uint32), ("len", ctypes.c_ssize_t), ("src_addr", _SockAddr),
                ("src_addr_len", ctypes.c_int), ("src_name", ctypes.c_char * 46), ("src_port", ctypes.c_int)]


class _RxMsgInfo(ctypes.Structure):
    """The first members of ``msg_info`` (the rest is never read)."""

    _fields_ = [("msg_buf", ctypes.c_void_p), ("len", ctypes.c_int), ("msg", ctypes.c_void_p),
                ("info", ctypes.c_void_p)]


class _RxData(ctypes.Structure):
    """The start of ``struct pjsip_rx_data`` (pjsip/sip_transport.h)."""

    _fields_ = [("tp_info", _RxTpInfo), ("pkt_info", _RxPktInfo), ("msg_info", _RxMsgInfo)]


_PACKET_OFFSET = _RxData.pkt_info.offset + _RxPktInfo.packet.offset


@dataclass(frozen=True)
class Inbound:
    """A new request outside any dialog, as it came off the wire."""

    method: str
    source: str
    """The IP address it came from (the datagram's, not what its headers claim)."""
    port: int
    message: bytes

    def header(self, *names: str) -> str:
        return header_value(self.message, *names)


@dataclass(frozen=True)
class Verdict:
    code: int
    """The status to answer with statelessly; 0: no answer at all."""
    retry_after: int = 0


DROP = Verdict(0)


def header_value(message: bytes, *names: str) -> str:
    """The first value of a header (any of ``names``, long or compact form, any case) in a raw SIP message."""
    wanted = {name.lower() for name in names}
    head = message.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower().decode("latin-1") in wanted:
            return value.strip().decode("utf-8", "replace")
    return ""


def tag_of(value: str) -> str:
    """The tag parameter of a From or To header value ('' if none)."""
    params = value[value.rindex(">") + 1 :] if ">" in value else value
    for param in params.split(";")[1:]:
        name, _, tag = param.partition("=")
        if name.strip().lower() == "tag":
            return tag.strip()
    return ""


def dtmf_body_overruns(message: bytes) -> bool:
    """Whether pjsua's reader of an INFO's DTMF body (application/dtmf-relay, pjsua_call.c) would step past
    the body's end: it takes the body up to the packet's NUL, its first line, then skips that line and two
    bytes more; a body with "Signal" on a first line that no CR LF ends makes the rest's length negative, and
    pjlib asserts (the process aborts)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep or b"dtmf-relay" not in head.lower():
        return False
    body = body.split(b"\0", 1)[0]
    start = len(body) - len(body.lstrip(b"\r\n"))
    if b"Signal" not in body or start == len(body):
        return False
    end = start
    while end < len(body) and body[end:end + 1] not in (b"\r", b"\n"):
        end += 1
    return (end - start) + 2 > len(body)


def _module_at(address: int | None) -> _PjsipModule | None:
    return _PjsipModule.from_address(address) if address else None


def _module_layout_problem(lib: Any) -> str:
    """'' if pjsip's own transaction and dialog modules read right through :class:`_PjsipModule`."""
    for address, (name, priority) in ((lib.pjsip_tsx_layer_instance(), _TSX_LAYER),
                                      (lib.pjsip_ua_instance(), _UA_LAYER)):
        module = _module_at(address)
        if module is None:
            return f"no {name.decode()} module"
        seen = ctypes.string_at(module.name.ptr, module.name.slen) if 0 < module.name.slen < 64 else b"?"
        if seen != name or module.priority != priority or module.id < 0 or not module.on_rx_request:
            return f"{name.decode()} reads as {seen!r}, priority {module.priority}"
        neighbour = _module_at(module.next)
        if neighbour is None or neighbour.prev != address:
            return f"{name.decode()}'s list links do not read back"
    return ""


class SipGate:
    """Screens new requests outside a dialog with ``screen`` (see the module docstring)."""

    def __init__(self, screen: Callable[[Inbound], Verdict | None]) -> None:
        self.screen = screen
        self.enabled = False
        """Registered and its layout checks hold; False: every request goes on to pjsua."""
        self._lib: Any = None
        self._endpt: int | None = None
        self._pool: int | None = None
        self._retry_after: dict[int, ctypes.Array[ctypes.c_void_p]] = {}
        self._name = b"mod-agent-gate"
        self._callback = _ON_RX(self._on_rx_request)  # kept alive as long as the module is registered
        self._module = _PjsipModule(name=PjStr(self._name, len(self._name)), id=-1, priority=PRIORITY,
                                    on_rx_request=ctypes.cast(self._callback, ctypes.c_void_p))
        self._refuse_name = b"mod-agent-refuse"
        self._refuse_callback = _ON_RX(self._on_rx_refuse)
        self._refuse_module = _PjsipModule(name=PjStr(self._refuse_name, len(self._refuse_name)), id=-1,
                                           priority=REFUSE_PRIORITY,
                                           on_rx_request=ctypes.cast(self._refuse_callback, ctypes.c_void_p))
        self.refused = 0
        """Requests refused by method (REFER)."""
        self.bad_dtmf = 0
        """INFOs refused for a DTMF body pjsua would overrun."""

    def install(self) -> bool:
        """Check the layouts and register the module (after the library started); False, with a warning,
        if it cannot be: then every request goes on to pjsua."""
        try:
            self._lib = pjsip()
            problem = _module_layout_problem(self._lib)
            if problem:
                log.warning("SIP gate disabled: pjsip's module layout differs from the one declared here (%s); "
                            "refusals go through call objects", problem)
                return False
            self._endpt = self._lib.pjsua_get_pjsip_endpt()
            status = self._lib.pjsip_endpt_register_module(self._endpt, ctypes.byref(self._module))
            if status == 0:
                status = self._lib.pjsip_endpt_register_module(self._endpt, ctypes.byref(self._refuse_module))
        except (OSError, AttributeError) as exc:
            log.warning("SIP gate disabled: cannot hook pjsip (%s); refusals go through call objects", exc)
            return False
        if status != 0:
            log.warning("SIP gate disabled: registering its module failed (status %d)", status)
            return False
        self.enabled = True
        return True

    def _on_rx_request(self, rdata: int) -> int:
        if not self.enabled:
            return 0
        try:
            inbound = self._read(rdata)
            if inbound is None:
                return 0
            verdict = self.screen(inbound)
            if verdict is None:
                return 0
            if verdict.code:
                self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, verdict.code, None,
                                                        self._headers(verdict.retry_after), None)
            return 1
        except Exception:  # never across the C boundary
            log.exception("SIP gate: screening a request failed; it goes on to the SIP stack")
            return 0

    def _on_rx_refuse(self, rdata: int) -> int:
        """Before the dialog layer: a request whose method is in :data:`REFUSED` is refused statelessly, in a
        dialog or not; an OPTIONS inside a dialog that exists gets 200 (pjsua's dialogs answer it 500)."""
        try:
            info = self._lib.pjsip_rx_data_get_info(rdata)
            summary = ctypes.string_at(info) if info else b""
            method = summary.removeprefix(b"Request msg ").split(b"/", 1)[0]
            if not summary.startswith(b"Request msg "):
                return 0
            if method == b"OPTIONS" and self.enabled:
                return self._options_in_dialog(rdata)
            if method == b"INFO" and self.enabled:
                return self._bad_dtmf_info(rdata)
            code = REFUSED.get(method)
            if code is None:
                return 0
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.warning("%s refused with %d (%d so far): the agent takes no transfer from the far end",
                            summary.split(b" ")[2].split(b"/")[0].decode("latin-1", "replace"), code, self.refused)
            self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, code, None, None, None)
            return 1
        except Exception:  # never across the C boundary
            log.exception("SIP gate: refusing a request failed")
            return 0

    def _options_in_dialog(self, rdata: int) -> int:
        """An OPTIONS with a To tag whose dialog exists: 200, as a keep-alive inside a call expects."""
        inbound = self._read(rdata)
        if inbound is None:
            return 0
        local, remote = tag_of(inbound.header("to", "t")), tag_of(inbound.header("from", "f"))
        call_id = inbound.header("call-id", "i")
        if not (local and remote and call_id):
            return 0
        ids = (PjStr.of(call_id), PjStr.of(local), PjStr.of(remote))
        if not self._lib.pjsip_ua_find_dialog(*(ctypes.byref(i) for i in ids), 0):
            return 0  # no such dialog: the dialog layer answers 481
        self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 200, None, None, None)
        return 1

    def _bad_dtmf_info(self, rdata: int) -> int:
        """An INFO whose DTMF body pjsua would read past its end (its parser asserts): 400, statelessly."""
        inbound = self._read(rdata)
        if inbound is None or not dtmf_body_overruns(inbound.message):
            return 0
        self.bad_dtmf += 1
        if self.bad_dtmf == 1 or self.bad_dtmf % 100 == 0:
            log.warning("INFO from %s (%s) refused with 400 (%d so far): a DTMF body pjsua cannot read",
                        inbound.header("from", "f"), inbound.source, self.bad_dtmf)
        self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 400, None, None, None)
        return 1

    def _read(self, rdata: int) -> Inbound | None:
        """The request in ``rdata``, or None for one the gate leaves alone.  A layout that does not check
        out disables the gate (and the request goes on)."""
        info = self._lib.pjsip_rx_data_get_info(rdata)
        summary = ctypes.string_at(info) if info else b""  # e.g. b"Request msg INVITE/cseq=1 (rdata0x...)"
        rx = _RxData.from_address(rdata)
        length = rx.msg_info.len
        if (rx.msg_info.info != info or rx.msg_info.msg_buf != rdata + _PACKET_OFFSET
                or not 0 < length <= min(_MAX_PKT_LEN, rx.pkt_info.len)):
            self.enabled = False
            log.warning("SIP gate disabled: pjsip's request buffer differs from the one declared here; "
                        "refusals go through call objects")
            return None
        if not summary.startswith(b"Request msg "):
            return None
        method = summary.removeprefix(b"Request msg ").split(b"/", 1)[0]
        source = rx.pkt_info.src_name.decode("ascii", "replace")
        try:
            ipaddress.ip_address(source)
        except ValueError:
            self.enabled = False
            log.warning("SIP gate disabled: the source address reads as %r; refusals go through call objects",
                        source)
            return None
        return Inbound(method.decode("ascii", "replace"), source, rx.pkt_info.src_port,
                       ctypes.string_at(rx.msg_info.msg_buf, length))

    def _headers(self, retry_after: int) -> ctypes.Array[ctypes.c_void_p] | None:
        """A pjsip header list holding ``Retry-After: N`` (made once per value), or None for no header."""
        if not retry_after:
            return None
        head = self._retry_after.get(retry_after)
        if head is None:
            if self._pool is None:
                self._pool = self._lib.pjsip_endpt_create_pool(self._endpt, b"agent-gate", 512, 512)
            name, value = b"Retry-After", str(retry_after).encode()
            strings = (PjStr(name, len(name)), PjStr(value, len(value)))
            hdr = self._lib.pjsip_generic_string_hdr_create(self._pool, ctypes.byref(strings[0]),
                                                            ctypes.byref(strings[1]))
            head = (ctypes.c_void_p * 2)(hdr, hdr)  # a list head: prev and next are a header's first members
            links = (ctypes.c_void_p * 2).from_address(hdr)
            links[0] = links[1] = ctypes.addressof(head)
            self._retry_after[retry_after] = head
        return head
