"""pjsip's C functions the agent calls through ctypes, beside pjsua2, and what uses them directly.

pjsua2 exposes no hook before a call object exists and no way to end an INVITE
session without waiting for the far end, so a few pjsip functions are called
here, in the pjsua2 extension's own copy of the library.  Only functions whose
arguments are pointers, integers and ``pj_str_t`` are used; the one struct the
gate reads is checked against the loaded library (:mod:`agent.sip.gate`).
Everything here runs on the SIP thread.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

__all__ = ["PjStr", "pjsip", "end_session", "call_slots"]

log = logging.getLogger(__name__)


class PjStr(ctypes.Structure):
    """``pj_str_t``."""

    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]

    @classmethod
    def of(cls, text: str) -> PjStr:
        raw = text.encode()
        return cls(raw, len(raw))


@functools.cache
def pjsip() -> Any:
    """The pjsua2 extension's library, with the prototypes used here (loaded already: the same pjsip)."""
    import pjsua2

    lib = ctypes.CDLL(pjsua2._pjsua2.__file__)
    vp, ip = ctypes.c_void_p, ctypes.c_int
    prototypes: dict[str, tuple[Any, list[Any]]] = {
        "pjsua_get_pjsip_endpt": (vp, []),
        "pjsua_call_get_count": (ctypes.c_uint, []),
        "pjsua_call_get_max_count": (ctypes.c_uint, []),
        "pjsip_ua_instance": (vp, []),
        "pjsip_tsx_layer_instance": (vp, []),
        "pjsip_rx_data_get_info": (vp, [vp]),
        "pjsip_endpt_register_module": (ip, [vp, vp]),
        "pjsip_endpt_respond_stateless": (ip, [vp, vp, ip, vp, vp, vp]),
        "pjsip_endpt_create_pool": (vp, [vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]),
        "pjsip_generic_string_hdr_create": (vp, [vp, vp, vp]),
        "pjsip_ua_find_dialog": (vp, [vp, vp, vp, ip]),
        "pjsip_dlg_get_inv_session": (vp, [vp]),
        "pjsip_dlg_dec_lock": (None, [vp]),
        "pjsip_inv_terminate": (ip, [vp, ip, ip]),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def call_slots() -> tuple[int, int]:
    """(calls the SIP stack holds now, the most it can hold): a call holds its slot until its INVITE session
    has ended, which for a call hung up with BYE is when the BYE is answered."""
    lib = pjsip()
    return int(lib.pjsua_call_get_count()), int(lib.pjsua_call_get_max_count())


def end_session(call_id: str, local_tag: str, remote_tag: str, code: int) -> bool:
    """End the INVITE session of a dialog now, without a BYE or waiting for one to be answered; its call
    slot is free when this returns.  False if the dialog no longer exists (nothing done)."""
    lib = pjsip()
    cid, local, remote = PjStr.of(call_id), PjStr.of(local_tag), PjStr.of(remote_tag)
    dialog = lib.pjsip_ua_find_dialog(ctypes.byref(cid), ctypes.byref(local), ctypes.byref(remote), 1)
    if not dialog:
        return False
    try:
        session = lib.pjsip_dlg_get_inv_session(dialog)
        if not session:
            return False
        return int(lib.pjsip_inv_terminate(session, code, 1)) == 0
    finally:
        lib.pjsip_dlg_dec_lock(dialog)
