"""Tooling around the agent: ``sip-agent call | demo | bench | outbox | dial``.

Nothing in the runtime (``agent/`` outside this package) imports it; the
command line registers these commands through ``add_tool_parsers``, which
defines their flags only.  A command's module (pjsua2, numpy, Piper, ...)
is imported when the command runs, so ``sip-agent run`` never loads it.

    caller.py   a pjsua2 test caller; call.py runs it as ``sip-agent call``
    demo.py     the agent on loopback and a caller that talks to it
    bench/      latency and pacing measured on the wire
    harness.py  ``sip-agent run`` as a child process, shared by the demo, the benchmark and the tests
    records.py  the one reader of the agent's per-call records
    outbox.py   ``sip-agent outbox``: the events for the business still to deliver, and sending them
    dial.py     ``sip-agent dial``: an outbound call through a running agent's API
    receiver.py a webhook receiver on loopback (the demo's business, the tests')
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

from ..config import BRAINS

__all__ = ["add_tool_parsers", "BENCH_DESCRIPTION"]

BENCH_DESCRIPTION = """\
``sip-agent bench``: latency and pacing measured on the wire, streaming beside batch TTS.

Phases (each starts the agent as in production, in its own process):
  tts-streaming, tts-batch  replies of ~5, 30 and 150 words: reply text -> first audio at the caller
  stt                       utterances of ~2, 10, 30 s: end of speech -> final transcript in the agent
  v2v                       the default LLM: end of speech -> first answer audio at the caller
  bargein                   the caller talks over a long reply: onset of its speech -> agent silent at the caller
  overtalk                  (not by default, ~12 min) noises, coughs, "mm-hmm"s and real interruptions over a
                            long reply, per VAD and codec: which of them stopped it
  accuracy                  (not by default, ~18 min) 40 phone requests x 3 voices and the example facts' 35
                            questions x 6 espeak-ng variants over SIP, G.722 / PCMU / PCMU with noise at 15 dB
                            SNR: word error rate per codec, condition and voice
  answers                   (not by default, ~40 min per LLM) 216 phone questions to five businesses
                            (restaurant, vet, plumber, hotel, hair salon; direct, paraphrased, follow-ups,
                            out of scope, misheard) over SIP, one call each, Piper and espeak-ng voices:
                            answers right, invented, asked back (properly or needlessly), transfers,
                            replies cut by the grounding guard, voice to voice per business and LLM
  capacity                  (not by default, ~5 min) 1, 2, 3, 4 callers at once (processes of their own),
                            4 questions each: voice to voice p50/p95 per level, the agent's CPU and RSS,
                            and how many calls the box holds with p95 within 1.5 s
  capture                   (not by default, ~35 min) 12 message and booking dialogues x G.722 / PCMU, Piper and
                            espeak-ng voices, a caller who answers what is asked and corrects the read-back:
                            fields right, numbers confirmed wrong, turns per capture, deliveries lost, webhook delay
  amd                       (not by default, ~3 min) 60 outbound calls the bench answers with generated greetings
                            (people, machines with and without a beep, one as short as a person's; three voices;
                            G.722 / PCMU): answering-machine detection right, by the words, the audio it took
  callback                  (not by default, ~25 min) real people's phone numbers (12 of the human corpus's, six
                            speakers, read in groups with pauses) given in call-back requests, G.722 / PCMU:
                            numbers right, right at the first read-back, keyed when asked, confirmed wrong
Pacing: every RTP packet from the agent, timed by the kernel on arrival (root only).  A
real-time probe process and the CPU steal time show when the machine itself stalled (a
virtual machine's host may stop its CPUs); gaps that overlap such a stall are marked.
"""


def _command(target: str) -> Callable[[argparse.Namespace], int]:
    """A command function that imports ``module:function`` only when it runs."""

    def run(args: argparse.Namespace) -> int:
        module, _, name = target.partition(":")
        return int(getattr(importlib.import_module(module), name)(args))

    return run


def add_tool_parsers(sub: Any) -> None:
    """Register ``call``, ``demo`` and ``bench`` on the subparsers of ``sip-agent``."""
    _add_caller_parser(sub)
    _add_demo_parser(sub)
    _add_bench_parser(sub)
    _add_outbox_parser(sub)
    _add_dial_parser(sub)


def _add_dial_parser(sub: Any) -> None:
    p = sub.add_parser("dial", help="place an outbound call through a running agent's API (--api-port) and follow it",
                       description="Ask a running agent (sip-agent run --api-port PORT --api-token TOKEN) to call URI "
                       "and run the conversation on it; prints the call's state as JSON lines until it ends. "
                       "Unlike 'sip-agent call', which is a test caller of its own, the agent places this call.")
    p.add_argument("uri", help="whom to call: sip:alice@example.com, or a number dialled through the agent's domain")
    p.add_argument("--api-url", default="http://127.0.0.1:8088", metavar="URL",
                   help="the agent's API (default: http://127.0.0.1:8088)")
    p.add_argument("--api-token", metavar="TOKEN", help="its bearer token (default: SIP_AGENT_API_TOKEN)")
    p.add_argument("--greeting", metavar="TEXT", help="what the agent says when a person answers (default: its own)")
    p.add_argument("--purpose", metavar="TEXT", help="why the call is made, kept with its events")
    p.add_argument("--fact", action="append", default=[], metavar="'TOPIC, KEY: TEXT'",
                   help="a fact of this call's own, besides the agent's --facts, e.g. 'Your booking, time: 8 pm' "
                   "(repeat it for more; the agent needs --facts)")
    p.add_argument("--on-machine", choices=("hangup", "leave_message", "talk"), default="hangup",
                   help="when an answering machine answers: hang up, leave --voicemail after its beep, or talk as to "
                   "a person (default: hangup)")
    p.add_argument("--voicemail", metavar="TEXT", help="the message left with --on-machine leave_message")
    p.add_argument("--no-amd", action="store_true", help="no answering-machine detection: greet at once")
    p.add_argument("--ring-timeout", type=int, default=30, metavar="SECS", help="give up after this long "
                   "unanswered (default: 30)")
    p.add_argument("--max-secs", type=float, default=600.0, metavar="SECS", help="stop following the call after "
                   "this long (default: 600)")
    p.set_defaults(func=_command("agent.tools.dial:run_dial"))


def _add_outbox_parser(sub: Any) -> None:
    p = sub.add_parser("outbox", help="list the events for the business not yet delivered, and send them again",
                       description="List the outbox's events (call.started, call.ended, transfer, message.taken, "
                       "booking.requested) not yet delivered to the webhook, or all of them; --send delivers the "
                       "pending ones now. Safe while the agent runs: an event that arrives twice has the same id.")
    p.add_argument("--config", metavar="FILE", help="the agent's TOML config (for state_dir, webhook and "
                   "webhook_secret)")
    p.add_argument("--state-dir", metavar="DIR", help="the agent's --state-dir (default: as the agent's)")
    p.add_argument("--all", action="store_true", help="also the delivered events (the last 1000)")
    p.add_argument("--json", action="store_true", help="print each event's JSON body, one per line")
    p.add_argument("--send", action="store_true", help="deliver the pending events now, oldest first; exit 1 if "
                   "any is still pending")
    p.add_argument("--webhook", metavar="URL", help="where --send delivers (default: the config's webhook)")
    p.add_argument("--webhook-secret", metavar="SECRET", help="the signature key (default: the config's, or "
                   "SIP_AGENT_WEBHOOK_SECRET)")
    p.set_defaults(func=_command("agent.tools.outbox:run_outbox"))


def _add_caller_parser(sub: Any) -> None:
    p = sub.add_parser("call", help="place one test call (a built-in pjsua2 caller) and print a JSON summary",
                       description="Place one call from a built-in pjsua2 caller, play audio into it, "
                       "record what comes back and print a JSON summary.")
    p.add_argument("uri", help="whom to call, e.g. sip:agent@127.0.0.1:5070")
    p.add_argument("--play", default="tone:440", metavar="WAV|tone:HZ",
                   help="what to send (default: tone:440)")
    p.add_argument("--duration", type=float, default=3.0, metavar="SECS", help="talk time (default: 3)")
    p.add_argument("--record", metavar="WAV", help="write the received audio to this WAV (16 kHz mono)")
    p.add_argument("--codecs", default="G722,PCMU,PCMA", metavar="LIST",
                   help="codecs to offer, in order (default: G722,PCMU,PCMA)")
    p.add_argument("--bind", default="127.0.0.1", metavar="IP", help="local address (default: 127.0.0.1)")
    p.add_argument("--dtmf", default="", metavar="DIGITS", help="RFC 2833 digits to send after 0.3 s")
    p.add_argument("--from-user", default="caller", metavar="USER", help="the user part of the caller's From, the "
                   "caller ID the agent sees; a number such as +441273555381 (default: caller)")
    p.add_argument("--steps", metavar="JSON", help='a spoken script instead of --play: a JSON list of steps '
                   '{"say": TEXT}, {"play": WAV}, {"wait_audio": SECS}, {"wait_quiet": SECS}, {"sleep": SECS}, '
                   '{"dtmf": DIGITS}, {"wait_transfer": SECS}, {"hangup": true}; what happened (also DTMF '
                   'received and transfers) is in the "events" of the result')
    p.add_argument("--refuse-transfer", action="store_true",
                   help="answer the agent's REFER with 603 Decline (default: call the transfer target)")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="calls to place one after another "
                   "(default: 1); one JSON line each")
    p.set_defaults(func=_command("agent.tools.call:run_caller_cli"))


def _add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="hold a spoken conversation with a local agent over a loopback SIP call",
                       description="Start the agent on loopback (no trunk), call it from a built-in caller "
                       "that asks spoken questions, and print the transcript and latencies.")
    p.add_argument("--brain", choices=BRAINS, default="llm", help="the agent's brain (default: llm)")
    p.add_argument("--question", action="append", metavar="TEXT",
                   help="a question to ask (repeatable; default: two built-in questions)")
    p.add_argument("--facts", metavar="FILE", help="the business the agent answers for (default: the example "
                   "restaurant, agent/dialog/example_facts.toml)")
    p.add_argument("--records-dir", default="records/demo", metavar="DIR",
                   help="where the agent writes the call's records (default: records/demo)")
    p.add_argument("--tts-mode", choices=("streaming", "batch"), default="streaming",
                   help="the agent's TTS mode (default: streaming)")
    p.add_argument("--message", action="store_true", help="leave a message instead of asking questions: the agent "
                   "takes it (name, number, what about), reads it back and delivers it to a webhook on loopback, "
                   "which prints it")
    p.add_argument("--webhook", metavar="URL", help="deliver the call's events to this webhook of yours instead "
                   "(with --webhook-secret or SIP_AGENT_WEBHOOK_SECRET)")
    p.add_argument("--webhook-secret", metavar="SECRET", help="the signature key for --webhook")
    p.set_defaults(func=_command("agent.tools.demo:run_demo"))


def _add_bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure time to first audio, STT and voice-to-voice latency on the wire",
                       description=BENCH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench.json", metavar="FILE", help="results as JSON (default: bench.json)")
    p.add_argument("--plot", default="bench.png", metavar="FILE", help="a PNG plot (default: bench.png)")
    p.add_argument("--quick", action="store_true", help="one turn per case (for the test suite)")
    p.add_argument("--phases", default="tts,stt,v2v,bargein", metavar="LIST",
                   help="which phases to run: tts, stt, v2v, bargein, overtalk, accuracy, human (recordings of "
                   "real people), answers, capacity, capture (messages and bookings), amd (answering machines), "
                   "callback (real people's numbers) (default: tts,stt,v2v,bargein)")
    p.add_argument("--llm-models", default="", metavar="LIST", help="the LLMs the answers phase asks, e.g. "
                   "qwen-0.5b,qwen-1.5b (default: the default LLM); five businesses, 216 questions, ~40 min an LLM")
    p.add_argument("--neighbour", type=int, metavar="NICE", help="run a CPU-bound process at this nice value "
                   "(e.g. 19) all along, as a busy box would (default: none)")
    p.add_argument("--workdir", metavar="DIR", help="keep the agents' records here (default: a temporary folder)")
    p.add_argument("--agent-args", default="", metavar="ARGS",
                   help="extra flags for every agent, e.g. '--stt whisper' (default: none)")
    p.set_defaults(func=_command("agent.tools.bench:run_bench"))
