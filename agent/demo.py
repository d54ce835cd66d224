"""``sip-agent demo``: the agent on loopback and a built-in caller, end to end."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_demo_parser"]


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a loopback call against a local agent and print what happened")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    raise NotImplementedError
