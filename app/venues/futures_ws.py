"""Kraken Futures WebSocket open_orders feed: challenge sign-in, snapshot, deltas, reconnects."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from app.core.accounts import Credentials, LinkState
from app.core.errors import AuthError, MalformedReply
from app.venues import futures_wire as wire
from app.venues.backoff import jittered_backoff
from app.venues.base import LinkSink, StreamEvent, StreamKind, StreamSink
from app.venues.signing import futures_ws_sign

log = logging.getLogger("app.venues.futures_ws")

PING_INTERVAL_S = 30.0  # Kraken closes a socket silent for 60 s; the SDK pings every 30 s
PING_TIMEOUT_S = 20.0
HANDSHAKE_TIMEOUT_S = 15.0  # challenge + subscribe + snapshot
MAX_FRAME = 64 * 1024 * 1024  # a snapshot of 10,000+ orders is several MB
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0

ConnectFn = Callable[..., Any]


class FuturesOrderFeed:
    """One account's ``open_orders`` feed on ``wss://futures.kraken.com/ws/v1``.

    Rules: every (re)connect does the challenge flow again (docs "Futures Websockets": challenge,
    sign SHA-256 + HMAC-SHA512, subscribe with both) and starts from a fresh snapshot, sent to
    the sink as SNAPSHOT so nothing missed while away survives; protocol pings every 30 s (Kraken
    drops sockets idle 60 s); reconnects back off exponentially with jitter (0.5 s .. 30 s),
    reset once a snapshot arrives; a refused sign-in (``subscribed_failed``) is not retried.
    """

    def __init__(
        self,
        account_id: str,
        url: str,
        credentials: Credentials,
        *,
        feed: str = "open_orders",
        connect: ConnectFn = ws_connect,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        ping_interval: float = PING_INTERVAL_S,
        ping_timeout: float = PING_TIMEOUT_S,
        handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
    ) -> None:
        self.account_id = account_id
        self.url = url
        self.feed = feed
        self._creds = credentials
        self._connect = connect
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._handshake_timeout = handshake_timeout
        self.connects = 0  # sessions opened (tests and diagnostics)

    def __repr__(self) -> str:
        return f"FuturesOrderFeed({self.account_id!r}, {self.url!r})"

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before reconnect number ``attempt`` (0-based), with jitter."""
        return jittered_backoff(attempt, BACKOFF_FIRST_S, BACKOFF_MAX_S, self._rng)

    async def run(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream until cancelled.

        Raises:
            AuthError: Kraken refused the signed challenge (wrong key or secret).
        """
        attempt = 0
        link(LinkState.CONNECTING, "connecting")
        try:
            while True:
                live = False

                def on_live() -> None:
                    nonlocal live, attempt
                    live = True
                    attempt = 0
                    link(LinkState.LIVE, "open_orders feed live")

                try:
                    await self._session(sink, on_live)
                    reason = "Kraken closed the feed"
                except AuthError as e:
                    link(LinkState.DOWN, str(e))
                    raise
                except (WebSocketException, OSError, TimeoutError, MalformedReply) as e:
                    # A frame we cannot read means our copy may be wrong: start again from a
                    # fresh snapshot rather than carry on.
                    reason = f"feed lost: {type(e).__name__}"
                    log.info("%s: %s (%s)", self.account_id, reason, e)
                if not live:
                    attempt += 1
                delay = self.backoff(attempt)
                link(LinkState.RECONNECTING, f"{reason}; reconnecting in {delay:.1f} s")
                await self._sleep(delay)
        except asyncio.CancelledError:
            link(LinkState.DOWN, "stopped")
            raise

    async def _session(self, sink: StreamSink, on_live: Callable[[], None]) -> None:
        """One connection: sign in, snapshot, then deltas until the socket ends."""
        self.connects += 1
        async with self._connect(
            self.url,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            open_timeout=self._handshake_timeout,
            close_timeout=2.0,
            max_size=MAX_FRAME,
        ) as ws:
            async with asyncio.timeout(self._handshake_timeout):
                await ws.send(wire.ws_challenge_request(self._creds.api_key))
                challenge = await self._challenge(ws)
                signed = futures_ws_sign(challenge, self._creds.secret)
                await ws.send(wire.ws_subscribe(self.feed, self._creds.api_key, challenge, signed))
                while True:
                    msg = self._decode(await ws.recv())
                    if isinstance(msg, StreamEvent) and msg.kind is StreamKind.SNAPSHOT:
                        sink(msg)
                        on_live()
                        break
                    if isinstance(msg, wire.WsError):
                        raise MalformedReply(f"Kraken Futures refused the subscription: {msg.message}")
                    if isinstance(msg, StreamEvent):
                        sink(msg)  # a delta racing the snapshot: the snapshot will supersede it
            async for frame in ws:
                msg = self._decode(frame)
                if isinstance(msg, StreamEvent):
                    sink(msg)
                elif isinstance(msg, wire.WsError):
                    log.warning("%s: Kraken Futures WS error: %s", self.account_id, msg.message)

    async def _challenge(self, ws: Any) -> str:
        while True:
            msg = self._decode(await ws.recv())
            if isinstance(msg, wire.WsChallenge):
                return msg.message
            if isinstance(msg, wire.WsError):
                raise MalformedReply(f"Kraken Futures refused the challenge: {msg.message}")

    def _decode(self, frame: str | bytes) -> wire.WsMessage:
        msg = wire.parse_ws(self.account_id, frame, self.feed)
        if isinstance(msg, wire.WsSubscribed) and not msg.ok:
            raise AuthError("Kraken Futures refused the signed challenge (check the key and secret)")
        return msg
