"""The call path against a second real caller (pjsua2, its own process), no registrar.

The agent runs as in production (``sip-agent run --no-register``); the
caller is the built-in ``sip-agent call``.  Audio is checked by content,
both ways: the caller's tone in the agent's recording, the agent's tone in
the caller's recording.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from agent.records import read_wav
from agent.tools.records import AUDIO, call_folders
from tests.agent_proc import AgentProcess, caller_results, proc_stats, run_caller, start_caller
from tests.peers.rtp import dominant_freq, rms_dbfs

AGENT_TONE_HZ = 1000.0
CALLER_TONE_HZ = 440.0


def _agent(tmp_path: Path, *extra: str) -> AgentProcess:
    """The agent on loopback, on the SIP port the OS gives it (read from its ready status line)."""
    proc = AgentProcess(tmp_path, ["--no-register", "--bind", "127.0.0.1", "--port", "0",
                                   "--rtp-port-min", "41000", "--rtp-port-max", "41999",
                                   "--brain", "tone", "--tone-hz", str(AGENT_TONE_HZ), *extra])
    return proc.start()


def _uri(agent: AgentProcess) -> str:
    return f"sip:agent@127.0.0.1:{agent.port}"


def test_g722_call_carries_audio_both_ways(tmp_path: Path) -> None:
    records = tmp_path / "records"
    with _agent(tmp_path, "--records-dir", str(records)) as agent:
        rx_wav = tmp_path / "caller-rx.wav"
        result = run_caller(_uri(agent), "--play", f"tone:{CALLER_TONE_HZ:g}", "--duration", "2",
                            "--record", str(rx_wav), "--codecs", "G722")
        agent.wait_for(r"call 1 from .* ended: caller hung up")
        assert agent.stop() == 0
    assert result["status"] == 200 and result["codec"] == "G722/16000"
    assert result["frames_rx"] >= 80 and result["frames_tx"] >= 80
    # the agent's tone, as the caller heard it
    rate, heard = read_wav(rx_wav)
    heard = heard[rate // 2 :, 0]  # skip the first half second
    assert abs(dominant_freq(heard, rate) - AGENT_TONE_HZ) < 15
    assert rms_dbfs(heard) > -25
    # the caller's tone, as the agent received it (left channel of the call recording)
    (call_dir,) = call_folders(records)
    rate, stereo = read_wav(call_dir / AUDIO)
    left = stereo[rate // 2 :, 0]
    assert rate == 16000 and len(left) > rate
    assert abs(dominant_freq(left, rate) - CALLER_TONE_HZ) < 15
    assert rms_dbfs(left) > -25
    assert "codec G722/16000" in agent.log()


def test_dtmf_digits_arrive_as_events(tmp_path: Path) -> None:
    with _agent(tmp_path) as agent:
        run_caller(_uri(agent), "--duration", "1.5", "--dtmf", "42#")
        for digit in "42#":
            agent.wait_for(rf"call 1: DTMF {digit}")


def test_more_calls_than_max_calls_get_486(tmp_path: Path) -> None:
    with _agent(tmp_path, "--max-calls", "1") as agent:
        first = start_caller(_uri(agent), "--duration", "4")
        agent.wait_for("call 1: media up")
        second = run_caller(_uri(agent), "--duration", "1")
        assert second["status"] == 486
        assert caller_results(first)[-1]["status"] == 200
        agent.wait_for(r"INVITE from .* refused with 486: busy: 1 of 1 calls active")


def test_source_outside_allow_list_gets_403(tmp_path: Path) -> None:
    with _agent(tmp_path, "--allow-from", "127.0.0.1/32") as agent:
        result = run_caller(_uri(agent), "--bind", "127.0.0.2", "--duration", "1")
        assert result["status"] == 403
        agent.wait_for(r"INVITE from .* \(127\.0\.0\.2:\d+\) refused with 403: source not in the allow list")
        ok = run_caller(_uri(agent), "--duration", "0.5")
        assert ok["status"] == 200


def test_sigterm_mid_call_sends_bye_and_exits_0(tmp_path: Path) -> None:
    agent = _agent(tmp_path, "--drain-timeout", "0")  # no time to drain (tests/test_drain.py drains)
    caller = start_caller(_uri(agent), "--duration", "20")
    agent.wait_for("call 1: media up")
    time.sleep(0.5)
    t0 = time.monotonic()
    code = agent.stop(signal.SIGTERM)
    elapsed = time.monotonic() - t0
    result = caller_results(caller)[-1]
    assert code == 0
    stopped = agent.stopped()  # the status file's last line
    assert stopped is not None and stopped["exit_code"] == 0 and stopped["pid"] == agent.pid
    assert elapsed < 3.0, f"shutdown took {elapsed:.1f} s"
    assert result["hung_up_by"] == "agent" and result["status"] == 200
    log = agent.log()
    assert "ended: agent shutting down" in log and "Traceback" not in log


def test_malformed_sip_does_not_crash_the_agent(tmp_path: Path) -> None:
    with _agent(tmp_path) as agent:
        port = agent.port
        assert port
        junk = [
            b"\x00\xff garbage",
            b"INVITE sip:agent@127.0.0.1 SIP/2.0\r\n\r\n",
            b"INVITE sip:agent@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n"
            b"Content-Length: 99999\r\n\r\nv=0\r\n",
            b"REGISTER sip:x SIP/2.0\r\nFrom: <<<>>>\r\nTo: ;;;\r\nCall-ID:\r\nCSeq: x\r\n\r\n",
            b"SIP/2.0 200 OK\r\n\r\n",
            b"A" * 60000,
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for packet in junk * 3:
                sock.sendto(packet, ("127.0.0.1", port))
        time.sleep(0.5)
        assert agent.proc is not None and agent.proc.poll() is None
        result = run_caller(_uri(agent), "--duration", "0.5")
        assert result["status"] == 200
        assert agent.stop() == 0


def test_twenty_calls_in_a_row_leave_no_growth(tmp_path: Path) -> None:
    with _agent(tmp_path, "--log-level", "debug") as agent:
        run_caller(_uri(agent), "--duration", "0.3", "--repeat", "3")
        agent.wait_for(r"ended: caller hung up", count=3)
        time.sleep(3.0)  # the null sound device closes after ~1 s idle
        before = proc_stats(agent.pid)
        results = caller_results(start_caller(_uri(agent), "--duration", "0.3", "--repeat", "20"), timeout=120)
        agent.wait_for(r"ended: caller hung up", count=23)
        time.sleep(3.0)
        after = proc_stats(agent.pid)
        assert [r["status"] for r in results] == [200] * 20
        assert after["Threads"] <= before["Threads"], (before, after)
        assert after["fds"] <= before["fds"], (before, after)
        assert after["VmRSS"] - before["VmRSS"] < 8 * 1024, (before, after)
        assert agent.wait_for(r"active calls: (\d+)", count=23).group(1) == "0"
        assert agent.stop() == 0


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_call_has_media(tmp_path: Path, codec: str) -> None:
    with _agent(tmp_path) as agent:
        result = run_caller(_uri(agent), "--codecs", codec, "--duration", "1")
    assert result["codec"].startswith(codec) and result["frames_rx_voiced"] > 30


def test_a_caller_that_vanishes_without_bye_is_hung_up(tmp_path: Path) -> None:
    with _agent(tmp_path, "--rtp-timeout", "2") as agent:
        caller = start_caller(_uri(agent), "--duration", "30")
        agent.wait_for("call 1: media up")
        caller.kill()  # no BYE, no more RTP
        caller.wait()
        agent.wait_for(r"call 1: no RTP from the caller for 2 s", timeout=10)
        agent.wait_for(r"call 1 from .* ended: no RTP for 2 s")
        assert agent.stop() == 0
