"""Fault settings: deterministic counters, seeded rates, runtime patches."""

from __future__ import annotations

import random

import pytest

from app.sim.faults import FaultKind, Faults


def test_counters_are_consumed_one_per_request_in_priority_order() -> None:
    faults = Faults(rate_limit=1, drop_connection=1, html_error_page=2)
    taken = [faults.take() for _ in range(5)]
    assert taken == [
        FaultKind.DROP,
        FaultKind.HTML_ERROR,
        FaultKind.HTML_ERROR,
        FaultKind.RATE_LIMIT,
        None,
    ]


def test_take_can_be_restricted_to_kinds_a_host_supports() -> None:
    faults = Faults(html_error_page=1, drop_connection=1)
    assert faults.take(FaultKind.DROP) is FaultKind.DROP
    assert faults.take(FaultKind.DROP) is None
    assert faults.html_error_page == 1


def test_rates_are_driven_by_the_seeded_rng() -> None:
    def run() -> list[FaultKind | None]:
        faults = Faults(http_5xx_rate=0.3, rng=random.Random(9))
        return [faults.take() for _ in range(200)]

    first = run()
    assert first == run()
    assert 30 < first.count(FaultKind.HTTP_5XX) < 90 and set(first) == {None, FaultKind.HTTP_5XX}


def test_delay_includes_latency_and_bounded_jitter() -> None:
    assert Faults().delay_s() == 0.0
    faults = Faults(latency_ms=50, jitter_ms=10)
    delays = [faults.delay_s() for _ in range(100)]
    assert all(0.05 <= d <= 0.06 for d in delays) and len(set(delays)) > 1


def test_patch_validates_and_applies_atomically() -> None:
    faults = Faults()
    faults.patch({"latency_ms": 25, "hang": 2, "system_status": "cancel_only"})
    assert (faults.latency_ms, faults.hang, faults.system_status) == (25.0, 2, "cancel_only")
    for bad in (
        {"nope": 1},
        {"hang": -1},
        {"hang": 1.5},
        {"system_status": "closed"},
        {"latency_ms": "x"},
        {"hang": True},
        {"hang": 3, "rng": 1},
    ):
        with pytest.raises(ValueError):
            faults.patch(bad)
    assert faults.hang == 2  # the rejected patches changed nothing
    assert "rng" not in faults.snapshot() and faults.snapshot()["hang"] == 2
    faults.clear()
    assert faults.snapshot() == Faults().snapshot()
