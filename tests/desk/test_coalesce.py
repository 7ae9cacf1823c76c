"""The stream coalescer alone: events in, the steps a burst amounts to out (no loop, no store)."""

from __future__ import annotations

from decimal import Decimal

from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, OrderKey
from app.desk.coalesce import Changes, Replace, StreamCoalescer
from app.venues.base import StreamEvent, StreamKind
from tests.helpers.fakes import make_order

CANCELLED = Outcome(CancelState.CANCELLED, "User requested")
FILLED = Outcome(CancelState.FILLED, "filled")


def order(i: int, qty: str = "1") -> Order:
    return make_order(i, account="s", quantity=qty)


def up(*orders: Order) -> StreamEvent:
    return StreamEvent(StreamKind.UPSERT, orders)


def gone(i: int, outcome: Outcome | None = CANCELLED) -> StreamEvent:
    return StreamEvent(StreamKind.REMOVED, order_id=f"O{i}", outcome=outcome)


def snap(*orders: Order) -> StreamEvent:
    return StreamEvent(StreamKind.SNAPSHOT, orders)


def book(*orders: Order) -> dict[OrderKey, Order]:
    return {o.key: o for o in orders}


def drain(events: list[StreamEvent], held: dict[OrderKey, Order] | None = None) -> list[Changes | Replace]:
    c = StreamCoalescer("s")
    for e in events:
        c.add(e)
    return c.drain((held or {}).get)


def test_add_says_when_a_burst_starts_and_drain_empties_it() -> None:
    nothing: dict[OrderKey, Order] = {}
    c = StreamCoalescer("s")
    assert c.add(up(order(1))) is True  # the caller arms its timer once
    assert c.add(up(order(2))) is False
    assert len(c) == 2
    assert c.drain(nothing.get) == [Changes((order(1), order(2)), ())]
    assert len(c) == 0 and c.drain(nothing.get) == []
    assert c.add(up(order(3))) is True  # a new burst


def test_per_order_only_the_last_word_counts() -> None:
    held = book(order(1), order(2))
    steps = drain(
        [
            up(order(3)),
            gone(1),
            up(order(2, "0.5")),
            up(order(3, "2")),  # told twice: its last version, once
            up(order(1, "9")),  # removed, then back: the update is its last word
            gone(2),  # updated, then removed: the removal is
        ],
        held,
    )
    assert steps == [Changes((order(3, "2"), order(1, "9")), ((order(2), CANCELLED),))]


def test_an_order_that_came_and_went_inside_one_burst_never_shows() -> None:
    steps = drain([up(order(4)), up(order(5)), gone(4)])
    assert steps == [Changes((order(5),), ())]


def test_a_removal_of_an_order_the_store_does_not_hold_is_left_out() -> None:
    assert drain([gone(9)]) == []
    held = book(order(1))
    assert drain([gone(9), gone(1, FILLED)], held) == [Changes((), ((order(1), FILLED),))]


def test_a_removal_names_the_order_as_held_and_told_twice_counts_once() -> None:
    held = book(order(1, "3"))
    assert drain([gone(1), gone(1)], held) == [Changes((), ((order(1, "3"), CANCELLED),))]


def test_a_removal_without_an_outcome_proves_only_that_it_is_gone() -> None:
    held = book(order(1))
    (step,) = drain([gone(1, outcome=None)], held)
    assert step == Changes((), ((order(1), Outcome(CancelState.ALREADY_GONE)),))


def test_a_snapshot_applies_what_came_before_it_then_replaces_the_book() -> None:
    held = book(order(1), order(2))
    steps = drain(
        [
            up(order(3)),
            gone(1),
            snap(order(2), order(3), order(4)),
            up(order(5)),
            gone(4),  # in the snapshot: held by then
            gone(1),  # not in the snapshot: gone already, left out
            gone(3, FILLED),
        ],
        held,
    )
    assert steps == [
        Changes((order(3),), ((order(1), CANCELLED),)),
        Replace((order(2), order(3), order(4))),
        Changes((order(5),), ((order(4), CANCELLED), (order(3), FILLED))),
    ]


def test_after_a_snapshot_the_book_is_the_snapshot_not_the_store() -> None:
    held = book(order(1))
    # O1 is in the store but the snapshot dropped it; O2 arrived before the snapshot and was
    # dropped by it too: neither can be removed again afterwards.
    steps = drain([up(order(2)), snap(order(3)), gone(1), gone(2)], held)
    assert steps == [Changes((order(2),), ()), Replace((order(3),))]


def test_a_removal_after_a_snapshot_names_the_snapshots_version() -> None:
    # Steps are applied one after the other: an order upserted before a snapshot that keeps it
    # is held when a later removal is applied, in the version the snapshot gave.
    steps = drain([up(order(2)), snap(order(2, "4")), gone(2)])
    assert steps[-1] == Changes((), ((order(2, "4"), CANCELLED),))


def test_each_snapshot_is_the_book_for_the_removals_after_it() -> None:
    steps = drain([snap(), up(order(7)), snap(order(7)), up(order(8)), snap(order(7), order(8)), gone(8)])
    assert steps == [
        Replace(()),
        Changes((order(7),), ()),
        Replace((order(7),)),
        Changes((order(8),), ()),
        Replace((order(7), order(8))),
        Changes((), ((order(8), CANCELLED),)),
    ]


def test_snapshots_back_to_back_each_replace() -> None:
    steps = drain([snap(order(1)), snap(order(2))], book(order(9)))
    assert steps == [Replace((order(1),)), Replace((order(2),))]


def test_a_removal_without_an_order_id_is_ignored() -> None:
    assert drain([StreamEvent(StreamKind.REMOVED, outcome=CANCELLED)], book(order(1))) == []


def test_the_lookup_is_by_this_accounts_key() -> None:
    other = make_order(1, account="t")
    assert drain([gone(1)], {other.key: other}) == []


def test_upserts_keep_the_order_of_their_last_arrival() -> None:
    steps = drain([up(order(1), order(2), order(3)), up(order(1, "2"))])
    assert steps == [Changes((order(2), order(3), order(1, "2")), ())]
    assert [o.quantity for o in steps[0].upserts] == [Decimal(1), Decimal(1), Decimal(2)]  # type: ignore[union-attr]
