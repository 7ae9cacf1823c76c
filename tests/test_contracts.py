"""Layering rules import-linter cannot say alone: app/core imports the standard library only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "app" / "core"


def imported_roots(path: Path) -> set[str]:
    """The top-level names a module imports (relative imports count as ``app``)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("app.core" if node.level else (node.module or ""))
    return roots


def test_core_imports_only_the_standard_library_and_itself() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 5  # guards the loop below: with no files it would pass whatever core does
    wrong = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_roots(path)
        if not (
            name == "app.core"
            or name.startswith("app.core.")
            or name.split(".")[0] in sys.stdlib_module_names
        )
    }
    assert not wrong, f"app/core must use the standard library only: {sorted(wrong)}"


def test_the_check_sees_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nfrom app.venues import base\nfrom . import orders\nimport json\n")
    assert imported_roots(bad) == {"httpx", "app.venues", "app.core", "json"}
