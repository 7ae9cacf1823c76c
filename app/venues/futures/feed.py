"""Kraken Futures WebSocket ``open_orders`` feed, sans I/O: challenge sign-in, snapshot, deltas."""

from __future__ import annotations

import logging

from app.core.accounts import Credentials
from app.core.errors import MalformedReply
from app.core.orders import Order
from app.venues.base import StreamEvent, StreamKind
from app.venues.futures import wire
from app.venues.sansio import SessionProtocol, Ticket
from app.venues.signing import futures_ws_sign

log = logging.getLogger("app.venues.futures.feed")

MAX_FRAME = 64 * 1024 * 1024  # a snapshot of 10,000+ orders is several MB
PING_INTERVAL_S = 30.0  # Kraken closes a socket silent for 60 s; the SDK pings every 30 s
PING_TIMEOUT_S = 20.0
_AUTH_REFUSED = "Kraken Futures refused the signed challenge (check the key and secret)"


class FuturesFeedProtocol(SessionProtocol):
    """One connection to the ``open_orders`` feed on ``wss://futures.kraken.com/ws/v1``.

    Rules (docs "Futures Websockets", API-FACTS 5.5 and 11): ask for a challenge with the public
    key, sign it (SHA-256 then HMAC-SHA512 with the decoded secret), subscribe with both; live once
    the snapshot arrives; a ``subscribed_failed`` or an ``alert`` refusing the authenticated feed
    is a refused key (``auth``), not a network fault; a frame we cannot read ends the connection
    so the next one starts from a fresh snapshot. The transport sends protocol pings (``ping``
    queues nothing). The feed carries no requests: cancels go over REST.
    """

    def __init__(self, account_id: str, credentials: Credentials, feed: str = "open_orders") -> None:
        """Make the protocol for one connection.

        Args:
            account_id: the desk's account id (stamped on orders).
            credentials: the key pair that signs the challenge.
            feed: ``open_orders`` (or ``open_orders_verbose``).
        """
        super().__init__()
        self.account_id = account_id
        self.feed = feed
        self._creds = credentials
        self._book: dict[str, Order] = {}

    def __repr__(self) -> str:
        return f"FuturesFeedProtocol({self.account_id!r}, live={self.live})"

    def connection_made(self) -> None:
        """Ask for a challenge (step 1 of the sign-in)."""
        self._send(wire.ws_challenge_request(self._creds.api_key))

    def receive(self, frame: str | bytes) -> None:
        """Take one frame: the challenge, the subscription's answer, the snapshot or a delta."""
        problems: list[str] = []
        try:
            message = wire.parse_ws(self.account_id, frame, self.feed, problems)
        except MalformedReply as e:
            self._fail_connection(f"could not read a message from Kraken Futures: {e}")
            return
        for text in problems:
            self._emit(StreamEvent(StreamKind.PROBLEM, detail=f"skipped an order in the feed: {text}"))
        if isinstance(message, wire.WsChallenge):
            signed = futures_ws_sign(message.message, self._creds.secret)
            self._send(wire.ws_subscribe(self.feed, self._creds.api_key, message.message, signed))
        elif isinstance(message, wire.WsSubscribed):
            if not message.ok:
                self._fail_connection(_AUTH_REFUSED, auth=True)
        elif isinstance(message, wire.WsAlert):
            if "authenticated" in message.message.lower() and not self.live:
                self._fail_connection(f"{_AUTH_REFUSED}: {message.message}", auth=True)
            else:
                log.warning("%s: Kraken Futures alert: %s", self.account_id, message.message)
        elif isinstance(message, wire.WsError):
            if not self.live:
                self._fail_connection(f"Kraken Futures refused the subscription: {message.message}")
            else:
                log.warning("%s: Kraken Futures WS error: %s", self.account_id, message.message)
        elif isinstance(message, StreamEvent):
            self._apply(message)

    def _apply(self, event: StreamEvent) -> None:
        if event.kind is StreamKind.SNAPSHOT:
            self._book = {o.order_id: o for o in event.orders}
            self.live = True
        elif event.kind is StreamKind.UPSERT:
            self._book.update((o.order_id, o) for o in event.orders)
        elif event.order_id is not None:
            self._book.pop(event.order_id, None)
        # A delta racing the snapshot is passed on too: the snapshot supersedes it.
        self._emit(event)

    def ping(self) -> bool:
        """The transport pings (websockets' protocol pings every 30 s)."""
        return False

    def expire(self, ticket: Ticket[object]) -> None:
        """The feed carries no requests."""

    def connection_lost(self, reason: str) -> None:
        """The feed carries no requests: nothing to settle."""

    def orders(self) -> list[Order]:
        """The open orders as the feed last told them."""
        return list(self._book.values())
