"""``sip-agent demo``: the agent on loopback and a built-in caller that talks to it.

The agent runs in its own process exactly as ``sip-agent run`` (no trunk);
the caller, in this process, speaks synthesised questions over a real SIP
call, waits for each answer and measures, on the wire, the time from the end
of its question to the agent's first audio.  The agent's live transcript and
per-turn latencies are printed as they happen; records go to ``--records-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from .config import BRAINS

__all__ = ["add_demo_parser", "AgentChild", "DEFAULT_QUESTIONS", "die_with_parent"]

DEFAULT_QUESTIONS = ["What is the weather like today?", "Can you tell me the time please?"]
SHOWN = ("listening for SIP", "engines ready", "caller:", "agent:", "turn ", "barge-in", " from sip:", "error",
         "ERROR", "Traceback")


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="hold a spoken conversation with a local agent over a loopback SIP call",
                       description="Start the agent on loopback (no trunk), call it from a built-in caller "
                       "that asks spoken questions, and print the transcript and latencies.")
    p.add_argument("--brain", choices=BRAINS, default="llm", help="the agent's brain (default: llm)")
    p.add_argument("--question", action="append", metavar="TEXT",
                   help="a question to ask (repeatable; default: two built-in questions)")
    p.add_argument("--records-dir", default="records/demo", metavar="DIR",
                   help="where the agent writes the call's records (default: records/demo)")
    p.add_argument("--tts-mode", choices=("streaming", "batch"), default="streaming",
                   help="the agent's TTS mode (default: streaming)")
    p.set_defaults(func=run_demo)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child: get SIGTERM if this process dies (no orphaned agent keeps a call up)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class AgentChild:
    """``sip-agent run`` in a child process; its log lines go to ``on_line``."""

    def __init__(self, args: list[str], out: TextIO | None = None, show: tuple[str, ...] = SHOWN,
                 log_path: Path | None = None) -> None:
        self.port = _free_port()
        cmd = [sys.executable, "-m", "agent.cli", "run", "--no-register", "--bind", "127.0.0.1",
               "--port", str(self.port), *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     preexec_fn=die_with_parent)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._out, self._show = out, show
        self._log = open(log_path, "w", encoding="utf-8") if log_path else None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def uri(self) -> str:
        return f"sip:agent@127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()
            if "listening for SIP" in line:
                self.ready.set()
            if self._out is not None and any(key in line for key in self._show):
                print("  agent | " + line.split(": ", 1)[-1], file=self._out, flush=True)
        self.ready.set()

    def wait_ready(self, timeout: float = 120.0) -> None:
        if not self.ready.wait(timeout) or self.proc.poll() is not None:
            tail = "\n".join(self.lines[-5:])
            raise RuntimeError(f"the agent did not start:\n{tail}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        return int(self.proc.returncode)




def run_demo(args: argparse.Namespace) -> int:
    from .caller import Caller

    questions = args.question or DEFAULT_QUESTIONS
    records = Path(args.records_dir)
    print(f"Starting the agent on loopback (brain: {args.brain}; loading models) ...", flush=True)
    agent = AgentChild(["--brain", args.brain, "--records-dir", str(records), "--tts-mode", args.tts_mode],
                       out=sys.stdout)
    caller = None
    turns: list[dict[str, Any]] = []
    try:
        from .tts.base import create_tts

        voice = create_tts("piper")
        spoken = [voice.synthesize(q) for q in questions]
        agent.wait_ready()
        caller = Caller()
        caller.start()
        print(f"Calling {agent.uri} from the built-in caller ...", flush=True)
        if not caller.dial(agent.uri):
            print(f"demo: the call failed: {caller.result.status} {caller.result.reason}", file=sys.stderr)
            return 1
        print(f"  call up in {caller.result.setup_ms:.1f} ms, codec {caller.result.codec}", flush=True)
        if caller.wait_agent_audio(0.0, 5.0):
            caller.wait_agent_quiet(0.8, 15.0)
        for question, audio in zip(questions, spoken):
            print(f"  caller| says: {question}", flush=True)
            t_end = caller.say(audio)
            t_first = caller.wait_agent_audio(t_end, 20.0)
            wire_ms = (t_first - t_end) * 1000 if t_first else None
            caller.wait_agent_quiet(1.2, 60.0)
            turns.append({"question": question, "wire_ms": wire_ms})
            shown = f"{wire_ms:.0f} ms" if wire_ms is not None else "no answer"
            print(f"  caller| heard the answer start {shown} after the end of the question", flush=True)
        result = caller.close()
        caller = None
        time.sleep(0.5)
    finally:
        if caller is not None:
            caller.close()
        code = agent.stop()
    _print_summary(result.as_dict(), turns, records, code)
    return 0 if code == 0 and all(t["wire_ms"] is not None for t in turns) else 1


def _print_summary(call: dict[str, Any], turns: list[dict[str, Any]], records: Path, code: int) -> None:
    print("\nSummary")
    print(f"  call: codec {call['codec']}, set-up {call['setup_ms']:.1f} ms, {call['duration_secs']:.1f} s, "
          f"frames sent {call['frames_tx']}, received {call['frames_rx']} ({call['frames_rx_voiced']} voiced)")
    folders = sorted(records.glob("*-call*"), key=lambda p: p.stat().st_mtime)
    timeline = []
    if folders and (folders[-1] / "timeline.jsonl").exists():
        timeline = [json.loads(line) for line in (folders[-1] / "timeline.jsonl").read_text().splitlines()]
    for i, turn in enumerate(turns):
        stages = timeline[i]["stages_ms"] if i < len(timeline) else {}
        wire = f"{turn['wire_ms']:.0f} ms" if turn["wire_ms"] is not None else "-"
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in stages.items())
        print(f"  turn {i + 1}: end of question -> first answer audio on the wire {wire}  [{parts}]")
    if folders:
        print(f"  records: {folders[-1]}/ (audio.wav, transcript.jsonl, timeline.jsonl)")
    print(f"  agent exit code: {code}")
