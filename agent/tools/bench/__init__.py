"""``sip-agent bench``: runs the phases (see ``agent.tools.BENCH_DESCRIPTION``) and prints their numbers.

The agent runs in its own process (``agent.tools.harness``), the caller in this one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_bench"]

ENDPOINT_MS = 500


def _progress(started: float) -> Any:
    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return say


def run_bench(args: argparse.Namespace) -> int:
    from ...errors import ConfigError
    from ...tts.base import create_tts
    from .report import plot, summarise
    from .run import AGENT_RTP, CALLER_RTP, Bench
    from .sniff import RtpSniffer
    from .stalls import StallProbe

    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if not phases <= {"tts", "stt", "v2v", "bargein", "overtalk", "accuracy", "human", "answers", "capacity",
                      "capture", "amd", "callback"}:
        raise ConfigError("--phases takes tts, stt, v2v, bargein, overtalk, accuracy, human, answers, capacity, "
                          "capture, amd and callback, "
                          f"got '{args.phases}'")
    say = _progress(time.monotonic())
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sip-agent-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"records in {workdir}")
    neighbour = _start_neighbour(args.neighbour, say)
    sniffer = RtpSniffer(AGENT_RTP, CALLER_RTP).start()
    probe = StallProbe().start()
    bench = Bench(workdir, create_tts("piper"), say, shlex.split(args.agent_args))
    bench.on_call_end = sniffer.end_call
    try:
        models = [m.strip() for m in args.llm_models.split(",") if m.strip()]
        extra = _run_phases(bench, phases, args.quick, say, models)
    finally:
        bench.close()
        sniffer.stop()
        probe.stop()
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    result = summarise(bench.turns, sniffer.gaps_ms(), ENDPOINT_MS, sniffer.error)
    result.update(extra)
    _add_machine_stalls(result["rtp_tx"], sniffer, probe)
    result["quick"] = bool(args.quick)
    result["neighbour_nice"] = args.neighbour
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    plot(result, Path(args.plot))
    _print(result)
    say(f"wrote {args.out} and {args.plot}")
    return 0


def _run_phases(bench: Any, phases: set[str], quick: bool, say: Any,
                models: list[str] | None = None) -> dict[str, Any]:
    """Run the chosen phases in order; the results of those not kept in ``bench.turns``."""
    from .accuracy import accuracy_phase
    from .answers import answers_phase
    from .overtalk import overtalk_phase

    extra: dict[str, Any] = {}
    if "tts" in phases:
        bench.tts_phase("streaming", 1 if quick else 5)
        bench.tts_phase("batch", 1 if quick else 5)
    if "stt" in phases:
        bench.stt_phase(1 if quick else 3)
    if "v2v" in phases:
        bench.v2v_phase(2 if quick else 12)
    if "bargein" in phases:
        bench.bargein_phase(1 if quick else 5)
    if "overtalk" in phases:
        extra["overtalk"] = overtalk_phase(bench, quick, say)
    if "accuracy" in phases:
        extra["accuracy"] = {_engine(bench.agent_args): accuracy_phase(bench.workdir, bench.voice, bench.agent_args,
                                                                       quick, say)}
    if "human" in phases:
        from .human import human_phase

        extra["human"] = human_phase(bench.workdir, bench.agent_args, quick, say)
    if "answers" in phases:
        extra["answers"] = answers_phase(bench, quick, say, models)
    if "capacity" in phases:
        from .capacity import capacity_phase

        extra["capacity"] = capacity_phase(bench, quick, say)
    if "capture" in phases:
        from .capture import capture_phase

        extra["capture"] = capture_phase(bench, quick, say)
    if "amd" in phases:
        from .amd import amd_phase

        extra["amd"] = amd_phase(bench, quick, say)
    if "callback" in phases:
        from .callback import callback_phase

        extra["callback"] = callback_phase(bench, quick, say)
    return extra


def _start_neighbour(nice: int | None, say: Any) -> subprocess.Popen[bytes] | None:
    """A CPU-bound process beside the agent for the whole run (``--neighbour NICE``), or None."""
    if nice is None:
        return None
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(nice))
    say(f"a CPU-bound neighbour runs at nice {nice} (pid {proc.pid})")
    return proc


def _engine(agent_args: list[str]) -> str:
    """The recogniser the agents run: their ``--stt``, else the default."""
    from ...stt.base import DEFAULT_STT

    if "--stt" in agent_args[:-1]:
        return agent_args[agent_args.index("--stt") + 1]
    return "whisper" if any(a.startswith("--whisper-model") for a in agent_args) else DEFAULT_STT


def _add_machine_stalls(rtp: dict[str, Any], sniffer: Any, probe: Any) -> None:
    """The largest RTP gaps, each with the machine stall it overlapped (a host that stopped the VM)."""
    gaps = sniffer.largest_gaps(500)
    rtp["largest_gaps"] = [{"gap_ms": round(g, 1), "t_wall": round(t, 3), "flow": list(f),
                            "machine_stall_ms": round(probe.overlapping(t, g), 1)} for g, t, f in gaps[:5]]
    if gaps:
        own = [g for g, t, _f in gaps if not probe.overlapping(t, g)]
        rtp["max_gap_ms_outside_machine_stalls"] = round(own[0], 1) if own else None
    rtp["machine"] = probe.summary()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _print(r: dict[str, Any]) -> None:
    if r.get("neighbour_nice") is not None:
        print(f"(with a CPU-bound neighbour process at nice {r['neighbour_nice']} all along)")
    if any(v["n"] for mode in ("streaming", "batch") for v in r["tts"][mode].values()):
        print("time to first audio (reply text -> first audio at the caller), p50 / p95 ms:")
        for mode in ("streaming", "batch"):
            cells = "  ".join(f"{k} ({v['words']} words) {v['ttfa_ms_p50']:.0f}/{v['ttfa_ms_p95']:.0f} n={v['n']}"
                              + (f" ({v['misheard']} misheard, not counted)" if v.get("misheard") else "")
                              for k, v in r["tts"][mode].items())
            print(f"  {mode:9s} {cells}")
    stt = r["stt"]
    if any(stt[k]["n"] for k in ("short", "medium", "long")):
        cells = "  ".join(f"{k} ({stt[k]['utterance_secs']} s) {stt[k]['final_ms_p50']:.0f} n={stt[k]['n']}"
                          for k in ("short", "medium", "long"))
        print(f"STT final after end of speech, p50 ms (endpoint {stt['endpoint_ms']} ms): {cells}")
    v = r["voice_to_voice"]
    if v["n"]:
        stages = ", ".join(f"{k.replace('_', ' ')} {x:.0f}" for k, x in v["stages_ms_p50"].items())
        print(f"voice to voice p50 {v['ms_p50']:.0f} ms, p95 {v['ms_p95']:.0f} ms (n={v['n']}): {stages}")
    b = r["barge_in"]
    if b["n"]:
        print(f"barge-in, caller's speech onset -> agent silent at the caller: p50 {b['reaction_ms_p50']:.0f} ms, "
              f"p95 {b['reaction_ms_p95']:.0f} ms (n={b['n']}: {', '.join(f'{v:.0f}' for v in b['values_ms'])})")
    for vad, codecs in r.get("overtalk", {}).items():
        for codec, cell in codecs.items():
            print(f"over the agent ({vad} VAD, {codec}): stopped it: noise {_pct(cell['false_rate_noise'])} "
                  f"(n={cell['n_noise']}), non-words {_pct(cell['false_rate_non_words'])} (n={cell['n_non_word']}), "
                  f"interruptions {_pct(cell['hit_rate'])} (n={cell['n_interruption']}); "
                  f"{cell['paused_then_went_on']} paused it and it went on")
    for engine, codecs in r.get("accuracy", {}).items():
        for codec, conditions in codecs.items():
            for condition, cell in conditions.items():
                voices = ", ".join(f"{v} {c['wer']:.1%}" for v, c in cell["voices"].items())
                print(f"accuracy {engine} {codec} {condition}: WER {cell['wer']:.1%} ({voices}; {cell['words']} words)")
                asked = cell.get("facts_questions")
                if asked:
                    voices = ", ".join(f"{v} {c['wer']:.1%}" for v, c in asked["voices"].items())
                    print(f"  the facts' questions, espeak-ng, facts vocabulary on: WER {asked['wer']:.1%} ({voices}; "
                          f"{asked['words']} words)")
    human = r.get("human")
    if human:
        corpus = human["corpus"]
        print(f"human speech ({corpus['recordings']} recordings, {corpus['speakers']} speakers, {corpus['paused']} "
              f"with a pause, {corpus['numbers']} numbers): WER / cut-offs / words lost")
        for codec, cells in human.items():
            if codec == "corpus":
                continue
            for mode, cell in cells.items():
                groups = ", ".join(f"{g} {c['wer']:.1%}" for g, c in cell.items() if g != "all")
                a = cell["all"]
                cuts = f", cut-offs {a['cut_offs']}/{a['paused']}" if "cut_offs" in a else ""
                print(f"  {codec} {mode}: WER {a['wer']:.1%}{cuts}, words lost {a['words_lost']} ({groups})")
    for model, cell in r.get("answers", {}).items():
        print(f"answers {model} (right = correct or properly asked back; invented; asked back needlessly; "
              f"transfers not asked for; voice to voice p50 / p95):")
        for name, c in [*cell["businesses"].items(), ("all", cell)]:
            print(f"  {name}: right {c['right']}/{c['n']}, invented {c['invented']}, needless "
                  f"{c['clarified_needlessly']}, asked back properly {c['clarified_properly']}, transfers "
                  f"{c['transfers_asked']}/{c['persons_asked']} asked + {c['transfers_unasked']} not, guard "
                  f"{c['guard_fired']}; {c['v2v_ms_p50']} / {c['v2v_ms_p95']} ms")
        print(f"  by kind {cell['by_kind']}")
    capture = r.get("capture")
    if capture:
        print(f"capture ({capture['dialogues']} dialogues, messages and booking requests, G.722 and PCMU, Piper and "
              "espeak-ng voices):")
        print(f"  fields right {capture['fields_right']}/{capture['fields_total']} ({capture['field_accuracy']}; "
              f"G.722 {capture['by_codec']['G722']}, PCMU {capture['by_codec']['PCMU']}); confirmed "
              f"{capture['confirmed']}/{capture['dialogues']}; numbers right {capture['numbers_right']}, confirmed "
              f"wrong {capture['wrong_numbers_confirmed']}; turns per capture {capture['turns_per_capture']}; "
              f"deliveries lost {capture['deliveries_lost']}; webhook delay p50 {capture['webhook_delay_ms_p50']} ms")
    amd = r.get("amd") or (capture or {}).get("amd")  # (earlier runs' results kept it in the capture phase's)
    if amd:
        print(f"amd ({amd['calls']} outbound calls answered with generated greetings):")
        print(f"  answering machines told right {amd['accuracy']} "
              f"(people {amd['people_right']}, machines {amd['machines_right']}; G.722 {amd['by_codec']['G722']}, "
              f"PCMU {amd['by_codec']['PCMU']}); audio to decide p50 {amd['decision_ms_p50']} ms, "
              f"p95 {amd['decision_ms_p95']} ms; machines known by their words {amd.get('by_words', 0)}, words "
              f"read in p50 {amd.get('words_ms_p50')} ms")
    callback = r.get("callback")
    if callback:
        print(f"callback ({callback['calls']} call-back requests, real people's phone numbers, "
              f"{callback['speakers']} speakers, G.722 and PCMU):")
        print(f"  numbers right {callback['right']} (G.722 {callback['by_codec']['G722']}, PCMU "
              f"{callback['by_codec']['PCMU']}); right at the first read-back {callback['first_read_back_right']}; "
              f"keyed when asked {callback['keyed']}; confirmed wrong {callback['wrong_numbers_confirmed']}; "
              f"not confirmed {callback['not_confirmed']}; turns per capture {callback['turns_per_capture']}; "
              f"deliveries lost {callback['deliveries_lost']}")
    capacity = r.get("capacity")
    if capacity:
        print(f"capacity (callers at once, {capacity['turns_per_call']} questions each; voice to voice on the wire, "
              f"objective p95 <= {capacity['objective_ms']:.0f} ms; agent RSS idle {capacity['rss_mb_idle']:.0f} MB):")
        for n, cell in capacity["levels"].items():
            print(f"  {n}: p50 {cell['v2v_ms_p50']} ms, p95 {cell['v2v_ms_p95']} ms (n={cell['n']}, "
                  f"{cell['missing']} unanswered), CPU {cell['cpu_cores']} cores, RSS {cell['rss_mb_max']} MB")
        print(f"  calls this box holds within the objective: {capacity['calls_within_objective']}; "
              f"--max-calls auto would admit {capacity.get('auto_would_admit', '?')}")
        churn = capacity.get("churn")
        if churn:
            print(f"  {churn['calls']} calls in a row ({churn['answered']} answered): RSS {churn['rss_kb_before']} -> "
                  f"{churn['rss_kb_after']} kB ({churn['rss_kb_per_call']:+.1f} kB a call), threads "
                  f"{churn['threads_before']} -> {churn['threads_after']}")
    rtp = r["rtp_tx"]
    print(f"agent RTP on the wire: largest gap {rtp['max_gap_ms']} ms, jitter p99 {rtp['jitter_ms_p99']} ms"
          + (f" ({rtp['note']})" if rtp.get("note") else ""))
    machine = rtp.get("machine")
    if machine:
        print(f"  the machine itself: {machine['stalls']} stalls over {machine['threshold_ms']:.0f} ms seen by a "
              f"{'real-time' if machine['probe_realtime'] else 'normal-priority'} probe (largest "
              f"{machine['stall_max_ms']} ms), CPU steal {machine['steal_pct']} %; largest RTP gap outside "
              f"them {rtp.get('max_gap_ms_outside_machine_stalls', '-')} ms")
