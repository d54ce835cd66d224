"""Call admission: who may call the agent, and how many calls at once."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from .config import SipConfig, parse_cidrs

__all__ = ["Admission", "Decision", "default_allow_list", "source_ip"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Decision:
    code: int  # 0 = accept, else the SIP status to answer with
    reason: str
    label: str = ""
    """The reason in one word, for metrics: ``forbidden``, ``busy``."""


ACCEPT = Decision(0, "accepted")


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


class Admission:
    """Decides 403 (source not allowed), 486 (busy) or accept for an INVITE."""

    def __init__(self, allow: list[Network], max_calls: int) -> None:
        self.allow = allow
        self.max_calls = max_calls

    def decide(self, src_ip: str, active_calls: int) -> Decision:
        try:
            addr = ipaddress.ip_address(src_ip)
        except ValueError:
            return Decision(403, f"bad source address {src_ip!r}", "forbidden")
        if not any(addr in net for net in self.allow):
            return Decision(403, f"source {src_ip} not in allow list", "forbidden")
        if active_calls >= self.max_calls:
            return Decision(486, f"busy: {active_calls} of {self.max_calls} calls active", "busy")
        return ACCEPT
