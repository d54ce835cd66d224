"""Command line: ``sip-agent run | call | demo | bench``.

User mistakes (a bad flag, a bad config, a missing model, a busy port) are
printed as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from . import __version__
from .compute import configure_runtimes
from .config import (
    AUTO_CALLS,
    BRAINS,
    DEFAULT_GREETING,
    END_OF_TURN,
    LOG_FORMATS,
    LOG_LEVELS,
    STT_ENGINES,
    TTS_MODES,
    VADS,
    Config,
    SipConfig,
    SpeechConfig,
    apply_overrides,
    load_config,
)
from .errors import AgentError, UsageError
from .models import DEFAULT_LLM, LLM_MODELS

if TYPE_CHECKING:
    from .api import ApiServer
    from .app import AgentApp
    from .outbox import Outbox
    from .webhook import WebhookSender

__all__ = ["main", "build_parser"]

log = logging.getLogger("agent")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _max_calls(text: str) -> int:
    """``--max-calls``: a number of calls, or ``auto``."""
    if text.strip().lower() == "auto":
        return AUTO_CALLS
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got '{text}'") from None


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _add(group: argparse._ArgumentGroup | argparse.ArgumentParser, flag: str, dest: str, help_text: str,
         **kw: Any) -> None:
    """Add a flag whose value lands in ``dest`` (e.g. 'sip.port') only when given."""
    group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=help_text, **kw)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    d = Config()
    sip, sp = d.sip, d.speech
    p.add_argument("--config", metavar="FILE", help="TOML file with the same settings (flags override it; "
                   "see agent.example.toml)")
    g = p.add_argument_group("SIP account")
    _add(g, "--user", "sip.user", f"SIP user name of this extension (default: {sip.user})", metavar="NAME")
    _add(g, "--password", "sip.password", "SIP password for digest authentication (default: the "
         "SIP_PASSWORD environment variable)", metavar="SECRET")
    _add(g, "--realm", "sip.realm", "digest realm the password is for; it is offered to no other (default: the "
         "realm the registrar challenges with first)", metavar="REALM")
    _add(g, "--domain", "sip.domain", "SIP domain of the trunk or PBX, host[:port]; required unless "
         "--no-register", metavar="HOST")
    _add(g, "--registrar", "sip.registrar", "registrar host[:port] if it differs from --domain", metavar="HOST")
    _add(g, "--proxy", "sip.proxy", "outbound proxy host[:port] (default: none)", metavar="HOST")
    _add(g, "--no-register", "sip.register", "do not register; only answer direct calls (default: register)",
         action="store_false")
    _add(g, "--register-expires", "sip.register_expires_secs", "registration lifetime asked of the "
         f"registrar, refreshed before it ends (default: {sip.register_expires_secs})", type=int, metavar="SECS")
    _add_network_flags(p, sip)
    _add_speech_flags(p, sp)
    _add(p, "--log-level", "log_level", f"{', '.join(LOG_LEVELS)} (default: {d.log_level})", choices=LOG_LEVELS)
    g = p.add_argument_group("service")
    _add(g, "--metrics-port", "service.metrics_port", "serve Prometheus metrics on /metrics, and /healthz and "
         "/readyz (ready = models loaded and, when registering, registered) on this TCP port (default: off)",
         type=int, metavar="PORT")
    _add(g, "--metrics-bind", "service.metrics_bind", "address of the metrics server "
         f"(default: {d.service.metrics_bind}; 0.0.0.0 for a remote Prometheus)", metavar="IP")
    _add(g, "--log-format", "service.log_format", "text, or json: one JSON object per line (time, level, "
         f"logger, message) for journald and log shippers (default: {d.service.log_format})",
         choices=LOG_FORMATS)
    g = p.add_argument_group("events for the business")
    _add(g, "--webhook", "service.webhook", "POST each event (call.started, call.ended, transfer, message.taken, "
         "booking.requested; JSON, see the README) to this URL; each is committed to the outbox first and sent "
         "until the server answers 2xx, across restarts (default: none; they stay in the outbox)", metavar="URL")
    _add(g, "--webhook-secret", "service.webhook_secret", "key of each event's X-Signature: sha256=<HMAC of the "
         "body> (default: the SIP_AGENT_WEBHOOK_SECRET environment variable)", metavar="SECRET")
    _add(g, "--state-dir", "service.state_dir", "where the outbox is kept (default: $STATE_DIRECTORY under "
         "systemd, else $XDG_STATE_HOME/sip-agent or ~/.local/state/sip-agent)", metavar="DIR")
    g = p.add_argument_group("outbound calls")
    _add(g, "--api-port", "service.api_port", "serve the HTTP API for outbound calls (POST /v1/calls, GET "
         "/v1/calls/ID; see the README) on this TCP port (default: off)", type=int, metavar="PORT")
    _add(g, "--api-bind", "service.api_bind", f"address of the API (default: {d.service.api_bind}; anything else "
         "exposes a way to place calls)", metavar="IP")
    _add(g, "--api-token", "service.api_token", "the bearer token every API request must carry, 16 characters or "
         "more (default: the SIP_AGENT_API_TOKEN environment variable)", metavar="TOKEN")
    _add(g, "--dial-rate", "service.dial_rate", "outbound calls a minute the API may place, in bursts of 2; more "
         f"get 429 with Retry-After; 0 = no limit (default: {d.service.dial_rate})", type=int, metavar="PER_MIN")
    p.add_argument("--status-file", dest="status_file", metavar="FILE", help="write the agent's lifecycle "
                   "here as JSON lines, for a program that runs it: ready (with the bound SIP port), then "
                   "stopped (default: none)")


def _add_network_flags(p: argparse.ArgumentParser, sip: SipConfig) -> None:
    g = p.add_argument_group("network and calls")
    _add(g, "--bind", "sip.bind", f"local IP address for SIP and RTP (default: {sip.bind})", metavar="IP")
    _add(g, "--port", "sip.port", f"local SIP UDP port, 0 = any free port (default: {sip.port})",
         type=int, metavar="PORT")
    _add(g, "--rtp-port-min", "sip.rtp_port_min", f"lowest RTP port (default: {sip.rtp_port_min})",
         type=int, metavar="PORT")
    _add(g, "--rtp-port-max", "sip.rtp_port_max", f"highest RTP port (default: {sip.rtp_port_max})",
         type=int, metavar="PORT")
    _add(g, "--codecs", "sip.codecs", f"codecs in order of preference (default: {','.join(sip.codecs)}; "
         "also speex, GSM, iLBC, L16)", type=_csv, metavar="LIST")
    _add(g, "--max-calls", "sip.max_calls", "calls at once, at most 4 (the SIP stack's slots); more get 486 "
         "Busy Here. auto: as many as keep voice to voice p95 within --target-v2v-ms, learnt from the turns "
         "(one call is always taken); more get 503 with Retry-After, which a proxy takes as 'try another box' "
         f"(default: {'auto' if sip.max_calls == AUTO_CALLS else sip.max_calls})",
         type=_max_calls, metavar="N|auto")
    _add(g, "--target-v2v-ms", "sip.target_v2v_ms", "the voice to voice p95 --max-calls auto keeps "
         f"(default: {sip.target_v2v_ms})", type=int, metavar="MS")
    _add(g, "--allow-from", "sip.allow_from", "comma-separated CIDRs allowed to call; from others an INVITE "
         "gets one 403 and any other request no answer (default: the registrar's and proxy's addresses, or "
         "loopback with --no-register)",
         type=_csv, metavar="CIDRS")
    _add(g, "--invite-rate", "sip.invite_rate", "new INVITEs a minute one source address may send, in bursts "
         "of a sixth of it; more get 503 with Retry-After; 0 = no limit "
         f"(default: {sip.invite_rate})", type=int, metavar="PER_MIN")
    _add(g, "--drain-timeout", "sip.drain_timeout_secs", "on SIGTERM or SIGUSR1, new calls and OPTIONS get 503 "
         "while the calls in progress go on for up to this long; then they are hung up with BYE and the agent exits "
         f"0 (SIGINT, or a second signal: at once; default: {sip.drain_timeout_secs})", type=int, metavar="SECS")
    _add(g, "--rtp-timeout", "sip.rtp_timeout_secs", "hang up a call whose caller sent no RTP for this long, "
         f"e.g. a phone that vanished without BYE; 0 = never (default: {sip.rtp_timeout_secs})",
         type=int, metavar="SECS")


def _add_speech_flags(p: argparse.ArgumentParser, sp: SpeechConfig) -> None:
    g = p.add_argument_group("speech")
    _add(g, "--brain", "speech.brain", f"who answers: {', '.join(BRAINS)} (default: {sp.brain})",
         choices=BRAINS)
    _add(g, "--script", "speech.script", "TOML of patterns and replies for --brain scripted "
         "(default: the built-in script)", metavar="FILE")
    _add(g, "--stt", "speech.stt", f"speech recognition engine: {', '.join(STT_ENGINES)} "
         f"(default: {sp.stt}, whose English model ships with it)", choices=STT_ENGINES)
    _add(g, "--vosk-model", "speech.vosk_model", "Vosk model directory or zip (implies --stt vosk)",
         metavar="PATH")
    _add(g, "--whisper-model", "speech.whisper_model", "Whisper model: tiny.en, base (after scripts/get-models "
         "--whisper base), or a CTranslate2 Whisper folder (implies --stt whisper; default: tiny.en from models/)",
         metavar="NAME|DIR")
    _add(g, "--llm-model", "speech.llm_model", "LLM for --brain llm: " + ", ".join(LLM_MODELS) + " (qwen-0.5b "
         f"after scripts/get-models --llm qwen-0.5b) or a GGUF file (default: {DEFAULT_LLM})", metavar="NAME|PATH")
    _add(g, "--stt-vocabulary", "speech.stt_vocabulary", "words the recogniser should expect: auto = the "
         "--facts file's names and terms (the business, streets, services); FILE = those and the file's "
         f"(one per line); off = none (default: {sp.stt_vocabulary})", metavar="auto|off|FILE")
    _add(g, "--piper-voice", "speech.piper_voice", "Piper voice .onnx, its .onnx.json beside it "
         "(default: en_US-joe-medium from models/)", metavar="PATH.onnx")
    _add(g, "--system-prompt", "speech.system_prompt", "system prompt text, or @FILE to read it from a file "
         "(default: a short phone-assistant prompt)", metavar="TEXT")
    _add(g, "--facts", "speech.facts", "what the agent knows about the business (TOML or Markdown: name, "
         "hours, prices, policies, who to transfer to); it answers from them and says so when they do not "
         "cover a question (example: agent/dialog/example_facts.toml)", metavar="FILE")
    _add(g, "--timezone", "speech.timezone", "time zone for the date and time the agent tells callers "
         "(default: the facts' timezone, else UTC)", metavar="ZONE")
    _add(g, "--greeting", "speech.greeting", "said when a call is answered; \"\" for none (default: auto = "
         f"the script's greeting, else \"{DEFAULT_GREETING}\")", metavar="TEXT")
    _add(g, "--endpoint-ms", "speech.endpoint_ms", "silence that ends a caller's turn when they sound done "
         f"(default: {sp.endpoint_ms})", type=int, metavar="MS")
    _add(g, "--endpoint-max-ms", "speech.endpoint_max_ms", "silence the agent waits when the caller stops "
         f"mid-phrase (\"a table for...\"); 500 ms more inside a number (default: {sp.endpoint_max_ms})",
         type=int, metavar="MS")
    _add(g, "--end-of-turn", "speech.end_of_turn", "how the agent knows the caller is done: smart-turn (the "
         "sound of the voice, by a small model, and the words), words (the words alone), silence (always "
         f"--endpoint-ms) (default: {sp.end_of_turn})", choices=END_OF_TURN)
    _add(g, "--turn-model", "speech.turn_model", "end-of-turn model for --end-of-turn smart-turn "
         "(default: Smart Turn v3.2 from models/)", metavar="PATH.onnx")
    _add(g, "--speculate-ms", "speech.speculate_ms", "silence after which the reply is prepared before the "
         f"endpoint, released only if the final words match; 0 = off (default: {sp.speculate_ms})",
         type=int, metavar="MS")
    _add(g, "--barge-in-ms", "speech.barge_in_ms", "caller speech over the agent that pauses it; 0 = the "
         f"caller cannot interrupt (default: {sp.barge_in_ms})", type=int, metavar="MS")
    _add(g, "--barge-in-confirm-ms", "speech.barge_in_confirm_ms", "a pause becomes an interruption when "
         "the caller's words are more than a backchannel (mm-hmm, okay) or they speak this long; 0 = stop "
         f"at --barge-in-ms without waiting for words (default: {sp.barge_in_confirm_ms})", type=int,
         metavar="MS")
    _add(g, "--vad", "speech.vad", "voice-activity detector for endpointing and barge-in: silero (a "
         f"network that ignores line noise) or energy (default: {sp.vad})", choices=VADS)
    _add(g, "--max-reply-tokens", "speech.max_reply_tokens", "cap on an LLM reply "
         f"(default: {sp.max_reply_tokens})", type=int, metavar="N")
    _add(g, "--tts-mode", "speech.tts_mode", "streaming = clause by clause (the product); batch = whole "
         f"reply first, the slow baseline (default: {sp.tts_mode})", choices=TTS_MODES)
    _add(g, "--tone-hz", "speech.tone_hz", f"tone played by --brain tone (default: {sp.tone_hz:g})",
         type=float, metavar="HZ")
    _add(g, "--records-dir", "speech.records_dir", "write per-call records (WAV, transcript, latency "
         "timeline) here (default: none)", metavar="DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sip-agent", description="A self-hosted SIP/RTP voice agent: it registers as an "
                     "extension, answers calls, listens, thinks and speaks, all offline.")
    parser.add_argument("--version", action="version", version=f"sip-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    run = sub.add_parser("run", help="register and answer calls until stopped (SIGINT/SIGTERM)",
                         description="Register to a SIP trunk or PBX and answer calls until SIGINT/SIGTERM.")
    _add_run_flags(run)
    from .tools import add_tool_parsers  # flags only: a tool's module is imported when it runs

    add_tool_parsers(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults <- TOML file <- flags, validated."""
    cfg = load_config(getattr(args, "config", None))
    overrides = {k: v for k, v in vars(args).items() if "." in k or k == "log_level"}
    if overrides.get("speech.vosk_model"):
        overrides.setdefault("speech.stt", "vosk")
    if overrides.get("speech.whisper_model"):
        overrides.setdefault("speech.stt", "whisper")
    return apply_overrides(cfg, overrides)


def setup_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


class JsonFormatter(logging.Formatter):
    """``--log-format json``: one object per line, ``{"time", "level", "logger", "message"[, "error"]}``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry = {"time": when.isoformat(timespec="milliseconds"), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class StatusFile:
    """``--status-file``: the agent's lifecycle as JSON lines, each flushed when written.

    ``{"event": "ready", "sip_port": PORT, "sip_bind": IP, "pid": PID, "t": MONOTONIC}`` once it
    listens (the port it bound, also for ``--port 0``), ``{"event": "stopped", "exit_code": 0, ...}``
    at a clean exit, ``{"event": "failed", "error": TEXT, ...}`` if it could not start or run.
    """

    def __init__(self, path: str) -> None:
        try:
            self._f: IO[str] = open(Path(path), "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --status-file {path}: {exc.strerror}") from None

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, **fields, "pid": os.getpid(), "t": time.monotonic()}
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def ready(self, app: AgentApp) -> None:
        from .metrics import METRICS

        extra = {"metrics_port": METRICS.port} if METRICS.enabled else {}
        self.write("ready", sip_port=app.endpoint.bound_port, sip_bind=app.cfg.sip.bind, **extra)

    def close(self) -> None:
        self._f.close()


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    setup_logging(cfg.log_level, cfg.service.log_format)
    status = StatusFile(args.status_file) if getattr(args, "status_file", None) else None
    try:
        code = _serve(cfg, status)
    except Exception as exc:
        if status:
            status.write("failed", error=str(exc) or type(exc).__name__)
        raise
    finally:
        if status:
            status.close()
    return code


def _serve(cfg: Config, status: StatusFile | None) -> int:
    from .app import AgentApp
    from .handlers import make_handler
    from .metrics import METRICS

    if cfg.service.metrics_port:  # before the models load: /readyz says so meanwhile
        try:
            METRICS.serve(cfg.service.metrics_bind, cfg.service.metrics_port, lambda: (False, "loading models"))
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {cfg.service.metrics_bind}:{cfg.service.metrics_port}: "
                             f"{exc.strerror or exc}") from None
    outbox, sender = _open_outbox(cfg)
    handler = make_handler(cfg)
    app = AgentApp(cfg, handler, outbox)
    METRICS.set_ready(app.readiness)
    METRICS.set_capacity(app.admission.limit)
    if sender:
        sender.start()
    api = _start_api(cfg, app)
    try:
        code = app.run(ready=status.ready if status else None)
    finally:
        if api:
            api.stop()
        METRICS.stop()
        if sender:
            sender.stop()
        if outbox:
            outbox.close()
    if status:
        status.write("stopped", exit_code=code)
    return code


def _start_api(cfg: Config, app: AgentApp) -> ApiServer | None:
    if not cfg.service.api_port:
        return None
    from .api import ApiServer

    try:
        api = ApiServer(app, cfg.service.api_bind, cfg.service.api_port, cfg.service.api_token)
    except OSError as exc:
        raise UsageError(f"cannot serve the API on {cfg.service.api_bind}:{cfg.service.api_port}: "
                         f"{exc.strerror or exc}") from None
    if not ipaddress.ip_address(cfg.service.api_bind).is_loopback:
        log.warning("the API is bound to %s, not loopback: anyone who can reach it and has the token can place "
                    "calls", cfg.service.api_bind)
    api.start()
    return api


def _open_outbox(cfg: Config) -> tuple[Outbox | None, WebhookSender | None]:
    """The outbox, when there is a webhook to deliver to or something to capture, and its sender."""
    from .outbox import Outbox, state_dir
    from .webhook import WebhookSender

    if not cfg.service.webhook and not _captures(cfg):
        return None, None
    outbox = Outbox(state_dir(cfg.service.state_dir))
    outbox.prune()
    pending, _ = outbox.counts()
    log.info("outbox %s%s", outbox.path, f", {pending} event(s) pending" if pending else "")
    if not cfg.service.webhook:
        log.info("no --webhook: events stay in the outbox (sip-agent outbox lists them)")
        return outbox, None
    return outbox, WebhookSender(outbox, cfg.service.webhook, cfg.service.webhook_secret)


def _captures(cfg: Config) -> bool:
    """Does the facts file declare something to capture?"""
    if cfg.speech.brain != "llm" or not cfg.speech.facts:
        return False
    from .dialog.facts import load_facts

    return bool(load_facts(cfg.speech.facts).capture)


def main(argv: Sequence[str] | None = None) -> int:
    configure_runtimes()  # before any model runtime is loaded
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        return int(args.func(args))
    except UsageError as exc:
        print(f"sip-agent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AgentError as exc:
        print(f"sip-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
