"""``sip-agent bench --quick``: the benchmark runs end to end on loopback and keeps its keys."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.agent_proc import REPO, _env


def _can_sniff() -> bool:
    """Whether this process may open the raw packet socket the bench measures RTP pacing with."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)).close()
    except (OSError, AttributeError):
        return False
    return True


def test_quick_bench_writes_json_and_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "bench", "--quick", "--out", str(out),
                           "--plot", str(png), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, env=_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result) >= {"tts", "stt", "voice_to_voice", "barge_in", "rtp_tx", "env"}
    for mode in ("streaming", "batch"):
        for kind in ("short", "medium", "long"):
            cell = result["tts"][mode][kind]
            assert set(cell) >= {"ttfa_ms_p50", "ttfa_ms_p95", "n"} and cell["n"] >= 1, (mode, kind, cell)
    for kind in ("short", "medium", "long"):
        assert result["stt"][kind]["n"] >= 1 and result["stt"][kind]["final_ms_p50"] > 0
    assert result["stt"]["endpoint_ms"] == 500
    v2v = result["voice_to_voice"]
    assert v2v["n"] >= 1 and v2v["ms_p50"] > 0 and set(v2v["stages_ms_p50"]) >= {"endpoint_wait", "synthesis"}
    barge_in = result["barge_in"]
    assert barge_in["n"] >= 1 and 0 < barge_in["reaction_ms_p50"] < 1500, barge_in
    rtp = result["rtp_tx"]
    if _can_sniff():  # the agent's packets, 20 ms apart on average: the largest gap is at least that
        assert "note" not in rtp and rtp["packets"] > 50 and rtp["max_gap_ms"] >= 20, rtp
    else:  # nothing measured, and the report says why
        assert rtp["packets"] == 0 and rtp["max_gap_ms"] == 0 and "run as root" in rtp["note"], rtp
    assert result["env"]["cpus"] >= 1 and result["env"]["versions"]["pjsua2-python"]
    # the point of streaming: a long reply starts far sooner than when synthesised whole
    streaming, batch = result["tts"]["streaming"]["long"], result["tts"]["batch"]["long"]
    assert batch["ttfa_ms_p50"] > 2 * streaming["ttfa_ms_p50"], result["tts"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "time to first audio" in proc.stdout


def test_quick_accuracy_phase_scores_each_codec_and_condition(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "bench", "--quick", "--phases", "accuracy",
                           "--out", str(out), "--plot", str(tmp_path / "bench.png"),
                           "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, env=_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy = json.loads(out.read_text())["accuracy"]
    assert set(accuracy) == {"whisper"}
    for codec, condition in (("G722", "clean"), ("PCMU", "clean"), ("PCMU", "noisy")):
        cell = accuracy["whisper"][codec][condition]
        assert cell["words"] > 30 and set(cell["voices"]) == {"piper"}
        assert 0.0 <= cell["wer"] < 0.3, (codec, condition, cell)  # a sanity bound, not a target
    assert "accuracy whisper PCMU noisy: WER" in proc.stdout


def test_quick_capacity_phase_measures_each_level(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "bench", "--quick", "--phases", "capacity",
                           "--agent-args", "--llm-model smollm2", "--out", str(out),
                           "--plot", str(tmp_path / "bench.png"), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, env=_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    capacity = json.loads(out.read_text())["capacity"]
    assert set(capacity["levels"]) == {"1", "2"} and capacity["rss_mb_idle"] > 100
    for n, cell in capacity["levels"].items():
        assert cell["n"] == 2 * int(n) and cell["missing"] == 0, cell  # every question answered
        assert 0 < cell["v2v_ms_p50"] <= cell["v2v_ms_p95"] and cell["cpu_cores"] > 0 and cell["rss_mb_max"] > 100
    held = 0  # the most calls at once with every level up to it within the objective (all answered, above)
    for n in sorted(capacity["levels"], key=int):
        if capacity["levels"][n]["v2v_ms_p95"] > capacity["objective_ms"]:
            break
        held = int(n)
    assert capacity["calls_within_objective"] == held, capacity
    assert 1 <= capacity["auto_would_admit"] <= max(1, capacity["calls_within_objective"])  # never more
    churn = capacity["churn"]
    assert churn["calls"] == churn["answered"] == 20 and churn["threads_after"] > 0, churn
    assert "calls this box holds within the objective" in proc.stdout
