"""Two callers at once over real SIP, the default LLM serving both from one context, a sequence per call."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.dialog.facts import example_facts_path
from agent.tools.records import call_folders, read_jsonl
from tests.agent_proc import AgentProcess, caller_results, start_caller

pytest.importorskip("llama_cpp")

CALLERS = {"a": ["How much is the corkage?", "Can I bring my dog?"],
           "b": ["Where are you?", "What time do you close on Sunday?"]}


def test_two_callers_at_once_are_answered_from_their_own_sequences(tmp_path: Path) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "llm", "--facts",
            str(example_facts_path()), "--max-calls", "2", "--records-dir", str(tmp_path / "records"),
            "--log-level", "debug"]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        callers = []
        for questions in CALLERS.values():
            steps: list[dict[str, object]] = [{"wait_audio": 15}, {"wait_quiet": 1.0}]
            for question in questions:
                steps += [{"say": question}, {"wait_audio": 30}, {"wait_quiet": 1.2}]
            callers.append(start_caller(agent.uri, "--steps", json.dumps(steps)))
        for caller in callers:
            assert caller_results(caller, timeout=150)[-1]["status"] == 200
        agent.wait_for(r"call \d from .* ended", count=2)
        log = agent.log()
    said = {}
    for folder in call_folders(tmp_path / "records"):
        records = read_jsonl(folder / "transcript.jsonl")
        asked = " ".join(r["text"] for r in records if r["role"] == "user").lower()
        said["a" if "corkage" in asked else "b"] = [r["text"] for r in records if r["role"] == "assistant"][1:]
    corkage, dog = said["a"]
    where, sunday = said["b"]
    assert "10 pounds" in corkage and "terrace" in dog, said
    assert "Harbour Street" in where and "9" in sunday, said
    # each call's second question was evaluated from what its first turn left in its own sequence
    later = re.findall(r"llm: CallDemand\(\d\): (\d+) prompt tokens, (\d+) held from its call's last turn, (\d+) to "
                       r"evaluate", log)
    assert len({m for m in re.findall(r"llm: (CallDemand\(\d\)): \d+ prompt tokens, \d+ held from its call's", log)}) \
        == 2, log[-3000:]
    assert all(int(new) < 80 <= int(held) for _total, held, new in later), later
