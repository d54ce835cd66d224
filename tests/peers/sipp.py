"""sipp (3.6, Debian ``sip-tester``) as a test peer: run a scenario, get a result.

``Sipp`` runs one scenario of ``scenarios/`` in the foreground as a child
process (``-m 1 -nostdin``, its own ``-timeout``), its error and message
traces written to the work directory. The scenarios take per-run values in
two ways: ``-key name value`` for values inside SIP messages (sipp's own
``[name]`` keywords), and a rendered copy (``{{name}}``) for what sipp
cannot substitute (an expected status code, a pcap path, a pause, and the
``[media_port+N]`` offset that puts an RtpSink's port in the SDP).

sipp 3.6 quirk behind that offset: ``play_pcap_audio`` sends through a raw
socket (root needed) from the port that the ``[media_port]`` keyword took
on an SDP "audio" line, and from port 0 if there was none; pjmedia (the
agent) latches its RTP onto that source at once. So the SDP port and the
pcap's source port must both be the RtpSink's port.

Builders for the scenarios: ``uac_pcap_tone``, ``uac_expect``,
``uas_answer``, ``register``. Use ``Sipp.run()`` for a UAC, or
``start()`` then ``wait()`` for a UAS that must listen during a call.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .kamailio import PeerError, free_udp_port, log_tail, render_template
from .rtp import PAYLOAD_TYPES, read_pcap_rtp

__all__ = [
    "SCENARIO_DIR",
    "Sipp",
    "SippResult",
    "free_media_port",
    "udp_port_bound",
    "register",
    "uac_expect",
    "uac_pcap_tone",
    "uas_answer",
]

SCENARIO_DIR = Path(__file__).with_name("scenarios")
LOCAL_IP = "127.0.0.1"
_run_numbers = itertools.count(1)


@dataclass(frozen=True)
class SippResult:
    """How a sipp run ended, with its logs."""

    name: str
    returncode: int
    command: list[str]
    output: str  # stdout and stderr: the final statistics screen
    errors: str  # -trace_err: unexpected messages, failed actions
    messages: str  # -trace_msg: every SIP message sent and received

    @property
    def ok(self) -> bool:
        """True if every call of the run succeeded (sipp exit code 0)."""
        return self.returncode == 0

    def describe(self, lines: int = 60) -> str:
        """A failure message: exit code, command, error log, message tail."""
        tail = "\n".join(self.messages.splitlines()[-lines:])
        return (f"sipp {self.name} exited with {self.returncode}\n"
                f"command: {' '.join(self.command)}\n"
                f"--- errors ---\n{self.errors.strip() or '(none)'}\n"
                f"--- last messages ---\n{tail or '(none)'}")


def free_media_port(avoid: Collection[int] = ()) -> int:
    """A free even port P with P+2 free too: sipp binds both (audio, video).

    ``avoid``: ports picked already but not bound yet (the OS may hand the same free port out twice).
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as audio:
            audio.bind((LOCAL_IP, 0))
            port: int = audio.getsockname()[1]
            if port % 2 or port > 65533 or any(port <= taken <= port + 3 for taken in avoid):
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as video:
                try:
                    video.bind((LOCAL_IP, port + 2))
                except OSError:
                    continue
                return port
    raise OSError("no free even UDP port pair found in 100 tries")


def udp_port_bound(port: int, host: str = LOCAL_IP) -> bool:
    """Whether some socket is bound to UDP ``host:port`` (Linux /proc/net/udp;
    read-only, so it cannot race with the process that binds it)."""
    address = socket.inet_aton(host)[::-1].hex().upper()  # little-endian hex
    wanted = f"{address}:{port:04X}"
    anywhere = f"00000000:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] in (wanted, anywhere) for line in list(table)[1:])


class Sipp:
    """One sipp run of a scenario in ``scenarios/``, as a child process."""

    def __init__(self, scenario: str, remote: str | None, *, workdir: Path,
                 service: str = "service", local_port: int | None = None,
                 media_port: int | None = None, keys: Mapping[str, object] | None = None,
                 values: Mapping[str, object] | None = None,
                 auth: tuple[str, str] | None = None, timeout: float = 15.0,
                 extra_args: Sequence[str] = ()) -> None:
        self.workdir = Path(workdir)
        self.remote = remote
        self.service = service
        self.local_port = local_port or free_udp_port()
        self.media_port = media_port or free_media_port(avoid={self.local_port})
        self.control_port = free_udp_port("0.0.0.0")  # sipp binds it on all addresses
        while self.control_port in (self.local_port, *range(self.media_port, self.media_port + 4)):
            self.control_port = free_udp_port("0.0.0.0")
        self.keys = dict(keys or {})
        self.auth = auth
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.name = f"{scenario}-{next(_run_numbers)}-{self.local_port}"
        template = (SCENARIO_DIR / f"{scenario}.xml").read_text()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scenario_path = self.workdir / f"{self.name}.xml"
        self.scenario_path.write_text(render_template(template, values or {}))
        self.output_path = self.workdir / f"{self.name}.out"
        self.error_path = self.workdir / f"{self.name}_errors.log"
        self.message_path = self.workdir / f"{self.name}_messages.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The sipp command line of this run."""
        sipp = shutil.which("sipp") or "/usr/bin/sipp"
        cmd = [sipp, "-sf", str(self.scenario_path), "-i", LOCAL_IP,
               "-p", str(self.local_port), "-mi", LOCAL_IP, "-mp", str(self.media_port),
               "-cp", str(self.control_port), "-s", self.service, "-m", "1",
               "-nostdin", "-timeout", f"{self.timeout:g}s", "-timeout_error",
               "-trace_err", "-error_file", str(self.error_path),
               "-trace_msg", "-message_file", str(self.message_path)]
        for key, value in self.keys.items():
            cmd += ["-key", key, str(value)]
        if self.auth is not None:
            cmd += ["-au", self.auth[0], "-ap", self.auth[1]]
        cmd += self.extra_args
        if self.remote is not None:
            cmd.append(self.remote)
        return cmd

    def start(self, timeout: float = 5.0) -> Sipp:
        """Start sipp; a UAS (no remote) is listening once this returns."""
        if self._proc is not None:
            raise PeerError(f"sipp {self.name} already started")
        with open(self.output_path, "wb") as out:
            self._proc = subprocess.Popen(self.command(), cwd=self.workdir,
                                          stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT)
        if self.remote is None:
            self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        """Poll until sipp holds its SIP port, or fail if it exits."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PeerError(f"sipp {self.name} exited at start:\n"
                                f"{self.result(self._proc.returncode).describe()}\n"
                                f"{self.output_tail()}")
            if udp_port_bound(self.local_port):
                return
            time.sleep(0.01)
        self.stop()
        raise PeerError(f"sipp {self.name} did not bind port {self.local_port} "
                        f"within {timeout:.1f} s:\n{self.output_tail()}")

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to exit (default: its own timeout + 5 s) and return
        the result; PeerError with the logs if it is still running then."""
        if self._proc is None:
            raise PeerError(f"sipp {self.name} was not started")
        try:
            code = self._proc.wait(self.timeout + 5 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerError(f"sipp {self.name} did not finish in time:\n"
                            f"{self.result(-1).describe()}") from None
        return self.result(code)

    def run(self, timeout: float | None = None) -> SippResult:
        """Start, then wait for the result."""
        return self.start().wait(timeout)

    def result(self, returncode: int) -> SippResult:
        """The result of this run so far, with the logs read from disk."""
        def read(path: Path) -> str:
            return path.read_text(errors="replace") if path.exists() else ""
        return SippResult(self.name, returncode, self.command(), read(self.output_path),
                          read(self.error_path), read(self.message_path))

    def output_tail(self, lines: int = 30) -> str:
        """The tail of sipp's stdout/stderr."""
        return log_tail(self.output_path, lines)

    def stop(self) -> None:
        """Kill sipp if it is still running (by its PID) and reap it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Sipp:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def pcap_secs(pcap: Path) -> float:
    """How long a pcap of 20 ms packets plays."""
    return len(read_pcap_rtp(pcap)) * 0.020


def _offset(port: int, media_port: int) -> str:
    """``[media_port+N]`` suffix that makes sipp write (and send RTP from) ``port``."""
    return f"{port - media_port:+d}"


def uac_pcap_tone(workdir: Path, proxy: str, user: str, *, rtp_port: int, pcap: Path,
                  codec: str = "PCMU", domain: str = LOCAL_IP,
                  hold_secs: float | None = None, timeout: float = 15.0) -> Sipp:
    """Call ``user@domain`` through ``proxy`` ("ip:port"), offer
    ``m=audio rtp_port`` (``codec`` first, then the other G.711), play the
    pcap from ``rtp_port``, and hang up after ``hold_secs`` (default: pcap
    length + 0.5 s)."""
    first = PAYLOAD_TYPES[codec.upper()]
    others = [pt for pt in PAYLOAD_TYPES.values() if pt != first]
    hold = pcap_secs(pcap) + 0.5 if hold_secs is None else hold_secs
    media_port = free_media_port()
    return Sipp("uac_pcap_tone", proxy, workdir=workdir, service=user, media_port=media_port,
                keys={"domain": domain,
                      "payload_types": " ".join(map(str, [first, *others]))},
                values={"pcap": Path(pcap).resolve(), "hold_ms": round(hold * 1000),
                        "rtp_offset": _offset(rtp_port, media_port)},
                timeout=timeout)


def uac_expect(workdir: Path, target: str, user: str, status: int, *,
               domain: str | None = None, timeout: float = 15.0) -> Sipp:
    """INVITE ``user@domain`` sent to ``target`` ("ip:port"), expecting the
    final ``status``; ``domain`` defaults to the target."""
    return Sipp("uac_expect", target, workdir=workdir, service=user,
                keys={"domain": domain or target}, values={"status": status},
                timeout=timeout)


def uas_answer(workdir: Path, *, service: str = "uas", local_port: int | None = None,
               rtp_port: int | None = None, pcap: Path | None = None,
               timeout: float = 15.0) -> Sipp:
    """A UAS that answers one call with 200 (PCMU, ``m=audio rtp_port``,
    default its own media port), plays ``pcap`` from that port once ACKed,
    and 200s the BYE."""
    media_port = free_media_port()
    play = ("" if pcap is None else
            f'<nop><action><exec play_pcap_audio="{Path(pcap).resolve()}"/></action></nop>')
    return Sipp("uas_answer", None, workdir=workdir, service=service,
                local_port=local_port, media_port=media_port, timeout=timeout,
                values={"play": play,
                        "rtp_offset": _offset(rtp_port or media_port, media_port)})


def register(workdir: Path, proxy: str, user: str, password: str, *, contact_port: int,
             domain: str = LOCAL_IP, status: int = 200, expires: int = 3600,
             timeout: float = 10.0) -> Sipp:
    """REGISTER ``user@domain`` at ``proxy`` with digest auth, Contact
    ``sip:user@127.0.0.1:contact_port``, expecting the final ``status``."""
    return Sipp("register", proxy, workdir=workdir, service=user,
                keys={"domain": domain, "contact_port": contact_port, "expires": expires},
                values={"status": status}, auth=(user, password), timeout=timeout)
