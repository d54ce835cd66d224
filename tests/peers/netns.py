"""A private network of Linux network namespaces for scale-out tests (root only).

    Network(tag).add("proxy", "10.77.0.1") ...   one namespace per host, each with
                                                 eth0 on one bridge, in a namespace
                                                 of its own (the switch)
    net.exec("proxy")                            the command prefix to run in it
    net.close()                                  every namespace removed (their
                                                 links go with them)

Nothing is added to the namespace the tests run in: the hosts talk only to
each other, through the switch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from types import TracebackType

__all__ = ["Network", "netns_unavailable"]

PREFIX_LEN = 24


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here (None if they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no ip command (Debian package iproute2)"
    probe = f"sa-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Network:
    """Hosts on one bridge, each in a namespace named ``sa<tag>-<host>`` (see the module docstring)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.switch = f"sa{tag}-sw"
        self.hosts: dict[str, str] = {}
        """Host name -> its address."""
        self._namespaces: list[str] = []
        try:
            self._add_namespace(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def namespace(self, host: str) -> str:
        return f"sa{self.tag}-{host}"

    def add(self, host: str, address: str) -> str:
        """A host with ``address`` on the bridge; its namespace."""
        ns = self.namespace(host)
        self._add_namespace(ns)
        port = f"p{len(self.hosts)}"
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[host] = address
        return ns

    def exec(self, host: str) -> list[str]:
        """The prefix that runs a command on ``host``."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def close(self) -> None:
        """Remove every namespace (kill the processes in them first)."""
        for ns in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._namespaces.clear()

    def _add_namespace(self, ns: str) -> None:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # left over by a killed run
        _ip("netns", "add", ns)
        self._namespaces.append(ns)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
