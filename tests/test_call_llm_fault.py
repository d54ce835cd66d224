"""The LLM worker crashes under a real call (``SIP_AGENT_FAULT``): the caller hears the fallback, the worker
restarts, the next turn is answered; and facts too long for the model stop the agent at start in one line."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from agent.dialog.base import FALLBACK_REPLY
from agent.dialog.llm import CONTEXT_ROOM_TOKENS, FAULT_ENV, MAX_CONTEXT_TOKENS
from agent.tools.records import call_folders, read_jsonl
from tests.agent_proc import AgentProcess, run_caller
from tests.test_cli import one_line_error, sip_agent
from tests.test_metrics import free_tcp_port, get, value

pytest.importorskip("llama_cpp")


def test_a_crash_of_the_llm_worker_is_heard_as_the_fallback_and_the_next_turn_is_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "llm-step:1")  # the first reply's first step crashes the worker's loop
    port = free_tcp_port()
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--llm-model", "smollm2", "--greeting", "",
            "--speculate-ms", "0", "--metrics-port", str(port), "--records-dir", str(tmp_path / "records")]
    steps: list[dict[str, object]] = []
    for question in ("What is the capital of France?", "Please tell me a short joke."):
        steps += [{"say": question}, {"wait_audio": 20}, {"wait_quiet": 1.0}]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        assert get(port, "/readyz") == (200, "ready\n")
        seen: list[tuple[int, str]] = []
        done = threading.Event()

        def poll() -> None:  # /readyz through the call: 503 with the reason from the crash until the restart
            while not done.wait(0.05):
                seen.append(get(port, "/readyz"))

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            result = run_caller(agent.uri, "--steps", json.dumps(steps), timeout=120)
        finally:
            done.set()
            poller.join()
        agent.wait_for(r"call 1 from .* ended")
        agent.wait_for(r"llm [0-9a-f]+: serving again after a restart")
        assert get(port, "/readyz") == (200, "ready\n")
        metrics = get(port, "/metrics")[1]
    failing = [body for code, body in seen if code == 503]
    assert failing and all(body.startswith("not ready: llm: crashed (InjectedFault") for body in failing), set(seen)
    log = agent.log()
    assert re.search(r"llm-[0-9a-f]+: the LLM loop crashed\nTraceback .*\n(.*\n)*?.*InjectedFault", log)
    assert len(re.findall(r"restarting in 1 s after a crash \(InjectedFault", log)) == 1
    assert len(re.findall(r"reply \d+ failed .*: saying the fallback", log)) == 1  # once for the turn
    assert value(metrics, "sip_agent_llm_restarts_total") == 1
    assert value(metrics, "sip_agent_reply_fallbacks_total") == 1
    # the caller heard an answer to each question: the fallback, then the model's
    answers = [e for e in result["events"] if "audio_start" in e]
    assert len(answers) >= 2 and all(e["audio_start"] is not None for e in answers[:2]), result["events"]
    (folder,) = call_folders(tmp_path / "records")
    said = [r["text"] for r in read_jsonl(folder / "transcript.jsonl") if r["role"] == "assistant"]
    assert said[0] == FALLBACK_REPLY, said
    assert len(said) == 2 and said[1].strip() and said[1] != FALLBACK_REPLY, said


def test_facts_too_long_for_the_model_stop_the_agent_in_one_line_with_exit_2(tmp_path: Path) -> None:
    rooms = "\n".join(f'"Room {n}" = "a double room on floor {n % 9} with a sea view, 95 pounds a night"'
                      for n in range(200))
    facts = tmp_path / "big.toml"
    facts.write_text(f'name = "Hotel Big"\n[rooms]\n{rooms}\n')
    proc = sip_agent("run", "--no-register", "--bind", "127.0.0.1", "--port", "0", "--llm-model", "smollm2",
                     "--vad", "energy", "--log-level", "warning", "--facts", str(facts))
    one_line_error(proc, f"the system prompt with the facts of {facts} is too long for the LLM: ",
                   f"{CONTEXT_ROOM_TOKENS} more for the call's history and reply",
                   f"over the {MAX_CONTEXT_TOKENS} the model can have")
    counts = re.search(r"it takes (\d+) tokens of smollm2, .* it needs a context of (\d+) tokens", proc.stderr)
    assert counts and int(counts[2]) == int(counts[1]) + CONTEXT_ROOM_TOKENS > MAX_CONTEXT_TOKENS, proc.stderr
