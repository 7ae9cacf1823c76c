"""Kraken Spot WebSocket venues (v2 and legacy v1): the link engine around each version's protocol."""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from app.core.accounts import KeyCheck, LinkState
from app.core.errors import AuthError, MalformedReply, PermissionDenied, TransportError, VenueUnavailable
from app.core.events import Event
from app.core.ledger import Outcome
from app.core.orders import Order, VenueKind
from app.core.plan import CancelRequest, VenueLimits
from app.core.ratelimits import spot_tier_for
from app.venues.base import (
    NO_OBSERVER,
    CancelReply,
    Capabilities,
    DeadmanStatus,
    LinkSink,
    SendObserver,
    StreamSink,
    VenueStatus,
)
from app.venues.link import Connection, Link, LinkSettings, open_websocket
from app.venues.sansio import Ticket
from app.venues.spot import ws_v1_wire, ws_v2_wire
from app.venues.spot.rest import SpotRestVenue
from app.venues.spot.ws_common import SpotWsProtocol, is_token_error
from app.venues.spot.ws_v1_protocol import SpotWsV1Protocol
from app.venues.spot.ws_v2_protocol import SpotWsV2Protocol

log = logging.getLogger("app.venues.spot.ws")

T = TypeVar("T")

MAX_FRAME = 2**24  # a snapshot of thousands of orders is larger than websockets' 1 MiB default

# Kraken closes idle auth sockets after about a minute and sends heartbeats every second when
# quiet (API-FACTS 2.2): ping after 20 s of our silence, give up after 15 s of Kraken's.
SPOT_WS_LINK = LinkSettings(
    request_timeout_s=10.0,
    settle_s=0.5,
    ping_interval_s=20.0,
    pong_timeout_s=10.0,
    silence_timeout_s=15.0,
    backoff_base_s=1.0,
    backoff_cap_s=30.0,
    stable_after_s=10.0,
)

Connect = Callable[[str], Awaitable[Connection]]


async def websockets_connect(url: str) -> Connection:
    """Open a Spot socket: protocol pings every 20 s besides Kraken's own ping."""
    return await open_websocket(url, max_size=MAX_FRAME)


class SpotWsVenue:
    """One Spot account over a Kraken WebSocket: one link, one protocol object per connection.

    Rules kept:
    - a fresh token from GetWebSocketsToken for every (re)connect; when Kraken says a token is
      no longer valid (``ESession:Invalid session``) a new one is fetched and the request sent
      once more (cancels are safe to repeat, DESIGN.md);
    - every socket that sends cancels holds the private order subscription (Kraken may close an
      auth socket without one, API-FACTS 11), so requests and the stream share one link;
    - cannot connect or get a token -> VenueUnavailable (nothing was sent: REST may be tried);
      everything else as ``Link`` and the version's protocol say.
    """

    kind = VenueKind.SPOT
    limits: ClassVar[VenueLimits]
    protocol_name: ClassVar[str]
    protocol_class: ClassVar[type[SpotWsProtocol]]

    def __init__(
        self,
        account_id: str,
        url: str,
        rest: SpotRestVenue,
        *,
        connect: Connect | None = None,
        settings: LinkSettings = SPOT_WS_LINK,
        confirm_wait_s: float = 1.0,
        resync_on_gap: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: random.Random | None = None,
        problems: Event[str] | None = None,
    ) -> None:
        """Configure; nothing connects until a stream or a request needs it.

        Args:
            account_id: The desk's account id.
            url: The WebSocket URL (``wss://ws-auth.kraken.com/v2``, v1 without ``/v2``).
            rest: The account's REST venue: tokens, listings and the confirm fallback.
            connect: Opens a connection (default: the websockets asyncio client).
            settings: The link's timeouts, pings and back-off.
            confirm_wait_s: How long ``confirm`` waits for the stream before asking REST.
            resync_on_gap: Resubscribe when a stream sequence number is skipped.
            clock: Monotonic seconds for the link.
            sleep: The link's sleep (tests pass a fake).
            rng: Random source for the back-off jitter.
            problems: Where what the stream skipped is told (default the REST venue's).
        """
        self.account_id = account_id
        self._url = url
        self._rest = rest
        self._connect: Connect = connect or websockets_connect
        self._confirm_wait = confirm_wait_s
        self._resync_on_gap = resync_on_gap
        self._ids = itertools.count(1)
        self.link: Link[SpotWsProtocol] = Link(
            f"{self.protocol_name} {account_id}",
            self._open,
            settings,
            clock=clock,
            sleep=sleep,
            rng=rng,
            problems=problems if problems is not None else rest.problems,
        )
        self.problems = self.link.problems

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account_id!r}, {self._url!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this socket can do on its own (the Spot venue combines it with REST)."""
        return Capabilities(self.limits, deadman=True, streaming=True)

    @property
    def link_state(self) -> LinkState | None:
        """The stream's last reported state (None when no stream runs)."""
        return self.link.state

    @property
    def is_live(self) -> bool:
        """True while a connection is open and subscribed."""
        return self.link.live

    @property
    def known_down(self) -> bool:
        """True when the stream runs but its connection is down (reconnecting or failed)."""
        return self.link.known_down

    # ------------------------------------------------------------------ connections

    async def _fresh_token(self) -> str:
        try:
            return await self._rest.ws_token()
        except (TransportError, MalformedReply) as e:
            # Asking for a token changes nothing at Kraken: no cancel was sent.
            raise VenueUnavailable(f"could not get a WebSocket token: {e}") from e

    async def _open(self) -> tuple[Connection, SpotWsProtocol]:
        token = await self._fresh_token()
        conn = await self._connect(self._url)
        pacer = self._rest.pacer
        proto = self.protocol_class(
            self.account_id,
            token,
            ids=self._ids,
            resync_on_gap=self._resync_on_gap,
            on_ratecount=pacer.observe,
            on_max_ratecount=self._learn_tier,
        )
        return conn, proto

    def _learn_tier(self, max_ratecount: float) -> None:
        """Kraken told the account's trading threshold: its tier sets both counters' pace."""
        self._rest.set_tier(spot_tier_for(max_ratecount))

    async def _call(
        self, make: Callable[[SpotWsProtocol], Ticket[T]], sending: Callable[[], None] | None = None
    ) -> T:
        """Send a request; on a refused token, fetch a new one and send once more."""
        try:
            await self.link.session()
        except (AuthError, PermissionDenied) as e:
            # The key may not open a WebSocket (or is refused): nothing was sent, REST may take it.
            raise VenueUnavailable(f"no WebSocket for this key: {e}", venue_error=e.venue_error) from e
        try:
            return await self.link.request(make, sending=sending)
        except AuthError as e:
            if not is_token_error(e.venue_error):
                raise
            log.info("%s: Kraken refused the token; fetching a new one", self.link.name)
        proto = self.link.protocol
        if proto is not None:
            proto.token = await self._fresh_token()
        return await self.link.request(make, sending=sending)

    # ------------------------------------------------------------------ Venue protocol

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Send one planned request over the socket now and return what Kraken said.

        The Spot venue paces it first (the per-pair counter is the account's, not the socket's);
        a socket is not a queue, so ``urgent`` changes nothing here.

        Raises:
            VenueUnavailable: could not connect or get a token (nothing was sent).
            TransportError: the socket dropped or no answer came: effect unknown.
            VenueRejected and subclasses: Kraken refused the request.
            ValueError: a form this venue cannot send (the planner never makes one).
        """
        sending = (observer or NO_OBSERVER).sent
        return await self._call(lambda proto: proto.cancel(request), sending)

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Arm (or with 0, disarm) Kraken's cancel-all-after timer."""
        return await self._call(lambda proto: proto.deadman(timeout_s))

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream the account's orders until cancelled, reconnecting as needed (see ``Link``)."""
        await self.link.run(sink, link)

    async def list_open_orders(self) -> list[Order]:
        """The live stream's orders when it is live, else REST OpenOrders."""
        proto = self.link.protocol
        if proto is not None:
            return proto.orders()
        return await self._rest.list_open_orders()

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """What became of ``orders``: the stream's word first, then REST QueryOrders.

        While the stream is live, waits up to ``confirm_wait_s`` for its word on each order.
        Anything still unsaid is asked of REST; orders the live book holds are asked apart from
        ids it does not know, so one id Kraken never had cannot spoil the answer for the others.
        """
        ids = [o.order_id for o in orders]
        if self.link.live:
            await self.link.outcomes.wait_for(ids, self._confirm_wait)
        out: dict[str, Outcome] = {}
        waiting: list[Order] = []
        for order in orders:
            known = self.link.outcomes.get(order.order_id)
            if known is not None:
                out[order.order_id] = known
            else:
                waiting.append(order)
        proto = self.link.protocol
        groups = [waiting]
        if proto is not None:
            groups = [
                [o for o in waiting if o.order_id in proto.book],
                [o for o in waiting if o.order_id not in proto.book],
            ]
        for group in groups:
            if group:
                out.update(await self._rest.confirm(group))
        return out

    async def check_key(self) -> KeyCheck:
        """The REST probes (a WS token is one of them)."""
        return await self._rest.check_key()

    def reconnect_now(self) -> None:
        """Cut the link's reconnect wait short."""
        self.link.reconnect_now()

    @property
    def system(self) -> str | None:
        """Kraken's status as this socket last heard it (the ``status`` channel), if live."""
        proto = self.link.protocol
        return proto.system if proto is not None else None

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken's status: the live socket's status channel, else public SystemStatus."""
        system = self.system
        return VenueStatus(system) if system is not None else await self._rest.kraken_status()

    async def aclose(self) -> None:
        """Close this venue's connection (the REST venue belongs to the caller)."""
        await self.link.aclose()


class SpotWsV2Venue(SpotWsVenue):
    """One Spot account over WebSocket v2 (``ws-auth.kraken.com/v2``): executions and cancels."""

    limits = VenueLimits(max_batch=ws_v2_wire.BATCH_MAX, min_batch=ws_v2_wire.BATCH_MIN, cancel_all=True)
    protocol_name = "spot-ws-v2"
    protocol_class = SpotWsV2Protocol


class SpotWsV1Venue(SpotWsVenue):
    """One Spot account over the legacy WebSocket v1 (``ws-auth.kraken.com``): openOrders and cancels."""

    limits = VenueLimits(max_batch=ws_v1_wire.LIST_MAX, min_batch=2, cancel_all=True)
    protocol_name = "spot-ws-v1"
    protocol_class = SpotWsV1Protocol
