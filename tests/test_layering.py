"""Layering: the runtime never imports the tooling (``agent/tools/``); the command line loads it lazily.

The runtime is every module under ``agent/`` outside ``agent/tools/``.  Only
``agent/cli.py`` may import ``agent.tools`` itself (the flags of ``call``,
``demo`` and ``bench``), inside a function; a tool's own module is imported
when its command runs, so ``sip-agent run`` never loads the caller or the benchmark.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent_proc import REPO, _env

AGENT = REPO / "agent"
TOOLS = "agent.tools"
CLI = "agent.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_tools(name: str) -> bool:
    return name == TOOLS or name.startswith(TOOLS + ".")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The module an import statement loads (names after ``from X import`` may be modules), resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - (node.level - 1)])
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if _is_tools(source):
        return [source]
    return [f"{source}.{alias.name}" for alias in node.names]  # ``from agent import tools``


def tools_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, bool]]:
    """``(line, module, inside a function)`` for each import of ``agent.tools`` or one of its modules."""
    tree = ast.parse(source)
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [(node.lineno, t, id(node) in lazy) for t in _targets(node, module, is_package) if _is_tools(t)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_tools(node.value):
            found.append((node.lineno, node.value, id(node) in lazy))  # importlib.import_module("agent.tools...")
    return found


def _runtime_modules() -> list[Path]:
    return [p for p in sorted(AGENT.rglob("*.py")) if not _is_tools(module_name(p))]


@pytest.mark.parametrize("source,module,expected", [
    ("from .tools import add_tool_parsers", "agent.app", ["agent.tools"]),
    ("from ..tools.bench import run", "agent.sip.account", ["agent.tools.bench"]),
    ("from ..tools import caller", "agent.sip.account", ["agent.tools"]),
    ("from . import tools", "agent.app", ["agent.tools"]),
    ("from .. import tools", "agent.stt", ["agent.tools"]),  # agent/stt/__init__.py: '..' is agent
    ("from agent import tools", "agent.app", ["agent.tools"]),
    ("import agent.tools.caller", "agent.app", ["agent.tools.caller"]),
    ("from agent.tools.harness import AgentProcess", "agent.app", ["agent.tools.harness"]),
    ("def f():\n    import importlib\n    importlib.import_module('agent.tools.demo')", "agent.app",
     ["agent.tools.demo"]),
    ("from .toolsy import x\nfrom .records import tools\nimport agent.toolbox", "agent.app", []),
    ("from .records import tools", "agent.stt.base", []),
])
def test_the_checker_finds_every_form_of_import(source: str, module: str, expected: list[str]) -> None:
    is_package = module == "agent.stt"
    assert [name for _line, name, _lazy in tools_imports(source, module, is_package)] == expected


def test_the_runtime_never_imports_the_tools() -> None:
    runtime = _runtime_modules()
    assert len(runtime) > 20 and AGENT / "app.py" in runtime and AGENT / "cli.py" in runtime
    bad = []
    for path in runtime:
        module = module_name(path)
        for line, name, lazy in tools_imports(path.read_text(), module, path.name == "__init__.py"):
            if module == CLI and lazy and name == TOOLS:
                continue  # the command line registers the tools' flags, lazily
            bad.append(f"{path.relative_to(REPO)}:{line} imports {name}" + ("" if lazy else " at module level"))
    assert not bad, "the runtime must not import agent.tools:\n" + "\n".join(bad)


def _loaded_after(code: str) -> dict[str, object]:
    script = ("import json, sys\n" + code + "\nprint(json.dumps({'modules': sorted(sys.modules), "
              "'result': result}))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=_env(),
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_building_the_parser_imports_no_tool_module() -> None:
    out = _loaded_after("import agent.cli\nparser = agent.cli.build_parser()\n"
                        "result = sorted(parser._subparsers._group_actions[0].choices)")
    assert out["result"] == ["bench", "call", "demo", "dial", "outbox", "run"]
    modules = out["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith(TOOLS + ".")] == []


def test_the_run_path_imports_no_tool_module() -> None:
    """``sip-agent run`` with a bad value: it gets as far as the configuration, without the tools."""
    out = _loaded_after("import contextlib, io, agent.cli\nwith contextlib.redirect_stderr(io.StringIO()):\n"
                        "    result = agent.cli.main(['run', '--no-register', '--port', '0', '--max-calls', '0'])")
    assert out["result"] == 2
    modules = out["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith(TOOLS + ".")] == []
