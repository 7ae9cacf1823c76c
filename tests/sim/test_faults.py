"""Fault settings: deterministic counters, seeded rates, runtime patches."""

from __future__ import annotations

import random

import pytest

from app.sim.faults import HTTP_KINDS, FaultKind, Faults, cloudflare_html


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


def test_new_kinds_are_counters_named_by_their_value() -> None:
    for kind in FaultKind:
        faults = Faults()
        faults.patch({kind.value: 1})
        assert faults.take(kind) is kind and faults.take(kind) is None


def test_http_hosts_take_only_http_kinds() -> None:
    faults = Faults(lost_reply=1, skip_sequence=1, empty_after_apply=1)
    assert faults.take(*HTTP_KINDS) is FaultKind.EMPTY_AFTER
    assert faults.take(*HTTP_KINDS) is None
    assert (faults.lost_reply, faults.skip_sequence) == (1, 1)


def test_choices_and_switches_are_validated() -> None:
    faults = Faults()
    faults.patch({"gone_order_error": "invalid", "batch_unknown_id": "refuse_all", "strict_cl_ord_ids": True})
    assert (faults.gone_order_error, faults.batch_unknown_id, faults.strict_cl_ord_ids) == (
        "invalid",
        "refuse_all",
        True,
    )
    for bad in ({"gone_order_error": "gone"}, {"strict_cl_ord_ids": 1}, {"scope": "some"}, {"watchers": []}):
        with pytest.raises(ValueError):
            faults.patch(bad)
    assert "watchers" not in faults.snapshot()


def test_scope_limits_faults_to_cancels() -> None:
    assert Faults().applies_to(False) and Faults().applies_to(True)
    cancels = Faults(scope="cancels")
    assert cancels.applies_to(True) and not cancels.applies_to(False)


def test_watchers_hear_status_changes_only() -> None:
    faults = Faults()
    heard: list[str] = []
    unwatch = faults.watch(lambda f: heard.append(f.system_status))
    faults.latency_ms = 5
    faults.system_status = "online"  # unchanged
    faults.system_status = "maintenance"
    faults.patch({"system_status": "cancel_only"})
    unwatch()
    faults.system_status = "online"
    assert heard == ["maintenance", "cancel_only"]


def test_cloudflare_pages_name_their_status() -> None:
    page = cloudflare_html(524)
    assert "524" in page and "A timeout occurred" in page and page.lstrip().startswith("<!DOCTYPE html>")
