"""The simulated Kraken Futures host: REST v3 under ``/derivatives/api/v3/`` and the WS at ``/ws/v1``."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from app.sim.accounts import Account
from app.sim.auth import verify_futures_rest, verify_futures_ws_challenge
from app.sim.deadman import DEADMAN_MAX_TIMEOUT_S
from app.sim.faults import FaultKind, Faults
from app.sim.hostkit import (
    Connections,
    HostContext,
    HostSpec,
    Refused,
    VenueAnswers,
    abort_connection,
    add_controls,
    front_door,
    read_json_object,
    take_drop,
)
from app.sim.instruments import INSTRUMENTS, Instrument, futures_base_quote, instruments_of
from app.sim.orders import REASON_DEADMAN, REASON_USER, OrderEvent, OrderRejected, SimOrder
from app.sim.truth import Actor, acting, cancelling_all
from app.sim.wire import iso_ms

# iso_ms is imported from here by tests; it lives in wire with the other hosts' time formats.
__all__ = [
    "FuturesControls",
    "FuturesHost",
    "FuturesNonces",
    "build_futures_app",
    "futures_host_spec",
    "iso_ms",
]

log = logging.getLogger("app.sim.futures")

HOST_NAME = "futures"
API_PREFIX = "/derivatives/api/v3/"
WS_PATH = "/ws/v1"
CONTROL_PREFIX = "/_sim/futures/"
FUTURES_URLS = (("futures_rest", "http://{addr}"), ("futures_ws", "ws://{addr}" + WS_PATH))

# Costs against the 500-per-10-s budget (API-FACTS 7.3).
COST_SEND = 10.0
COST_CANCEL = 10.0
COST_BATCH_BASE = 9.0
COST_CANCEL_ALL = 25.0
COST_CANCEL_ALL_AFTER = 25.0
COST_OPEN_ORDERS = 2.0

NONCE_WINDOW = 64  # reordering tolerated among the last 64 accepted nonces ("brief reordering")
PRIVATE_FEEDS = frozenset({"open_orders", "open_orders_verbose"})
HEARTBEAT_S = 60.0
WS_MAX_MSG = 1 << 20

# Exchange cancel reasons -> open_orders delta reasons (docs "Futures Websockets: open_orders").
FUTURES_REASONS = frozenset(
    {
        "cancelled_by_user",
        "cancelled_by_admin",
        "dead_man_switch",
        "liquidation",
        "not_enough_margin",
        "market_inactive",
        "contract_expired",
        "stop_order_triggered",
    }
)

Params = dict[str, str]

# The endpoints a ``scope: cancels`` fault hits.
CANCEL_ENDPOINTS = frozenset({"cancelorder", "batchorder", "cancelallorders", "cancelallordersafter"})
AUTH_FAILURES = ("subscribed_failed", "alert")
# API-FACTS 11: another way Kraken refuses a WS sign-in (bad key or signature).
AUTH_ALERT = {"event": "alert", "message": "Failed to subscribe to authenticated feed"}
_MALFORMED = "not-a-number"


# --------------------------------------------------------------------------- wire helpers


def _num(text: str | None) -> float:
    return float(Decimal(text)) if text else 0.0


def _is_stop(order: SimOrder) -> bool:
    return order.stop_price is not None


def _order_type(order: SimOrder, limit: str, stop: str) -> str:
    if order.order_type.startswith("take-profit"):
        return "take_profit"
    return stop if order.order_type.startswith("stop-loss") else limit


def rest_order_type(order: SimOrder) -> str:
    """The REST ``orderType`` of a simulator order: ``lmt``, ``stp`` or ``take_profit``."""
    return _order_type(order, "lmt", "stp")


def ws_order_type(order: SimOrder) -> str:
    """The WS ``type`` of a simulator order: ``limit``, ``stop`` or ``take_profit``."""
    return _order_type(order, "limit", "stop")


def open_order_json(order: SimOrder) -> dict[str, Any]:
    """One entry of openorders' ``openOrders`` (API-FACTS 5.3; numbers as JSON numbers)."""
    filled = Decimal(order.filled)
    out: dict[str, Any] = {"order_id": order.order_id}
    if order.cl_ord_id is not None:
        out["cliOrdId"] = order.cl_ord_id
    out.update(
        {
            "symbol": order.symbol,
            "side": order.side,
            "orderType": rest_order_type(order),
            "status": "partiallyFilled" if filled > 0 else "untouched",
            "unfilledSize": float(order.remaining),
            "filledSize": float(filled),
            "reduceOnly": order.reduce_only,
            "receivedTime": iso_ms(order.opened_at),
            "lastUpdateTime": iso_ms(order.updated_at),
        }
    )
    if Decimal(order.price) != 0:
        out["limitPrice"] = _num(order.price)
    if _is_stop(order):
        out["stopPrice"] = _num(order.stop_price)
    return out


def event_order_json(order: SimOrder) -> dict[str, Any]:
    """The ``order`` of an orderEvent (seed 003 OrderJson)."""
    return {
        "orderId": order.order_id,
        "cliOrdId": order.cl_ord_id,
        "type": rest_order_type(order),
        "symbol": order.symbol,
        "side": order.side,
        "quantity": _num(order.qty),
        "filled": _num(order.filled),
        "limitPrice": _num(order.price),
        "reduceOnly": order.reduce_only,
        "timestamp": iso_ms(order.opened_at),
        "lastUpdateTimestamp": iso_ms(order.updated_at),
    }


def cancel_event(order: SimOrder) -> dict[str, Any]:
    """A CANCEL orderEvent (seed 003 CancelEvent)."""
    return {"type": "CANCEL", "uid": order.order_id, "order": event_order_json(order)}


def ws_order_json(order: SimOrder) -> dict[str, Any]:
    """An order of the open_orders feed.

    ``qty`` is what remains open and ``filled`` what has filled (API-FACTS 11: a 1-lot order
    reads ``qty 0.86, filled 0.14`` after a partial fill, ``qty 0, filled 1`` once filled), so
    the original size is ``qty + filled``, like REST's ``unfilledSize + filledSize``.
    """
    remaining = order.remaining if order.is_open else Decimal(0)
    out: dict[str, Any] = {
        "instrument": order.symbol,
        "time": int(order.opened_at * 1000),
        "last_update_time": int(order.updated_at * 1000),
        "qty": float(remaining),
        "filled": _num(order.filled),
    }
    if Decimal(order.price) != 0:
        out["limit_price"] = _num(order.price)
    out["stop_price"] = _num(order.stop_price)
    out["type"] = ws_order_type(order)
    out["order_id"] = order.order_id
    if order.cl_ord_id is not None:
        out["cli_ord_id"] = order.cl_ord_id
    out["direction"] = 0 if order.side == "buy" else 1
    out["reduce_only"] = order.reduce_only
    return out


def delta_for(event: OrderEvent) -> dict[str, Any]:
    """The open_orders delta for an exchange event."""
    order = event.order
    reason = _KEPT_REASONS.get(event.kind)
    if event.kind == "fill" and order.is_open:
        reason = "partial_fill"
    if reason is not None:
        return {"feed": "open_orders", "order": ws_order_json(order), "is_cancel": False, "reason": reason}
    if event.kind == "fill":
        # A fill that ends the order is a removal that still shows the order (qty 0, filled
        # all: API-FACTS 11's "qty 0, filled 1, is_cancel true, reason full_fill").
        return {
            "feed": "open_orders",
            "order": ws_order_json(order),
            "is_cancel": True,
            "reason": "full_fill",
        }
    if event.kind == "expired":
        reason = "contract_expired"
    elif event.reason == REASON_USER:
        reason = "cancelled_by_user"
    elif event.reason == REASON_DEADMAN or event.reason in FUTURES_REASONS:
        reason = str(event.reason)
    else:
        reason = "cancelled_by_admin"
    # Removals carry no order object (docs example "Cancelled Subscription").
    return {"feed": "open_orders", "order_id": order.order_id, "is_cancel": True, "reason": reason}


# The delta reasons of events that leave the order on the book (a partial fill is the third).
_KEPT_REASONS = {"new": "new_placed_order_by_user", "update": "edited_by_user"}


def parse_process_before(text: str) -> float:
    """``processBefore`` (``2023-11-08T19:56:35.441899Z``) -> unix seconds.

    Raises:
        Refused: ``invalidArgument`` for anything else.
    """
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused("invalidArgument") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


class FuturesNonces:
    """Per-key nonce checks, Kraken Futures rules (API-FACTS 5.1).

    Rules: the Nonce header is optional (then nothing is checked: ccxt sends none); a nonce must
    be a decimal integer; one seen among the last ``window`` accepted is ``nonceDuplicate``;
    one not above the largest nonce that left the window is ``nonceBelowThreshold``. So brief
    reordering of concurrent requests is tolerated, replays are not.
    """

    def __init__(self, window: int = NONCE_WINDOW) -> None:
        """Start with no key seen."""
        self.window = window
        self._recent: dict[str, list[int]] = {}
        self._threshold: dict[str, int] = {}

    def check(self, api_key: str, nonce_text: str) -> str | None:
        """Accept a nonce or say why not.

        Args:
            api_key: the public key.
            nonce_text: the Nonce header.

        Returns:
            None when accepted, else the error code.
        """
        if not nonce_text.isascii() or not nonce_text.isdigit():
            return "nonceBelowThreshold"
        nonce = int(nonce_text)
        recent = self._recent.setdefault(api_key, [])
        if nonce <= self._threshold.get(api_key, 0):
            return "nonceBelowThreshold"
        pos = bisect.bisect_left(recent, nonce)
        if pos < len(recent) and recent[pos] == nonce:
            return "nonceDuplicate"
        recent.insert(pos, nonce)
        if len(recent) > self.window:
            self._threshold[api_key] = recent.pop(0)
        return None


@dataclass
class FuturesControls:
    """Test levers of the Futures host (``/_sim/futures/controls``, ``/_sim/hosts/futures/settings``).

    Attributes:
        fill_before_cancel: order ids that fill completely just before a cancel naming them is
            handled, so the cancel really answers ``filled``.
        partial_fill_before_cancel: order ids that fill half just before a cancel, so the
            cancel answers ``cancelled`` with part filled.
        shuffle_batch: answer batchorder items in shuffled order (Kraken: "no particular order").
        use_errors_list: answer business errors in the ``errors: [{code, message}]`` form.
        auth_failure: how a refused WS sign-in is answered: ``subscribed_failed`` or the
            ``alert`` message (API-FACTS 11).
        notifications: what ``GET /notifications`` lists (Kraken's NotificationJson objects).
    """

    fill_before_cancel: set[str] = field(default_factory=set)
    partial_fill_before_cancel: set[str] = field(default_factory=set)
    shuffle_batch: bool = False
    use_errors_list: bool = False
    auth_failure: str = "subscribed_failed"
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The levers as JSON."""
        return {
            "fill_before_cancel": sorted(self.fill_before_cancel),
            "partial_fill_before_cancel": sorted(self.partial_fill_before_cancel),
            "shuffle_batch": self.shuffle_batch,
            "use_errors_list": self.use_errors_list,
            "auth_failure": self.auth_failure,
            "notifications": list(self.notifications),
        }

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Change some levers; ``schedule_maintenance`` adds a maintenance notification.

        ``schedule_maintenance``: ``{"in_s" | "effective_time", "expected_downtime_minutes"?,
        "note"?}``, written as Kraken's NotificationJson (type ``maintenance``, priority
        ``high``: downtime at ``effectiveTime``).

        Raises:
            ValueError: an unknown lever or a bad value (nothing changes then).
        """
        known = {*self.snapshot(), "schedule_maintenance"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        auth = changes.get("auth_failure", self.auth_failure)
        if auth not in AUTH_FAILURES:
            raise ValueError(f"auth_failure must be one of {AUTH_FAILURES}")
        notes = changes.get("notifications", self.notifications)
        if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
            raise ValueError("notifications must be a list of objects")
        added = (
            maintenance_notice(changes["schedule_maintenance"]) if "schedule_maintenance" in changes else None
        )
        if "fill_before_cancel" in changes:
            self.fill_before_cancel = {str(i) for i in changes["fill_before_cancel"]}
        if "partial_fill_before_cancel" in changes:
            self.partial_fill_before_cancel = {str(i) for i in changes["partial_fill_before_cancel"]}
        self.shuffle_batch = bool(changes.get("shuffle_batch", self.shuffle_batch))
        self.use_errors_list = bool(changes.get("use_errors_list", self.use_errors_list))
        self.auth_failure = str(auth)
        self.notifications = [dict(n) for n in notes]
        if added is not None:
            self.notifications.append(added)


def maintenance_notice(spec: Any, now: float | None = None) -> dict[str, Any]:
    """A scheduled-maintenance NotificationJson (Futures ``GET /notifications``).

    Args:
        spec: ``{"in_s": seconds from now}`` or ``{"effective_time": ISO text}``, with optional
            ``expected_downtime_minutes`` and ``note``.
        now: Unix time (default the wall clock).

    Returns:
        ``{"type": "maintenance", "priority": "high", "note", "effectiveTime",
        "expectedDowntimeMinutes"?}``.

    Raises:
        ValueError: a bad spec.
    """
    if not isinstance(spec, dict):
        raise ValueError("schedule_maintenance must be an object")
    if "effective_time" in spec:
        when = iso_ms(parse_process_before_or_error(str(spec["effective_time"])))
    else:
        in_s = spec.get("in_s", 3600)
        if isinstance(in_s, bool) or not isinstance(in_s, int | float):
            raise ValueError("in_s must be a number")
        when = iso_ms((time.time() if now is None else now) + float(in_s))
    notice: dict[str, Any] = {
        "type": "maintenance",
        "priority": "high",
        "note": str(spec.get("note", "Scheduled maintenance: the platform will be unavailable.")),
        "effectiveTime": when,
    }
    downtime = spec.get("expected_downtime_minutes")
    if downtime is not None:
        if isinstance(downtime, bool) or not isinstance(downtime, int) or downtime < 0:
            raise ValueError("expected_downtime_minutes must be a non-negative integer")
        notice["expectedDowntimeMinutes"] = downtime
    return notice


def parse_process_before_or_error(text: str) -> float:
    """An ISO time as unix seconds, or ValueError (the control API's words for ``invalidArgument``)."""
    try:
        return parse_process_before(text)
    except Refused:
        raise ValueError(f"not an ISO time: {text!r}") from None


def instrument_json(inst: Instrument, post_only: bool) -> dict[str, Any]:
    """One ``GET /instruments`` entry for a perpetual (Kraken's Instrument schema and example).

    ``tickSize`` is the price step and ``contractValueTradePrecision`` the size's decimals.

    Args:
        inst: A Futures instrument.
        post_only: The market is in post-only mode.

    Returns:
        The JSON-ready entry.
    """
    base, quote = futures_base_quote(inst)
    levels = [
        {"numNonContractUnits": 0, "initialMargin": 0.02, "maintenanceMargin": 0.01},
        {"numNonContractUnits": 500000, "initialMargin": 0.04, "maintenanceMargin": 0.02},
    ]
    return {
        "symbol": inst.symbol,
        "pair": f"{base}:{quote}",
        "base": base,
        "quote": quote,
        "type": "flexible_futures",
        "tickSize": float(Decimal(1).scaleb(-inst.price_decimals)),
        "contractSize": 1,
        "tradeable": True,
        "impactMidSize": 1,
        "maxPositionSize": 1000000,
        "openingDate": "2022-01-01T00:00:00.000Z",
        "marginLevels": levels,
        "retailMarginLevels": levels,
        "fundingRateCoefficient": 8,
        "maxRelativeFundingRate": 0.001,
        "contractValueTradePrecision": inst.qty_decimals,
        "postOnly": post_only,
        "category": "Layer 1",
        "tags": [],
        "tradfi": False,
        "mtf": False,
    }


@dataclass(eq=False)
class _WsSession:
    request: web.Request
    ws: web.WebSocketResponse
    queue: asyncio.Queue[tuple[str, bool, float] | None]
    challenges: dict[str, set[str]] = field(default_factory=dict)
    feeds: dict[str, Callable[[], None]] = field(default_factory=dict)
    heartbeat: asyncio.Task[None] | None = None

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (a mid-stream disconnect)."""
        abort_connection(self.request)


Handler = Callable[["FuturesHost", Account, Params], dict[str, Any]]


@dataclass(frozen=True)
class _Endpoint:
    handler: Handler
    permissions: tuple[str, ...]
    cost: Callable[[Params], float]
    http_method: str = "POST"


class FuturesHost:
    """Request handling for the Futures host: auth, nonces, budget, faults, REST and WS.

    Rules: Authent is verified over postData as received (URL-encoded), the Nonce header and
    the path without ``/derivatives``; nonces follow ``FuturesNonces``; every private call is
    charged against the account's 500-per-10-s budget (``apiLimitExceeded`` when short); the
    WS challenge is verified with the simulator's own code; deltas follow exchange events.
    """

    def __init__(self, ctx: HostContext, controls: FuturesControls | None = None) -> None:
        """Bind to the server's shared state.

        Args:
            ctx: The host context from ``SimServer``.
            controls: Test levers (a fresh set when None).
        """
        self.ctx = ctx
        self.exchange = ctx.exchange
        self.book = ctx.exchange.book
        self.controls = controls or FuturesControls()
        self.nonces = FuturesNonces()
        self.sessions: Connections[_WsSession] = Connections()
        # cliOrdId -> order id of every futures order seen, so a cancel by client id can say
        # "filled" after the order left the book (the exchange indexes open orders only).
        self._by_client: dict[tuple[str, str], str] = {}
        for account in self.exchange.accounts.values():
            if account.kind == "futures":
                for order in self.book.open_orders(account.name):
                    self._note_client_id(order)
        self._unsubscribe = self.book.subscribe(None, self._on_event)

    @property
    def faults(self) -> Faults:
        """This host's current fault settings."""
        return self.ctx.faults()

    def _note_client_id(self, order: SimOrder) -> None:
        if order.cl_ord_id is not None:
            self._by_client[(order.account, order.cl_ord_id)] = order.order_id

    def _on_event(self, event: OrderEvent) -> None:
        if event.kind == "new":
            self._note_client_id(event.order)

    # ----------------------------------------------------------------------- replies

    def _ok(self, payload: dict[str, Any]) -> web.Response:
        return web.json_response(
            {"result": "success", "serverTime": iso_ms(self.exchange.clock()), **payload}
        )

    def _error(self, code: str) -> web.Response:
        body: dict[str, Any] = {"result": "error", "serverTime": iso_ms(self.exchange.clock())}
        if self.controls.use_errors_list:
            body["errors"] = [{"code": code, "message": code}]
        else:
            body["error"] = code
        return web.json_response(body)

    def fault_answers(self) -> VenueAnswers:
        """How Futures words the business faults: its error envelope, or a bare 429 when throttled.

        Returns:
            The replies by fault.
        """
        return {
            FaultKind.SERVICE_UNAVAILABLE: lambda: self._error("Unavailable"),
            FaultKind.RATE_LIMIT: lambda: self._error("apiLimitExceeded"),
            FaultKind.THROTTLED: lambda: web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": "5"}
            ),
            # Futures has no such strings: a bare 429, with no time to wait for.
            FaultKind.TOO_MANY_REQUESTS: lambda: web.Response(status=429, text="Too Many Requests"),
            FaultKind.THROTTLED_NO_TS: lambda: web.Response(status=429, text="Too Many Requests"),
        }

    # ----------------------------------------------------------------------- REST

    async def rest(self, request: web.Request) -> web.Response:
        """``/derivatives/api/v3/{endpoint}``: authenticate, check nonce, charge, dispatch."""
        body = await request.read()
        try:
            return self._rest(request, body)
        except Refused as exc:
            return self._error(exc.message)

    def _rest(self, request: web.Request, body: bytes) -> web.Response:
        name = request.match_info["endpoint"]
        spec = _ENDPOINTS.get(name)
        if spec is None:
            raise web.HTTPNotFound()
        allowed = spec.http_method
        if request.method != allowed:
            raise web.HTTPMethodNotAllowed(request.method, [allowed])
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("invalidArgument") from None
        raw_query = request.rel_url.raw_query_string
        # postData: the URL-encoded parameters exactly as sent (API-FACTS 5.1 step 1): the query
        # string, the form body, or (python-kraken-sdk) the query followed by the body.
        post_data = raw_query + body_text
        account = self.exchange.accounts.by_key(request.headers.get("APIKey"))
        if account is None or account.kind != "futures":
            raise Refused("authenticationError")
        nonce = request.headers.get("Nonce", "")
        if not verify_futures_rest(
            post_data, nonce, request.path, account.secret, request.headers.get("Authent", "")
        ):
            raise Refused("authenticationError")
        if nonce:
            problem = self.nonces.check(account.api_key, nonce)
            if problem is not None:
                raise Refused(problem)
        if not account.can(*spec.permissions):
            # Kraken Futures has no distinct permission error; a read-only key is refused as
            # not authenticated for trading calls.
            raise Refused("authenticationError")
        if self.faults.system_status == "maintenance":
            raise Refused("Unavailable")
        params = _parse(raw_query)
        params.update(_parse(body_text))
        if not self.exchange.limits.charge_futures(account.name, spec.cost(params)):
            raise Refused("apiLimitExceeded")
        return self._ok(spec.handler(self, account, params))

    def _expired(self, params: Params) -> bool:
        text = params.get("processBefore") or params.get("ProcessBefore")
        return text is not None and self.exchange.clock() > parse_process_before(text)

    def open_orders(self, account: Account, params: Params) -> dict[str, Any]:
        """openorders: every open order, newest first (a ``malformed_order`` fault spoils one)."""
        orders = self.book.open_orders(account.name)
        orders.sort(key=lambda o: o.opened_at, reverse=True)
        listing = [open_order_json(o) for o in orders]
        if listing and self.faults.take(FaultKind.MALFORMED_ORDER):
            listing[0]["unfilledSize"] = _MALFORMED
        return {"openOrders": listing}

    def notifications(self, account: Account, params: Params) -> dict[str, Any]:
        """notifications (GET, read-only key): the platform's notices, e.g. scheduled maintenance."""
        return {"notifications": list(self.controls.notifications)}

    async def instruments(self, request: web.Request) -> web.Response:
        """``GET /derivatives/api/v3/instruments`` (public): the simulator's perpetuals."""
        post_only = self.faults.system_status == "post_only"
        return self._ok({"instruments": [instrument_json(i, post_only) for i in instruments_of("futures")]})

    def _resolve(self, account: Account, order_id: str | None, cli: str | None) -> SimOrder | None:
        if order_id:
            return self.book.get_order(account.name, order_id)
        if cli:
            found = self.book.find_open(account.name, cl_ord_ids=[cli])
            if found:
                return found[0]
            known = self._by_client.get((account.name, cli))
            return self.book.get_order(account.name, known) if known else None
        return None

    def _cancel_one(self, account: Account, order_id: str | None, cli: str | None) -> dict[str, Any]:
        """Cancel one order and describe it as a cancelStatus / batchStatus item."""
        order = self._resolve(account, order_id, cli)
        if order is not None and order.is_open:
            # Test levers: let the market fill it while the cancel is in flight.
            with acting(Actor("activity")):
                if order.order_id in self.controls.fill_before_cancel:
                    self.controls.fill_before_cancel.discard(order.order_id)
                    self.book.fill(account.name, order.order_id)
                elif order.order_id in self.controls.partial_fill_before_cancel:
                    self.controls.partial_fill_before_cancel.discard(order.order_id)
                    self.book.fill(account.name, order.order_id, order.remaining / 2)
        item: dict[str, Any] = {"receivedTime": iso_ms(self.exchange.clock())}
        if order is None or order.status in ("canceled", "expired"):
            item.update({"status": "notFound", "orderEvents": []})
            if order_id:
                item["order_id"] = order_id
            if cli:
                item["cliOrdId"] = cli
            return item
        item["order_id"] = order.order_id
        if order.cl_ord_id is not None:
            item["cliOrdId"] = order.cl_ord_id
        if order.status == "closed":
            item.update({"status": "filled", "orderEvents": []})
            return item
        cancelled = self.book.cancel(account.name, order.order_id, REASON_USER)
        if cancelled is None:  # pragma: no cover - open orders cancel
            item.update({"status": "notFound", "orderEvents": []})
            return item
        item.update({"status": "cancelled", "orderEvents": [cancel_event(cancelled)]})
        return item

    def cancel_order(self, account: Account, params: Params) -> dict[str, Any]:
        """cancelorder: by ``order_id`` or ``cliOrdId``; ``processBefore`` honoured."""
        order_id = params.get("order_id") or None
        cli = params.get("cliOrdId") or None
        if order_id is None and cli is None:
            raise Refused("requiredArgumentMissing")
        if self._expired(params):
            status: dict[str, Any] = {"status": "wouldProcessAfterSpecifiedTime", "orderEvents": []}
            status["receivedTime"] = iso_ms(self.exchange.clock())
            if order_id:
                status["order_id"] = order_id
            if cli:
                status["cliOrdId"] = cli
            return {"cancelStatus": status}
        return {"cancelStatus": self._cancel_one(account, order_id, cli)}

    def batch_order(self, account: Account, params: Params) -> dict[str, Any]:
        """batchorder: the ``json`` form field holding ``{"batchOrder": [...]}``."""
        instructions = _batch_instructions(params)
        expired = self._expired(params)
        items: list[dict[str, Any]] = []
        for ins in instructions:
            kind = ins.get("order")
            tag = ins.get("order_tag")
            if kind != "cancel":
                # The simulator places orders only through sendorder.
                items.append({"status": "invalidOrderType", "order_tag": tag, "orderEvents": []})
                continue
            order_id = _opt_text(ins.get("order_id"))
            cli = _opt_text(ins.get("cliOrdId"))
            if order_id is None and cli is None:
                raise Refused("requiredArgumentMissing")
            if expired:
                item: dict[str, Any] = {"status": "wouldProcessAfterSpecifiedTime", "orderEvents": []}
                if order_id:
                    item["order_id"] = order_id
                if cli:
                    item["cliOrdId"] = cli
            else:
                item = self._cancel_one(account, order_id, cli)
                item.pop("receivedTime", None)
                item["dateTimeReceived"] = iso_ms(self.exchange.clock())
            items.append(item)
        if self.controls.shuffle_batch:
            self.ctx.rng.shuffle(items)
        return {"batchStatus": items}

    def cancel_all_orders(self, account: Account, params: Params) -> dict[str, Any]:
        """cancelallorders: everything, or one ``symbol`` only."""
        symbol = params.get("symbol") or None
        with cancelling_all():
            done = self.book.cancel_all(account.name, symbol, REASON_USER)
        cancelled = []
        for order in done:
            entry = {"order_id": order.order_id}
            if order.cl_ord_id is not None:
                entry["cliOrdId"] = order.cl_ord_id
            cancelled.append(entry)
        return {
            "cancelStatus": {
                "receivedTime": iso_ms(self.exchange.clock()),
                "cancelOnly": symbol or "all",
                "status": "cancelled" if done else "noOrdersToCancel",
                "cancelledOrders": cancelled,
                "orderEvents": [cancel_event(o) for o in done],
            }
        }

    def cancel_all_orders_after(self, account: Account, params: Params) -> dict[str, Any]:
        """cancelallordersafter: ``timeout`` seconds, 0 disarms (API-FACTS 5.3, 6)."""
        text = params.get("timeout", "")
        if not text.isascii() or not text.isdigit():
            raise Refused("invalidArgument")
        timeout = int(text)
        if timeout >= DEADMAN_MAX_TIMEOUT_S:
            raise Refused("invalidArgument")
        now, trigger = self.exchange.deadman.arm(account.name, float(timeout))
        return {"status": {"currentTime": iso_ms(now), "triggerTime": iso_ms(trigger) if trigger else "0"}}

    def send_order(self, account: Account, params: Params) -> dict[str, Any]:
        """sendorder (for tests and third-party clients): lmt, post, stp, take_profit."""
        received = iso_ms(self.exchange.clock())
        cli = params.get("cliOrdId") or None
        status: dict[str, Any] = {"receivedTime": received, "orderEvents": []}
        if cli:
            status["cliOrdId"] = cli
        if self._expired(params):
            status["status"] = "wouldProcessAfterSpecifiedTime"
            return {"sendStatus": status}
        kind = params.get("orderType", "")
        symbol = params.get("symbol", "")
        side = params.get("side", "")
        size = params.get("size", "")
        if not (kind and symbol and side and size):
            raise Refused("requiredArgumentMissing")
        limit = params.get("limitPrice") or None
        stop = params.get("stopPrice") or None
        type_map = {"lmt": "limit", "post": "limit", "stp": "stop-loss", "take_profit": "take-profit"}
        if kind not in type_map:
            status["status"] = "invalidOrderType"
            return {"sendStatus": status}
        order_type = type_map[kind]
        if order_type != "limit" and limit is not None:
            order_type += "-limit"
        if symbol not in INSTRUMENTS or INSTRUMENTS[symbol].kind != "futures":
            status["status"] = "marketInactive"
            return {"sendStatus": status}
        if (
            cli is not None
            and (account.name, cli) in self._by_client
            and self.book.find_open(account.name, cl_ord_ids=[cli])
        ):
            status["status"] = "clientOrderIdAlreadyExist"
            return {"sendStatus": status}
        try:
            order = self.book.add_order(
                account.name,
                symbol,
                side,
                order_type,
                size,
                limit or "0",
                stop_price=stop,
                cl_ord_id=cli,
                reduce_only=params.get("reduceOnly", "").lower() == "true",
            )
        except OrderRejected as exc:
            field_status = {"type": "invalidSide", "ordertype": "invalidOrderType", "volume": "invalidSize"}
            status["status"] = field_status.get(exc.field_name, "invalidPrice")
            if exc.field_name == "cl_ord_id":
                status["status"] = "clientOrderIdAlreadyExist"
            return {"sendStatus": status}
        status.update(
            {
                "status": "placed",
                "order_id": order.order_id,
                "orderEvents": [{"type": "PLACE", "order": event_order_json(order), "reducedQuantity": None}],
            }
        )
        return {"sendStatus": status}

    # ----------------------------------------------------------------------- WS

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """``/ws/v1``: challenge flow, open_orders snapshot and deltas, heartbeat feed."""
        self.exchange.arrivals.record(HOST_NAME, WS_PATH, None)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=WS_MAX_MSG)
        await ws.prepare(request)
        session = _WsSession(request, ws, asyncio.Queue())
        self.sessions.add(session)
        sender = asyncio.get_running_loop().create_task(self._sender(session), name="sim-futures-ws-sender")
        self._send(session, {"event": "info", "version": 1})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_ws_text(session, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._send(session, {"event": "error", "message": "Json Error"})
        finally:
            self.sessions.discard(session)
            for unsubscribe in session.feeds.values():
                unsubscribe()
            session.feeds.clear()
            if session.heartbeat is not None:
                session.heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.heartbeat
            session.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    def _send(self, session: _WsSession, payload: dict[str, Any], *, delta: bool = False) -> None:
        session.queue.put_nowait((json.dumps(payload), delta, time.monotonic()))

    async def _sender(self, session: _WsSession) -> None:
        """Send queued frames in order, with the host's latency; a DROP fault cuts the socket."""
        ws = session.ws
        while True:
            item = await session.queue.get()
            if item is None or ws.closed:
                return
            text, delta, queued_at = item
            faults = self.faults
            # A propagation delay from when the frame was queued: frames queued together leave
            # together, one latency later (not one latency apart).
            wait = queued_at + faults.delay_s() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # Only deltas consume a DROP fault, so a fault meant for REST is not taken by the
            # handshake of a feed that happens to be connecting.
            if delta and take_drop(faults):
                log.info("fault drop_connection on %s", WS_PATH)
                session.drop()
                return
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def _on_ws_text(self, session: _WsSession, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            self._send(session, {"event": "error", "message": "Json Error"})
            return
        if not isinstance(data, dict):
            self._send(session, {"event": "error", "message": "Json Error"})
            return
        event = data.get("event")
        if event == "challenge":
            api_key = data.get("api_key")
            if not isinstance(api_key, str) or not api_key:
                self._send(session, {"event": "error", "message": "Json Error"})
                return
            # A challenge is issued for any key: whether the key exists shows only at subscribe.
            challenge = str(uuid.UUID(int=self.ctx.rng.getrandbits(128), version=4))
            session.challenges.setdefault(api_key, set()).add(challenge)
            self._send(session, {"event": "challenge", "message": challenge})
        elif event == "subscribe":
            self._subscribe(session, data)
        elif event == "unsubscribe":
            feed = data.get("feed")
            unsubscribe = session.feeds.pop(str(feed), None)
            if unsubscribe is None:
                self._send(session, {"event": "unsubscribed_failed", "feed": feed})
                return
            unsubscribe()
            self._send(session, {"event": "unsubscribed", "feed": feed})
        else:
            self._send(session, {"event": "error", "message": "Json Error"})

    def _subscribe(self, session: _WsSession, data: dict[str, Any]) -> None:
        feed = data.get("feed")
        if feed == "heartbeat":
            if session.heartbeat is None:
                session.heartbeat = asyncio.get_running_loop().create_task(
                    self._heartbeats(session), name="sim-futures-ws-heartbeat"
                )
            self._send(session, {"event": "subscribed", "feed": "heartbeat"})
            return
        if feed not in PRIVATE_FEEDS:
            self._send(session, {"event": "error", "message": "Invalid feed"})
            return
        echo = {
            "feed": feed,
            "api_key": data.get("api_key"),
            "original_challenge": data.get("original_challenge"),
            "signed_challenge": data.get("signed_challenge"),
        }
        account = self._ws_account(session, data)
        if account is None:
            refused = (
                AUTH_ALERT
                if self.controls.auth_failure == "alert"
                else {"event": "subscribed_failed", **echo}
            )
            self._send(session, dict(refused))
            return
        self._send(session, {"event": "subscribed", **echo})
        if feed in session.feeds:
            return
        feed_name = str(feed)
        # Held while a delayed snapshot is pending, so a second subscribe does not start another.
        session.feeds[feed_name] = lambda: None
        delay = self.faults.snapshot_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._start_feed, session, account, feed_name)
        else:
            self._start_feed(session, account, feed_name)

    def _start_feed(self, session: _WsSession, account: Account, feed_name: str) -> None:
        """Send the snapshot and start the deltas, in one tick: no event can fall between."""
        if session not in self.sessions or session.ws.closed or feed_name not in session.feeds:
            return

        def on_event(event: OrderEvent) -> None:
            faults = self.faults
            if faults.take(FaultKind.LOST_DELTA):
                log.info("fault lost_delta on %s", feed_name)
                return
            delta = delta_for(event)
            delta["feed"] = feed_name
            self._send(session, delta, delta=True)

        session.feeds[feed_name] = self.book.subscribe(account.name, on_event)
        orders = [ws_order_json(o) for o in self.book.open_orders(account.name)]
        if orders and self.faults.take(FaultKind.MALFORMED_ORDER):
            orders[0]["qty"] = _MALFORMED
        snapshot = {
            "feed": f"{feed_name}_snapshot",
            "account": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kraken-sim:futures:{account.name}")),
            "orders": orders,
        }
        self._send(session, snapshot)

    def _ws_account(self, session: _WsSession, data: dict[str, Any]) -> Account | None:
        api_key = data.get("api_key")
        challenge = data.get("original_challenge")
        signed = data.get("signed_challenge")
        if not (isinstance(api_key, str) and isinstance(challenge, str) and isinstance(signed, str)):
            return None
        if challenge not in session.challenges.get(api_key, set()):
            return None
        account = self.exchange.accounts.by_key(api_key)
        if account is None or account.kind != "futures" or not account.can("query"):
            return None
        if not verify_futures_ws_challenge(challenge, account.secret, signed):
            return None
        return account

    async def _heartbeats(self, session: _WsSession) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._send(session, {"feed": "heartbeat", "time": int(self.exchange.clock() * 1000)})

    def drop_ws(self) -> int:
        """Cut every WS connection without a close handshake (a mid-stream disconnect).

        Returns:
            How many were cut.
        """
        return self.sessions.drop_all()

    async def on_shutdown(self, app: web.Application) -> None:
        """Close WS connections and stop listening to the exchange when the server stops."""
        self._unsubscribe()
        await self.sessions.close_all(b"server shutdown")

    # ----------------------------------------------------------------------- control API

    async def control_controls(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/futures/controls``: read or patch the test levers."""
        if request.method == "POST":
            try:
                self.controls.patch(await read_json_object(request))
            except (TypeError, ValueError) as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(self.controls.snapshot())

    async def control_drop_ws(self, request: web.Request) -> web.Response:
        """``POST /_sim/futures/drop_ws``: cut every WS connection."""
        return web.json_response({"dropped": self.drop_ws()})


def _parse(text: str) -> Params:
    if not text:
        return {}
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise Refused("invalidArgument") from None


def _opt_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused("invalidArgument")
    return str(value)


def _batch_instructions(params: Params) -> list[dict[str, Any]]:
    text = params.get("json")
    if text is None:
        raise Refused("requiredArgumentMissing")
    try:
        data = json.loads(text)
    except ValueError:
        raise Refused("Json Parse Error") from None
    batch = data.get("batchOrder") if isinstance(data, dict) else None
    if not isinstance(batch, list) or not all(isinstance(i, dict) for i in batch):
        raise Refused("invalidArgument")
    return batch


def _batch_cost(params: Params) -> float:
    try:
        return COST_BATCH_BASE + len(_batch_instructions(params))
    except Refused:
        return COST_BATCH_BASE


def _fixed(cost: float) -> Callable[[Params], float]:
    return lambda _params: cost


_ENDPOINTS: dict[str, _Endpoint] = {
    "openorders": _Endpoint(FuturesHost.open_orders, ("query",), _fixed(COST_OPEN_ORDERS), "GET"),
    # Not in the cost table (API-FACTS 7.3): charged nothing.
    "notifications": _Endpoint(FuturesHost.notifications, ("query",), _fixed(0.0), "GET"),
    "cancelorder": _Endpoint(FuturesHost.cancel_order, ("cancel", "trade"), _fixed(COST_CANCEL)),
    "batchorder": _Endpoint(FuturesHost.batch_order, ("cancel", "trade"), _batch_cost),
    "cancelallorders": _Endpoint(FuturesHost.cancel_all_orders, ("cancel", "trade"), _fixed(COST_CANCEL_ALL)),
    "cancelallordersafter": _Endpoint(
        FuturesHost.cancel_all_orders_after, ("cancel", "trade"), _fixed(COST_CANCEL_ALL_AFTER)
    ),
    "sendorder": _Endpoint(FuturesHost.send_order, ("trade",), _fixed(COST_SEND)),
}


def build_futures_app(
    ctx: HostContext,
    controls: FuturesControls | None = None,
    on_host: Callable[[FuturesHost], None] | None = None,
) -> web.Application:
    """Build the aiohttp application of the Futures host (REST and WS on one port).

    Args:
        ctx: The host context from ``SimServer``.
        controls: Test levers shared with the caller.
        on_host: Called with the host object (tests keep it to reach ``drop_ws``...).

    Returns:
        The application.
    """
    host = FuturesHost(ctx, controls)
    ctx.settings = host.controls
    if on_host is not None:
        on_host(host)
    # Only the REST paths meet latency and faults here; the WS applies its own to its frames.
    door = front_door(
        ctx,
        HOST_NAME,
        key_header="APIKey",
        applies=lambda path: path.startswith("/derivatives/"),
        answers=host.fault_answers(),
        is_cancel=lambda path: path.removeprefix(API_PREFIX) in CANCEL_ENDPOINTS,
    )
    app = web.Application(middlewares=[door])
    app.router.add_get(API_PREFIX + "instruments", host.instruments)
    app.router.add_route("*", API_PREFIX + "{endpoint}", host.rest)
    app.router.add_get(WS_PATH, host.websocket)
    add_controls(
        app,
        ctx,
        [
            ("*", CONTROL_PREFIX + "controls", host.control_controls),
            ("POST", CONTROL_PREFIX + "drop_ws", host.control_drop_ws),
        ],
    )
    app.on_shutdown.append(host.on_shutdown)
    return app


def futures_host_spec(
    controls: FuturesControls | None = None, on_host: Callable[[FuturesHost], None] | None = None
) -> HostSpec:
    """A ``HostSpec`` for the Futures host with the caller's levers (tests)."""
    return HostSpec(HOST_NAME, build=lambda ctx: build_futures_app(ctx, controls, on_host), urls=FUTURES_URLS)
