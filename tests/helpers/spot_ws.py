"""Fixtures for the Spot WebSocket tests: the simulator's REST and ws-auth hosts, venues, recorders."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from app.core.accounts import Credentials, LinkState
from app.sim.faults import Faults
from app.sim.server import HostContext, HostSpec, SimServer
from app.sim.spot_rest import build_spot_rest_app
from app.sim.spot_ws import HOST_KEY, SPOT_WS_URLS, SpotWsHost, build_spot_ws_app
from app.sim.state import Exchange, SimOrder
from app.venues.base import StreamEvent, StreamKind
from app.venues.link import LinkSettings
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue
from app.venues.spot.ws import SPOT_WS_LINK, SpotWsV1Venue, SpotWsV2Venue, SpotWsVenue

ACCOUNT = "spot"

# Short timings so reconnects and waits stay well under a second in tests.
FAST = dataclasses.replace(
    SPOT_WS_LINK,
    request_timeout_s=3.0,
    settle_s=0.2,
    backoff_base_s=0.05,
    backoff_cap_s=0.2,
    silence_timeout_s=3.0,
    ping_interval_s=5.0,
)
_LINK_FIELDS = {f.name for f in dataclasses.fields(LinkSettings)}


def venue_kw(**kw: Any) -> dict[str, Any]:
    """Venue keyword arguments: link settings by name (over ``FAST``), the rest as given."""
    settings = dataclasses.replace(FAST, **{k: v for k, v in kw.items() if k in _LINK_FIELDS})
    rest = {k: v for k, v in kw.items() if k not in _LINK_FIELDS}
    return {"settings": settings, "confirm_wait_s": 0.5, **rest}


class Clock:
    """A wall clock tests can move forward (token expiry)."""

    def __init__(self) -> None:
        import time

        self.offset = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.offset


@dataclass
class WsSim:
    """The simulator's Spot REST and ws-auth hosts on loopback, one shared exchange."""

    exchange: Exchange
    server: SimServer
    endpoints: dict[str, str]
    host: SpotWsHost
    clock: Clock
    venues: list[Any] = field(default_factory=list)

    @property
    def ws_faults(self) -> Faults:
        return self.server.own_faults("spot_ws")

    @property
    def rest_faults(self) -> Faults:
        return self.server.own_faults("spot_rest")

    def creds(self, account: str = ACCOUNT) -> Credentials:
        acct = self.exchange.account(account)
        return Credentials(acct.api_key, acct.secret)

    def rest(self, account: str = ACCOUNT) -> SpotRestVenue:
        venue = SpotRestVenue(account, self.endpoints["spot_rest"], self.creds(account), NonceSource())
        self.venues.append(venue)
        return venue

    def v2(self, rest: SpotRestVenue | None = None, **kw: Any) -> SpotWsV2Venue:
        venue = SpotWsV2Venue(ACCOUNT, self.endpoints["spot_ws_v2"], rest or self.rest(), **venue_kw(**kw))
        self.venues.append(venue)
        return venue

    def v1(self, rest: SpotRestVenue | None = None, **kw: Any) -> SpotWsV1Venue:
        venue = SpotWsV1Venue(ACCOUNT, self.endpoints["spot_ws_v1"], rest or self.rest(), **venue_kw(**kw))
        self.venues.append(venue)
        return venue

    def add(self, n: int = 1, *, symbol: str = "XBT/USD", **kw: Any) -> list[SimOrder]:
        out = []
        for i in range(n):
            params: dict[str, Any] = {
                "side": "buy",
                "order_type": "limit",
                "qty": "0.5",
                "price": f"{60000 + i}",
            }
            params.update(kw)
            out.append(
                self.exchange.add_order(
                    ACCOUNT,
                    symbol,
                    params.pop("side"),
                    params.pop("order_type"),
                    params.pop("qty"),
                    params.pop("price"),
                    opened_at=self.clock() - 600,
                    **params,
                )
            )
        return out

    def status(self, order_id: str) -> str:
        order = self.exchange.get_order(ACCOUNT, order_id)
        return "unknown" if order is None else order.status

    def arrivals(self, path: str) -> int:
        return sum(1 for a in self.exchange.arrivals if a.path == path)


@contextlib.asynccontextmanager
async def ws_simulator() -> AsyncIterator[WsSim]:
    """Run the simulator's Spot REST and ws-auth hosts for the block; close every venue made."""
    clock = Clock()
    exchange = Exchange(seed=5, clock=clock, rate_limits=False)
    exchange.add_account(ACCOUNT, "spot")
    hosts: list[SpotWsHost] = []

    def build(ctx: HostContext) -> web.Application:
        app = build_spot_ws_app(ctx, idle_timeout_s=60.0, heartbeat_s=0.2)
        hosts.append(app[HOST_KEY])
        return app

    server = SimServer(
        exchange,
        Faults(),
        hosts=[
            HostSpec("spot_rest", build=build_spot_rest_app),
            HostSpec("spot_ws", build=build, urls=SPOT_WS_URLS),
        ],
    )
    endpoints = await server.start()
    sim = WsSim(exchange, server, endpoints, hosts[0], clock)
    try:
        yield sim
    finally:
        for venue in reversed(sim.venues):
            await venue.aclose()
        await server.stop()


@dataclass
class Recorder:
    """Collects a stream's events and link states; waits for conditions without sleeping blind."""

    events: list[StreamEvent] = field(default_factory=list)
    links: list[tuple[LinkState, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def sink(self, event: StreamEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def link(self, state: LinkState, detail: str) -> None:
        self.links.append((state, detail))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def snapshots(self) -> list[StreamEvent]:
        return [e for e in self.events if e.kind is StreamKind.SNAPSHOT]

    def removed(self) -> dict[str, StreamEvent]:
        return {e.order_id: e for e in self.events if e.kind is StreamKind.REMOVED and e.order_id}

    def upserted(self) -> Iterator[Any]:
        for e in self.events:
            if e.kind is StreamKind.UPSERT:
                yield from e.orders

    def states(self) -> list[LinkState]:
        return [s for s, _ in self.links]


@contextlib.asynccontextmanager
async def streaming(venue: SpotWsVenue, rec: Recorder | None = None) -> AsyncIterator[Recorder]:
    """Run ``venue.run_stream`` for the block; yields once the first snapshot is in."""
    rec = rec or Recorder()
    task = asyncio.create_task(venue.run_stream(rec.sink, rec.link), name="test-stream")
    try:
        await rec.until(lambda: LinkState.LIVE in rec.states())
        yield rec
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
