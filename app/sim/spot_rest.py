"""The simulated Spot REST host (``api.kraken.com``): ``/0/private/...``, ``/0/public/...``, ``/_sim/``."""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from app.sim import ids
from app.sim.accounts import Account
from app.sim.auth import verify_spot_rest
from app.sim.control import SimControls
from app.sim.deadman import DEADMAN_MAX_TIMEOUT_S
from app.sim.faults import BUSINESS_KINDS, FaultKind, Faults
from app.sim.hostkit import (
    CONTROL_PREFIX,
    HostContext,
    Refused,
    VenueAnswers,
    add_controls,
    front_door,
    gone_error,
    refuse_remote,
    spot_fault_text,
)
from app.sim.instruments import Instrument, fmt_decimal, instruments_of, spot_asset_ids, spot_instrument
from app.sim.orders import ORDER_TYPES, STOP_ORDER_TYPES, OrderRejected, SimOrder
from app.sim.truth import cancelling_all
from app.sim.wire import dumps_compact, rfc3339

log = logging.getLogger("app.sim.spot_rest")

HOST_NAME = "spot_rest"
PRIVATE_PREFIX = "/0/private/"
# Kraken: CancelOrderBatch takes at most 50 unique ids/refs (API-FACTS 1.4); QueryOrders 50 txids.
MAX_BATCH = 50
MAX_QUERY = 50
_INT_RE = re.compile(r"^-?\d+$")
_INT32 = range(-(2**31), 2**31)
_JSON_TYPE = "application/json"

Params = dict[str, Any]


def _invalid(detail: str | None = None) -> Refused:
    return Refused("EGeneral:Invalid arguments" + (f":{detail}" if detail else ""))


# --------------------------------------------------------------------------- wire helpers


@dataclass(frozen=True, slots=True)
class RawJSON:
    """A result already serialised to JSON text."""

    text: str


def _ok(result: Any) -> web.Response:
    return web.json_response({"error": [], "result": result}, dumps=dumps_compact)


def _error(message: str) -> web.Response:
    return web.json_response({"error": [message]}, dumps=dumps_compact)


def _fault_answer(kind: FaultKind) -> web.Response:
    return _error(spot_fault_text(kind, time.time()) or "EGeneral:Internal error")


# How Spot REST words the business faults (all answered with HTTP 200, as Kraken does).
_FAULT_ANSWERS: VenueAnswers = {kind: functools.partial(_fault_answer, kind) for kind in BUSINESS_KINDS}
# The methods a ``scope: cancels`` fault hits.
_CANCEL_METHODS = frozenset({"CancelOrder", "CancelOrderBatch", "CancelAll", "CancelAllOrdersAfter"})
_MALFORMED = "not-a-number"


def parse_params(body: bytes, content_type: str) -> Params:
    """Parse a private request body, form-encoded or JSON (Spot REST accepts both).

    Args:
        body: Raw bytes received.
        content_type: The request's media type (``request.content_type``).

    Returns:
        The parameters (form values are strings; JSON keeps its types).

    Raises:
        Refused: ``EGeneral:Invalid arguments`` for a body that does not parse.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid() from None
    if content_type == _JSON_TYPE or (
        content_type != "application/x-www-form-urlencoded" and text.lstrip().startswith("{")
    ):
        try:
            data = json.loads(text)
        except ValueError:
            raise _invalid() from None
        if not isinstance(data, dict):
            raise _invalid()
        return data
    if not text:
        return {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise _invalid() from None
    return dict(pairs)


def _nonce_text(params: Params) -> str | None:
    nonce = params.get("nonce")
    if isinstance(nonce, bool):
        return None
    if isinstance(nonce, int):
        return str(nonce)
    if isinstance(nonce, str):
        return nonce
    return None


def _opt_str(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(name)
    return str(value)


def _opt_int(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _invalid(name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise _invalid(name)


def _truthy(params: Params, name: str) -> bool:
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _classify_ref(value: Any, field: str) -> tuple[str | None, int | None]:
    """Split a CancelOrder/CancelOrderBatch reference into (txid, userref).

    A Kraken-shaped txid string is a txid; an integer, or a string of digits, is a userref
    (WS v2 sends userrefs as strings). Anything else is an invalid argument.
    """
    if isinstance(value, bool):
        raise _invalid(field)
    if isinstance(value, int):
        if value not in _INT32:
            raise _invalid(field)
        return None, value
    if isinstance(value, str):
        text = value.strip()
        if ids.is_spot_txid(text):
            return text, None
        if _INT_RE.match(text) and int(text) in _INT32:
            return None, int(text)
    raise _invalid(field)


def _instrument(order: SimOrder) -> Instrument:
    inst = spot_instrument(order.symbol)
    if inst is None:
        return Instrument(order.symbol, "spot", 8, 8, Decimal(1), (1.0, 1.0), altname=order.symbol)
    return inst


def _descr(order: SimOrder, inst: Instrument) -> dict[str, str]:
    """The ``descr`` object of an order, with Kraken's one-line text."""
    pdec = inst.price_decimals
    stop = order.stop_price
    if order.order_type in STOP_ORDER_TYPES and stop is not None:
        # Kraken: for triggered orders descr.price is the trigger and price2 the limit.
        price = fmt_decimal(Decimal(stop), pdec)
        price2 = fmt_decimal(Decimal(order.price), pdec) if order.order_type.endswith("-limit") else "0"
    elif order.order_type == "market":
        price, price2 = "0", "0"
    else:
        price, price2 = fmt_decimal(Decimal(order.price), pdec), "0"
    qty = fmt_decimal(Decimal(order.qty), 8)
    head = f"{order.side} {qty} {inst.altname}"
    match order.order_type:
        case "market":
            text = f"{head} @ market"
        case "limit":
            text = f"{head} @ limit {price}"
        case "stop-loss-limit" | "take-profit-limit":
            words = order.order_type.removesuffix("-limit").replace("-", " ")
            text = f"{head} @ {words} {price} -> limit {price2}"
        case _:
            text = f"{head} @ {order.order_type.replace('-', ' ')} {price}"
    return {
        "pair": inst.altname,
        "type": order.side,
        "ordertype": order.order_type,
        "price": price,
        "price2": price2,
        "leverage": "none",
        "order": text,
        "close": "",
    }


def asset_pair_json(inst: Instrument, status: str) -> dict[str, Any]:
    """One AssetPairs entry (Kraken's AssetPair schema; fees are Kraken's published base tiers).

    Args:
        inst: A Spot instrument.
        status: ``online``, ``cancel_only`` or ``post_only``.

    Returns:
        The JSON-ready entry.
    """
    _key, base, quote = spot_asset_ids(inst)
    tick = fmt_decimal(Decimal(1).scaleb(-inst.price_decimals), inst.price_decimals)
    return {
        "altname": inst.altname,
        "wsname": inst.symbol,
        "aclass_base": "currency",
        "base": base,
        "aclass_quote": "currency",
        "quote": quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": inst.price_decimals,
        "lot_decimals": inst.qty_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, 0.26], [50000, 0.24], [100000, 0.22]],
        "fees_maker": [[0, 0.16], [50000, 0.14], [100000, 0.12]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": f"{Decimal(str(inst.qty_range[0])):f}",
        "costmin": "0.5",
        "tick_size": tick,
        "status": status,
    }


def order_json(order: SimOrder) -> dict[str, Any]:
    """Render an order as OpenOrders/QueryOrders do (numbers as strings).

    Unset ``userref`` is written as null (the spec marks it nullable) and ``cl_ord_id``
    appears only when set. ``price`` is the average fill price, ``0.00000`` before any fill.

    Args:
        order: The order.

    Returns:
        The JSON-ready object.
    """
    inst = _instrument(order)
    filled = Decimal(order.filled)
    zero5 = "0.00000"
    out: dict[str, Any] = {"refid": None, "userref": order.userref}
    if order.cl_ord_id is not None:
        out["cl_ord_id"] = order.cl_ord_id
    out.update(
        {
            "status": order.status,
            "opentm": round(order.opened_at, 4),
            "starttm": 0,
            "expiretm": 0,
            "descr": _descr(order, inst),
            "vol": fmt_decimal(Decimal(order.qty), 8),
            "vol_exec": fmt_decimal(filled, 8),
            "cost": fmt_decimal(filled * order.fill_price, 5) if filled else zero5,
            "fee": zero5,
            "price": fmt_decimal(order.fill_price, inst.price_decimals) if filled else zero5,
            "stopprice": zero5,
            "limitprice": zero5,
            "misc": "",
            "oflags": "fciq",
        }
    )
    if order.status != "open":
        out["closetm"] = round(order.closed_at or order.updated_at, 4)
        out["reason"] = order.cancel_reason
    return out


# --------------------------------------------------------------------------- private methods


@dataclass(frozen=True)
class _Method:
    handler: Callable[[SpotRestHost, Account, Params], dict[str, Any] | RawJSON]
    permissions: tuple[str, ...]
    call_cost: int  # 0: not on the REST call counter (AddOrder/CancelOrder, API-FACTS 7.1)


class SpotRestHost:
    """Request handling for one Spot REST host: auth, faults, Kraken methods, control API.

    Rules kept (API-FACTS 1, 7.1, 7.2): a private call is checked in Kraken's order (known
    method, parsable body, Spot key, nonce present, signature, nonce increasing, permission,
    maintenance, call counter) and answers business errors as ``{"error": [...]}`` with
    HTTP 200; cancels and AddOrder charge the pair's trading counter instead of the call
    counter; unknown or closed references in a batch are skipped and ``count`` is what was
    cancelled.
    """

    def __init__(self, ctx: HostContext) -> None:
        """Bind to the server's shared state.

        Args:
            ctx: The host context from ``SimServer``.
        """
        self.ctx = ctx
        self.exchange = ctx.exchange
        self.book = ctx.exchange.book
        self.limits = ctx.exchange.limits
        self._rendered: dict[str, tuple[tuple[object, ...], str]] = {}

    @property
    def faults(self) -> Faults:
        """This host's current fault settings."""
        return self.ctx.faults()

    # ----------------------------------------------------------------------- public

    async def public_time(self, request: web.Request) -> web.Response:
        """``GET /0/public/Time``."""
        now = time.time()
        # Kraken's example: "Sun, 21 Mar 21 14:23:14 +0000" (two-digit year).
        text = datetime.fromtimestamp(now, UTC).strftime("%a, %d %b %y %H:%M:%S +0000")
        return _ok({"unixtime": int(now), "rfc1123": text})

    async def public_system_status(self, request: web.Request) -> web.Response:
        """``GET /0/public/SystemStatus``."""
        return _ok({"status": self.faults.system_status, "timestamp": rfc3339(time.time())})

    async def public_asset_pairs(self, request: web.Request) -> web.Response:
        """``GET /0/public/AssetPairs[?pair=XBTUSD,ETH/USD]``: the simulator's Spot pairs.

        Shape of Kraken's AssetPair schema and example (krakenfx/api-specs): keyed by the REST
        pair key (``XXBTZUSD``), with ``altname``, ``wsname``, ``pair_decimals`` (prices),
        ``lot_decimals`` (volumes), ``tick_size``, ``ordermin`` and ``status``.
        """
        wanted = [p for p in request.query.get("pair", "").split(",") if p]
        pairs = instruments_of("spot")
        if wanted:
            found = [spot_instrument(p) for p in wanted]
            if any(i is None for i in found):
                return _error("EQuery:Unknown asset pair")
            pairs = [i for i in found if i is not None]
        status = self.faults.system_status
        pair_status = status if status in ("cancel_only", "post_only") else "online"
        return _ok({spot_asset_ids(i)[0]: asset_pair_json(i, pair_status) for i in pairs})

    # ----------------------------------------------------------------------- private

    async def private(self, request: web.Request) -> web.Response:
        """``POST /0/private/{method}``: authenticate, authorise, rate-limit, dispatch."""
        body = await request.read()
        try:
            return self._private(request, body)
        except Refused as exc:
            return _error(exc.message)

    def _private(self, request: web.Request, body: bytes) -> web.Response:
        spec = _METHODS.get(request.match_info["method"])
        if spec is None:
            raise Refused("EGeneral:Unknown method")
        params = parse_params(body, request.content_type)
        account = self.exchange.accounts.by_key(request.headers.get("API-Key"))
        if account is None or account.kind != "spot":
            raise Refused("EAPI:Invalid key")
        nonce = _nonce_text(params)
        if nonce is None:
            raise Refused("EAPI:Invalid nonce")
        sign = request.headers.get("API-Sign", "")
        if not verify_spot_rest(request.path, nonce, body, account.secret, sign):
            raise Refused("EAPI:Invalid signature")
        if not self.exchange.accounts.spot_nonces.accept(account.api_key, nonce):
            raise Refused("EAPI:Invalid nonce")
        if not account.can(*spec.permissions):
            raise Refused("EGeneral:Permission denied")
        if self.faults.system_status == "maintenance":
            raise Refused("EService:Unavailable")
        if spec.call_cost and not self.limits.charge_spot_call(account.name, spec.call_cost):
            raise Refused("EAPI:Rate limit exceeded")
        result = spec.handler(self, account, params)
        if isinstance(result, RawJSON):
            return web.Response(text='{"error":[],"result":' + result.text + "}", content_type=_JSON_TYPE)
        return _ok(result)

    def open_orders(self, account: Account, params: Params) -> RawJSON:
        """OpenOrders: ``{"open": {txid: order}}``, newest first; userref/cl_ord_id filter."""
        userref = _opt_int(params, "userref")
        cl_ord_id = _opt_str(params, "cl_ord_id")
        orders = self.book.open_orders(account.name)
        orders.reverse()
        malformed = self.faults.take(FaultKind.MALFORMED_ORDER) is FaultKind.MALFORMED_ORDER
        # Rendering 10,000 orders costs ~0.2 s; keep each open order's JSON text until it
        # changes, so repeated polls (REST fallback, benchmarks) stay cheap.
        old_cache = self._rendered
        cache: dict[str, tuple[tuple[object, ...], str]] = {}
        parts = []
        for o in orders:
            if (userref is not None and o.userref != userref) or (
                cl_ord_id is not None and o.cl_ord_id != cl_ord_id
            ):
                continue
            version: tuple[object, ...] = (o.status, o.filled, o.qty, o.price, o.stop_price, o.updated_at)
            hit = old_cache.get(o.order_id)
            if hit is not None and hit[0] == version:
                part = hit[1]
            else:
                part = f"{dumps_compact(o.order_id)}:{dumps_compact(order_json(o))}"
            cache[o.order_id] = (version, part)
            if malformed:
                # One order with a bad field, the rest fine (a fault, never cached).
                malformed = False
                part = f"{dumps_compact(o.order_id)}:{dumps_compact({**order_json(o), 'vol': _MALFORMED})}"
            parts.append(part)
        if userref is None and cl_ord_id is None:
            self._rendered = cache
        return RawJSON('{"open":{' + ",".join(parts) + "}}")

    def query_orders(self, account: Account, params: Params) -> dict[str, Any]:
        """QueryOrders: ``txid`` comma list (max 50) -> ``{txid: order}``, any status."""
        raw = params.get("txid")
        if isinstance(raw, list):
            txids = [str(t) for t in raw]
        elif isinstance(raw, str) and raw:
            txids = raw.split(",")
        else:
            raise _invalid("txid")
        txids = [t.strip() for t in txids if t.strip()]
        if not txids or len(txids) > MAX_QUERY:
            raise _invalid("txid")
        result = {}
        for txid in txids:
            order = self.book.get_order(account.name, txid)
            if order is None:
                # Docs are silent; the simulator fails the whole call, as for a bad txid.
                raise Refused("EOrder:Invalid order")
            result[txid] = order_json(order)
        return result

    def cancel_order(self, account: Account, params: Params) -> dict[str, Any]:
        """CancelOrder: ``txid`` (txid or integer userref) or ``cl_ord_id``."""
        has_txid = params.get("txid") not in (None, "")
        cl_ord_id = _opt_str(params, "cl_ord_id")
        if has_txid == (cl_ord_id is not None):
            raise _invalid("txid" if has_txid else None)
        name = account.name
        txid: str | None = None
        if cl_ord_id is not None:
            targets = self.book.find_open(name, cl_ord_ids=[cl_ord_id])
            multi = False
        else:
            txid, userref = _classify_ref(params["txid"], "txid")
            if txid is not None:
                targets = self.book.find_open(name, order_ids=[txid])
                multi = False
            else:
                assert userref is not None
                targets = self.book.find_open(name, userrefs=[userref])
                multi = True
        if not targets:
            raise Refused(gone_error(self.exchange, self.faults, name, order_id=txid, cl_ord_id=cl_ord_id))
        if not self.limits.charge_spot_cancels(name, targets, batch=multi):
            raise Refused("EOrder:Rate limit exceeded")
        done = self.book.cancel_many(name, [o.order_id for o in targets])
        return {"count": len(done), "pending": False}

    def cancel_all(self, account: Account, params: Params) -> dict[str, Any]:
        """CancelAll: every open order of the key's account -> ``{"count": N}``."""
        name = account.name
        targets = self.book.open_orders(name)
        if not self.limits.charge_spot_cancels(name, targets, batch=True):
            raise Refused("EOrder:Rate limit exceeded")
        with cancelling_all():
            return {"count": len(self.book.cancel_many(name, [o.order_id for o in targets]))}

    def cancel_order_batch(self, account: Account, params: Params) -> dict[str, Any]:
        """CancelOrderBatch (JSON): ``orders`` (txids/userrefs) + ``cl_ord_ids``, 1..50 unique.

        ``orders`` items are txids or userrefs, bare (Kraken's example) or as ``{"txid": ...}``
        (its schema); ``cl_ord_ids`` items are ``{"cl_ord_id": ...}`` (the schema) or bare
        strings (refused under ``strict_cl_ord_ids``). A reference naming no open order is
        skipped by default (``count`` is what was cancelled, docs: "Number of orders
        cancelled"), or refuses the batch, after or before the rest is applied
        (``batch_unknown_id``); the refusal names no order (API-FACTS 11).
        """
        orders = params.get("orders", [])
        raw_cl = params.get("cl_ord_ids", [])
        if not isinstance(orders, list) or not isinstance(raw_cl, list):
            raise _invalid()
        txids: list[str] = []
        userrefs: list[int] = []
        for item in orders:
            ref = item.get("txid") if isinstance(item, dict) and set(item) == {"txid"} else item
            txid, userref = _classify_ref(ref, "orders")
            if txid is not None:
                txids.append(txid)
            elif userref is not None:
                userrefs.append(userref)
        cl_ord_ids = [self._batch_cl_ord_id(c) for c in raw_cl]
        unique = len(set(txids)) + len(set(userrefs)) + len(set(cl_ord_ids))
        if unique == 0 or unique > MAX_BATCH:
            raise _invalid()
        name = account.name
        find = self.book.find_open
        missing = [
            gone_error(self.exchange, self.faults, name, order_id=t)
            for t in txids
            if not find(name, order_ids=[t])
        ]
        missing += [
            gone_error(self.exchange, self.faults, name) for u in userrefs if not find(name, userrefs=[u])
        ]
        missing += [
            gone_error(self.exchange, self.faults, name, cl_ord_id=c)
            for c in cl_ord_ids
            if not find(name, cl_ord_ids=[c])
        ]
        mode = self.faults.batch_unknown_id
        if missing and mode == "refuse_all":
            raise Refused(missing[0])
        targets = find(name, order_ids=txids, userrefs=userrefs, cl_ord_ids=cl_ord_ids)
        if not self.limits.charge_spot_cancels(name, targets, batch=True):
            raise Refused("EOrder:Rate limit exceeded")
        done = self.book.cancel_many(name, [o.order_id for o in targets])
        if missing and mode == "refuse_after_apply":
            raise Refused(missing[0])
        return {"count": len(done)}

    def _batch_cl_ord_id(self, item: Any) -> str:
        if isinstance(item, dict) and set(item) == {"cl_ord_id"}:
            item = item["cl_ord_id"]
        elif self.faults.strict_cl_ord_ids:
            # The schema types each item as {"cl_ord_id": ...} (API-FACTS 11).
            raise _invalid("cl_ord_ids")
        if not isinstance(item, str) or not item:
            raise _invalid("cl_ord_ids")
        return item

    def cancel_all_orders_after(self, account: Account, params: Params) -> dict[str, Any]:
        """CancelAllOrdersAfter: arm/extend (timeout s) or disarm (0) the dead man's switch."""
        try:
            timeout = _opt_int(params, "timeout")
        except Refused:
            raise _invalid("timeout") from None
        if timeout is None or not 0 <= timeout < DEADMAN_MAX_TIMEOUT_S:
            raise _invalid("timeout")
        now, trigger = self.exchange.deadman.arm(account.name, timeout)
        return {"currentTime": rfc3339(now), "triggerTime": rfc3339(trigger) if trigger else "0"}

    def get_websockets_token(self, account: Account, params: Params) -> dict[str, Any]:
        """GetWebSocketsToken: ``{"token": ..., "expires": 900}``."""
        token = self.exchange.tokens.issue(account.name)
        return {"token": token.token, "expires": math.ceil(self.exchange.tokens.ttl_s)}

    def add_order(self, account: Account, params: Params) -> dict[str, Any]:
        """AddOrder: rest an order (market orders fill at once); ``validate`` only checks."""
        status = self.faults.system_status
        if status == "cancel_only":
            raise Refused("EService:Market in cancel_only mode")
        pair = _opt_str(params, "pair")
        inst = spot_instrument(pair) if pair else None
        if inst is None:
            raise Refused("EQuery:Unknown asset pair")
        side = _opt_str(params, "type")
        if side not in ("buy", "sell"):
            raise _invalid("type")
        order_type = _opt_str(params, "ordertype")
        if order_type not in ORDER_TYPES:
            raise _invalid("ordertype")
        if status == "post_only" and "post" not in (_opt_str(params, "oflags") or ""):
            raise Refused("EService:Market in post_only mode")
        volume = _opt_str(params, "volume")
        if volume is None:
            raise _invalid("volume")
        price = _opt_str(params, "price")
        price2 = _opt_str(params, "price2")
        userref = _opt_int(params, "userref")
        cl_ord_id = _opt_str(params, "cl_ord_id")
        if userref is not None and cl_ord_id is not None:
            raise _invalid("userref")  # exclusive on AddOrder (API-FACTS 1.5)
        if userref is not None and userref not in _INT32:
            raise _invalid("userref")
        # Kraken: for stop/take-profit types `price` is the trigger and `price2` the limit.
        if order_type in STOP_ORDER_TYPES:
            stop_price, limit_price = price, (price2 or "0")
        else:
            stop_price, limit_price = None, (price or "0")
        name = account.name
        if self.limits.enabled:
            tier = self.limits.spot_tier(name)
            if self.book.open_count(name, inst.symbol) >= tier.max_open_per_pair:
                raise Refused("EOrder:Orders limit exceeded")
        if _truthy(params, "validate"):
            return {"descr": {"order": f"{side} {volume} {inst.altname} @ {order_type}"}}
        if not self.limits.charge_spot_add(name, inst.symbol):
            raise Refused("EOrder:Rate limit exceeded")
        try:
            order = self.book.add_order(
                name,
                inst.symbol,
                side,
                order_type,
                volume,
                limit_price,
                stop_price=stop_price,
                userref=userref,
                cl_ord_id=cl_ord_id,
            )
        except OrderRejected as exc:
            raise _invalid(exc.field_name) from None
        text = _descr(order, inst)["order"]
        if order_type == "market":
            self.book.fill(name, order.order_id)
        return {"descr": {"order": text}, "txid": [order.order_id]}


_METHODS: dict[str, _Method] = {
    "OpenOrders": _Method(SpotRestHost.open_orders, ("query",), 1),
    "QueryOrders": _Method(SpotRestHost.query_orders, ("query",), 1),
    "CancelOrder": _Method(SpotRestHost.cancel_order, ("cancel", "trade"), 0),
    "CancelAll": _Method(SpotRestHost.cancel_all, ("cancel", "trade"), 1),
    "CancelOrderBatch": _Method(SpotRestHost.cancel_order_batch, ("cancel", "trade"), 1),
    "CancelAllOrdersAfter": _Method(SpotRestHost.cancel_all_orders_after, ("cancel", "trade"), 1),
    "GetWebSocketsToken": _Method(SpotRestHost.get_websockets_token, ("websocket",), 1),
    "AddOrder": _Method(SpotRestHost.add_order, ("trade",), 0),
}


def build_spot_rest_app(ctx: HostContext) -> web.Application:
    """Build the aiohttp application of the Spot REST host.

    The ``/_sim/`` control API is mounted only when the server binds a loopback address.

    Args:
        ctx: The host context from ``SimServer``.

    Returns:
        The application.
    """
    host = SpotRestHost(ctx)
    # Every Kraken path (public and private) meets latency and faults; the control API does not.
    door = front_door(
        ctx,
        HOST_NAME,
        key_header="API-Key",
        applies=lambda path: not path.startswith(CONTROL_PREFIX),
        answers=_FAULT_ANSWERS,
        is_cancel=lambda path: path.removeprefix(PRIVATE_PREFIX) in _CANCEL_METHODS,
    )
    app = web.Application(middlewares=[refuse_remote(), door])
    app.router.add_post(PRIVATE_PREFIX + "{method}", host.private)
    app.router.add_get("/0/public/Time", host.public_time)
    app.router.add_get("/0/public/SystemStatus", host.public_system_status)
    app.router.add_get("/0/public/AssetPairs", host.public_asset_pairs)
    add_controls(app, ctx, SimControls(ctx.exchange, ctx.server, ctx.rng).routes())
    return app
