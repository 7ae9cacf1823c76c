"""The desk applies a live stream by each order's last word, in bursts (a fake venue plays the socket)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from app.core.accounts import AccountSpec, KeyCheck, LinkState
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, Side, VenueKind
from app.core.plan import CancelRequest, VenueLimits
from app.desk.audit import AuditLog
from app.desk.desk import STREAM_BATCH_S, Desk
from app.venues.base import (
    CancelReply,
    Capabilities,
    DeadmanStatus,
    LinkSink,
    StreamEvent,
    StreamKind,
    StreamSink,
)


def order(i: int, qty: str = "1") -> Order:
    return Order(
        "s", VenueKind.SPOT, f"O{i}", "BTC/USD", Side.BUY, "limit", Decimal(1), Decimal(qty), Decimal(0), 0.0
    )


class ScriptedStream:
    """Plays a list of events in one burst (as a busy socket delivers them), then idles."""

    account_id = "s"
    kind = VenueKind.SPOT
    capabilities = Capabilities(VenueLimits(), deadman=True, streaming=True)

    def __init__(self, events: Sequence[StreamEvent]) -> None:
        self.events = events

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        link(LinkState.LIVE, "")
        for e in self.events:
            sink(e)
        await asyncio.Event().wait()

    async def list_open_orders(self) -> list[Order]:
        return []

    async def execute(self, request: CancelRequest) -> CancelReply:
        raise NotImplementedError

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        return {}

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        raise NotImplementedError

    async def check_key(self) -> KeyCheck:
        return KeyCheck(None, None)

    async def aclose(self) -> None:
        pass


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
    desk.add_account(AccountSpec("s", "S", VenueKind.SPOT), ScriptedStream(events))
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
