"""The dialog engine interface ("brain") and its registry by name.

A brain turns the caller's latest utterance (plus the conversation so far)
into a stream of reply text deltas.  Deltas are produced as soon as they are
known so the chunker and TTS can start speaking before the reply is complete.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import ConfigError

__all__ = ["PACE_MAX_WAIT_SECS", "Brain", "Message", "Role", "brain_names", "create_brain", "register_brain"]

Role = Literal["system", "user", "assistant"]

PACE_MAX_WAIT_SECS = 2.0
"""Longest a brain waits on a cleared ``pace`` event before it goes on anyway."""


@dataclass(frozen=True)
class Message:
    """One turn of the conversation.

    ``interrupted`` marks an assistant reply the caller cut off (barge-in);
    ``text`` then holds only what was actually spoken.
    """

    role: Role
    text: str
    interrupted: bool = False


class Brain(abc.ABC):
    """A dialog engine: one streaming method, ``reply``.

    ``reply`` may be called from several threads at once (one per call); an
    implementation that cannot run concurrently must serialise internally.
    """

    name: str = "brain"

    @abc.abstractmethod
    def reply(
        self,
        history: list[Message],
        user_text: str,
        cancel: threading.Event,
        pace: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream the reply to ``user_text`` as text deltas.

        ``history`` holds earlier turns (not ``user_text``).  When ``cancel``
        is set the iterator stops promptly (within one delta).

        ``pace``, when given, is cleared while audio the caller is waiting for
        is being synthesised.  A brain that competes with synthesis for the
        CPU (a local LLM) then waits between deltas until it is set again; if
        it waits ``PACE_MAX_WAIT_SECS`` in vain it ignores ``pace`` for the rest
        of the reply.  A brain that costs nothing may ignore it.
        """

    def prepare(self, history: list[Message]) -> None:
        """Get ready for the next turn while the line is quiet (optional, must not block)."""

    def greeting(self) -> str | None:
        """Text to say when a call is answered, or None to wait for the caller."""
        return None

    def is_goodbye(self, user_text: str) -> bool:
        """True if ``user_text`` ends the conversation (hang up after replying)."""
        return False

    def close(self) -> None:
        """Release models and threads; the brain is unusable afterwards."""
        return None


_FACTORIES: dict[str, Callable[..., Brain]] = {}


def register_brain(name: str, factory: Callable[..., Brain]) -> None:
    """Make ``create_brain(name, **options)`` call ``factory(**options)``."""
    _FACTORIES[name] = factory


def _create_scripted(**options: Any) -> Brain:
    from agent.dialog.scripted import ScriptedBrain

    return ScriptedBrain(**options)


def _create_llm(**options: Any) -> Brain:
    from agent.dialog.llm import LlmBrain

    return LlmBrain(**options)


register_brain("scripted", _create_scripted)
register_brain("llm", _create_llm)


def brain_names() -> list[str]:
    """Names accepted by :func:`create_brain`."""
    return sorted(_FACTORIES)


def create_brain(name: str, **options: Any) -> Brain:
    """Build the brain called ``name`` ("scripted" or "llm") with ``options``.

    Raises ConfigError for an unknown name; engines raise ConfigError or
    ModelError for bad options or model files.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"unknown brain {name!r}: choose one of {', '.join(brain_names())}")
    return factory(**options)
