"""The dialog engine interface ("brain") and its registry by name.

A brain turns the caller's latest utterance (plus the conversation so far)
into a stream of reply text deltas.  Deltas are produced as soon as they are
known so the chunker and TTS can start speaking before the reply is complete.
A reply that fails raises from the stream (:class:`ReplyFailed`, or any
error); the dialog stage then says :data:`FALLBACK_REPLY`, never nothing.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent.dialog.actions import CallAction
from agent.errors import AgentError, ConfigError
from agent.registry import Registry

if TYPE_CHECKING:
    from agent.dialog.capture import Capture

__all__ = ["BRAINS", "FALLBACK_REPLY", "Brain", "ReplyFailed", "system_prompt", "Message", "Role", "brain_names",
           "create_brain", "register_brain"]

Role = Literal["system", "user", "assistant"]

FALLBACK_REPLY = "Sorry, I had a problem there. Could you say that again?"
"""What the caller hears when the brain's reply fails (after whatever of it was already said)."""


class ReplyFailed(AgentError):
    """A brain could not produce a reply; the cause was logged, with its traceback, where it happened."""


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
        unsure: tuple[str, ...] = (),
    ) -> Iterator[str | CallAction]:
        """Stream the reply to ``user_text`` as text deltas, with any call actions among them.

        A call action (:mod:`agent.dialog.actions`: transfer, send digits, hang
        up, facts looked up) is carried out once the caller has heard the reply.

        ``history`` holds earlier turns (not ``user_text``); ``unsure`` the words
        of ``user_text`` the recogniser was unsure of.  When ``cancel``
        is set the iterator stops promptly (within one delta).  A brain that
        competes with synthesis for the CPU (a local LLM) should produce the
        next delta only when it is asked for: the pipeline holds back its
        requests while audio the caller waits for is synthesised.
        """

    takes_facts: bool = False
    """Whether it answers from facts, and so can be given a call's own (:meth:`for_call`)."""

    def for_call(self, caller_number: str = "", facts: tuple[tuple[str, str, str], ...] = ()) -> Brain:
        """The brain one call talks to: itself, unless it keeps something of each call (then a copy of its own).
        ``caller_number``: the caller ID's digits when it is a number ("" otherwise); ``facts``: the call's own
        facts, (topic, key, text) (an outbound call's), for a brain that :attr:`takes_facts`."""
        return self

    def captures(self, history: Sequence[Message]) -> list[Capture]:
        """The messages and booking requests taken in a call with this history, in order (the last may be in
        progress); none unless the facts allow captures (:mod:`agent.dialog.capture`)."""
        return []

    def prepare(self, history: list[Message]) -> None:  # noqa: B027 - optional hook
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


def _create_scripted(**options: Any) -> Brain:
    from agent.dialog.scripted import ScriptedBrain

    return ScriptedBrain(**options)


def _create_llm(**options: Any) -> Brain:
    from agent.dialog.llm import LlmBrain
    from agent.dialog.receptionist import GROUNDING, Receptionist

    facts, timezone = options.pop("facts", None), options.pop("timezone", "")
    if facts is not None:
        from agent.dialog.receptionist import topic_note

        options["system_prompt"] = f"{options.get('system_prompt') or GROUNDING}\n\n{facts.describe()}"
        options.setdefault("temperature", 0.0)  # the same question, the same answer
        # a caller's first question starts with its topic's facts: the context must hold the longest
        options["turn_prefixes"] = [topic_note(facts, topic) for topic in dict.fromkeys(f.topic for f in facts.facts)]
        options["prompt_origin"] = f"the system prompt with the facts of {facts.source}"
    brain = Receptionist(LlmBrain(**options), facts, timezone=timezone, can_transfer=True)
    brain.keep_topic_prefixes()
    return brain


def _scripted_options(cfg: Any) -> dict[str, Any]:
    return {"script_path": cfg.script or None}


def _llm_options(cfg: Any) -> dict[str, Any]:
    from agent.compute import CpuShare

    options: dict[str, Any] = {"model_path": cfg.llm_model or None, "max_tokens": cfg.max_reply_tokens,
                               "cpu_share": CpuShare()}
    prompt = system_prompt(cfg.system_prompt)
    if prompt:
        options["system_prompt"] = prompt
    if cfg.facts:
        from agent.dialog.facts import load_facts

        options["facts"] = load_facts(cfg.facts)
    options["timezone"] = cfg.timezone
    return options


def system_prompt(value: str) -> str | None:
    """``--system-prompt`` text, or the contents of ``@FILE``; None = the default."""
    if not value:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --system-prompt file {path}: {exc.strerror or exc}") from None
    return value


BRAINS: Registry[Brain] = Registry("brain")
BRAINS.register("scripted", _create_scripted, _scripted_options)
BRAINS.register("llm", _create_llm, _llm_options)


def register_brain(name: str, factory: Callable[..., Brain],
                   from_config: Callable[[Any], dict[str, Any]] | None = None) -> None:
    """Make ``create_brain(name, **options)`` call ``factory(**options)``."""
    BRAINS.register(name, factory, from_config or (lambda _cfg: {}))


def brain_names() -> list[str]:
    """Names accepted by :func:`create_brain`."""
    return BRAINS.names()


def create_brain(name: str, **options: Any) -> Brain:
    """Build the brain called ``name`` ("scripted" or "llm") with ``options``.

    Raises ConfigError for an unknown name; engines raise ConfigError or
    ModelError for bad options or model files.
    """
    return BRAINS.create(name, **options)
