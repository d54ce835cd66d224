"""On-the-wire arrival times of RTP packets on loopback (a raw packet socket, root only).

Kernel receive timestamps (SO_TIMESTAMPNS) of every UDP packet from the
agent's RTP port range to the caller's, so pacing is measured as the caller
sees it on the wire, not as a Python thread wakes up.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import defaultdict

__all__ = ["RtpSniffer"]

log = logging.getLogger(__name__)

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
ETH_HEADER = 14


class RtpSniffer:
    """Collects ``(kernel time, RTP seq)`` per UDP flow from ``src_ports`` to ``dst_ports``."""

    def __init__(self, src_ports: range, dst_ports: range, interface: str = "lo") -> None:
        self.src_ports = src_ports
        self.dst_ports = dst_ports
        self.flows: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
        self._segments: list[dict[tuple[int, int], list[tuple[float, int]]]] = []
        self._lock = threading.Lock()
        self.error = ""
        self._stop = threading.Event()
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
            self._sock.bind((interface, 0))
            self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self._sock.settimeout(0.2)
        except (OSError, AttributeError) as exc:
            self._sock = None  # type: ignore[assignment]
            self.error = f"no raw socket ({exc}); run as root to measure pacing on the wire"
        self._thread = threading.Thread(target=self._run, name="rtp-sniffer", daemon=True)

    @property
    def available(self) -> bool:
        return self._sock is not None

    def start(self) -> RtpSniffer:
        if self.available:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, anc, _flags, addr = self._sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            self._packet(data, anc)

    def _packet(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        ip = data[ETH_HEADER:]
        if len(ip) < 28 or ip[9] != 17:
            return
        ihl = (ip[0] & 0x0F) * 4
        src, dst = struct.unpack_from("!HH", ip, ihl)
        if src not in self.src_ports or dst not in self.dst_ports or dst % 2:
            return  # (RTCP uses the odd port)
        t = 0.0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                t = sec + nsec / 1e9
        seq = struct.unpack_from("!H", ip, ihl + 8 + 2)[0] if len(ip) >= ihl + 12 else 0
        with self._lock:
            self.flows[(src, dst)].append((t, seq))

    def end_call(self) -> None:
        """Close the flows of the call that just ended (ports may be reused by the next)."""
        with self._lock:
            if self.flows:
                self._segments.append(dict(self.flows))
            self.flows = defaultdict(list)

    def largest_gaps(self, count: int = 5) -> list[tuple[float, float, tuple[int, int]]]:
        """The ``count`` largest gaps: (gap ms, kernel time of the late packet, flow)."""
        found: list[tuple[float, float, tuple[int, int]]] = []
        for segment in self._segments:
            for flow, packets in segment.items():
                found.extend(((b[0] - a[0]) * 1000.0, b[0], flow) for a, b in zip(packets, packets[1:], strict=False))
        return sorted(found, reverse=True)[:count]

    def gaps_ms(self) -> list[float]:
        """Inter-arrival gaps within each call's flows, in milliseconds."""
        self.end_call()
        gaps: list[float] = []
        for segment in self._segments:
            for packets in segment.values():
                times = [t for t, _ in packets]
                gaps.extend((b - a) * 1000.0 for a, b in zip(times, times[1:], strict=False))
        return gaps
