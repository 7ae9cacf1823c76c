"""The Spot account as one venue over three transports: REST, WebSocket v2 and legacy v1."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import httpx

from app.core.accounts import AccountSpec, Credentials, KeyCheck, Transport
from app.core.errors import RateLimited, VenueUnavailable
from app.core.ledger import Outcome
from app.core.orders import Order, VenueKind
from app.core.plan import CancelRequest, VenueLimits
from app.core.ratelimits import DEFAULT_SPOT_TIER, SPOT_TIERS
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
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue
from app.venues.spot.ws import Connect, SpotWsV1Venue, SpotWsV2Venue, SpotWsVenue

log = logging.getLogger("app.venues.spot.venue")

T = TypeVar("T")

WS_RETRY_AFTER_S = 30.0  # after the socket could not be reached, use REST this long before retrying


def _common_limits(*limits: VenueLimits) -> VenueLimits:
    """Limits every transport can honour, so a plan stays valid when a cancel falls back to REST."""
    return VenueLimits(
        max_batch=min(lim.max_batch for lim in limits),
        min_batch=max(lim.min_batch for lim in limits),
        cancel_all=all(lim.cancel_all for lim in limits),
        cancel_all_for_symbol=all(lim.cancel_all_for_symbol for lim in limits),
        batch_mixes_id_kinds=all(lim.batch_mixes_id_kinds for lim in limits),
    )


OPTION_SPOT_TIER = "spot_tier"  # starter (default), intermediate or pro (API-FACTS 7)

# With the default transports (WS v2 streams and cancels, REST behind it).
SPOT_CAPABILITIES = Capabilities(
    VenueLimits(max_batch=50, min_batch=2, cancel_all=True), deadman=True, streaming=True
)


class SpotVenue:
    """One Spot account: REST plus the WebSocket chosen to stream and the one chosen to cancel.

    Rules kept:
    - ``capabilities.streaming`` is True when a WebSocket streams; with REST streaming the desk polls
      ``list_open_orders`` and ``run_stream`` is not used;
    - cancels (and the dead man's switch) go over the cancel socket when it is live or can be
      reached; when the socket is known down, or cannot be reached (nothing was sent), they go
      over REST, which is always there; a request that was sent and then lost (TransportError:
      effect unknown) is never re-sent elsewhere: the desk re-checks instead;
    - ``limits`` are what every transport can do (a plan made for the socket also fits REST);
    - ``confirm`` uses the stream's word for each order when a WebSocket streams, else REST.
    """

    kind = VenueKind.SPOT

    def __init__(
        self,
        account_id: str,
        rest: SpotRestVenue,
        *,
        stream: SpotWsVenue | None = None,
        cancel: SpotWsVenue | None = None,
        ws_retry_after_s: float = WS_RETRY_AFTER_S,
    ) -> None:
        """Assemble the account's transports.

        Args:
            account_id: The desk's account id.
            rest: The REST venue (listings, fallback cancels, tokens, confirm).
            stream: The WebSocket venue that streams orders; None to poll REST.
            cancel: The WebSocket venue that cancels; None to cancel over REST.
            ws_retry_after_s: After the cancel socket could not be reached, how long to use REST
                before trying the socket again.
        """
        self.account_id = account_id
        self.rest = rest
        self.stream_venue = stream
        self.cancel_venue = cancel
        self.problems = rest.problems  # the sockets built by build_spot_venue tell it too
        self.capabilities = Capabilities(
            _common_limits(rest.capabilities.limits, *([cancel.limits] if cancel is not None else [])),
            deadman=True,
            streaming=stream is not None,
        )
        self._ws_retry_after = ws_retry_after_s
        self._ws_unreachable_until = 0.0

    def __repr__(self) -> str:
        def name(v: SpotWsVenue | None) -> str:
            return "rest" if v is None else v.protocol_name

        stream, cancel = name(self.stream_venue), name(self.cancel_venue)
        return f"SpotVenue({self.account_id!r}, stream={stream}, cancel={cancel})"

    @property
    def cancel_transport(self) -> str:
        """Which transport the next cancel would use (``rest`` or the socket's name)."""
        ws = self._usable_ws()
        return "rest" if ws is None else ws.protocol_name

    def _usable_ws(self) -> SpotWsVenue | None:
        ws = self.cancel_venue
        if ws is None or ws.known_down:
            return None
        if not ws.is_live and time.monotonic() < self._ws_unreachable_until:
            return None
        return ws

    async def _over_ws_or_rest(
        self, what: str, on_ws: Callable[[SpotWsVenue], Awaitable[T]], on_rest: Callable[[], Awaitable[T]]
    ) -> T:
        ws = self._usable_ws()
        if ws is not None:
            try:
                return await on_ws(ws)
            except VenueUnavailable as e:
                # Nothing was sent (no socket, no token) or Kraken refused it as unavailable:
                # a cancel is safe to send again over REST.
                log.info("%s for %s over REST: %s", what, self.account_id, e)
                if not ws.is_live:
                    self._ws_unreachable_until = time.monotonic() + self._ws_retry_after
        return await on_rest()

    async def list_open_orders(self) -> list[Order]:
        """Every open order: the live stream's view, else REST OpenOrders."""
        if self.stream_venue is not None:
            return await self.stream_venue.list_open_orders()
        return await self.rest.list_open_orders()

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Pace the request on the account's per-pair counter, then send it over the cancel socket,
        or REST when the socket is down."""
        obs = observer or NO_OBSERVER
        pacer = self.rest.pacer
        costs = await pacer.take_turn(request, urgent=urgent, observer=obs)
        try:
            return await self._over_ws_or_rest(
                "cancel",
                lambda ws: ws.execute(request, urgent=urgent, observer=obs),
                lambda: self.rest.send(request, urgent=urgent, observer=obs),
            )
        except RateLimited:
            pacer.refused(costs)
            raise

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """What became of each order: the stream's word first (if one streams), then REST."""
        if self.stream_venue is not None:
            return await self.stream_venue.confirm(orders)
        return await self.rest.confirm(orders)

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Arm (or with 0 disarm) the dead man's switch over the cancel transport."""
        return await self._over_ws_or_rest(
            "dead man's switch",
            lambda ws: ws.arm_deadman(timeout_s),
            lambda: self.rest.arm_deadman(timeout_s),
        )

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Run the WebSocket stream (only when ``capabilities.streaming``; REST accounts are polled)."""
        if self.stream_venue is None:
            raise NotImplementedError("this Spot account polls REST; it does not stream")
        await self.stream_venue.run_stream(sink, link)

    def reconnect_now(self) -> None:
        """Cut every socket's reconnect wait short (the F5 key)."""
        for ws in (self.stream_venue, self.cancel_venue):
            if ws is not None:
                ws.reconnect_now()

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken's status: what the live socket's status channel said, else public SystemStatus."""
        for ws in (self.stream_venue, self.cancel_venue):
            if ws is not None and ws.system is not None:
                return VenueStatus(ws.system)
        return await self.rest.kraken_status()

    async def check_key(self) -> KeyCheck:
        """Probe what the key may do (REST probes, including a WebSocket token)."""
        return await self.rest.check_key()

    async def aclose(self) -> None:
        """Close every transport."""
        seen: list[SpotWsVenue] = []
        for ws in (self.stream_venue, self.cancel_venue):
            if ws is not None and all(ws is not s for s in seen):
                seen.append(ws)
                await ws.aclose()
        await self.rest.aclose()


def build_spot_venue(
    spec: AccountSpec,
    creds: Credentials,
    nonces: NonceSource,
    *,
    rest_url: str,
    ws_urls: Mapping[Transport, str],
    client: httpx.AsyncClient | None = None,
    connect: Connect | None = None,
) -> SpotVenue:
    """The registry factory for Spot accounts.

    The account's ``stream_transport`` and ``cancel_transport`` pick the sockets (one socket
    venue is shared when both name the same one).

    Args:
        spec: The account.
        creds: Its API key.
        nonces: The nonce source (shared per key).
        rest_url: The REST base URL.
        ws_urls: The WebSocket URL of each socket transport.
        client: An httpx client for REST (tests); default a new one owned by the venue.
        connect: Opens WebSocket connections (tests); default the websockets client.

    Returns:
        The composite venue.
    """
    # The account's verification tier paces its REST calls and cancels until Kraken streams it.
    tier = SPOT_TIERS.get(str(spec.options.get(OPTION_SPOT_TIER, "")).lower(), DEFAULT_SPOT_TIER)
    rest = SpotRestVenue(spec.account_id, rest_url, creds, nonces, client=client, tier=tier)
    sockets: dict[Transport, SpotWsVenue] = {}

    def socket(transport: Transport) -> SpotWsVenue | None:
        if transport is Transport.REST:
            return None
        if transport not in sockets:
            if transport is Transport.WS_V2:
                sockets[transport] = SpotWsV2Venue(spec.account_id, ws_urls[transport], rest, connect=connect)
            else:
                sockets[transport] = SpotWsV1Venue(spec.account_id, ws_urls[transport], rest, connect=connect)
        return sockets[transport]

    return SpotVenue(
        spec.account_id,
        rest,
        stream=socket(spec.stream_transport),
        cancel=socket(spec.cancel_transport),
    )
