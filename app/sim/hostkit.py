"""What every simulator host shares: context from the server, HTTP faults, control routes, WS upkeep."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from app.sim.faults import AFTER_APPLY_HTTP, HTTP_KINDS, FaultKind, Faults, cloudflare_html
from app.sim.state import Exchange
from app.sim.truth import Actor, acting
from app.sim.wire import dumps_compact

log = logging.getLogger("app.sim.hostkit")

StopFn = Callable[[], Awaitable[None]]
"""Stops a host that binds itself (``HostSpec.start``)."""

VenueAnswers = Mapping[FaultKind, Callable[[], web.StreamResponse]]
"""How a host words the faults that are business errors (each API has its own error body)."""

CONTROL_PREFIX = "/_sim/"


class Refused(Exception):
    """A request a host refuses with the venue's own error text; each host words the envelope.

    Spot REST answers ``{"error": [message]}``, Spot WS an error reply, Futures
    ``{"result": "error", "error": message}``.
    """

    def __init__(self, message: str, *, applied: bool = False) -> None:
        """Keep the venue's error text.

        Args:
            message: e.g. ``EOrder:Unknown order`` (Spot) or ``invalidArgument`` (Futures).
            applied: The request was applied (in part) before it was refused.
        """
        super().__init__(message)
        self.message = message
        self.applied = applied


# --------------------------------------------------------------------------- Kraken's words

UNKNOWN_ORDER = "EOrder:Unknown order"
INVALID_ORDER = "EOrder:Invalid order"


def gone_error(
    exchange: Exchange,
    faults: Faults,
    account: str,
    *,
    order_id: str | None = None,
    cl_ord_id: str | None = None,
) -> str:
    """How Spot answers a cancel whose reference names no open order (API-FACTS 11).

    Kraken's SDK guides answer ``EOrder:Invalid order`` for an id that is closed or never
    existed; the v1 docs show ``EOrder:Unknown order``. Each case has its own choice in the
    faults: ``never_known_error`` and ``gone_order_error`` (both ``unknown`` by default, as the
    simulator always answered). A userref (neither id given) is a label, not an id: it is
    answered as a closed id.

    Args:
        exchange: The exchange (its book remembers every id it had).
        faults: The host's faults in force.
        account: Account name.
        order_id: The Kraken id named.
        cl_ord_id: The client id named.

    Returns:
        The error text.
    """
    named = order_id is not None or cl_ord_id is not None
    if named and not exchange.book.ever_had(account, order_id=order_id, cl_ord_id=cl_ord_id):
        choice = faults.never_known_error
    else:
        choice = faults.gone_order_error
    return INVALID_ORDER if choice == "invalid" else UNKNOWN_ORDER


def spot_fault_text(kind: FaultKind, now: float) -> str | None:
    """The Spot error string of a business fault (REST and WS say the same), or None.

    Args:
        kind: The fault.
        now: Unix time (``EService: Throttled: <ts>`` names a time to retry after).

    Returns:
        e.g. ``EGeneral:Too many requests``.
    """
    return {
        FaultKind.SERVICE_UNAVAILABLE: "EService:Unavailable",
        FaultKind.RATE_LIMIT: "EAPI:Rate limit exceeded",
        FaultKind.THROTTLED: f"EService: Throttled: {int(now) + 5}",
        FaultKind.TOO_MANY_REQUESTS: "EGeneral:Too many requests",
        FaultKind.THROTTLED_NO_TS: "EService:Throttled",
    }.get(kind)


# --------------------------------------------------------------------------- context


class HostSettings(Protocol):
    """A host's own switches, read and patched through the control API (``/_sim/hosts/<name>/settings``)."""

    def snapshot(self) -> dict[str, Any]:
        """The switches as JSON."""
        ...

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Change some switches.

        Raises:
            ValueError: an unknown switch or a bad value (nothing is changed then).
        """
        ...


class FaultRegistry(Protocol):
    """What a host needs from the server: the faults in force, per host (``SimServer``)."""

    faults: Faults

    def faults_for(self, name: str) -> Faults:
        """Return the faults in force for host ``name``."""
        ...

    def own_faults(self, name: str) -> Faults:
        """Return host ``name``'s own faults, creating them on first use."""
        ...

    def host_names(self) -> list[str]:
        """The names of the hosts the server runs."""
        ...

    def watch_status(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after any host's system status changes."""
        ...


@dataclass
class HostContext:
    """What a host gets from the server: shared state, its faults, and the stop signal.

    Attributes:
        name: The host's registry name (``spot_rest``...).
        exchange: The shared exchange.
        server: The server (faults registry).
        bind_host: The address the server binds.
        closing: Set when this host goes down or the server stops (hung requests are released
            on it); a host that comes up again gets a fresh one.
        rng: A random source for this host, derived from the exchange seed.
        settings: The host's own switches, if it has any (set by the host when it is built).
    """

    name: str
    exchange: Exchange
    server: FaultRegistry
    bind_host: str
    closing: asyncio.Event
    rng: random.Random
    settings: HostSettings | None = None

    def faults(self, host: str | None = None) -> Faults:
        """Return the faults in force for this host (or another one), read per request.

        Args:
            host: Another host's name; default this one.

        Returns:
            The host's own faults if it has any, else the server's default faults.
        """
        return self.server.faults_for(host or self.name)

    @property
    def default_faults(self) -> Faults:
        """The faults shared by every host without its own."""
        return self.server.faults


@dataclass(frozen=True)
class HostSpec:
    """One simulated Kraken host: how to build it and which URLs it serves.

    Give ``build`` (an aiohttp app; the server binds it) or ``start`` (binds itself on
    ``ctx.bind_host`` port 0 and returns ``(port, stop)``).

    Attributes:
        name: Registry name, also the endpoint name when ``urls`` is empty.
        build: Builds an aiohttp application.
        start: Starts a non-aiohttp server.
        urls: ``(endpoint name, template)`` pairs, ``{addr}`` being ``host:port``;
            default ``((name, "http://{addr}"),)``.
    """

    name: str
    build: Callable[[HostContext], web.Application] | None = None
    start: Callable[[HostContext], Awaitable[tuple[int, StopFn]]] | None = None
    urls: tuple[tuple[str, str], ...] = field(default=())

    def endpoints(self, addr: str) -> dict[str, str]:
        """Return the endpoint URLs of this host once bound at ``addr``.

        Args:
            addr: ``host:port``.

        Returns:
            Endpoint name to URL.
        """
        if not self.urls:
            return {self.name: f"http://{addr}"}
        return {key: template.format(addr=addr) for key, template in self.urls}


# --------------------------------------------------------------------------- control API


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_remote(prefix: str = CONTROL_PREFIX) -> Middleware:
    """A middleware that refuses paths under ``prefix`` to any peer not on this machine.

    Args:
        prefix: The control paths.

    Returns:
        The middleware (HTTP 403 for a remote peer).
    """

    @web.middleware
    async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefix) and not is_loopback(request.remote or ""):
            raise web.HTTPForbidden()
        return await handler(request)

    return loopback_only


def truth_handler(exchange: Exchange) -> Handler:
    """``GET /_sim/truth?account=<name>``: what really happened to every order of an account.

    Args:
        exchange: The exchange whose truth ledger answers.

    Returns:
        The handler (404 for an unknown account).
    """

    async def truth(request: web.Request) -> web.StreamResponse:
        account = request.query.get("account", "")
        if account not in exchange.accounts:
            raise web.HTTPNotFound(text=f"no account {account!r}")
        return web.json_response(exchange.truth.report(account))

    return truth


def add_controls(app: web.Application, ctx: HostContext, routes: Iterable[tuple[str, str, Handler]]) -> None:
    """Mount a host's ``/_sim/`` control routes, only when the server binds a loopback address.

    Every host also gets ``GET /_sim/truth``.

    Args:
        app: The host's application.
        ctx: The host context (its ``bind_host`` decides).
        routes: ``(method, path, handler)``; ``GET`` also answers ``HEAD``, ``*`` any method.
    """
    if not is_loopback(ctx.bind_host):
        return
    for method, path, handler in [*routes, ("GET", "/_sim/truth", truth_handler(ctx.exchange))]:
        if method == "GET":
            app.router.add_get(path, handler)
        else:
            app.router.add_route(method, path, handler)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """A control request's JSON object body (an empty body is ``{}``).

    Raises:
        web.HTTPBadRequest: the body is not a JSON object.
    """
    try:
        data = await request.json() if await request.read() else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


# --------------------------------------------------------------------------- HTTP faults


def close_connection(request: web.Request) -> None:
    """Close the connection under a request without answering."""
    transport = request.transport
    if transport is not None:
        transport.close()


def abort_connection(request: web.Request) -> None:
    """Cut the connection under a request at once, discarding what is unsent (a network failure)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _unanswered(request: web.Request, cut: Callable[[web.Request], None]) -> web.Response:
    """Cut the connection; the response returned is never delivered."""
    cut(request)
    return web.Response(status=500)


def before_apply(
    fault: FaultKind, request: web.Request, faults: Faults, closing: asyncio.Event, answers: VenueAnswers
) -> Awaitable[web.StreamResponse | None]:
    """Answer a request with a fault instead of handling it (nothing is applied).

    Transport-level faults (drop, hang, HTML page, 5xx) are the same on every host; business
    faults are answered in the host's own words through ``answers``.

    Returns:
        An awaitable of the faulty response, or of None to handle the request normally (a
        business fault the host does not word).
    """

    async def answer() -> web.StreamResponse | None:
        if fault is FaultKind.DROP:
            return _unanswered(request, close_connection)
        if fault is FaultKind.HANG:
            await closing.wait()
            return _unanswered(request, close_connection)
        if fault is FaultKind.HTML_ERROR:
            return web.Response(status=502, text=cloudflare_html(502), content_type="text/html")
        if fault is FaultKind.HTTP_5XX:
            status = faults.http_5xx_status
            return web.Response(status=status, text=f"{status} Server Error")
        word = answers.get(fault)
        return word() if word is not None else None

    return answer()


async def after_apply(
    fault: FaultKind,
    request: web.Request,
    response: web.StreamResponse,
    faults: Faults,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """Spoil the reply to a request the exchange has already applied (API-FACTS 11, "Spot HTTP status").

    Args:
        fault: One of ``AFTER_APPLY_HTTP``.
        request: The request.
        response: The reply the host made.
        faults: The host's faults (statuses and sizes).
        closing: Releases a hung request.

    Returns:
        What the client gets instead (nothing, for a drop or a hang).
    """
    body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
    if fault is FaultKind.DROP_AFTER:
        return _unanswered(request, abort_connection)
    if fault is FaultKind.HANG_AFTER:
        await closing.wait()
        return _unanswered(request, close_connection)
    if fault is FaultKind.HTTP_5XX_AFTER:
        status = faults.after_apply_status
        return web.Response(status=status, text=cloudflare_html(status), content_type="text/html")
    if fault is FaultKind.HTML_200_AFTER:
        return web.Response(status=200, text=cloudflare_html(200), content_type="text/html")
    if fault is FaultKind.GARBLED_AFTER:
        garbled = body[: max(1, len(body) // 2)] + b"\x00\xff\xfe<!-- cut -->"
        return web.Response(status=200, body=garbled, content_type="application/json")
    if fault is FaultKind.EMPTY_AFTER:
        return web.Response(status=200, body=b"", content_type="application/json")
    # HUGE_AFTER: the real reply, padded to several MB with whitespace (still valid JSON).
    padding = b" " * max(0, faults.huge_body_bytes - len(body))
    return web.Response(status=200, body=body + padding, content_type="application/json")


def front_door(
    ctx: HostContext,
    host_name: str,
    *,
    key_header: str,
    applies: Callable[[str], bool],
    answers: VenueAnswers,
    is_cancel: Callable[[str], bool] = lambda _path: False,
) -> Middleware:
    """A middleware that records each API request's arrival, applies latency and faults, names the actor.

    Faults in ``AFTER_APPLY_HTTP`` let the request through first (the exchange applies it) and
    spoil the reply; the others answer instead of the host. The request runs as the
    ``request`` actor (host, method, path), so the truth ledger can say who cancelled.

    Args:
        ctx: The host context (its faults are read per request).
        host_name: The name arrivals and actors are recorded under.
        key_header: The header carrying the public API key (names the account in the log).
        applies: Whether a path is an API path (others pass untouched).
        answers: The host's replies for the business faults.
        is_cancel: Whether a path cancels (faults with ``scope: cancels`` hit only those).

    Returns:
        The middleware.
    """
    exchange = ctx.exchange

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not applies(request.path):
            return await handler(request)
        account = exchange.accounts.by_key(request.headers.get(key_header))
        exchange.arrivals.record(host_name, request.path, account.name if account else None)
        faults, closing = ctx.faults(), ctx.closing
        delay = faults.delay_s()
        if delay:
            await asyncio.sleep(delay)
        fault = faults.take(*HTTP_KINDS) if faults.applies_to(is_cancel(request.path)) else None
        if fault is not None:
            log.info("fault %s on %s", fault.value, request.path)
        if fault is not None and fault not in AFTER_APPLY_HTTP:
            spoiled = await before_apply(fault, request, faults, closing, answers)
            if spoiled is not None:
                return spoiled
        with acting(Actor("request", host_name, request.method, request.path)):
            response = await handler(request)
        if fault in AFTER_APPLY_HTTP:
            assert fault is not None
            return await after_apply(fault, request, response, faults, closing)
        return response

    return middleware


# --------------------------------------------------------------------------- WebSocket


def take_drop(faults: Faults) -> bool:
    """Consume a pending ``drop_connection`` fault, if any.

    Args:
        faults: The host's faults in force.

    Returns:
        True when the connection must be dropped now.
    """
    return faults.take(FaultKind.DROP) is FaultKind.DROP


def after_latency(delay: float, handle: Callable[..., None], *args: Any) -> None:
    """Handle an incoming message now, or ``delay`` seconds later on the running loop.

    A propagation delay, not a slow pipe: messages sent back to back arrive back to back, one
    latency later (equal delays keep their order: the loop's timers are FIFO). Sleeping in the
    read loop instead would let one message through per latency.

    Args:
        delay: Seconds (0 handles at once).
        handle: The handler; it must check the connection is still open and catch its errors.
        args: Its arguments.
    """
    if delay:
        asyncio.get_running_loop().call_later(delay, handle, *args)
    else:
        handle(*args)


class Outbox:
    """Frames for one socket, sent in order by ``run()``, each not before its due time.

    Attributes:
        last_sent: Monotonic time of the last frame sent (heartbeats go out when it is old).
    """

    def __init__(self) -> None:
        """Start empty."""
        self._queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self.last_sent = time.monotonic()

    def put(self, message: Any, delay: float = 0.0) -> None:
        """Queue a JSON message to leave ``delay`` seconds from now (after those queued before).

        Args:
            message: A JSON-ready value (sent compact).
            delay: Seconds of latency.
        """
        self._queue.put_nowait((time.monotonic() + delay, dumps_compact(message)))

    def empty(self) -> bool:
        """Whether nothing waits to be sent."""
        return self._queue.empty()

    def close(self) -> None:
        """Let ``run()`` end once what was queued before has gone."""
        self._queue.put_nowait(None)

    async def run(self, ws: web.WebSocketResponse, held: Callable[[], bool] = lambda: False) -> None:
        """Send queued frames until ``close()`` or a send fails.

        Args:
            ws: The socket.
            held: True when frames must be discarded (the connection was dropped).
        """
        while True:
            item = await self._queue.get()
            if item is None:
                return
            due, text = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if held() or ws.closed:
                continue
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.last_sent = time.monotonic()


class Connection(Protocol):
    """A WebSocket connection a host keeps: its socket, and a way to cut it."""

    @property
    def ws(self) -> web.WebSocketResponse:
        """The socket."""
        ...

    def drop(self) -> None:
        """Cut the connection without a closing handshake."""
        ...


C = TypeVar("C", bound=Connection)


class Connections(Generic[C]):
    """A host's open WebSocket connections (iterating gives a snapshot, safe to change meanwhile)."""

    def __init__(self) -> None:
        """Start with none."""
        self._open: set[C] = set()

    def add(self, conn: C) -> None:
        """Keep a new connection."""
        self._open.add(conn)

    def discard(self, conn: C) -> None:
        """Forget a closed connection."""
        self._open.discard(conn)

    def __contains__(self, conn: object) -> bool:
        return conn in self._open

    def __iter__(self) -> Iterator[C]:
        return iter(list(self._open))

    def __len__(self) -> int:
        return len(self._open)

    def drop_all(self) -> int:
        """Cut every open connection at once, without a closing handshake.

        Returns:
            How many were cut.
        """
        conns = list(self._open)
        for conn in conns:
            conn.drop()
        return len(conns)

    async def close_all(self, message: bytes) -> None:
        """Close every open connection with code 1001 (going away), as when the server stops.

        Args:
            message: The close reason.
        """
        for conn in list(self._open):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=message)
