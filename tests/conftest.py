"""Shared test hooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent_proc import STARTED


@pytest.fixture(autouse=True)
def _stop_leftover_agents() -> Iterator[None]:
    """A test that fails before stopping its agent must not leave it running for the next tests."""
    STARTED.clear()
    yield
    for agent in STARTED:
        agent.stop()
    STARTED.clear()
