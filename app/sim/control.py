"""The simulator's control API (``/_sim/...``): faults, orders, truth, status, tokens, hosts up and down."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from app.sim.faults import SYSTEM_STATUSES, Faults
from app.sim.hostkit import FaultRegistry, HostSettings, read_json_object, refuse_remote, truth_handler
from app.sim.state import Exchange
from app.sim.truth import Actor, acting

Route = tuple[str, str, Handler]


class ServerControl(FaultRegistry, Protocol):
    """What the control host needs from the server beyond the faults (``SimServer``)."""

    def host_table(self) -> dict[str, dict[str, Any]]:
        """Every host: ``{"up": bool, "port": int, "urls": {...}}`` by name."""
        ...

    def host_settings(self, name: str) -> HostSettings | None:
        """A host's own switches, if it has any.

        Raises:
            KeyError: no such host.
        """
        ...

    @property
    def activity(self) -> HostSettings | None:
        """The market activity, when the server's owner gave it one (its rate and shares)."""
        ...

    def stop_host(self, name: str) -> Awaitable[None]:
        """Take a host down (see ``SimServer.stop_host``)."""
        ...

    def start_host(self, name: str) -> Awaitable[None]:
        """Bring a host up on its port (see ``SimServer.start_host``)."""
        ...


@contextlib.contextmanager
def _as_control(request: web.Request) -> Iterator[Actor]:
    with acting(Actor("control", "control", request.method, request.path)) as actor:
        yield actor


def _bad_request(exc: Exception) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=str(exc))


class SimControls:
    """Control handlers over the exchange and the server's faults, shared by the hosts that mount them.

    The Spot REST host mounts ``routes()`` (as it always has); the control host mounts them
    with ``server_routes()``. Order changes made here are attributed to the ``control`` actor.
    """

    def __init__(self, exchange: Exchange, registry: FaultRegistry, rng: random.Random) -> None:
        """Bind to the shared state.

        Args:
            exchange: The exchange.
            registry: The server's faults, per host.
            rng: Random source for the orders made here.
        """
        self.exchange = exchange
        self.registry = registry
        self.rng = rng

    def routes(self) -> list[Route]:
        """The control routes every caller may mount: ``(method, path, handler)``."""
        return [
            ("*", "/_sim/faults", self.faults),
            ("POST", "/_sim/orders", self.orders),
            ("POST", "/_sim/fill", self.fill),
            ("POST", "/_sim/cancel", self.cancel),
            ("*", "/_sim/arrivals", self.arrivals),
            ("GET", "/_sim/state", self.state),
            ("POST", "/_sim/accounts", self.accounts),
            ("POST", "/_sim/rate_limits", self.rate_limits),
            ("*", "/_sim/tokens", self.tokens),
            ("POST", "/_sim/tokens/invalidate", self.invalidate_tokens),
            ("POST", "/_sim/status", self.status),
        ]

    # ----------------------------------------------------------------------- faults

    def _patch(self, faults: Faults, changes: dict[str, Any]) -> web.Response:
        clear = bool(changes.pop("clear", False))
        try:
            if clear:
                faults.clear()
            faults.patch(changes)
        except ValueError as exc:
            raise _bad_request(exc) from None
        return web.json_response(faults.snapshot())

    async def faults(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/faults``: read or patch a host's faults (``host`` key, optional).

        Without ``host`` the default faults (shared by every host without its own) are used;
        ``{"clear": true}`` resets them first.
        """
        host = request.query.get("host")
        changes: dict[str, Any] = {}
        if request.method == "POST":
            changes = await read_json_object(request)
            host = changes.pop("host", host)
        faults = self.registry.own_faults(str(host)) if host else self.registry.faults
        return self._patch(faults, changes)

    async def status(self, request: web.Request) -> web.Response:
        """``POST /_sim/status``: ``{"status", "hosts"?}`` sets Kraken's system status.

        The status is set on the faults in force for each named host (default: every host),
        so hosts sharing the default faults change together; WS hosts push the change.
        """
        data = await read_json_object(request)
        status = data.get("status")
        if status not in SYSTEM_STATUSES:
            raise web.HTTPBadRequest(text=f"status must be one of {SYSTEM_STATUSES}")
        hosts = data.get("hosts")
        names = [str(h) for h in hosts] if isinstance(hosts, list) else self.registry.host_names()
        for name in names:
            self.registry.faults_for(name).system_status = status
        if not names:
            self.registry.faults.system_status = status
        return web.json_response({"status": status, "hosts": names})

    # ----------------------------------------------------------------------- orders

    def _account(self, data: Mapping[str, Any]) -> str:
        account = str(data.get("account", "spot"))
        if account not in self.exchange.accounts:
            raise web.HTTPNotFound(text=f"no account {account}")
        return account

    async def orders(self, request: web.Request) -> web.Response:
        """``POST /_sim/orders``: ``{account, n, symbol?, age_s?}`` -> new order ids."""
        data = await read_json_object(request)
        account = self._account(data)
        symbol = data.get("symbol")
        age = data.get("age_s")
        with _as_control(request):
            made = self.exchange.demo.generate_orders(
                account,
                int(data.get("n", 1)),
                self.rng,
                symbols=[str(symbol)] if symbol else None,
                age_s=(float(age), float(age)) if age is not None else None,
            )
        return web.json_response({"order_ids": [o.order_id for o in made]})

    async def fill(self, request: web.Request) -> web.Response:
        """``POST /_sim/fill``: ``{account, order_id, qty?}`` fills an order."""
        data = await read_json_object(request)
        qty = data.get("qty")
        with _as_control(request):
            order = self.exchange.book.fill(
                str(data.get("account", "spot")), str(data.get("order_id")), None if qty is None else str(qty)
            )
        if order is None:
            raise web.HTTPNotFound(text="no such open order")
        return web.json_response({"order_id": order.order_id, "status": order.status, "filled": order.filled})

    async def cancel(self, request: web.Request) -> web.Response:
        """``POST /_sim/cancel``: ``{account, order_id}`` cancels an order as another tool would."""
        data = await read_json_object(request)
        with _as_control(request):
            order = self.exchange.book.cancel(str(data.get("account", "spot")), str(data.get("order_id")))
        if order is None:
            raise web.HTTPNotFound(text="no such open order")
        return web.json_response({"order_id": order.order_id, "status": order.status})

    # ----------------------------------------------------------------------- the rest

    async def arrivals(self, request: web.Request) -> web.Response:
        """``GET /_sim/arrivals[?since_ns=]`` lists arrivals; ``DELETE`` clears them."""
        if request.method == "DELETE":
            self.exchange.arrivals.clear()
            return web.json_response({"arrivals": []})
        since = int(request.query.get("since_ns", "0"))
        rows = [list(a) for a in self.exchange.arrivals if a.t_ns >= since]
        return web.json_response({"arrivals": rows})

    async def state(self, request: web.Request) -> web.Response:
        """``GET /_sim/state``: order counts per account, status, limits."""
        return web.json_response(
            {
                "accounts": self.exchange.book.counts(),
                "system_status": self.registry.faults.system_status,
                "rate_limits": self.exchange.limits.enabled,
            }
        )

    async def accounts(self, request: web.Request) -> web.Response:
        """``POST /_sim/accounts``: ``{name, kind, permissions?, tier?}`` -> key and secret."""
        data = await read_json_object(request)
        perms = data.get("permissions")
        try:
            account = self.exchange.accounts.add(
                str(data["name"]),
                data.get("kind", "spot"),
                permissions=None if perms is None else [str(p) for p in perms],
                tier=str(data.get("tier", "intermediate")),
            )
        except (KeyError, ValueError) as exc:
            raise _bad_request(exc) from None
        return web.json_response({"name": account.name, "key": account.api_key, "secret": account.secret})

    async def rate_limits(self, request: web.Request) -> web.Response:
        """``POST /_sim/rate_limits``: ``{enabled}`` switches rate limiting."""
        data = await read_json_object(request)
        self.exchange.limits.enabled = bool(data.get("enabled", True))
        return web.json_response({"enabled": self.exchange.limits.enabled})

    async def tokens(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/tokens``: read or set ``ttl_s``, how long an unused WS token stays good."""
        tokens = self.exchange.tokens
        if request.method == "POST":
            data = await read_json_object(request)
            ttl = data.get("ttl_s", tokens.ttl_s)
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
                raise web.HTTPBadRequest(text="ttl_s must be a positive number")
            tokens.ttl_s = float(ttl)
        return web.json_response({"ttl_s": tokens.ttl_s})

    async def invalidate_tokens(self, request: web.Request) -> web.Response:
        """``POST /_sim/tokens/invalidate``: ``{account}`` revokes its WS tokens."""
        data = await read_json_object(request)
        count = self.exchange.tokens.invalidate(str(data.get("account", "spot")))
        return web.json_response({"invalidated": count})


class ControlHost:
    """The control host: every ``/_sim/`` route, plus hosts down and up, per-host faults and settings.

    Its URL is the ``control`` entry of ``python -m app.sim``'s JSON line. It never goes down.
    """

    def __init__(self, exchange: Exchange, server: ServerControl, rng: random.Random) -> None:
        """Bind to the server.

        Args:
            exchange: The exchange.
            server: The server whose hosts it controls.
            rng: Random source for the orders made here.
        """
        self.server = server
        self.controls = SimControls(exchange, server, rng)
        self.exchange = exchange

    def app(self) -> web.Application:
        """The aiohttp application (loopback peers only)."""
        app = web.Application(middlewares=[refuse_remote("/")])
        routes: list[Route] = [
            *self.controls.routes(),
            ("GET", "/_sim/truth", truth_handler(self.exchange)),
            ("GET", "/_sim/hosts", self.hosts),
            ("POST", "/_sim/hosts/{name}/down", self.down),
            ("POST", "/_sim/hosts/{name}/up", self.up),
            ("*", "/_sim/hosts/{name}/faults", self.host_faults),
            ("*", "/_sim/hosts/{name}/settings", self.host_settings),
            ("*", "/_sim/activity", self.activity),
        ]
        for method, path, handler in routes:
            if method == "GET":
                app.router.add_get(path, handler)
            else:
                app.router.add_route(method, path, handler)
        return app

    def _name(self, request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in self.server.host_table():
            raise web.HTTPNotFound(text=f"no host {name}")
        return name

    async def hosts(self, request: web.Request) -> web.Response:
        """``GET /_sim/hosts``: every host, whether it is up, its port and URLs."""
        return web.json_response({"hosts": self.server.host_table()})

    async def _switch(self, request: web.Request, switch: Callable[[str], Awaitable[None]]) -> web.Response:
        name = self._name(request)
        await switch(name)
        return web.json_response({name: self.server.host_table()[name]})

    async def down(self, request: web.Request) -> web.Response:
        """``POST /_sim/hosts/{name}/down``: stop listening, drop its open connections."""
        return await self._switch(request, self.server.stop_host)

    async def up(self, request: web.Request) -> web.Response:
        """``POST /_sim/hosts/{name}/up``: listen again on the same port."""
        return await self._switch(request, self.server.start_host)

    async def host_faults(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/hosts/{name}/faults``: that host's own faults (created on first use)."""
        faults = self.server.own_faults(self._name(request))
        changes = await read_json_object(request) if request.method == "POST" else {}
        return self.controls._patch(faults, changes)

    async def host_settings(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/hosts/{name}/settings``: that host's own switches."""
        return await self._settings(request, self.server.host_settings(self._name(request)))

    async def activity(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/activity``: the market activity's rate and shares (404 without one)."""
        return await self._settings(request, self.server.activity)

    async def _settings(self, request: web.Request, settings: HostSettings | None) -> web.Response:
        if settings is None:
            raise web.HTTPNotFound(text="no such settings here")
        if request.method == "POST":
            try:
                settings.patch(await read_json_object(request))
            except (TypeError, ValueError) as exc:
                raise _bad_request(exc) from None
        return web.json_response(settings.snapshot())
