"""Spot WS v2 venue: what only v2 does (venue times, stop orders), plus a scripted Kraken for the
answers the simulator never gives (a sequence gap, a batch refused as unknown, a rate limit)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import websockets.exceptions

from app.core.accounts import LinkState
from app.core.errors import VenueUnavailable
from app.core.orders import CancelRef
from app.core.plan import CancelRequest, RequestForm
from app.venues.spot.ws_common import rfc3339_to_unix
from tests.helpers.spot_ws import ACCOUNT, WsSim, streaming, ws_simulator

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def ws_sim() -> AsyncIterator[WsSim]:
    async with ws_simulator() as sim:
        yield sim


async def test_reply_carries_the_venue_times(ws_sim: WsSim) -> None:
    ws_sim.add(2)
    venue = ws_sim.v2()
    orders = await venue.list_open_orders()
    reply = await venue.execute(
        CancelRequest(ACCOUNT, RequestForm.BATCH, tuple(map(CancelRef.of, orders)), tuple(orders))
    )
    assert reply.count == 2
    assert reply.venue_time_in is not None and reply.venue_time_out is not None
    t_in, t_out = rfc3339_to_unix(reply.venue_time_in), rfc3339_to_unix(reply.venue_time_out)
    assert t_in is not None and t_out is not None and t_in <= t_out


async def test_stop_orders_and_ids_in_the_stream(ws_sim: WsSim) -> None:
    [stop] = ws_sim.add(1, order_type="stop-loss-limit", price="61000", stop_price="61100", userref=5)
    venue = ws_sim.v2()
    async with streaming(venue) as rec:
        [order] = rec.snapshots()[0].orders
    assert (order.order_id, order.order_type) == (stop.order_id, "stop-loss-limit")
    assert order.price == Decimal("61000.0") and order.stop_price == Decimal("61100.0") and order.userref == 5


async def test_maintenance_answer_is_unavailable(ws_sim: WsSim) -> None:
    [order] = ws_sim.add(1)
    venue = ws_sim.v2()
    [mine] = await venue.list_open_orders()
    ws_sim.ws_faults.system_status = "maintenance"
    with pytest.raises(VenueUnavailable, match="EService:Unavailable"):
        await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert ws_sim.status(order.order_id) == "open"


# --------------------------------------------------------------------------- scripted Kraken

Handler = Callable[["FakeConn", dict[str, Any]], None]


class FakeConn:
    """A connection to a scripted Kraken: frames the test puts in, requests it answers."""

    def __init__(self, on_request: Handler) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.on_request = on_request
        self.closed = False

    def push(self, message: Any) -> None:
        self.inbox.put_nowait(json.dumps(message))

    async def send(self, message: str) -> None:
        if self.closed:
            raise websockets.exceptions.ConnectionClosedOK(None, None)
        self.on_request(self, json.loads(message))

    async def recv(self) -> str:
        item = await self.inbox.get()
        if item is None:
            raise websockets.exceptions.ConnectionClosedOK(None, None)
        return item

    async def close(self) -> None:
        self.closed = True
        self.inbox.put_nowait(None)


def ack(conn: FakeConn, request: dict[str, Any], result: dict[str, Any]) -> None:
    conn.push({"method": request["method"], "req_id": request["req_id"], "result": result, "success": True})


def executions(kind: str, seq: int, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"channel": "executions", "type": kind, "data": data, "sequence": seq}


REPORT = {
    "order_id": "OAAAAA-BBBBB-CCCCCC",
    "symbol": "BTC/USD",
    "side": "buy",
    "order_type": "limit",
    "order_qty": 1.0,
    "limit_price": 100.0,
    "order_status": "new",
}


async def test_sequence_gap_resubscribes_for_a_fresh_snapshot(ws_sim: WsSim) -> None:
    conns: list[FakeConn] = []

    def kraken(conn: FakeConn, request: dict[str, Any]) -> None:
        if request["method"] == "subscribe":
            ack(conn, request, {"channel": "executions"})
            conn.push(executions("snapshot", 1, [REPORT]))
            if len(conns) == 1:
                conn.push(executions("update", 3, [{"order_id": REPORT["order_id"], "cum_qty": 0.5}]))

    async def connect(url: str) -> FakeConn:
        conns.append(FakeConn(kraken))
        return conns[-1]

    venue = ws_sim.v2(connect=connect)
    async with streaming(venue) as rec:
        await rec.until(lambda: len(rec.snapshots()) == 2)
        await rec.until(lambda: rec.states()[-1] is LinkState.LIVE)
    assert LinkState.RECONNECTING in rec.states()
    assert len(conns) == 2 and conns[0].closed
