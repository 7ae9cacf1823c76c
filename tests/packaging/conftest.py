"""Packaging tests' measurements: gathered in one dict, printed in pytest's closing summary."""

from __future__ import annotations

from typing import Any

import pytest

_MEASURED = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def measured(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Sizes and times the packaging tests measure (also written to dist/packaging-report.txt)."""
    return pytestconfig.stash.setdefault(_MEASURED, {})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the measurements whatever the capture mode (-s or not): the lead reads them."""
    values = config.stash.get(_MEASURED, None)
    if values:
        terminalreporter.section("packaging: sizes and times")
        for key, value in values.items():
            terminalreporter.write_line(f"{key:<28} {value}")
