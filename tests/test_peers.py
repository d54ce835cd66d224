"""Tests of the test peers (tests/peers) against the real Kamailio and sipp.

Pure parts first (G.711, pcap, RTP sink), then a Kamailio on a free port:
OPTIONS, digest REGISTER, 404 for unknown users, a sipp-to-sipp call through
the proxy with a tone each way, and restart().
"""

from __future__ import annotations

import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.peers import (
    Kamailio,
    PeerError,
    RtpSink,
    alaw_decode,
    alaw_encode,
    free_udp_port,
    read_pcap_rtp,
    register,
    sip_options,
    tone,
    tone_level,
    uac_expect,
    uac_pcap_tone,
    uas_answer,
    ulaw_decode,
    ulaw_encode,
    write_pcap_tone,
)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
CODECS = {"PCMU": (ulaw_encode, ulaw_decode), "PCMA": (alaw_encode, alaw_decode)}


def require(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed (apt-get install kamailio sip-tester)")


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    require("kamailio")
    require("sipp")
    with Kamailio(tmp_path_factory.mktemp("kamailio"), free_udp_port(), users=USERS) as pbx:
        yield pbx


# --- G.711, pcap, RTP sink -------------------------------------------------


def test_g711_known_code_points() -> None:
    assert ulaw_encode(np.array([0], np.int16)) == b"\xff"
    assert ulaw_decode(b"\xff\x7f\x00\x80").tolist() == [0, 0, -32124, 32124]
    assert alaw_encode(np.array([0], np.int16)) == b"\xd5"
    assert alaw_decode(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_round_trip_keeps_a_tone(codec: str) -> None:
    encode, decode = CODECS[codec]
    pcm = tone(1000, 0.5, amplitude=0.5)
    decoded = decode(encode(pcm))
    noise = decoded.astype(np.float64) - pcm
    snr_db = 10 * np.log10(np.sum(pcm.astype(np.float64) ** 2) / np.sum(noise**2))
    assert snr_db > 30
    assert decode(encode(decoded)).tolist() == decoded.tolist()  # idempotent


@pytest.mark.parametrize("codec,payload_type", [("PCMU", 0), ("PCMA", 8)])
def test_write_pcap_tone_round_trip(tmp_path: Path, codec: str, payload_type: int) -> None:
    path = tmp_path / "tone.pcap"
    assert write_pcap_tone(path, 1000, 0.5, codec=codec) == 25
    packets = read_pcap_rtp(path)
    assert [p.seq for p in packets] == list(range(25))
    assert [p.timestamp for p in packets] == [160 * i for i in range(25)]
    assert np.allclose(np.diff([p.arrival for p in packets]), 0.020, atol=1e-6)
    assert {p.payload_type for p in packets} == {payload_type}
    assert [p.marker for p in packets[:2]] == [True, False]
    pcm = np.concatenate([CODECS[codec][1](p.payload) for p in packets])
    freq, level = tone_level(pcm, 8000, 1000)
    assert freq == pytest.approx(1000, abs=5)
    assert level == pytest.approx(-9.0, abs=0.5)  # amplitude 0.5


def test_rtp_sink_orders_by_sequence_across_wrap() -> None:
    pcm = tone(440, 0.1)  # 5 packets
    seqs = [65534, 65535, 0, 1, 2]
    with RtpSink() as sink, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in [1, 0, 2, 4, 3, 3]:  # out of order, one duplicate
            header = struct.pack("!BBHII", 0x80, 0, seqs[i], 160 * i, 7)
            payload = ulaw_encode(pcm[160 * i:160 * (i + 1)])
            sender.sendto(header + payload, ("127.0.0.1", sink.port))
        sender.sendto(b"not rtp", ("127.0.0.1", sink.port))
        sink.wait_for_packets(6, timeout=2)
    assert sink.port % 2 == 0
    assert sink.pcm().tolist() == ulaw_decode(ulaw_encode(pcm)).tolist()


# --- Kamailio and sipp -----------------------------------------------------


def test_kamailio_answers_options(kamailio: Kamailio) -> None:
    assert sip_options("127.0.0.1", kamailio.port) == "SIP/2.0 200 Keepalive"


def test_kamailio_start_failure_shows_its_log(tmp_path: Path) -> None:
    require("kamailio")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        pbx = Kamailio(tmp_path, taken.getsockname()[1], users=USERS)
        with pytest.raises(PeerError, match="Kamailio exited") as failure:
            pbx.start(timeout=5)
    assert "bind" in str(failure.value).lower()
    assert pbx.pid is None


def test_register_with_the_right_password(kamailio: Kamailio, tmp_path: Path) -> None:
    result = register(tmp_path, kamailio.address, "alice", "alice-pw",
                      contact_port=free_udp_port()).run()
    assert result.ok, result.describe()


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("mallory", "x")])
def test_register_with_a_wrong_password_is_forbidden(kamailio: Kamailio, tmp_path: Path,
                                                     user: str, password: str) -> None:
    forbidden = register(tmp_path, kamailio.address, user, password,
                         contact_port=free_udp_port(), status=403).run()
    assert forbidden.ok, forbidden.describe()
    accepted = register(tmp_path, kamailio.address, user, password,
                        contact_port=free_udp_port(), status=200).run()
    assert not accepted.ok


def test_invite_to_an_unregistered_user_is_404(kamailio: Kamailio, tmp_path: Path) -> None:
    result = uac_expect(tmp_path, kamailio.address, "nobody", 404,
                        domain="127.0.0.1").run()
    assert result.ok, result.describe()


def call_registered_uas(pbx: Kamailio, workdir: Path, user: str, secs: float,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Register a sipp UAS as ``user``, call it with uac_pcap_tone through
    ``pbx``: the caller plays 440 Hz, the callee 1000 Hz. Returns the audio
    (caller heard, callee heard) as collected by two RtpSinks."""
    write_pcap_tone(workdir / "caller.pcap", 440, secs)
    write_pcap_tone(workdir / "callee.pcap", 1000, secs)
    with RtpSink() as caller_ear, RtpSink() as callee_ear:
        uas = uas_answer(workdir, service=user, rtp_port=callee_ear.port,
                         pcap=workdir / "callee.pcap")
        with uas:
            registered = register(workdir, pbx.address, user, USERS[user],
                                  contact_port=uas.local_port).run()
            assert registered.ok, registered.describe()
            uas.start()
            call = uac_pcap_tone(workdir, pbx.address, user, rtp_port=caller_ear.port,
                                 pcap=workdir / "caller.pcap").run()
            assert call.ok, call.describe() + "\n" + pbx.log_text()[-2000:]
            answered = uas.wait()
            assert answered.ok, answered.describe()
        return caller_ear.pcm(), callee_ear.pcm()


def test_call_through_kamailio_carries_a_tone_each_way(kamailio: Kamailio,
                                                       tmp_path: Path) -> None:
    caller_heard, callee_heard = call_registered_uas(kamailio, tmp_path, "bob", 1.0)
    assert len(caller_heard) == len(callee_heard) == 8000
    assert tone_level(caller_heard, 8000, 1000)[0] == pytest.approx(1000, abs=5)
    assert tone_level(callee_heard, 8000, 440)[0] == pytest.approx(440, abs=5)
    assert tone_level(caller_heard, 8000, 1000)[1] > -12


def test_restart_answers_again_and_forgets_registrations(tmp_path: Path) -> None:
    require("kamailio")
    require("sipp")
    with Kamailio(tmp_path / "pbx", free_udp_port(), users=USERS) as pbx:
        call_registered_uas(pbx, tmp_path, "alice", 0.2)  # registered: answered
        first_pid = pbx.pid
        pbx.restart()
        assert pbx.pid not in (None, first_pid)
        assert sip_options("127.0.0.1", pbx.port) == "SIP/2.0 200 Keepalive"
        gone = uac_expect(tmp_path, pbx.address, "alice", 404, domain="127.0.0.1").run()
        assert gone.ok, gone.describe()
