"""One registry mechanism for every kind of engine: STT, TTS and brains.

    BRAINS = Registry[Brain]("brain")
    BRAINS.register("llm", factory, from_config=options_of)   # factory(**options) -> Brain
    BRAINS.create("llm", max_tokens=40)                        # ConfigError for an unknown name
    BRAINS.create_from(cfg.brain, cfg)                         # options taken from the config
    BRAINS.names()

Factories import their engine's heavy modules when called, so registering
costs nothing and ``--help`` or config validation never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agent.errors import ConfigError

__all__ = ["Entry", "Registry"]

T = TypeVar("T")


def _no_options(_cfg: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Entry(Generic[T]):
    factory: Callable[..., T]
    from_config: Callable[[Any], dict[str, Any]] = _no_options
    """The factory's options for a :class:`~agent.config.SpeechConfig`."""
    traits: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Engines of one kind by name (see the module docstring)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, factory: Callable[..., T],
                 from_config: Callable[[Any], dict[str, Any]] = _no_options, **traits: Any) -> None:
        self._entries[name] = Entry(factory, from_config, dict(traits))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; ConfigError naming the choices if there is none."""
        entry = self._entries.get(name)
        if entry is None:
            raise ConfigError(f"unknown {self.kind} {name!r} (choose one of: {', '.join(self.names())})")
        return entry

    def create(self, name: str, **options: Any) -> T:
        return self.entry(name).factory(**options)

    def create_from(self, name: str, cfg: Any) -> T:
        entry = self.entry(name)
        return entry.factory(**entry.from_config(cfg))
