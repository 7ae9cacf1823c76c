"""The planner: cheapest correct form, never widening scope, never mixing id kinds."""

from decimal import Decimal

import pytest

from app.core.orders import IdKind, Order, Side, VenueKind
from app.core.plan import CancelIntent, RequestForm, Scope, VenueLimits, plan_cancel

SPOT = VenueLimits(max_batch=50, min_batch=2, cancel_all=True)
FUT = VenueLimits(max_batch=100, min_batch=2, cancel_all=True, cancel_all_for_symbol=True)
PRIME = VenueLimits(max_batch=25, min_batch=2, cancel_all=False)


def order(acct: str, i: int, symbol: str = "XBTUSD", userref: int | None = None) -> Order:
    return Order(
        acct,
        VenueKind.SPOT,
        f"O{i:05d}-AAAAA-AAAAAA",
        symbol,
        Side.BUY,
        "limit",
        Decimal(1),
        Decimal(1),
        Decimal(0),
        0.0,
        userref=userref,
    )


def book(n: int, acct: str = "s") -> list[Order]:
    return [order(acct, i, "XBTUSD" if i % 2 else "ETHUSD") for i in range(n)]


@pytest.mark.parametrize(
    ("n", "forms"),
    [
        (1, [RequestForm.SINGLE]),
        (2, [RequestForm.BATCH]),
        (50, [RequestForm.BATCH]),
        (51, [RequestForm.BATCH, RequestForm.SINGLE]),
        (102, [RequestForm.BATCH, RequestForm.BATCH, RequestForm.BATCH]),
    ],
)
def test_selection_chunks_within_limits(n: int, forms: list[RequestForm]) -> None:
    orders = book(n)
    plan = plan_cancel(CancelIntent(Scope.ORDERS, tuple(orders)), {"s": orders}, {"s": SPOT})
    assert [r.form for r in plan.requests] == forms
    assert all(len(r.refs) <= 50 for r in plan.requests)
    assert sorted(o.order_id for r in plan.requests for o in r.orders) == sorted(o.order_id for o in orders)
    assert all(ref.kind is IdKind.ORDER_ID for r in plan.requests for ref in r.refs)


def test_selection_of_everything_is_never_sent_as_cancel_all() -> None:
    orders = book(5)
    plan = plan_cancel(CancelIntent(Scope.ORDERS, tuple(orders)), {"s": orders}, {"s": SPOT})
    assert all(r.form is not RequestForm.ALL for r in plan.requests)


def test_duplicates_in_selection_are_sent_once() -> None:
    orders = book(3)
    plan = plan_cancel(CancelIntent(Scope.ORDERS, (*orders, orders[0])), {"s": orders}, {"s": SPOT})
    assert plan.order_count == 3


def test_symbol_scope_uses_symbol_cancel_all_only_where_it_exists() -> None:
    spot, fut = book(6, "s"), book(4, "f")
    intent = CancelIntent(Scope.SYMBOL, account_ids=("s", "f"), symbol="XBTUSD")
    plan = plan_cancel(intent, {"s": spot, "f": fut}, {"s": SPOT, "f": FUT})
    by = plan.by_account()
    assert [r.form for r in by["f"]] == [RequestForm.ALL_FOR_SYMBOL] and by["f"][0].symbol == "XBTUSD"
    # Spot has no symbol-scoped cancel-all: it must not be widened to CancelAll.
    assert [r.form for r in by["s"]] == [RequestForm.BATCH]
    assert {o.symbol for o in by["s"][0].orders} == {"XBTUSD"}


def test_account_scope_uses_cancel_all_or_fans_out() -> None:
    spot, prime = book(3, "s"), book(30, "p")
    intent = CancelIntent(Scope.EVERYTHING)
    plan = plan_cancel(intent, {"s": spot, "p": prime}, {"s": SPOT, "p": PRIME})
    by = plan.by_account()
    assert [r.form for r in by["s"]] == [RequestForm.ALL]
    assert [len(r.orders) for r in by["p"]] == [25, 5]
    assert all(len(r.refs) <= 25 for r in by["p"])


def test_min_batch_leftover_goes_single() -> None:
    lim = VenueLimits(max_batch=3, min_batch=2)
    orders = book(4)
    plan = plan_cancel(CancelIntent(Scope.ORDERS, tuple(orders)), {"s": orders}, {"s": lim})
    assert [len(r.refs) for r in plan.requests] == [3, 1]
    assert [r.form for r in plan.requests] == [RequestForm.BATCH, RequestForm.SINGLE]


def test_userref_is_one_request_listing_every_order_it_touches() -> None:
    orders = [order("s", 1, userref=7), order("s", 2, userref=7), order("s", 3, userref=8)]
    plan = plan_cancel(CancelIntent(Scope.USERREF, account_ids=("s",), userref=7), {"s": orders}, {"s": SPOT})
    (req,) = plan.requests
    assert req.refs[0].kind is IdKind.USERREF and req.refs[0].value == "7"
    assert {o.order_id for o in req.orders} == {orders[0].order_id, orders[1].order_id}


def test_accounts_without_limits_are_skipped_and_bad_intents_refused() -> None:
    orders = book(2)
    assert plan_cancel(CancelIntent(Scope.EVERYTHING), {"s": orders}, {}).requests == []
    with pytest.raises(ValueError):
        plan_cancel(CancelIntent(Scope.SYMBOL, account_ids=("s",)), {"s": orders}, {"s": SPOT})
