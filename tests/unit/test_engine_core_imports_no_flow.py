"""The engine core names no flow family: everything a family adds reaches the core through the
plugin registry (engine/plugins.py). Only the shells — the CLI, the web app, the replay CLI and the
benchmarks — may call a family's public services directly (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

ENGINE = ROOT / "engine"
SHELLS = {"cli.py", "replay_cli.py"}


def _is_shell(path: Path) -> bool:
    rel = path.relative_to(ENGINE)
    # The benchmarks: bench*.py, and the bench_peers/ package (a peer's code drives the ITR family's tables).
    return rel.parts[0] == "web" or rel.name in SHELLS or rel.parts[0].startswith("bench")


def core_modules() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*.py") if not _is_shell(p))


def flow_imports(path: Path) -> list[str]:
    """Every `import flows...` / `from flows... import`, and every string naming a `flows.` module
    (an importlib call or a dotted-name table would hide the dependency from the import scan)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "flows"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "flows":
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("flows."):
            found.append(f"{node.lineno}: {node.value!r}")
    return found


def test_no_engine_core_module_imports_a_flow() -> None:
    offenders = {str(p.relative_to(ROOT)): hits for p in core_modules() if (hits := flow_imports(p))}
    assert offenders == {}


def test_the_scan_sees_an_import_of_a_flow(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import flows.itr.models\nfrom flows.survey import contact_gap\nimport importlib\n"
                     "importlib.import_module('flows.planning.cli')\nfrom engine import plugins\n", encoding="utf-8")
    assert flow_imports(probe) == ["1: import flows.itr.models", "2: from flows.survey import ...",
                                   "4: 'flows.planning.cli'"]


def test_the_core_is_most_of_the_engine() -> None:
    names = {str(p.relative_to(ENGINE)) for p in core_modules()}
    assert {"runtime.py", "db.py", "replay.py", "inbox.py", "instances.py", "plugins.py", "contacts.py"} <= names
    assert not names & {"cli.py", "replay_cli.py", "bench.py", "bench_flows.py", "bench_peers/itr.py", "web/api.py"}
