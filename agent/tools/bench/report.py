"""Benchmark numbers: percentiles per phase, the fixed JSON keys, the plot."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ...timeline import STAGES
from .run import Turn
from .texts import REPLIES, words

__all__ = ["bargein_ms", "summarise", "plot", "env", "reply_of_kind", "turn_rows"]

KINDS = ("short", "medium", "long")
PACKAGES = ("pjsua2-python", "piper-tts", "onnxruntime", "llama-cpp-python", "pocketsphinx", "vosk", "numpy",
            "soxr", "sip-agent")


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def ttfa_ms(turn: Turn) -> float | None:
    """Reply text available in the agent (first token) -> first non-silent frame at the caller."""
    tl = turn.timeline
    if not tl or not tl.get("t_first_token"):
        return None
    first = turn.first_voiced_after(tl["t_first_token"])
    return (first - tl["t_first_token"]) * 1000.0 if first else None


def stt_final_ms(turn: Turn) -> float | None:
    """End of speech in the caller's audio -> final transcript in the agent."""
    tl = turn.timeline
    return (tl["t_stt_final"] - turn.t_speech_end) * 1000.0 if tl and tl.get("t_stt_final") else None


def v2v_ms(turn: Turn) -> float | None:
    """End of the caller's speech -> first non-silent agent frame at the caller."""
    first = turn.first_voiced_after(turn.t_speech_end)
    return (first - turn.t_speech_end) * 1000.0 if first else None


BARGE_IN_QUIET_SECS = 1.0
"""A pause this long in the agent's audio after the caller's onset means the agent stopped."""


def bargein_ms(turn: Turn) -> float | None:
    """The caller starts talking over the agent -> the agent's last audio frame at the caller."""
    if not turn.t_onset:
        return None
    last = turn.t_onset
    for t in turn.voiced:
        if t < turn.t_onset:
            continue
        if t - last > BARGE_IN_QUIET_SECS:
            break
        last = t
    return (last - turn.t_onset) * 1000.0


def reply_of_kind(turn: Turn) -> bool:
    """Did the agent answer with a reply of the length asked for?

    The scripted brain picks the reply from the recognised words; a misheard
    trigger gets the fallback, whose time to first audio says nothing about
    a reply of that length, so such turns are not counted.
    """
    first = " ".join(str((turn.timeline or {}).get("first_chunk", "")).split())
    return bool(first) and any(" ".join(r.split()).startswith(first) for r in REPLIES.get(turn.kind, []))


def _tts(turns: list[Turn], mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        mine = [t for t in turns if t.phase == f"tts-{mode}" and t.kind == kind]
        values = [v for t in mine if reply_of_kind(t) and (v := ttfa_ms(t)) is not None]
        out[kind] = {"ttfa_ms_p50": _pct(values, 50), "ttfa_ms_p95": _pct(values, 95), "n": len(values),
                     "words": round(float(np.mean([words(r) for r in REPLIES[kind]]))),
                     "misheard": sum(1 for t in mine if t.timeline and not reply_of_kind(t))}
    return out


def _stt(turns: list[Turn], endpoint_ms: int) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoint_ms": endpoint_ms}
    for kind in KINDS:
        mine = [t for t in turns if t.phase == "stt" and t.kind == kind]
        values = [v for t in mine if (v := stt_final_ms(t)) is not None]
        secs = [t.utterance_secs for t in mine]
        out[kind] = {"final_ms_p50": _pct(values, 50), "final_ms_p95": _pct(values, 95), "n": len(values),
                     "utterance_secs": round(float(np.mean(secs)), 1) if secs else 0.0}
    return out


def _v2v(turns: list[Turn]) -> dict[str, Any]:
    mine = [t for t in turns if t.phase == "v2v"]
    values = [v for t in mine if (v := v2v_ms(t)) is not None]
    stages = {name: _pct([t.timeline["stages_ms"][name] for t in mine
                          if t.timeline and name in t.timeline["stages_ms"]], 50) for name in STAGES}
    return {"ms_p50": _pct(values, 50), "ms_p95": _pct(values, 95), "n": len(values), "stages_ms_p50": stages}


def _bargein(turns: list[Turn]) -> dict[str, Any]:
    values = [v for t in turns if t.phase == "bargein" and (v := bargein_ms(t)) is not None]
    return {"reaction_ms_p50": _pct(values, 50), "reaction_ms_p95": _pct(values, 95), "n": len(values),
            "values_ms": [round(v, 1) for v in values]}


def _rtp(gaps_ms: list[float], note: str) -> dict[str, Any]:
    if not gaps_ms:
        return {"max_gap_ms": 0.0, "jitter_ms_p99": 0.0, "packets": 0, "note": note}
    jitter = [abs(g - 20.0) for g in gaps_ms]
    return {"max_gap_ms": round(max(gaps_ms), 1), "jitter_ms_p99": _pct(jitter, 99), "packets": len(gaps_ms) + 1}


def _ms(a: float | None, b: float | None) -> float | None:
    return round((b - a) * 1000.0, 1) if a and b else None


def turn_rows(turns: list[Turn]) -> list[dict[str, Any]]:
    """Every measured turn: the caller's number beside the agent's own view of it.

    ``in_agent_ms`` ends at the agent's first audio frame handed to its RTP
    stream (and starts at the agent's own end-of-speech mark for voice to
    voice); the rest of ``ms`` is the two RTP stacks: encoding, jitter buffers.
    """
    rows = []
    for t in turns:
        tl = t.timeline or {}
        if t.phase.startswith("tts-"):
            ms, agent = ttfa_ms(t), _ms(tl.get("t_first_token"), tl.get("t_first_audio_out"))
        elif t.phase == "stt":
            ms, agent = stt_final_ms(t), _ms(tl.get("t_end_of_speech"), tl.get("t_stt_final"))
        elif t.phase == "bargein":
            ms, agent = bargein_ms(t), None
        else:
            ms, agent = v2v_ms(t), tl.get("voice_to_voice_ms")
        if t.phase.startswith("tts-") and not reply_of_kind(t):
            ms = None  # misheard: another reply was measured (see reply_of_kind)
        rows.append({"phase": t.phase, "kind": t.kind, "ms": None if ms is None else round(ms, 1),
                     "in_agent_ms": agent, "speculative": bool(tl.get("speculative")),
                     "stages_ms": tl.get("stages_ms", {}), "heard": tl.get("user_text", "")})
    return rows


def env() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return {"cpus": os.cpu_count() or 0, "python": platform.python_version(), "machine": platform.machine(),
            "versions": versions}


def summarise(turns: list[Turn], gaps_ms: list[float], endpoint_ms: int, note: str = "") -> dict[str, Any]:
    """The benchmark's JSON, with the fixed keys."""
    return {"tts": {"streaming": _tts(turns, "streaming"), "batch": _tts(turns, "batch")},
            "stt": _stt(turns, endpoint_ms), "voice_to_voice": _v2v(turns), "barge_in": _bargein(turns),
            "rtp_tx": _rtp(gaps_ms, note),
            "env": env(), "turns": turn_rows(turns)}


def plot(result: dict[str, Any], path: Path) -> None:
    """TTFA against reply length (streaming vs batch), STT final latency against utterance length, and the
    word error rate per codec and condition when the accuracy phase ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy = result.get("accuracy") or {}
    fig, axes = plt.subplots(1, 3 if accuracy else 2, figsize=(16 if accuracy else 11, 4.2))
    left, right = axes[0], axes[1]
    if accuracy:
        _plot_accuracy(axes[2], accuracy)
    for mode, style in (("streaming", "o-"), ("batch", "s--")):
        rows = [result["tts"][mode][k] for k in KINDS]
        x = [r["words"] for r in rows]
        y = [r["ttfa_ms_p50"] for r in rows]
        err = [max(0.0, r["ttfa_ms_p95"] - r["ttfa_ms_p50"]) for r in rows]
        left.errorbar(x, y, yerr=[[0] * 3, err], fmt=style, capsize=4, label=f"{mode} (p50, bar to p95)")
    left.set(xlabel="reply length (words)", ylabel="time to first audio (ms)",
             title="TTS: text -> first audio at caller")
    left.set_ylim(bottom=0)
    left.legend()
    stt = result["stt"]
    x = [stt[k]["utterance_secs"] for k in KINDS]
    right.plot(x, [stt[k]["final_ms_p50"] for k in KINDS], "o-", label="final transcript (p50)")
    right.axhline(stt["endpoint_ms"], color="grey", linestyle=":", label=f"endpoint setting {stt['endpoint_ms']} ms")
    right.set(xlabel="utterance length (s)", ylabel="end of speech -> final (ms)", title="STT: final latency")
    right.set_ylim(bottom=0)
    right.legend()
    v2v = result["voice_to_voice"]
    fig.suptitle(f"sip-agent on {result['env']['cpus']} CPUs - voice to voice p50 {v2v['ms_p50']:.0f} ms, "
                 f"p95 {v2v['ms_p95']:.0f} ms (n={v2v['n']}); largest RTP gap {result['rtp_tx']['max_gap_ms']} ms")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_accuracy(ax: Any, accuracy: dict[str, Any]) -> None:
    """Bars of WER (%) per engine, codec and condition."""
    labels, values = [], []
    for engine, codecs in accuracy.items():
        for codec, conditions in codecs.items():
            for condition, cell in conditions.items():
                labels.append(f"{engine}\n{codec} {condition}")
                values.append(100.0 * cell["wer"])
    ax.bar(range(len(values)), values)
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set(ylabel="word error rate (%)", title="STT accuracy over SIP (corpus, all voices)")
    ax.set_ylim(bottom=0)

