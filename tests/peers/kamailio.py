"""A real Kamailio 5.6 registrar/proxy on loopback, as a test peer.

``Kamailio(workdir, port, users={"agent": "secret"})`` renders
``kamailio.cfg.in`` into ``workdir`` and runs ``kamailio -DD -E`` in the
foreground as a child process, its log captured in ``workdir/kamailio.log``.
``start()`` returns once Kamailio answers an OPTIONS on its port; failures
raise ``PeerError`` with the tail of the log.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = [
    "MODULE_DIR",
    "Kamailio",
    "PeerError",
    "free_udp_port",
    "log_tail",
    "render_template",
    "sip_options",
]

TEMPLATE = Path(__file__).with_name("kamailio.cfg.in")
MODULE_DIR = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._~+-]+")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class PeerError(RuntimeError):
    """A test peer (Kamailio, sipp) failed to start or misbehaved."""


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def render_template(text: str, values: Mapping[str, object]) -> str:
    """Replace each ``{{name}}`` in ``text``; KeyError names a missing value."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
        return str(values[name])
    return _PLACEHOLDER.sub(value, text)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def sip_options(host: str, port: int, timeout: float = 0.2) -> str | None:
    """Send one OPTIONS over UDP; the status line of the reply, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:12]
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1:{local}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        sock.sendto(request.encode(), (host, port))
        try:
            data = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return None
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


class Kamailio:
    """Kamailio as a child process: ``start()``, ``stop()``, ``restart()``."""

    def __init__(self, workdir: Path, port: int, domain: str = "127.0.0.1",
                 users: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.domain = domain
        self.users = dict(users or {})
        for token in [domain, *self.users, *self.users.values()]:
            if not _SAFE_TOKEN.fullmatch(token):
                raise ValueError(f"unsafe name or password for the config: {token!r}")
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self.pid_path = self.workdir / "kamailio.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` to give sipp or a SIP client as the proxy."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the main Kamailio process while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def render_config(self) -> Path:
        """Write the config for this port, domain and users; return its path."""
        users = "\n".join(f'\t$sht(auth=>{user}) = "{password}";'
                          for user, password in sorted(self.users.items()))
        text = render_template(TEMPLATE.read_text(), {
            "port": self.port, "domain": self.domain,
            "module_dir": MODULE_DIR, "users": users or "\t# (no users)",
        })
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(text)
        return self.cfg_path

    def command(self) -> list[str]:
        """The command line that runs Kamailio in the foreground."""
        kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        rundir = self.workdir / "run"
        return [kamailio, "-f", str(self.cfg_path), "-DD", "-E", "-n", "1",
                "-Y", str(rundir), "-P", str(self.pid_path), "-m", "32", "-M", "4"]

    def start(self, timeout: float = 10.0) -> None:
        """Start Kamailio and wait until it answers OPTIONS on its port."""
        if self.pid is not None:
            raise PeerError(f"Kamailio already running (pid {self.pid})")
        self.render_config()
        (self.workdir / "run").mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise PeerError(f"Kamailio exited with code {code} at start:\n"
                                f"{log_tail(self.log_path)}")
            status = sip_options("127.0.0.1", self.port)
            if status is not None and " 200 " in status + " ":
                return
            if status is not None:
                raise PeerError(f"Kamailio answered OPTIONS with {status!r}:\n"
                                f"{log_tail(self.log_path)}")
        raise PeerError(f"Kamailio did not answer OPTIONS on port {self.port} "
                        f"within {timeout:.1f} s:\n{log_tail(self.log_path)}")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the Kamailio child (SIGTERM, then SIGKILL) and wait."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port (registrations are lost)."""
        self.stop()
        self.start(timeout)

    def log_text(self) -> str:
        """Everything Kamailio logged so far (all runs of this instance)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
