"""The order store: row-level events and per-account counts kept as orders come and go."""

from decimal import Decimal

from app.core.orders import Order, Side, VenueKind
from app.desk.store import OrderStore


def order(acct: str, i: int, qty: str = "1") -> Order:
    return Order(
        acct, VenueKind.SPOT, f"O{i}", "XBTUSD", Side.BUY, "limit", Decimal(1), Decimal(qty), Decimal(0), 0.0
    )


def test_events_are_row_level_and_only_for_real_changes() -> None:
    store = OrderStore()
    seen: list[tuple[str, int]] = []
    store.inserted.connect(lambda v: seen.append(("inserted", len(v))))
    store.updated.connect(lambda v: seen.append(("updated", len(v))))
    store.removed.connect(lambda v: seen.append(("removed", len(v))))
    store.upsert([order("a", 1), order("a", 2)])
    store.upsert([order("a", 1)])  # unchanged: no event
    store.upsert([order("a", 1, "2")])
    store.replace_account("a", [order("a", 1, "2"), order("a", 3)])
    assert seen == [("inserted", 2), ("updated", 1), ("removed", 1), ("inserted", 1)]


def test_counts_follow_inserts_removals_and_replacements() -> None:
    store = OrderStore()
    store.upsert([order("a", i) for i in range(5)] + [order("b", 9)])
    store.remove([("a", "O0"), ("a", "O1"), ("a", "nope")])
    assert (store.count("a"), store.count("b"), store.count("c")) == (3, 1, 0)
    store.replace_account("a", [order("a", 7)])
    store.drop_account("b")
    assert (store.count("a"), store.count("b")) == (1, 0)
    assert store.count("a") == len(store.orders("a"))


def test_a_key_named_twice_is_removed_once() -> None:
    store = OrderStore()
    store.upsert([order("a", 1), order("a", 2)])
    seen: list[list[tuple[str, str]]] = []
    store.removed.connect(seen.append)
    store.remove([("a", "O1"), ("a", "O1")])
    assert seen == [[("a", "O1")]] and store.count("a") == 1
