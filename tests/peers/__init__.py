"""Real SIP test peers for the integration tests: Kamailio, sipp, RTP tools.

- ``Kamailio``: a registrar/proxy child process with static digest users.
- ``Sipp`` and the scenario builders ``uac_pcap_tone``, ``uac_expect``,
  ``uas_answer``, ``register``: sipp runs with results and logs.
- ``RtpSink``, ``write_pcap_tone``, ``tone_level``, G.711 coding: audio
  checks by content.

Everything binds to 127.0.0.1 only and every child process is ended by its
own PID. Import as ``from tests.peers import Kamailio, ...``.
"""

from .kamailio import Kamailio, PeerError, free_udp_port, sip_options
from .rtp import (
    RtpPacket,
    RtpSink,
    alaw_decode,
    alaw_encode,
    dominant_freq,
    read_pcap_rtp,
    rms_dbfs,
    tone,
    tone_level,
    ulaw_decode,
    ulaw_encode,
    write_pcap_tone,
)
from .sipp import Sipp, SippResult, register, uac_expect, uac_pcap_tone, uas_answer

__all__ = [
    "Kamailio",
    "PeerError",
    "RtpPacket",
    "RtpSink",
    "Sipp",
    "SippResult",
    "alaw_decode",
    "alaw_encode",
    "dominant_freq",
    "free_udp_port",
    "read_pcap_rtp",
    "register",
    "rms_dbfs",
    "sip_options",
    "tone",
    "tone_level",
    "uac_expect",
    "uac_pcap_tone",
    "uas_answer",
    "ulaw_decode",
    "ulaw_encode",
    "write_pcap_tone",
]
