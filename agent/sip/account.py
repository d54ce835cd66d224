"""The SIP account: registration with digest auth, refresh, retry with backoff.

pjsua refreshes a registration before it expires.  When the registrar is
unreachable or refuses us, this class retries with exponential backoff
(``BACKOFF_SECS``) and logs each change of state once.

The password is offered for one digest realm only: ``--realm``, or else the
realm the registrar challenges the first REGISTER with (sent without
credentials, then again with them).  Any other peer that challenges a request
of the agent (a caller challenging its BYE) gets no digest to crack offline.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pjsua2 as pj

from ..config import SipConfig
from ..metrics import METRICS

__all__ = ["AgentAccount", "Backoff", "account_config", "challenge_realm"]

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECS = 2.0
BACKOFF_MAX_SECS = 60.0


class Backoff:
    """Exponential backoff delays: 2, 4, 8, ... capped at 60 seconds."""

    def __init__(self, first_secs: float = BACKOFF_FIRST_SECS, max_secs: float = BACKOFF_MAX_SECS) -> None:
        self.first_secs = first_secs
        self.max_secs = max_secs
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.max_secs, self.first_secs * (2 ** self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


def _sip_uri(target: str) -> str:
    return target if target.startswith(("sip:", "sips:")) else f"sip:{target}"


def challenge_realm(message: str) -> str:
    """The realm of a 401/407 response's first digest challenge ('' if none)."""
    match = re.search(r'^(?:WWW|Proxy)-Authenticate:\s*Digest\b[^\r\n]*?\brealm\s*=\s*"([^"]*)"', message,
                      re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else ""


def account_config(cfg: SipConfig, bound_port: int, realm: str = "") -> pj.AccountConfig:
    """Build the pjsua2 account configuration from ours; credentials only for ``realm`` (none while it is
    not known yet)."""
    acfg = pj.AccountConfig()
    host = cfg.domain or f"{cfg.bind}:{bound_port}"
    acfg.idUri = f"sip:{cfg.user}@{host}"
    if cfg.register:
        reg = acfg.regConfig
        reg.registrarUri = _sip_uri(cfg.registrar or cfg.domain)
        reg.timeoutSec = cfg.register_expires_secs
        reg.retryIntervalSec = 0  # we retry ourselves, with backoff
        reg.firstRetryIntervalSec = 0
        reg.registerOnAdd = True
        reg.unregWaitMsec = 1000
        if realm:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", realm, cfg.user, 0, cfg.password))
    if cfg.proxy:
        acfg.sipConfig.proxies.append(_sip_uri(cfg.proxy) + ";lr")
    tp = acfg.mediaConfig.transportConfig
    tp.port = cfg.rtp_port_min
    tp.portRange = cfg.rtp_port_max - cfg.rtp_port_min
    if cfg.bind != "0.0.0.0":
        tp.boundAddress = cfg.bind
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.contactRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    acfg.mediaConfig.streamKaEnabled = False
    return acfg


class AgentAccount(pj.Account):
    """Registers (unless ``register`` is off) and hands incoming calls to ``on_incoming``."""

    def __init__(
        self,
        cfg: SipConfig,
        on_incoming: Callable[[pj.OnIncomingCallParam], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self._on_incoming = on_incoming
        self._clock = clock
        self.backoff = Backoff()
        self.state = "unregistered"
        self.retry_at: float | None = None
        self.registrations = 0
        self.realm = cfg.realm
        """The realm the password is offered for ('' until the registrar has challenged, unless configured)."""
        self._bound_port = 0
        self._realm_pending = False

    def open(self, bound_port: int) -> None:
        """Create the account on the library (it registers at once unless ``register`` is off)."""
        self._bound_port = bound_port
        self.create(account_config(self.cfg, bound_port, self.realm))

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        try:
            self._on_incoming(prm)
        except Exception:
            log.exception("incoming call handling failed")

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        try:
            code = int(prm.code)
            if code in (401, 407) and self.cfg.password and not self.cfg.realm:
                realm = challenge_realm(str(prm.rdata.wholeMsg))
                if realm and realm != self.realm:  # the first challenge, or the registrar's realm changed
                    self._learn_realm(realm)
                    return
            self._reg_state(code, str(prm.reason), int(prm.expiration))
        except Exception:
            log.exception("registration state handling failed")

    def _learn_realm(self, realm: str) -> None:
        """The registrar's first challenge: the password is offered for its realm from now on (the account is
        changed and registers again from the main loop, not inside pjsua's callback)."""
        self.realm = realm
        self._realm_pending = True
        self.retry_at = self._clock()
        log.info("the registrar's digest realm is %r: the password is offered for it only", realm)

    def _reg_state(self, code: int, reason: str, expiration: int) -> None:
        registrar = self.cfg.registrar or self.cfg.domain
        METRICS.registration(code // 100 == 2 and expiration > 0)
        if code // 100 == 2 and expiration > 0:
            if self.state != "registered":
                log.info("registered as %s@%s (expires %d s)", self.cfg.user, registrar, expiration)
                self.registrations += 1
            self.state = "registered"
            self.backoff.reset()
            self.retry_at = None
            return
        if code // 100 == 2:
            self._set_state("unregistered", "unregistered from %s", registrar)
            return
        delay = self.backoff.next_delay()
        self.retry_at = self._clock() + delay
        hint = ""
        if code in (401, 403, 407):
            hint = " (check --user and --password)"
        elif code in (408, 503):
            hint = " (registrar unreachable?)"
        new_state = f"failed {code}"
        if self.state != new_state:
            log.warning("registration to %s failed: %d %s%s; retrying with backoff",
                        registrar, code, reason, hint)
        log.debug("next registration attempt in %.0f s", delay)
        self.state = new_state

    def _set_state(self, state: str, msg: str, *args: object) -> None:
        if self.state != state:
            log.info(msg, *args)
        self.state = state

    def tick(self) -> None:
        """Called from the main loop: retry a failed registration when its time comes."""
        if self.retry_at is not None and self._clock() >= self.retry_at:
            self.retry_at = None
            if self._realm_pending:  # with credentials now: pjsua registers again as the account changes
                self._realm_pending = False
                try:
                    self.modify(account_config(self.cfg, self._bound_port, self.realm))
                except pj.Error as exc:
                    log.warning("registration with realm %r not sent: %s", self.realm, exc.reason)
                    self.retry_at = self._clock() + self.backoff.next_delay()
                    self._realm_pending = True
                return
            try:
                self.setRegistration(True)
            except pj.Error as exc:
                log.debug("registration retry not sent: %s", exc.reason)
                self.retry_at = self._clock() + self.backoff.next_delay()
