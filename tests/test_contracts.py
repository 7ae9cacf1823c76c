"""The import-linter contracts in pyproject.toml: the "core is stdlib only" list stays complete."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PROJECT = "kraken-cancel"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _contract(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == contract_id)


def _installed_closure(name: str, extras: set[str], seen: set[str]) -> None:
    """Add ``name`` and every installed distribution it requires (with ``extras``) to ``seen``."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return  # an extra that is not installed here (bench's ccxt): nothing to import by mistake
    if _norm(name) in seen:
        return
    seen.add(_norm(name))
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": extra}) for extra in ("", *extras)
        ):
            continue
        _installed_closure(req.name, set(req.extras), seen)


def _project_extras() -> set[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return set(config["project"].get("optional-dependencies", {}))


def third_party_import_names() -> set[str]:
    """Top-level import names of every distribution this project installs, extras included."""
    dists: set[str] = set()
    _installed_closure(PROJECT, _project_extras(), dists)
    dists.discard(_norm(PROJECT))
    names: set[str] = set()
    for module, owners in importlib.metadata.packages_distributions().items():
        third_party = module.isidentifier() and module not in sys.stdlib_module_names
        if third_party and any(_norm(owner) in dists for owner in owners):
            names.add(module)
    return names


def test_the_project_and_its_dependencies_are_installed() -> None:
    # Guards the test below: with nothing found it would pass whatever the list says.
    names = third_party_import_names()
    assert {"PySide6", "qasync", "httpx", "websockets", "keyring", "platformdirs", "aiohttp"} <= names


def test_core_forbids_every_installed_third_party_package() -> None:
    forbidden = set(_contract("core-stdlib-only")["forbidden_modules"])
    missing = sorted(third_party_import_names() - forbidden, key=str.lower)
    assert not missing, f"add to the core-stdlib-only contract in pyproject.toml: {missing}"


def test_core_contract_forbids_no_standard_library_module() -> None:
    forbidden = set(_contract("core-stdlib-only")["forbidden_modules"])
    assert not forbidden & set(sys.stdlib_module_names)
    assert "app.*" in forbidden  # every other app package
