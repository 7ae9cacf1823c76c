"""Kraken Prime venue: the link engine around the Prime protocol, signed at the HTTP upgrade."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from app.core.accounts import AccountSpec, Credentials, KeyCheck
from app.core.errors import (
    AuthError,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.events import Event
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, Order, Side, VenueKind
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
from app.venues.link import Connection, Link, LinkSettings, open_websocket
from app.venues.prime import wire
from app.venues.prime.protocol import AUTH_HELP, PrimeProtocol
from app.venues.signing import prime_ws_sign

log = logging.getLogger("app.venues.prime.venue")

# Kraken documents no maximum number of entries in an OrderCancelRequest's data[] (seed 002).
# 100 keeps one frame near 20 KB (about 200 bytes per entry), far under common WebSocket gateway
# frame limits, and bounds what one refused request (an error answer covers the whole request)
# can hold up; execute() may be called concurrently, so the desk can pipeline chunks.
MAX_BATCH = 100
MAX_FRAME_BYTES = 2**25  # a 10,000-order snapshot is a few MB; websockets' default is 1 MiB
CONFIRM_CONCURRENCY = 16  # one-shot OrderID subscriptions in flight during confirm()
PROBE_SYMBOL = "BTC-USD"

# Prime needs no pings to keep a session (API-FACTS 9.2); we ping every 20 s to notice a dead
# link (half-open TCP). A cancel waits up to 10 s for the streams' final word, from the send.
PRIME_LINK = LinkSettings(
    open_timeout_s=10.0,
    request_timeout_s=10.0,
    settle_s=None,
    ping_interval_s=20.0,
    pong_timeout_s=10.0,
    backoff_base_s=0.5,
    backoff_cap_s=30.0,
    stable_after_s=10.0,
)

Connector = Callable[[str, dict[str, str], float], Awaitable[Connection]]


async def default_connect(url: str, headers: dict[str, str], open_timeout: float) -> Connection:
    """Open the socket with websockets (protocol pings off: we send Prime's own Ping).

    Args:
        url: the WebSocket URL.
        headers: the sign-in headers for the upgrade.
        open_timeout: seconds for TCP, TLS and the upgrade.

    Returns:
        The open connection.

    Raises:
        InvalidStatus: the upgrade was refused (e.g. HTTP 401).
        OSError: the host could not be reached.
    """
    return await open_websocket(
        url, max_size=MAX_FRAME_BYTES, headers=headers, open_timeout_s=open_timeout, ping_interval_s=None
    )


def upgrade_headers(url: str, credentials: Credentials, now: float) -> dict[str, str]:
    """The sign-in headers for the HTTP upgrade (API-FACTS 9.1).

    The signed host and path come from ``url`` (host without port, as Kraken's example signs the
    bare host name).

    Args:
        url: the WebSocket URL, e.g. ``wss://wss.prime.kraken.com/ws/v1``.
        credentials: the Prime key pair.
        now: unix seconds for ``ApiTimestamp``.

    Returns:
        ``ApiKey``, ``ApiSign``, ``ApiTimestamp``.
    """
    parts = urlsplit(url)
    timestamp = wire.iso_utc(now)
    sign = prime_ws_sign(timestamp, parts.hostname or "", parts.path or "/", credentials.secret)
    return {"ApiKey": credentials.api_key, "ApiSign": sign, "ApiTimestamp": timestamp}


def _refusal_words(body: bytes) -> str:
    """The server's own words from a refused upgrade's body (JSON ``error.msg`` or short text)."""
    text = body[:300].decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(err, dict) and err.get("msg"):
            return f": {err['msg']}"
    return f": {text[:200]}" if text and not text.startswith(("<", "{")) else ""


def _upgrade_error(e: InvalidStatus) -> VenueError:
    status = e.response.status_code
    said = _refusal_words(bytes(e.response.body or b""))
    if status in (401, 403):
        return AuthError(
            f"Kraken Prime refused the sign-in (HTTP {status}{said}); {AUTH_HELP}.",
            venue_error=f"HTTP {status}",
        )
    if status == 429:
        return RateLimited(f"Kraken Prime refused the connection: too many requests (HTTP 429){said}")
    return VenueUnavailable(f"Kraken Prime refused the connection (HTTP {status}){said}; nothing was sent")


# No cancel-all and no dead man's switch on Prime: the planner fans out per order.
PRIME_CAPABILITIES = Capabilities(
    VenueLimits(max_batch=MAX_BATCH, min_batch=2, cancel_all=False), deadman=False, streaming=True
)


class PrimeWsVenue:
    """One Kraken Prime account over its WebSocket: one link, one ``PrimeProtocol`` per connection.

    Rules kept: sign in at the HTTP upgrade with ApiKey/ApiSign/ApiTimestamp (a fresh timestamp
    per connect); one signed-in socket at a time, shared by the stream, listing, cancels and
    confirmations; a cancel's outcome comes only from the streams (``PrimeProtocol``); Prime has
    no cancel-all and no dead man's switch (``capabilities``); reconnects as ``Link`` does.
    """

    kind = VenueKind.PRIME
    capabilities = PRIME_CAPABILITIES

    def __init__(
        self,
        account_id: str,
        url: str,
        credentials: Credentials,
        *,
        connect: Connector | None = None,
        settings: LinkSettings = PRIME_LINK,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Configure, without connecting (the first call signs in).

        Args:
            account_id: the desk's id for the account.
            url: the ``prime_ws`` endpoint (production ``wss://wss.prime.kraken.com/ws/v1``).
            credentials: the Prime key and secret (the secret is HMAC key bytes as-is).
            connect: opens a socket (tests may inject one); default websockets.
            settings: the link's timeouts (``request_timeout_s``: a cancel's wait for the
                streams' final word before unknown), pings and back-off.
            clock: wall clock for ApiTimestamp, TransactTime and Ping timestamps.
            sleep: the link's sleep (tests pass a fake).
            rng: jitter source.
        """
        self.account_id = account_id
        self._url = url
        self._creds = credentials
        self._connect = connect or default_connect
        self._clock = clock
        self._reqids = itertools.count(1)  # Kraken: reqid must not be 0
        self.problems: Event[str] = Event("prime problems")
        self.link: Link[PrimeProtocol] = Link(
            f"prime {account_id}", self._open, settings, sleep=sleep, rng=rng, problems=self.problems
        )

    def __repr__(self) -> str:
        return f"PrimeWsVenue({self.account_id!r}, {self._url!r})"

    async def _open(self) -> tuple[Connection, PrimeProtocol]:
        headers = upgrade_headers(self._url, self._creds, self._clock())
        try:
            conn = await self._connect(self._url, headers, self.link.settings.open_timeout_s)
        except InvalidStatus as e:
            raise _upgrade_error(e) from None
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as e:
            raise VenueUnavailable(
                f"could not reach Kraken Prime at {self._url} ({type(e).__name__}); nothing was sent"
            ) from e
        return conn, PrimeProtocol(self.account_id, reqids=self._reqids, clock=self._clock)

    # ----------------------------------------------------------------------- Venue protocol

    async def list_open_orders(self) -> list[Order]:
        """Every open order: the live view, from the initial snapshot of the current connection.

        Raises:
            AuthError: the sign-in was refused.
            VenueUnavailable: Kraken Prime could not be reached or sent no snapshot.
        """
        session = await self.link.session()
        return session.proto.orders()

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Send one OrderCancelRequest with a data entry per order and wait for the streams' word.

        Prime documents no rate limit and no per-key queue: ``urgent`` changes nothing here.

        Returns per order: cancelled, already gone, filled, rejected (Kraken's reason) or unknown
        (no final word in time, or the socket dropped).

        Raises:
            ValueError: a cancel-all form, a userref, too many refs, or a ref without its order.
            AuthError: the sign-in was refused (nothing was sent).
            VenueUnavailable: Kraken Prime could not be reached (nothing was sent).
        """
        if request.form in (RequestForm.ALL, RequestForm.ALL_FOR_SYMBOL):
            raise ValueError("Kraken Prime has no cancel-all: plan per-order requests (cancel_all=False)")
        entries = wire.cancel_entries(request.refs, request.orders)
        if not entries:
            return CancelReply()
        if len(entries) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} orders per Prime cancel request")
        sending = (observer or NO_OBSERVER).sent
        return CancelReply(await self.link.request(lambda proto: proto.cancel(entries), sending=sending))

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """Find out what became of orders: closed facts seen on the streams, else a fresh query.

        The fresh query is a one-shot ``Order`` subscription filtered on the OrderID (its initial
        snapshot holds the order's current state), stopped right after. Orders still pending
        cancel, or whose query got no answer, are left out (still unknown).

        Raises:
            AuthError: the sign-in was refused.
            VenueUnavailable: Kraken Prime could not be reached.
        """
        out: dict[str, Outcome] = {}
        to_query: list[Order] = []
        for order in orders:
            known = self.link.outcomes.get(order.order_id)
            # Only definite facts are reused; a bare removal is re-asked.
            if known is not None and known.state in (CancelState.CANCELLED, CancelState.FILLED):
                out[order.order_id] = known
            else:
                to_query.append(order)
        if not to_query:
            return out
        await self.link.session()
        gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

        async def one(order_id: str) -> None:
            async with gate:
                try:
                    outcome = await self.link.request(lambda proto: proto.query(order_id))
                except (TransportError, VenueRejected, VenueUnavailable) as e:
                    log.warning("%s: could not confirm %s: %s", self.account_id, order_id, type(e).__name__)
                    return
            if outcome is not None:
                out[order_id] = outcome

        await asyncio.gather(*(one(o.order_id) for o in to_query))
        return out

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Kraken Prime has no dead man's switch (``capabilities.deadman`` is False).

        Raises:
            VenueRejected: always.
        """
        raise VenueRejected("Kraken Prime has no dead man's switch")

    def reconnect_now(self) -> None:
        """Cut the link's reconnect wait short (the F5 key)."""
        self.link.reconnect_now()

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken Prime publishes no status the console could read."""
        return None

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream the account's orders into ``sink`` until cancelled, reconnecting (see ``Link``)."""
        await self.link.run(sink, link)

    async def ping(self) -> float:
        """Send a Ping and wait for the next frame from Kraken (its Pong).

        Returns:
            The round trip in seconds.

        Raises:
            TransportError: nothing came back in time.
        """
        session = await self.link.session()
        started = time.monotonic()
        heard = session.heard
        heard.clear()
        session.proto.ping()
        await self.link.flush(session)
        try:
            async with asyncio.timeout(self.link.settings.pong_timeout_s):
                await heard.wait()
        except TimeoutError as e:
            raise TransportError("no Pong from Kraken Prime in time") from e
        return time.monotonic() - started

    async def check_key(self) -> KeyCheck:
        """Probe: sign in and get the Order snapshot (query), cancel an order id nobody has (cancel).

        The cancel probe names a fresh random UUID, so no real order can match it.
        """
        try:
            await self.list_open_orders()
            can_query: bool | None = True
        except VenueRejected as e:
            if isinstance(e, AuthError):
                raise
            can_query = False
        probe = Order(
            self.account_id,
            VenueKind.PRIME,
            str(uuid.uuid4()),
            PROBE_SYMBOL,
            Side.BUY,
            "limit",
            None,
            Decimal(0),
            Decimal(0),
            0.0,
        )
        request = CancelRequest(self.account_id, RequestForm.SINGLE, (CancelRef.of(probe),), (probe,))
        reply = await self.execute(request)
        outcome = reply.outcomes.get(probe.order_id)
        notes: list[str] = []
        can_cancel: bool | None = None
        if outcome is not None and outcome.state is CancelState.ALREADY_GONE:
            can_cancel = True
        elif outcome is not None and outcome.state is CancelState.REJECTED:
            words = (outcome.reason or "").lower()
            if any(
                w in words for w in ("permission", "denied", "not authorized", "unauthorized", "forbidden")
            ):
                can_cancel = False
                notes.append("This key cannot cancel orders: ask Kraken Prime for a key with trading rights.")
        return KeyCheck(can_query, can_cancel, True, tuple(notes))

    async def aclose(self) -> None:
        """Close the socket and stop its tasks."""
        await self.link.aclose()


def build_prime_venue(spec: AccountSpec, creds: Credentials, *, url: str) -> PrimeWsVenue:
    """The registry's factory.

    Args:
        spec: the account.
        creds: its Prime key pair.
        url: the WebSocket URL.

    Returns:
        The venue.
    """
    return PrimeWsVenue(spec.account_id, url, creds)
