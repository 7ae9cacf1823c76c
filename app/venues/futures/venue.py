"""Kraken Futures venue: REST v3 listing and cancels plus the WS open_orders feed, as one Venue."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from app.core.accounts import AccountSpec, Credentials, KeyCheck
from app.core.errors import AuthError, VenueError
from app.core.events import Event
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, VenueKind
from app.core.plan import CancelRequest, RequestForm, VenueLimits
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
from app.venues.futures import wire
from app.venues.futures.feed import MAX_FRAME, PING_INTERVAL_S, PING_TIMEOUT_S, FuturesFeedProtocol
from app.venues.futures.rest import FuturesRest
from app.venues.link import Connection, Link, LinkSettings, open_websocket
from app.venues.nonces import NonceSource

log = logging.getLogger("app.venues.futures.venue")

PROBE_CLI_ORD_ID = "kcc-permission-probe"  # cancelling it is harmless: no such order exists
OPTION_PROCESS_BEFORE = "process_before_ms"


# batchorder has no documented maximum: see wire.BATCH_MAX. Each instruction names its
# own id field, so order ids and client ids may share a batch.
FUTURES_CAPABILITIES = Capabilities(
    VenueLimits(
        max_batch=wire.BATCH_MAX,
        min_batch=2,
        cancel_all=True,
        cancel_all_for_symbol=True,
        batch_mixes_id_kinds=True,
    ),
    deadman=True,
    streaming=True,
)


# Kraken drops a feed silent for 60 s: the transport pings every 30 s (the SDK's rule), so the
# link sends no pings of its own. The sign-in (challenge, subscribe, snapshot) gets 15 s.
FUTURES_WS_LINK = LinkSettings(
    open_timeout_s=15.0,
    ping_interval_s=0.0,
    backoff_base_s=0.5,
    backoff_cap_s=30.0,
    stable_after_s=10.0,
)

Connect = Callable[[str], Awaitable[Connection]]


async def _websockets_connect(url: str) -> Connection:
    return await open_websocket(
        url,
        max_size=MAX_FRAME,
        open_timeout_s=FUTURES_WS_LINK.open_timeout_s,
        ping_interval_s=PING_INTERVAL_S,
        ping_timeout_s=PING_TIMEOUT_S,
    )


class FuturesVenue:
    """One Kraken Futures account.

    Rules: listing and cancels go over REST v3 (signed, nonce-ordered, budgeted: see
    ``FuturesRest``); live updates come from the WS ``open_orders`` feed. An order is reported
    CANCELLED only when Kraken's inner status for that very order says ``cancelled``, when
    cancelallorders lists it among ``cancelledOrders``, or when the feed removed it with a cancel
    reason; ``result: success`` alone proves nothing. Timeouts and dropped connections raise
    ``TransportError`` (effect unknown), never an outcome. A symbol cancel-all is only ever sent
    with its symbol.
    """

    kind = VenueKind.FUTURES
    capabilities = FUTURES_CAPABILITIES

    def __init__(
        self,
        account_id: str,
        rest_url: str,
        ws_url: str,
        credentials: Credentials,
        nonces: NonceSource,
        *,
        client: httpx.AsyncClient | None = None,
        connect: Connect | None = None,
        settings: LinkSettings = FUTURES_WS_LINK,
        process_before_ms: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Configure; nothing connects until the stream runs or a request is made.

        Args:
            account_id: the desk's account id.
            rest_url: the REST base URL.
            ws_url: the WebSocket URL of the order feed.
            credentials: the key pair.
            nonces: the nonce source (shared per key).
            client: an httpx client (tests); default one owned by the venue.
            connect: opens the feed's socket (tests); default websockets with protocol pings.
            settings: the feed link's timeouts and back-off.
            process_before_ms: reject a cancel that reaches Kraken later than this (option).
            clock: wall clock for ``processBefore``.
            sleep: the link's sleep (tests pass a fake).
            rng: the back-off jitter source.
        """
        self.account_id = account_id
        self.ws_url = ws_url
        self.rest = FuturesRest(rest_url, credentials, nonces, client)
        self.process_before_ms = process_before_ms if process_before_ms and process_before_ms > 0 else None
        self._clock = clock
        self._creds = credentials
        self._connect: Connect = connect or _websockets_connect
        self.problems: Event[str] = Event("futures problems")
        self.link: Link[FuturesFeedProtocol] = Link(
            f"futures {account_id}", self._open, settings, sleep=sleep, rng=rng, problems=self.problems
        )

    def __repr__(self) -> str:
        return f"FuturesVenue({self.account_id!r}, {self.rest.origin!r}, {self.ws_url!r})"

    async def _open(self) -> tuple[Connection, FuturesFeedProtocol]:
        conn = await self._connect(self.ws_url)
        return conn, FuturesFeedProtocol(self.account_id, self._creds)

    # ----------------------------------------------------------------------- listing

    async def list_open_orders(self) -> list[Order]:
        """Every open order (GET openorders, cost 2)."""
        problems: list[str] = []
        orders = await self.rest.open_orders(self.account_id, problems)
        for text in problems:
            log.warning("%s: skipped an order Kraken listed: %s", self.account_id, text)
            self.problems.emit(text)
        return orders

    # ----------------------------------------------------------------------- cancels

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Send one planned request: cancelorder, batchorder or cancelallorders [symbol].

        ``urgent`` requests (cancel-all, the kill switch) use the budget held back for them and go
        first on the key; ``observer`` hears of budget waits and when the bytes leave.

        Raises:
            ValueError: a request this venue cannot send (userref, oversize batch, no symbol).
            VenueError: as ``FuturesRest.call``.
        """
        obs = observer or NO_OBSERVER
        if request.form is RequestForm.ALL:
            return await self._cancel_all(None, urgent, obs)
        if request.form is RequestForm.ALL_FOR_SYMBOL:
            if not request.symbol:
                raise ValueError("a symbol cancel-all needs its symbol (never widened to all)")
            return await self._cancel_all(request.symbol, urgent, obs)
        if any(r.kind is IdKind.USERREF for r in request.refs):
            raise ValueError("Kraken Futures has no userref")
        by_client = {o.client_id: o.order_id for o in request.orders if o.client_id}
        if request.form is RequestForm.BATCH:
            if not 1 <= len(request.refs) <= wire.BATCH_MAX:
                raise ValueError(
                    f"a Futures batch holds 1..{wire.BATCH_MAX} cancels, not {len(request.refs)}"
                )
            items, server_time = await self.rest.batch_cancel(request.refs, urgent=urgent, observer=obs)
            outcomes = wire.match_items(items, request.refs, by_client)
            received = next((i.received_time for i in items if i.received_time), None)
            return CancelReply(outcomes, venue_time_in=received, venue_time_out=server_time)
        if request.form is not RequestForm.SINGLE or len(request.refs) != 1:
            raise ValueError(f"Futures cannot send {request.form} with {len(request.refs)} refs")
        ref = request.refs[0]
        before = None
        if self.process_before_ms is not None:
            # Measured from when the trader's request reached the venue, so a wait for the
            # budget counts against it: "reject my cancel if it arrives later than N ms".
            before = wire.process_before(self._clock(), self.process_before_ms)
        item, server_time = await self.rest.cancel_order(ref, before, urgent=urgent, observer=obs)
        key = self._single_key(ref, item, by_client)
        outcomes = {key: item.outcome} if key is not None else {}
        return CancelReply(outcomes, venue_time_in=item.received_time, venue_time_out=server_time)

    @staticmethod
    def _single_key(ref: CancelRef, item: wire.CancelItem, by_client: dict[str, str]) -> str | None:
        if ref.kind is IdKind.ORDER_ID:
            if item.order_id is not None and item.order_id != ref.value:
                log.error("cancelorder for %s answered about %s; ignoring it", ref.value, item.order_id)
                return None
            return ref.value
        return by_client.get(ref.value) or item.order_id

    async def _cancel_all(self, symbol: str | None, urgent: bool, observer: SendObserver) -> CancelReply:
        result, server_time = await self.rest.cancel_all(symbol, urgent=urgent, observer=observer)
        if symbol is not None and result.scope not in (None, symbol):
            log.error("cancelallorders for %s answered with scope %r", symbol, result.scope)
        outcomes = {oid: Outcome(CancelState.CANCELLED) for oid in result.cancelled_ids}
        return CancelReply(
            outcomes,
            count=len(result.cancelled_ids),
            venue_time_in=result.received_time,
            venue_time_out=server_time,
        )

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """What became of ``orders``: the feed's removal reasons where known, else a fresh listing.

        An order still listed failed to cancel; one no longer listed is already gone (Kraken's
        REST has no per-order history we could cite as proof of a cancel).
        """
        out: dict[str, Outcome] = {}
        pending = [o for o in orders if self.link.outcomes.get(o.order_id) is None]
        still_open: set[str] = set()
        if pending:
            still_open = {o.order_id for o in await self.list_open_orders()}
        for order in orders:
            proven = self.link.outcomes.get(order.order_id)
            if proven is not None:
                out[order.order_id] = proven
            elif order.order_id in still_open:
                out[order.order_id] = Outcome(CancelState.FAILED, "still open after the cancel")
            else:
                out[order.order_id] = Outcome(CancelState.ALREADY_GONE, "no longer open")
        return out

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """cancelallordersafter; 0 disarms (Kraken suggests re-arming every 15-20 s with 60)."""
        current, trigger = await self.rest.cancel_all_after(timeout_s)
        return DeadmanStatus(current, trigger)

    # ----------------------------------------------------------------------- stream

    def reconnect_now(self) -> None:
        """Cut the feed's reconnect wait short (the F5 key)."""
        self.link.reconnect_now()

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken Futures' notices: a scheduled maintenance, with when it starts."""
        try:
            notices = await self.rest.notifications()
        except VenueError as e:
            log.info("%s: notifications unavailable: %s", self.account_id, e)
            return VenueStatus("unknown", "Kraken Futures' notices could not be read")
        now = self._clock()
        for notice in notices:
            if notice.get("type") != "maintenance":
                continue
            start = wire.iso_to_unix_or_none(notice.get("effectiveTime"))
            minutes = notice.get("expectedDowntimeMinutes")
            end = start + 60.0 * minutes if start is not None and isinstance(minutes, int | float) else None
            note = str(notice.get("note") or "scheduled maintenance")
            if start is not None and start <= now and (end is None or now < end):
                return VenueStatus("maintenance", note, start)
            if start is not None and start > now:
                return VenueStatus("online", note, start)
        return VenueStatus("online")

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """The open_orders feed into ``sink`` until cancelled (see ``Link``, ``FuturesFeedProtocol``)."""
        await self.link.run(sink, link)

    # ----------------------------------------------------------------------- key

    async def check_key(self) -> KeyCheck:
        """Probe: openorders (query), then a cancel of a client id nobody uses (cancel).

        Kraken Futures has no distinct permission error; when the listing works but the cancel
        probe is refused with ``authenticationError`` the key is read-only.
        """
        await self.list_open_orders()
        notes: list[str] = []
        try:
            item, _ = await self.rest.cancel_order(CancelRef(IdKind.CLIENT_ID, PROBE_CLI_ORD_ID))
            # notFound proves the key may cancel; any other answer to a made-up id is unclear.
            can_cancel: bool | None = True if item.status == wire.ST_NOT_FOUND else None
        except AuthError:
            can_cancel = False
            notes.append("This key can read but not cancel: give it full access (Kraken Futures).")
        return KeyCheck(True, can_cancel, None, tuple(notes))

    async def aclose(self) -> None:
        """Close the feed and the HTTP client if we made it."""
        await self.link.aclose()
        await self.rest.aclose()


def build_futures_venue(
    spec: AccountSpec, creds: Credentials, nonces: NonceSource, *, rest_url: str, ws_url: str
) -> FuturesVenue:
    """The registry's factory: the account's endpoints and its ``process_before_ms`` option.

    Args:
        spec: the account.
        creds: its key pair.
        nonces: the desk's shared nonce source.
        rest_url: the REST base URL.
        ws_url: the WebSocket URL of the order feed.

    Returns:
        The venue.
    """
    option = spec.options.get(OPTION_PROCESS_BEFORE)
    before_ms: int | None = None
    if isinstance(option, int) and not isinstance(option, bool):
        before_ms = option
    elif isinstance(option, str) and option.strip().isdigit():
        before_ms = int(option)
    return FuturesVenue(
        spec.account_id,
        rest_url,
        ws_url,
        creds,
        nonces,
        process_before_ms=before_ms,
    )
