"""``sip-agent outbox``: what the business has not received yet, and sending it again."""

from __future__ import annotations

import argparse
import datetime
import os
import sys

from ..config import WEBHOOK_SECRET_ENV, Config, load_config
from ..errors import UsageError
from ..outbox import Outbox, Row, state_dir
from ..webhook import WebhookSender, check_webhook_url

__all__ = ["run_outbox"]


def run_outbox(args: argparse.Namespace) -> int:
    cfg = load_config(args.config) if args.config else Config()  # a run config is validated whole
    for key in ("state_dir", "webhook", "webhook_secret"):
        if getattr(args, key, None):
            setattr(cfg.service, key, getattr(args, key))
    cfg.service.webhook_secret = cfg.service.webhook_secret or os.environ.get(WEBHOOK_SECRET_ENV, "")
    if cfg.service.webhook:
        check_webhook_url(cfg.service.webhook)
        if not cfg.service.webhook_secret:
            raise UsageError(f"--send needs --webhook-secret (or {WEBHOOK_SECRET_ENV})")
    folder = state_dir(cfg.service.state_dir)
    if not (folder / "outbox.sqlite3").exists():
        raise UsageError(f"no outbox in {folder} (the agent makes it at its first event; see --state-dir)")
    outbox = Outbox(folder)
    try:
        if args.send:
            return _send(outbox, cfg.service.webhook, cfg.service.webhook_secret)
        for row in outbox.rows(pending_only=not args.all):
            print(row.body.decode("utf-8") if args.json else _line(row))
        pending, delivered = outbox.counts()
        print(f"{pending} pending, {delivered} delivered ({outbox.path})", file=sys.stderr)
        return 0
    finally:
        outbox.close()


def _send(outbox: Outbox, url: str, secret: str) -> int:
    if not url:
        raise UsageError("--send needs --webhook URL (or webhook in --config)")
    sender = WebhookSender(outbox, url, secret)
    outbox.retry_now()
    for row in outbox.rows(pending_only=True):
        ok = sender.send(row)
        print(f"{'delivered' if ok else 'failed   '} {row.type:<17} {row.id}")
    pending, _ = outbox.counts()
    print(f"{pending} still pending", file=sys.stderr)
    return 1 if pending else 0


def _line(row: Row) -> str:
    when = datetime.datetime.fromtimestamp(row.created).strftime("%Y-%m-%d %H:%M:%S")
    if row.delivered is not None:
        state = f"delivered ({row.last_status})"
    elif row.attempts:
        state = f"pending, {row.attempts} attempt(s), last: {row.last_error or row.last_status}"
    else:
        state = "pending"
    return f"{when}  {row.type:<17} {row.id}  {state}"
