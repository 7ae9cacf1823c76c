"""The soak's plumbing, without soaking: every fault class and scope planned, faults armed and
cleared, the summary line in the issue's words (no figure is asserted)."""

from __future__ import annotations

import random

import pytest

from app.sim.faults import FaultKind, Faults
from bench.soak import (
    CANCEL_SCOPES,
    CASES,
    DEADMAN,
    HOST_FAULTS,
    NO_FAULT,
    Cell,
    Row,
    TransportCase,
    clear_faults,
    fault_fired,
    plan_rounds,
    render,
    set_fault,
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("passes", [1, 2])
def test_every_fault_class_of_the_host_and_every_scope_are_planned(case: TransportCase, passes: int) -> None:
    rounds = plan_rounds(case, passes, random.Random(1), deadman=case.host != "prime")
    for p in range(passes):
        aimed = [r for r in rounds if r.scope != DEADMAN and r.cancels_only == (p == 0)]
        assert {r.fault for r in aimed} == {NO_FAULT, *HOST_FAULTS[case.host]}
        assert {r.scope for r in aimed} == set(CANCEL_SCOPES)
    assert sum(r.scope == DEADMAN for r in rounds) == (passes if case.host != "prime" else 0)
    if case.host != "spot_rest":  # a stream's listing fault rides on the reconnect's snapshot
        assert {r.scope for r in rounds if r.fault == "malformed_order"} == {"outage"}


def test_host_fault_classes_name_the_simulators_counters() -> None:
    faults = Faults()
    for names in HOST_FAULTS.values():
        for name in names:
            set_fault(faults, name, cancels_only=True)
            assert not fault_fired(faults, name)
            assert faults.scope == "cancels"
            clear_faults(faults)
            assert fault_fired(faults, name) and faults.scope == "all"
    set_fault(faults, "http_524_after_apply", cancels_only=False)
    assert faults.http_5xx_after_apply == 1 and faults.after_apply_status == 524
    assert faults.take() is FaultKind.HTTP_5XX_AFTER and fault_fired(faults, "http_524_after_apply")
    assert fault_fired(faults, NO_FAULT)


def test_one_table_per_transport_and_the_summary_line() -> None:
    a, b = Row("Spot REST"), Row("Prime")
    a.by_fault["hang"] = Cell(tried=120, rounds=1, hit=1, unknown_left=2)
    b.by_fault["none"] = Cell(tried=80, rounds=2, hit=2, wrongly_failed=1, crashes=1)
    out = render([a, b]).splitlines()
    assert any(line.startswith("| hang ") and line.rstrip().endswith("|") for line in out)
    assert sum(line.startswith("| total") for line in out) == 2
    assert out[-1] == (
        "soak: tried 200; wrongly cancelled 0; wrongly failed 1; unknown left 2; resurrected 0;"
        " crashes 1; audit missing 0"
    )
