"""Kraken Spot REST venue: the thin I/O loop around ``rest_wire`` and ``signing``."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from app.core.accounts import Credentials, KeyCheck
from app.core.errors import (
    AuthError,
    MalformedReply,
    PermissionDenied,
    RateLimited,
    VenueError,
    VenueRejected,
)
from app.core.events import Event
from app.core.ledger import CancelState, Outcome
from app.core.orders import IdKind, Order, VenueKind
from app.core.plan import CancelRequest, RequestForm, VenueLimits
from app.core.ratelimits import DEFAULT_SPOT_TIER, CallCounter, SpotTier
from app.logsafe import register_secret
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
from app.venues.http import error_for_transport, new_client
from app.venues.lanes import PriorityLock
from app.venues.nonces import NonceSource, key_id, retry_after_nonce_clash
from app.venues.signing import spot_rest_sign
from app.venues.spot import rest_wire as wire
from app.venues.spot.pacing import SpotPacer

log = logging.getLogger("app.venues.spot.rest")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CALLS_HELD_FOR_URGENT = 2.0  # REST call counter units only cancel-all and the kill switch may use
# Units the listing poll leaves free for cancels and their re-checks (QueryOrders): a poll every
# 2 s costs as much as the Intermediate counter decays, more than Starter's, so a poll that took
# any free unit would make every re-check wait behind it (the soak: a kill switch over 120 s).
CALLS_LEFT_BY_POLLS = 5.0
# ...but not for ever: a poll that has waited this long goes like any other call, so rows Kraken
# closed (its dead man's switch, a fill) leave the table within about this plus the poll's 2 s.
POLL_MAX_WAIT_S = 6.0
PROBE_CL_ORD_ID = "kcc-permission-probe"  # cancelling it is harmless: no such order exists
# Querying it is cheap: Kraken answers a made-up txid with EOrder:Invalid order once past the
# permission check (API-FACTS 11), where OpenOrders would send and parse every open order.
PROBE_TXID = "OKCCPR-OBEKC-CPROBE"
# The trade-permission probe: validate=true makes Kraken check the order and place nothing; a
# buy at 1 USD could never fill even so.
PROBE_ORDER = {
    "pair": "XBTUSD",
    "type": "buy",
    "ordertype": "limit",
    "price": "1",
    "volume": "0.0001",
    "validate": "true",
}


class SpotRestVenue:
    """One Spot account over REST.

    Rules: every private call takes the next nonce and is sent while holding the key's lock, so
    nonces reach Kraken in increasing order (API-FACTS 1.2), urgent calls (cancel-all, the kill
    switch) first; the body is signed exactly as sent. Calls other than cancels are kept inside
    Kraken's REST call counter (API-FACTS 7.1, a slice held back for urgent calls); cancels inside
    the account's per-pair trading counter (``SpotPacer``). Listing is by polling
    (``capabilities.streaming`` is False).
    """

    kind = VenueKind.SPOT
    capabilities = Capabilities(
        VenueLimits(max_batch=wire.BATCH_MAX, min_batch=2, cancel_all=True), deadman=True, streaming=False
    )

    def __init__(
        self,
        account_id: str,
        base_url: str,
        credentials: Credentials,
        nonces: NonceSource,
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        *,
        tier: SpotTier = DEFAULT_SPOT_TIER,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.account_id = account_id
        self._base = base_url.rstrip("/")
        self._creds = credentials
        self._nonces = nonces
        self._key_id = key_id(credentials.api_key)
        self._client = client or new_client(timeout)
        self._owns_client = client is None
        self._lock = PriorityLock()
        self._clock = clock
        self._sleep = sleep
        self.tier = tier
        self.calls = self._call_counter(tier)
        self.pacer = SpotPacer(clock=clock, sleep=sleep)
        self.pacer.set_max(tier.trading_threshold)
        self.problems: Event[str] = Event("venue_problems")

    def __repr__(self) -> str:
        return f"SpotRestVenue({self.account_id!r}, {self._base!r})"

    def set_tier(self, tier: SpotTier) -> None:
        """Pace calls and cancels by ``tier`` (the account's setting, or what Kraken streamed)."""
        if tier is self.tier:
            return
        self.tier = tier
        self.calls = self._call_counter(tier)
        self.pacer.set_max(tier.trading_threshold)

    @staticmethod
    def _call_counter(tier: SpotTier) -> CallCounter:
        return CallCounter(
            tier.call_max, tier.call_decay_per_s, reserve=CALLS_HELD_FOR_URGENT, headroom=CALLS_LEFT_BY_POLLS
        )

    async def _private(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        as_json: bool = False,
        urgent: bool = False,
        background: bool = False,
        observer: SendObserver = NO_OBSERVER,
    ) -> dict[str, Any]:
        """One private call inside the REST call counter.

        ``background`` (the listing poll) leaves ``CALLS_LEFT_BY_POLLS`` units free, so cancels
        and their re-checks go first, for up to ``POLL_MAX_WAIT_S``; then it goes like any call.
        """
        path = f"/0/private/{method}"
        cost = 0.0 if method in wire.ENGINE_COUNTED else 1.0
        since = self._clock()
        while True:
            now = self._clock()
            behind = background and now - since < POLL_MAX_WAIT_S
            wait = self.calls.wait_s(cost, now, urgent=urgent, background=behind)
            if wait > 0:
                if behind:  # look again when it may go like any other call
                    wait = min(wait, max(0.0, POLL_MAX_WAIT_S - (now - since)) + 0.001)
                log.info("%s: REST call counter full: %s waits %.1f s", self.account_id, method, wait)
                await self._sleep(wait)
                continue
            async with self._lock.hold(urgent=urgent):
                if self.calls.wait_s(cost, self._clock(), urgent=urgent, background=behind) > 0:
                    continue  # another call took the room while we queued for the lock
                self.calls.charge(cost, self._clock())
                return await self._send_locked(method, path, params, as_json, observer)

    async def _send_locked(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        as_json: bool,
        observer: SendObserver,
    ) -> dict[str, Any]:
        # "Invalid nonce" means nothing was applied: another program used a higher nonce on this
        # key. Jump ahead and send once more; a second refusal is that program's doing.
        return await retry_after_nonce_clash(
            lambda: self._send_once(method, path, params, as_json, observer),
            self._nonces,
            self._key_id,
            ("EAPI:Invalid nonce",),
            "Kraken",
        )

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        as_json: bool,
        observer: SendObserver,
    ) -> dict[str, Any]:
        nonce = self._nonces.next(self._key_id)
        payload: dict[str, Any] = {"nonce": nonce, **(params or {})}
        if as_json:
            body = wire.encode_json(payload)
            ctype = "application/json"
        else:
            body = wire.encode_form(payload)
            ctype = "application/x-www-form-urlencoded"
        headers = {
            "API-Key": self._creds.api_key,
            "API-Sign": spot_rest_sign(path, nonce, body, self._creds.secret),
            "Content-Type": ctype,
            "User-Agent": "kraken-cancel-console",
        }
        observer.sent()
        try:
            resp = await self._client.post(self._base + path, content=body, headers=headers)
        except httpx.TransportError as e:
            raise error_for_transport(e, method) from e
        try:
            return wire.parse_envelope(resp.status_code, resp.headers.get("content-type", ""), resp.content)
        except RateLimited as e:
            if e.venue_error is None or e.venue_error.startswith("EAPI:"):
                self.calls.refused(self._clock())  # the call counter, not the engine's
            raise

    async def list_open_orders(self) -> list[Order]:
        """Every open order (OpenOrders); a malformed entry is skipped and told to ``problems``."""
        problems: list[str] = []
        raw = await self._private("OpenOrders", background=True)  # cancels and re-checks go first
        orders = wire.parse_open_orders(self.account_id, raw, problems)
        for text in problems:
            log.warning("%s: skipped an order Kraken listed: %s", self.account_id, text)
            self.problems.emit(text)
        return orders

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Send one planned request within the account's per-pair counter (see ``send``)."""
        observer = observer or NO_OBSERVER
        costs = await self.pacer.take_turn(request, urgent=urgent, observer=observer)
        try:
            return await self.send(request, urgent=urgent, observer=observer)
        except RateLimited:
            self.pacer.refused(costs)
            raise

    async def send(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver = NO_OBSERVER
    ) -> CancelReply:
        """Send one planned request now: CancelOrder, CancelOrderBatch or CancelAll.

        A single cancel by txid that Kraken counts is proof for that order; a batch, userref or
        cancel-all count is not per order, so the reply carries only the count (the desk confirms).
        """
        call = functools.partial(self._private, urgent=urgent, observer=observer)
        if request.form is RequestForm.ALL:
            count, pending = wire.parse_count(await call("CancelAll"))
            return CancelReply(count=count, pending=pending)
        if request.form is RequestForm.BATCH:
            orders = [r.value for r in request.refs if r.kind is not IdKind.CLIENT_ID]
            cl_ids = [r.value for r in request.refs if r.kind is IdKind.CLIENT_ID]
            params: dict[str, Any] = {}
            if orders:
                params["orders"] = orders
            if cl_ids:
                # The schema's shape: a list of {"cl_ord_id": ...} objects (API-FACTS 11).
                params["cl_ord_ids"] = [{"cl_ord_id": c} for c in cl_ids]
            try:
                result = await call("CancelOrderBatch", params, as_json=True)
            except VenueRejected as e:
                if e.venue_error in wire.NOT_KNOWN:
                    # Refused because of one id it does not know: that says nothing about the
                    # others (some may be cancelled already). Confirm each order.
                    return CancelReply()
                raise
            count, pending = wire.parse_count(result)
            return CancelReply(count=count, pending=pending)
        if request.form is not RequestForm.SINGLE or len(request.refs) != 1:
            raise ValueError(f"Spot REST cannot send {request.form} with {len(request.refs)} refs")
        ref = request.refs[0]
        single: dict[str, Any]
        if ref.kind is IdKind.CLIENT_ID:
            single = {"cl_ord_id": ref.value}
        elif ref.kind is IdKind.USERREF:
            single = {"txid": int(ref.value)}
        else:
            single = {"txid": ref.value}
        try:
            count, pending = wire.parse_count(await call("CancelOrder", single))
        except VenueRejected as e:
            if e.venue_error in wire.NOT_KNOWN and ref.kind is not IdKind.USERREF:
                # Kraken does not know the order now: it was closed (by us, someone else, a fill)
                # or never valid. Which, QueryOrders says: confirm before showing anything.
                outcome = Outcome(
                    CancelState.UNKNOWN, f"Kraken does not know the order now ({e.venue_error}); checking"
                )
                return CancelReply({o.order_id: outcome for o in request.orders})
            raise
        if ref.kind is IdKind.ORDER_ID and count == 1:
            state = CancelState.ACKNOWLEDGED if pending else CancelState.CANCELLED
            return CancelReply({ref.value: Outcome(state)}, count=count, pending=pending)
        return CancelReply(count=count, pending=pending)

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """Ask QueryOrders what became of each order (50 per call).

        Ids Kraken does not return are already gone (it no longer knows them).
        """
        out: dict[str, Outcome] = {}
        ids = [o.order_id for o in orders]
        for i in range(0, len(ids), wire.QUERY_MAX):
            await self._query_into(ids[i : i + wire.QUERY_MAX], out)
        return out

    async def _query_into(self, chunk: list[str], out: dict[str, Outcome]) -> None:
        try:
            result = await self._private("QueryOrders", {"txid": ",".join(chunk)})
        except VenueRejected as e:
            if e.venue_error not in wire.NOT_KNOWN:
                raise
            # One unknown id fails the whole call: ask each half again (a still-open order in
            # the same chunk is never taken for gone), so one stale id among 50 costs about a
            # dozen calls on the REST call counter, not 50.
            if len(chunk) > 1:
                half = len(chunk) // 2
                await self._query_into(chunk[:half], out)
                await self._query_into(chunk[half:], out)
                return
            result = {}
        for txid in chunk:
            raw = result.get(txid)
            if isinstance(raw, dict):
                out[txid] = wire.outcome_from_status(raw)
            else:
                out[txid] = Outcome(CancelState.ALREADY_GONE, "Kraken no longer knows the order")

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """CancelAllOrdersAfter; 0 disarms."""
        result = await self._private("CancelAllOrdersAfter", {"timeout": int(timeout_s)})
        trigger = str(result.get("triggerTime", ""))
        if not trigger:
            raise MalformedReply("CancelAllOrdersAfter reply has no triggerTime")
        return DeadmanStatus(result.get("currentTime"), None if trigger == "0" else trigger)

    async def ws_token(self) -> str:
        """A fresh token from GetWebSocketsToken (valid 15 minutes until first used)."""
        result = await self._private("GetWebSocketsToken")
        token = result.get("token")
        if not isinstance(token, str) or not token:
            raise MalformedReply("GetWebSocketsToken reply has no token")
        register_secret(token)  # kept out of every log line (app.logsafe)
        return token

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Spot REST has no stream; the desk polls ``list_open_orders``."""
        raise NotImplementedError("Spot REST does not stream")

    async def check_key(self) -> KeyCheck:
        """Probe: QueryOrders of a txid nobody has (query), a cancel of a client id nobody uses
        (cancel), token (websocket); then what the console does not need: AddOrder with ``validate=true``
        (trade: Kraken checks the order and places nothing), Balance (query funds) and
        WithdrawMethods (withdraw). Kraken has no "what may this key do" call for Spot.
        """
        notes: list[str] = []

        async def probe(coro: Any, *, refusal_says_yes: bool = False) -> bool | None:
            try:
                await coro
                return True
            except PermissionDenied:
                return False
            except VenueRejected as e:
                if e.venue_error in wire.NOT_KNOWN:
                    return True
                if not refusal_says_yes:
                    raise
                if isinstance(e, AuthError | RateLimited) or "Unknown method" in (e.venue_error or ""):
                    return None  # could not tell (a Kraken-like host may lack the method)
                return True  # past the permission check: refused for the order's own reasons
            except VenueError:
                if not refusal_says_yes:
                    raise
                return None

        can_query = await probe(self._private("QueryOrders", {"txid": PROBE_TXID}), refusal_says_yes=True)
        can_cancel = await probe(self._private("CancelOrder", {"cl_ord_id": PROBE_CL_ORD_ID}))
        can_ws = await probe(self.ws_token())
        extra = {"refusal_says_yes": True}
        can_trade = await probe(self._private("AddOrder", PROBE_ORDER), **extra)
        can_funds = await probe(self._private("Balance"), **extra)
        can_withdraw = await probe(self._private("WithdrawMethods"), **extra)
        if can_cancel is False:
            notes.append("This key cannot cancel: give it 'Cancel & close orders'.")
        return KeyCheck(can_query, can_cancel, can_ws, tuple(notes), can_trade, can_withdraw, can_funds)

    def reconnect_now(self) -> None:
        """REST has no connection to cut short: the next poll asks again."""

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken's public SystemStatus (online, maintenance, cancel_only, post_only)."""
        try:
            resp = await self._client.get(self._base + "/0/public/SystemStatus")
            result = wire.parse_envelope(resp.status_code, resp.headers.get("content-type", ""), resp.content)
        except (httpx.HTTPError, VenueError) as e:
            log.info("%s: SystemStatus unavailable: %s", self.account_id, type(e).__name__)
            return VenueStatus("unknown", "Kraken's status could not be read")
        status = result.get("status")
        return VenueStatus(str(status) if isinstance(status, str) else "unknown")

    async def aclose(self) -> None:
        """Close the HTTP client if we made it."""
        if self._owns_client:
            await self._client.aclose()
