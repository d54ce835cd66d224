"""The call path through a real registrar/proxy: Kamailio with digest auth on
loopback, a sipp G.711 caller playing a pcap, and the pjsua2 caller on G.722."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.records import read_wav
from tests.agent_proc import AgentProcess, caller_results, run_caller, start_caller
from tests.peers import Kamailio, RtpSink, free_udp_port, uac_expect, uac_pcap_tone, write_pcap_tone
from tests.peers.raw_sip import NoAckClient
from tests.peers.rtp import decode_g711, dominant_freq, rms_dbfs

PASSWORD = "agent-secret"
AGENT_TONE_HZ = 1000.0
CALLER_TONE_HZ = 440.0


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    with Kamailio(tmp_path / "kamailio", free_udp_port(), users={"agent": PASSWORD}) as pbx:
        yield pbx


def _agent(tmp_path: Path, pbx: Kamailio, *extra: str, password: str = PASSWORD,
           wait: str | None = "registered as agent@") -> AgentProcess:
    args = ["--domain", pbx.address, "--user", "agent", "--password", password, "--bind", "127.0.0.1",
            "--port", str(free_udp_port()), "--brain", "tone", "--tone-hz", str(AGENT_TONE_HZ), *extra]
    return AgentProcess(tmp_path, args).start(wait_for=wait)


def _agent_uri(pbx: Kamailio) -> str:
    return f"sip:agent@{pbx.address}"


def test_registers_with_digest_auth_and_unregisters_on_sigterm(tmp_path: Path, kamailio: Kamailio) -> None:
    agent = _agent(tmp_path, kamailio)
    assert run_caller(_agent_uri(kamailio), "--duration", "0.3")["status"] == 200
    assert agent.stop() == 0
    assert "unregistering from" in agent.log()
    # the registrar forgot the contact: a call now gets 404, not a timeout towards a dead contact
    assert run_caller(_agent_uri(kamailio), "--duration", "0.3")["status"] == 404


def test_wrong_password_is_refused_and_retried_with_backoff(tmp_path: Path, kamailio: Kamailio) -> None:
    agent = _agent(tmp_path, kamailio, "--log-level", "debug", password="wrong", wait=None)
    agent.wait_for(r"registration to .* failed: 403 .*check --user and --password")
    agent.wait_for(r"next registration attempt in 2 s")
    agent.wait_for(r"next registration attempt in 4 s", timeout=10)
    assert agent.log().count("failed: 403") == 1  # one line per change of state, not per attempt
    assert agent.stop() == 0


def test_password_from_environment_and_config_file(tmp_path: Path, kamailio: Kamailio) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[sip]\ndomain = "{kamailio.address}"\nuser = "agent"\nbind = "127.0.0.1"\n'
                      f'port = {free_udp_port()}\n\n[speech]\nbrain = "tone"\n')
    os.environ["SIP_PASSWORD"] = PASSWORD
    try:
        agent = AgentProcess(tmp_path, ["--config", str(config)]).start(wait_for="registered as agent@")
    finally:
        del os.environ["SIP_PASSWORD"]
    assert agent.stop() == 0


def test_sipp_g711_call_through_the_proxy_carries_tones_both_ways(tmp_path: Path, kamailio: Kamailio) -> None:
    pcap = tmp_path / "tone440.pcap"
    write_pcap_tone(pcap, CALLER_TONE_HZ, 2.0, codec="PCMU")
    records = tmp_path / "records"
    with _agent(tmp_path, kamailio, "--records-dir", str(records)) as agent, RtpSink() as sink:
        sipp = uac_pcap_tone(tmp_path / "sipp", kamailio.address, "agent", rtp_port=sink.port, pcap=pcap)
        result = sipp.run()
        assert result.ok, result.describe()
        agent.wait_for(r"call 1 from .* codec PCMU/8000 .* ended: caller hung up")
        assert agent.stop() == 0
    # the agent's tone at the sipp caller (decoded from its RTP)
    packets = sink.packets
    assert len(packets) > 50
    heard = decode_g711(b"".join(p.payload for p in sorted(packets, key=lambda p: p.seq)[10:]), packets[0].payload_type)
    assert abs(dominant_freq(heard, 8000) - AGENT_TONE_HZ) < 15 and rms_dbfs(heard) > -25
    # the caller's tone in the agent (left channel of its recording)
    (folder,) = records.iterdir()
    rate, stereo = read_wav(folder / "audio.wav")
    left = stereo[:, 0]
    voiced = left[np.abs(left) > 0]
    assert len(voiced) > rate
    assert abs(dominant_freq(left, rate) - CALLER_TONE_HZ) < 15 and rms_dbfs(left[rate // 2 : rate]) > -25


def test_pjsua2_g722_call_through_the_proxy_carries_tones_both_ways(tmp_path: Path, kamailio: Kamailio) -> None:
    records = tmp_path / "records"
    rx = tmp_path / "caller-rx.wav"
    with _agent(tmp_path, kamailio, "--records-dir", str(records)) as agent:
        result = run_caller(_agent_uri(kamailio), "--codecs", "G722", "--play", f"tone:{CALLER_TONE_HZ:g}",
                            "--duration", "2", "--record", str(rx))
        agent.wait_for(r"call 1 from .* codec G722/16000 .* ended: caller hung up")
    assert result["status"] == 200 and result["codec"] == "G722/16000"
    rate, heard = read_wav(rx)
    assert abs(dominant_freq(heard[rate // 2 :, 0], rate) - AGENT_TONE_HZ) < 15
    (folder,) = records.iterdir()
    rate, stereo = read_wav(folder / "audio.wav")
    assert abs(dominant_freq(stereo[rate // 2 :, 0], rate) - CALLER_TONE_HZ) < 15


def _call_until_ok(uri: str, deadline_secs: float) -> dict[str, object]:
    deadline = time.monotonic() + deadline_secs
    while True:
        result = run_caller(uri, "--duration", "0.3")
        if result["status"] == 200 or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_re_registers_after_the_registrar_restarts(tmp_path: Path, kamailio: Kamailio) -> None:
    with _agent(tmp_path, kamailio, "--register-expires", "10") as agent:
        kamailio.stop()
        time.sleep(1.0)
        kamailio.start()  # its location table is empty now
        assert run_caller(_agent_uri(kamailio), "--duration", "0.3")["status"] == 404
        assert _call_until_ok(_agent_uri(kamailio), 20)["status"] == 200
        assert agent.stop() == 0


def test_recovers_when_the_registrar_comes_up_after_the_agent(tmp_path: Path) -> None:
    pbx = Kamailio(tmp_path / "kamailio", free_udp_port(), users={"agent": PASSWORD})
    args = ["--domain", pbx.address, "--user", "agent", "--password", PASSWORD, "--bind", "127.0.0.1",
            "--port", str(free_udp_port()), "--brain", "tone"]
    with AgentProcess(tmp_path, args).start() as agent:
        time.sleep(2.0)
        with pbx:
            agent.wait_for("registered as agent@", timeout=30)
            assert _call_until_ok(_agent_uri(pbx), 5)["status"] == 200


def test_sipp_gets_486_beyond_max_calls_and_403_outside_allow_list(tmp_path: Path, kamailio: Kamailio) -> None:
    with _agent(tmp_path, kamailio, "--max-calls", "1") as agent:
        busy_call = start_caller(_agent_uri(kamailio), "--duration", "4")
        agent.wait_for("call 1: media up")
        busy = uac_expect(tmp_path / "sipp", kamailio.address, "agent", 486, domain=kamailio.address.split(":")[0])
        assert busy.run().ok
        assert caller_results(busy_call)[-1]["status"] == 200
        # a direct call from an address that is not the registrar's: 403
        direct = run_caller(f"sip:agent@127.0.0.1:{agent.args[agent.args.index('--port') + 1]}",
                            "--bind", "127.0.0.2", "--duration", "0.3")
        assert direct["status"] == 403
        agent.wait_for(r"INVITE from .* \(127\.0\.0\.2:\d+\) refused with 403: source not in the allow list")
    with _agent(tmp_path / "b", kamailio, "--allow-from", "10.9.8.0/24") as agent:
        refused = uac_expect(tmp_path / "sipp", kamailio.address, "agent", 403, domain=kamailio.address.split(":")[0])
        assert refused.run().ok
        agent.wait_for(r"INVITE from .* \(127\.0\.0\.1:\d+\) refused with 403: source not in the allow list")


def test_challenge_realm_reads_the_first_digest_challenge() -> None:
    from agent.sip.account import challenge_realm

    assert challenge_realm('SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm="pbx.example", '
                           'nonce="n"\r\n\r\n') == "pbx.example"
    assert challenge_realm('SIP/2.0 407 x\r\nproxy-authenticate: Digest nonce="n", realm = "a b"\r\n') == "a b"
    assert challenge_realm("SIP/2.0 401 x\r\nWWW-Authenticate: Basic realm=\"x\"\r\n") == ""


@pytest.mark.parametrize("realm", ["elsewhere", "registrar's"])
def test_credentials_go_only_to_the_realm_the_registrar_challenged_with(tmp_path: Path, kamailio: Kamailio,
                                                                         realm: str) -> None:
    """A peer in a call challenges the agent's BYE: with the registrar's realm it gets the digest, with any
    other it gets nothing (the password was once offered for every realm: '*')."""
    agent = _agent(tmp_path, kamailio, "--drain-timeout", "1")
    agent.wait_for(r"the registrar's digest realm is '127\.0\.0\.1'")
    challenge = "127.0.0.1" if realm == "registrar's" else realm
    assert agent.port is not None
    with NoAckClient(agent.port) as phone:
        call = phone.invite()
        phone.read(0.5)
        phone.ack(call)
        phone.read(0.3)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)  # drain for 1 s, then BYE
        bye = phone.wait_request("BYE", 5.0)
        assert bye is not None and "Authorization" not in bye
        phone.respond(bye, 401, "Unauthorized", f'WWW-Authenticate: Digest realm="{challenge}", nonce="0123abcd", '
                      'algorithm=MD5, qop="auth"')
        again = phone.wait_request("BYE", 1.0, after=1)
        if again is not None:
            phone.respond(again, 200, "OK")
    assert agent.stop() == 0
    if realm == "registrar's":
        assert again is not None and re.search(r'Authorization: Digest username="agent", realm="127\.0\.0\.1"',
                                               again), again
    else:
        assert again is None or "Authorization" not in again, again
