"""``pip install 'arxdeploy[testing]'`` brings everything the emulator imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "src" / "arxdeploy" / "testing" / "kube"


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for path in EMULATOR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"arxdeploy", "__future__"}


def test_the_testing_extra_covers_the_emulators_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = _requirement_names(project["dependencies"]) | _requirement_names(
        project["optional-dependencies"]["testing"]
    )
    distributions = packages_distributions()
    needed = {module: {d.lower() for d in distributions.get(module, [module])} for module in _imported_top_levels()}
    assert needed, "the emulator imports third-party packages"
    missing = {module: names for module, names in needed.items() if not names & installed}
    assert missing == {}


def test_the_credential_plugin_needs_nothing_but_the_standard_library() -> None:
    tree = ast.parse((EMULATOR / "credential.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
