"""Smoke test of the bench plumbing (no speed is asserted: only that figures are produced)."""

from __future__ import annotations

from bench.common import Figure, machine, percentile
from bench.keypress import is_cancel
from bench.report import render_markdown, render_table


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 21)]
    assert percentile(samples, 50) == 10.0
    assert percentile(samples, 99) == 20.0
    assert percentile([], 50) is None


def test_cancel_arrivals_are_recognised_on_every_transport() -> None:
    cancels = ["/0/private/CancelOrderBatch", "v2:cancel_order", "v1:cancelOrder", "ws:OrderCancelRequest"]
    assert all(is_cancel(p) for p in [*cancels, "/derivatives/api/v3/batchorder"])
    assert not any(is_cancel(p) for p in ["/0/private/OpenOrders", "v2:subscribe", "ws:Ping"])


def test_the_table_and_results_file_carry_the_figures_and_the_machine() -> None:
    fig = Figure("1. key press to wire", "Spot REST, 1 row", "ms", [1.0, 2.0, 3.0], budget="p50 <= 2")
    info = machine()
    md = render_markdown([fig], info, ["a note"], [], ["keypress"])
    assert "Spot REST, 1 row" in render_table([fig])
    assert "| 1. key press to wire | Spot REST, 1 row | ms | 3 | 2.00 | 3.00 |" in md
    assert info["CPU"] in md and "upper bound" in md
