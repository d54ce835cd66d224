"""The agent's exception tree.

    AgentError                 anything the agent raises on purpose
    ├── UsageError             the user asked for something impossible (exit code 2)
    │   ├── ConfigError        a bad flag value or config file
    │   └── ModelError         a missing or broken model file
    └── SipError               the SIP stack refused to start (port in use, ...)

The CLI prints ``str(error)`` as one line; user mistakes never show a traceback.
"""

from __future__ import annotations

__all__ = ["AgentError", "UsageError", "ConfigError", "ModelError", "SipError"]


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class UsageError(AgentError):
    """A user mistake: reported in one line, exit code 2."""


class ConfigError(UsageError):
    """A bad flag value or configuration file."""


class ModelError(UsageError):
    """A model file is missing or cannot be loaded."""


class SipError(UsageError):
    """The SIP stack cannot start as configured (e.g. the port is in use)."""
