"""The desk applies a live stream by each order's last word, in bursts (a scripted venue plays the socket)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from app.core.accounts import AccountSpec
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, Side, VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.desk import STREAM_BATCH_S, Desk
from app.venues.base import CancelReply, StreamEvent, StreamKind
from tests.helpers.fakes import ScriptedVenue, make_order, settle


def order(i: int, qty: str = "1") -> Order:
    return Order(
        "s", VenueKind.SPOT, f"O{i}", "BTC/USD", Side.BUY, "limit", Decimal(1), Decimal(qty), Decimal(0), 0.0
    )


async def test_a_burst_is_applied_by_each_orders_last_word(tmp_path: Path) -> None:
    cancelled = Outcome(CancelState.CANCELLED, "User requested")
    events = [
        StreamEvent(StreamKind.SNAPSHOT, (order(1), order(2), order(3))),
        StreamEvent(StreamKind.UPSERT, (order(4),)),
        StreamEvent(StreamKind.UPSERT, (order(5),)),
        StreamEvent(StreamKind.REMOVED, order_id="O4", outcome=cancelled),  # added, then gone
        StreamEvent(StreamKind.REMOVED, order_id="O1", outcome=cancelled),
        StreamEvent(StreamKind.REMOVED, order_id="O1", outcome=cancelled),  # told twice
        StreamEvent(StreamKind.UPSERT, (order(2, qty="0.5"),)),
        StreamEvent(StreamKind.REMOVED, order_id="O9", outcome=cancelled),  # never known
    ]
    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    calls: list[str] = []
    desk.store.inserted.connect(lambda v: calls.append(f"+{len(v)}"))
    desk.store.updated.connect(lambda v: calls.append(f"~{len(v)}"))
    desk.store.removed.connect(lambda v: calls.append(f"-{len(v)}"))
    venue = ScriptedVenue("s", streaming=True)
    venue.stream_events = events
    desk.add_account(AccountSpec("s", "S", VenueKind.SPOT), venue)
    await asyncio.sleep(10 * STREAM_BATCH_S)  # the burst is applied a few ms after it arrives
    try:
        assert {o.order_id: o.quantity for o in desk.store.orders()} == {
            "O2": Decimal("0.5"),
            "O3": Decimal(1),
            "O5": Decimal(1),
        }
        # the snapshot, then the rest of the burst as one upsert (a new order, an update: O4 came
        # and went within the burst, so it never shows) and one removal
        assert calls == ["+3", "+1", "~1", "-1"]
        assert desk.status["s"].open_orders == 3
    finally:
        await desk.aclose()
        desk.audit.close()


async def test_the_stream_settles_a_cancel_in_flight(tmp_path: Path) -> None:
    venue = ScriptedVenue("s", streaming=True)
    o1, o2 = make_order(1, account="s"), make_order(2, account="s")
    venue.stream_events = [StreamEvent(StreamKind.SNAPSHOT, (o1, o2))]
    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    removed = asyncio.Event()
    desk.store.removed.connect(lambda _: removed.set())
    inserted = asyncio.Event()
    desk.store.inserted.connect(lambda _: inserted.set())
    desk.add_account(AccountSpec("s", "S", VenueKind.SPOT), venue)
    try:
        async with asyncio.timeout(5):
            await inserted.wait()
        venue.hold = asyncio.Event()
        venue.replies.append(CancelReply(count=1))  # a bare count: not proof for O1 on its own
        cancel = asyncio.create_task(desk.cancel(CancelIntent(Scope.ORDERS, (o1,))))
        await settle()
        assert venue.stream_sink is not None
        venue.stream_sink(
            StreamEvent(
                StreamKind.REMOVED, order_id="O1", outcome=Outcome(CancelState.CANCELLED, "User requested")
            )
        )
        async with asyncio.timeout(5):
            await removed.wait()
        entry = desk.coordinator.entry(o1.key)
        assert entry is not None and (entry.state, entry.reason) == (CancelState.CANCELLED, "User requested")
        venue.hold.set()
        report = await cancel
        assert report.counts[CancelState.CANCELLED] == 1
        assert venue.confirmed == []  # the stream's word needed no re-check
        assert [s for s, _ in desk.audit.history("s", "O1")] == ["queued", "sent", "cancelled"]
        assert [o.order_id for o in desk.store.orders()] == ["O2"]
    finally:
        await desk.aclose()
        desk.audit.close()
