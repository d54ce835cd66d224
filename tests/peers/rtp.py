"""G.711 RTP test helpers: tone pcaps for sipp, an RTP sink, tone measurement.

- ``ulaw_encode`` / ``ulaw_decode`` / ``alaw_encode`` / ``alaw_decode``:
  G.711 in numpy (the classic Sun reference algorithm; no ``audioop``).
- ``write_pcap_tone``: a libpcap file of Ethernet/IPv4/UDP/RTP packets
  carrying a pure tone, 20 ms (160 samples) per packet, that sipp's
  ``play_pcap_audio`` replays; ``read_pcap_rtp`` reads such a file back.
- ``RtpSink``: a UDP socket on a free even loopback port whose background
  thread collects RTP packets; ``pcm()`` decodes them in sequence order.
- ``tone_level`` / ``dominant_freq`` / ``rms_dbfs``: what a test asserts on.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PAYLOAD_TYPES",
    "SAMPLE_RATE",
    "SAMPLES_PER_PACKET",
    "RtpPacket",
    "RtpSink",
    "alaw_decode",
    "alaw_encode",
    "decode_g711",
    "dominant_freq",
    "encode_g711",
    "free_even_udp_port",
    "parse_rtp",
    "read_pcap_rtp",
    "rms_dbfs",
    "tone",
    "tone_level",
    "ulaw_decode",
    "ulaw_encode",
    "write_pcap_tone",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 8000
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
_CODECS = {pt: name for name, pt in PAYLOAD_TYPES.items()}

_ULAW_BIAS = 0x21  # the 0x84 bias of 16-bit samples, in 14 bits
_ULAW_CLIP = 8159
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


# --- G.711 ---------------------------------------------------------------


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 µ-law bytes."""
    x = np.asarray(pcm, dtype=np.int32) >> 2  # 14-bit, as the reference coder
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS  # 33 .. 8192
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 5  # 0 .. 8
    mantissa = np.where(exponent > 7, 0x0F, (mag >> (exponent + 1)) & 0x0F)
    exponent = np.minimum(exponent, 7)  # 8 = over full scale: the largest code
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return bytes(code.astype(np.uint8).tobytes())


def ulaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 µ-law bytes to int16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mag = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def alaw_encode(pcm: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 A-law bytes."""
    x = np.asarray(pcm, dtype=np.int32) >> 3  # 13-bit
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg = np.searchsorted(_ALAW_SEG_END, x)  # first segment whose end >= x
    shift = np.where(seg < 2, 1, seg)
    code = (np.minimum(seg, 7) << 4) | ((x >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 A-law bytes to int16 samples."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def encode_g711(pcm: np.ndarray, payload_type: int) -> bytes:
    """Encode with the codec of an RTP payload type (0 = PCMU, 8 = PCMA)."""
    if payload_type == 0:
        return ulaw_encode(pcm)
    if payload_type == 8:
        return alaw_encode(pcm)
    raise ValueError(f"payload type {payload_type} is not G.711")


def decode_g711(payload: bytes, payload_type: int) -> np.ndarray:
    """Decode the payload of an RTP packet of type 0 (PCMU) or 8 (PCMA)."""
    if payload_type == 0:
        return ulaw_decode(payload)
    if payload_type == 8:
        return alaw_decode(payload)
    raise ValueError(f"payload type {payload_type} is not G.711")


# --- RTP packets and pcap files -----------------------------------------


@dataclass(frozen=True)
class RtpPacket:
    """One received (or captured) RTP packet."""

    arrival: float  # time.monotonic() at receipt, or the pcap time
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    source: tuple[str, int] = ("", 0)


def parse_rtp(data: bytes, arrival: float, source: tuple[str, int] = ("", 0)) -> RtpPacket:
    """Parse an RTP packet; ValueError if it is not RTP version 2."""
    if len(data) < 12 or data[0] >> 6 != 2:
        raise ValueError("not an RTP version 2 packet")
    first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
    header = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        (words,) = struct.unpack("!H", data[header + 2 : header + 4])
        header += 4 + 4 * words
    end = len(data) - (data[-1] if first & 0x20 else 0)  # padding
    return RtpPacket(arrival, second & 0x7F, seq, timestamp, ssrc,
                     bool(second & 0x80), data[header:end], source)


def tone(freq_hz: float, secs: float, amplitude: float = 0.5,
         rate: int = SAMPLE_RATE) -> np.ndarray:
    """A pure sine tone as int16; ``amplitude`` is a fraction of full scale."""
    t = np.arange(int(round(secs * rate))) / rate
    return np.rint(amplitude * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def _ip_checksum(header: bytes) -> int:
    words: tuple[int, ...] = struct.unpack(f"!{len(header) // 2}H", header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(rtp: bytes, ip_id: int, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """Wrap an RTP packet in UDP, IPv4 and Ethernet headers."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(rtp), 0) + rtp  # no UDP checksum
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ip_id & 0xFFFF, 0x4000,
                     64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    ethernet = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip + udp


def write_pcap_tone(path: Path, freq_hz: float, secs: float, codec: str = "PCMU",
                    amplitude: float = 0.5, ssrc: int = 0x5EED1234) -> int:
    """Write a libpcap file of a G.711 tone for sipp's ``play_pcap_audio``.

    Packets are 20 ms apart in pcap time, 160 samples each, sequence numbers
    and timestamps counting from 0, the first with the marker bit. The UDP
    ports and addresses are placeholders: sipp rewrites them. Returns the
    number of packets written.
    """
    payload_type = PAYLOAD_TYPES[codec.upper()]
    pcm = tone(freq_hz, secs, amplitude)
    count = len(pcm) // SAMPLES_PER_PACKET
    start = 1_700_000_000.0
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # DLT_EN10MB
    for i in range(count):
        chunk = pcm[i * SAMPLES_PER_PACKET:(i + 1) * SAMPLES_PER_PACKET]
        header = struct.pack("!BBHII", 0x80, payload_type | (0x80 if i == 0 else 0),
                             i & 0xFFFF, i * SAMPLES_PER_PACKET, ssrc)
        frame = _frame(header + encode_g711(chunk, payload_type), i,
                       ("127.0.0.1", 6000), ("127.0.0.1", 6002))
        secs_i, usecs = divmod(round((start + i * 0.020) * 1e6), 1_000_000)
        records.append(struct.pack("<IIII", secs_i, usecs, len(frame), len(frame)) + frame)
    Path(path).write_bytes(b"".join(records))
    return count


def read_pcap_rtp(path: Path) -> list[RtpPacket]:
    """Read the RTP packets of an Ethernet/IPv4/UDP libpcap file (ours)."""
    data = Path(path).read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise ValueError("not a little-endian Ethernet libpcap file")
    packets, offset = [], 24
    while offset + 16 <= len(data):
        secs, usecs, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        ihl = (frame[14] & 0x0F) * 4
        packets.append(parse_rtp(frame[14 + ihl + 8:], secs + usecs / 1e6))
    return packets


# --- receiving RTP ---------------------------------------------------------


def free_even_udp_port(host: str = "127.0.0.1") -> socket.socket:
    """A UDP socket bound to a free even port on ``host`` (RTP convention)."""
    for _ in range(100):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        if sock.getsockname()[1] % 2 == 0:
            return sock
        sock.close()
    raise OSError("no free even UDP port found in 100 tries")


class RtpSink:
    """Collects the RTP packets sent to a free even UDP port on loopback.

    Usage: ``with RtpSink() as sink: ... sink.port ... sink.pcm()``. The
    receive thread only appends to a list under a lock; ``stop()`` sets a
    stop flag and joins it.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = free_even_udp_port(host)
        self._sock.settimeout(0.05)
        self.host: str = host
        self.port: int = self._sock.getsockname()[1]
        self._packets: list[RtpPacket] = []
        self._junk = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-sink-{self.port}",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> RtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                data, source = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            try:
                packet = parse_rtp(data, time.monotonic(), source)
            except ValueError:
                with self._lock:
                    self._junk += 1
                continue
            with self._lock:
                self._packets.append(packet)

    def stop(self) -> None:
        """Stop the receive thread and close the socket (idempotent)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    @property
    def packets(self) -> list[RtpPacket]:
        """A copy of the packets received so far, in arrival order."""
        with self._lock:
            return list(self._packets)

    @property
    def junk_count(self) -> int:
        """How many datagrams were not RTP."""
        with self._lock:
            return self._junk

    def wait_for_packets(self, count: int, timeout: float) -> list[RtpPacket]:
        """Wait until ``count`` packets arrived; TimeoutError with the count if not."""
        deadline = time.monotonic() + timeout
        while True:
            packets = self.packets
            if len(packets) >= count:
                return packets
            if time.monotonic() >= deadline:
                raise TimeoutError(f"RTP sink on port {self.port} got {len(packets)} "
                                   f"packets in {timeout:.1f} s, wanted {count}")
            time.sleep(0.01)

    def pcm(self, ssrc: int | None = None) -> np.ndarray:
        """The G.711 audio received, as int16 at 8 kHz, in sequence order.

        Packets of other payload types (e.g. telephone-event) are skipped;
        ``ssrc`` keeps only one stream. Duplicates are dropped; sequence
        wrap-around is handled.
        """
        packets = [p for p in self.packets
                   if p.payload_type in _CODECS and (ssrc is None or p.ssrc == ssrc)]
        ordered: dict[int, RtpPacket] = {}
        last = None
        for packet in packets:  # unwrap 16-bit sequence numbers in arrival order
            if last is None:
                extended = packet.seq
            else:
                delta = (packet.seq - last) & 0xFFFF
                extended = last + (delta - 0x10000 if delta >= 0x8000 else delta)
            ordered.setdefault(extended, packet)
            last = extended if last is None else max(last, extended)
        chunks = [decode_g711(ordered[k].payload, ordered[k].payload_type)
                  for k in sorted(ordered)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


# --- measuring tones -------------------------------------------------------


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to int16 full scale (a full-scale sine is -3 dB)."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x * x)))
    return 20 * np.log10(rms / 32768) if rms > 0 else float("-inf")


def dominant_freq(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """The frequency (Hz) of the strongest FFT bin, DC excluded."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 2:
        raise ValueError("need at least 2 samples to find a frequency")
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate / len(x))


def tone_level(samples: np.ndarray, rate: int, freq_hz: float,
               band_hz: float = 30.0) -> tuple[float, float]:
    """Return ``(dominant_freq_hz, rms_dbfs)`` where the level is of the band
    ``freq_hz ± band_hz`` only (so noise or other tones do not count)."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 2:
        raise ValueError("need at least 2 samples to measure a tone")
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = np.where(np.abs(freqs - freq_hz) <= band_hz, spectrum, 0)
    return dominant_freq(x, rate), rms_dbfs(np.fft.irfft(band, n=len(x)))
