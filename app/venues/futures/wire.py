"""Kraken Futures wire format, pure: REST v3 bodies and replies, the WS open_orders feed, error codes."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from app.core.errors import (
    AuthError,
    MalformedReply,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.venues.base import StreamEvent, StreamKind

API_PREFIX = "/derivatives/api/v3"

# Cost of each call against the 500-per-10-s budget of ``/derivatives`` (API-FACTS 7.3).
BUDGET = 500.0
BUDGET_WINDOW_S = 10.0
BUDGET_REFILL_PER_S = BUDGET / BUDGET_WINDOW_S
# Our copy of the budget runs on our clock and Kraken's on its own: the first request of a
# burst reaches Kraken later than we counted it (connection set-up), so Kraken has refilled
# less than we think. Keeping 20 units (0.4 s of refill) in hand absorbs that skew.
CLIENT_BUDGET = BUDGET - 20.0
# Budget units ordinary calls leave for the emergency lane: two cancel-alls and a dead man's switch.
BUDGET_HELD_FOR_URGENT = 75.0
COST_CANCEL = 10.0
COST_BATCH_BASE = 9.0
COST_CANCEL_ALL = 25.0
COST_CANCEL_ALL_AFTER = 25.0
COST_OPEN_ORDERS = 2.0

# Kraken documents no maximum for batchorder. 50 is what Kraken's other cancel batches accept
# (Spot CancelOrderBatch, WS v2 batch_cancel), and a 50-cancel batch costs 59 units, so eight
# fit in one 10 s budget (400 orders per 10 s, against 50 by single cancels).
BATCH_MAX = 50

# Error codes of the ErrorResponse schema (seed 003, "Error" enum; API-FACTS 5.2).
E_API_LIMIT = "apiLimitExceeded"
E_AUTH = "authenticationError"
E_NONCE_LOW = "nonceBelowThreshold"
E_NONCE_DUP = "nonceDuplicate"
_AUTH_CODES = frozenset({E_AUTH, E_NONCE_LOW, E_NONCE_DUP})
_UNAVAILABLE_CODES = frozenset({"marketUnavailable", "Unavailable"})
# "There was an error processing the request" / "An unknown error has occurred": the engine may
# have acted before failing, so the effect of the request is unknown.
_EFFECT_UNKNOWN_CODES = frozenset({"Server Error", "unknownError"})
# Gateway timeouts: the request may have reached Kraken and been handled (Cloudflare 524 is
# "a timeout occurred" after the origin accepted the connection).
_GATEWAY_TIMEOUTS = frozenset({504, 524})

# cancelorder / batchorder inner statuses (seed 003 CancelOrderStatusJson; batchorder schema).
ST_CANCELLED = "cancelled"
ST_FILLED = "filled"
ST_NOT_FOUND = "notFound"
ST_NO_ORDERS = "noOrdersToCancel"
# sendorder documents this for a request that arrived after its processBefore; Kraken's cancel
# schema lists only cancelled/filled/notFound, so we accept it for cancels as well.
ST_TOO_LATE = "wouldProcessAfterSpecifiedTime"

# WS open_orders delta reasons that mean an explicit cancel of the order (docs "Futures
# Websockets: open_orders"). Other removals (liquidation, not_enough_margin, market_inactive,
# contract_expired, stop_order_triggered, post-only rejections) did not come from a cancel.
CANCEL_REASONS = frozenset({"cancelled_by_user", "cancelled_by_admin", "dead_man_switch"})
FILL_REASON = "full_fill"

_ORDER_TYPES = {
    "lmt": "limit",
    "limit": "limit",
    "stp": "stop",
    "stop": "stop",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
    "post": "post",
    "ioc": "ioc",
    "mkt": "market",
    "fok": "fok",
}


# --------------------------------------------------------------------------- requests


def encode_form(params: Sequence[tuple[str, str]]) -> str:
    """URL-encode parameters in order, spaces as ``%20``: the exact postData that is signed.

    Kraken hashes the URL-encoded string as sent (docs "Futures REST authentication", since
    2024-02-20), so this string is both the body and the signed text.
    """
    return urlencode(list(params), quote_via=quote)


def process_before(now: float, delay_ms: int) -> str:
    """The ``processBefore`` value for "reject unless processed within ``delay_ms``".

    Kraken's format is ISO-8601 UTC with microseconds, e.g. ``2023-11-08T19:56:35.441899Z``
    (seed 003, parameter ProcessBefore).

    Args:
        now: unix seconds.
        delay_ms: how long the request may take to be processed.

    Returns:
        The timestamp text.
    """
    when = dt.datetime.fromtimestamp(now + delay_ms / 1000.0, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cancel_order_params(ref: CancelRef, before: str | None = None) -> list[tuple[str, str]]:
    """cancelorder parameters: ``order_id`` or ``cliOrdId``, optional ``processBefore``.

    Raises:
        ValueError: the reference is a userref (Futures has none).
    """
    if ref.kind is IdKind.ORDER_ID:
        params = [("order_id", ref.value)]
    elif ref.kind is IdKind.CLIENT_ID:
        params = [("cliOrdId", ref.value)]
    else:
        raise ValueError("Kraken Futures cannot cancel by userref")
    if before is not None:
        params.append(("processBefore", before))
    return params


def batch_cancel_json(refs: Iterable[CancelRef]) -> str:
    """The ``json`` field of batchorder for cancel instructions (API-FACTS 5.3).

    Raises:
        ValueError: a reference is a userref.
    """
    instructions: list[dict[str, str]] = []
    for ref in refs:
        if ref.kind is IdKind.ORDER_ID:
            instructions.append({"order": "cancel", "order_id": ref.value})
        elif ref.kind is IdKind.CLIENT_ID:
            instructions.append({"order": "cancel", "cliOrdId": ref.value})
        else:
            raise ValueError("Kraken Futures cannot cancel by userref")
    return json.dumps({"batchOrder": instructions}, separators=(",", ":"))


def batch_cancel_params(refs: Iterable[CancelRef]) -> list[tuple[str, str]]:
    """batchorder parameters: the single form field ``json=`` (never a raw JSON body: SDK #368)."""
    return [("json", batch_cancel_json(refs))]


def batch_cost(n: int) -> float:
    """Budget cost of a batchorder with ``n`` instructions (9 + n)."""
    return COST_BATCH_BASE + n


# --------------------------------------------------------------------------- replies


def error_for(code: str, *, http_status: int | None = None) -> VenueError:
    """Map a Futures error code to the console's error class.

    Args:
        code: the ``error`` value (or an ``errors`` entry) of an ErrorResponse.
        http_status: the HTTP status, for the message.

    Returns:
        The exception to raise (not raised here).
    """
    where = f" (HTTP {http_status})" if http_status not in (None, 200) else ""
    if code in _AUTH_CODES:
        return AuthError(f"Kraken Futures refused the key: {code}{where}", venue_error=code)
    if code == E_API_LIMIT:
        return RateLimited(f"Kraken Futures rate limit: {code}{where}", venue_error=code)
    if code in _UNAVAILABLE_CODES:
        return VenueUnavailable(f"Kraken Futures unavailable: {code}{where}", venue_error=code)
    if code in _EFFECT_UNKNOWN_CODES:
        return TransportError(f"Kraken Futures failed, effect unknown: {code}{where}", venue_error=code)
    return VenueRejected(f"Kraken Futures rejected the request: {code}{where}", venue_error=code)


def _first_error(data: Mapping[str, Any]) -> str | None:
    err = data.get("error")
    if isinstance(err, str) and err:
        return err
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, Mapping):
            # ccxt has seen {"code": 92, "message": "INSUFFICIENT_MARGIN"} (HTTP 500).
            message = first.get("message") or first.get("code")
            return str(message) if message is not None else None
        return str(first)
    return None


def parse_envelope(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """Check an HTTP reply and return the success payload.

    Kraken Futures answers ``{"result": "success", "serverTime": ..., ...}`` or
    ``{"result": "error", "error": "<code>"}`` (sometimes ``errors: [{code, message}]``, even
    with HTTP 500). ``result: success`` only says the request was accepted: callers must read the
    inner status.

    Args:
        status: HTTP status code.
        content_type: Content-Type header ("" if none).
        body: raw body.

    Returns:
        The whole reply object (result was ``success``).

    Raises:
        RateLimited: HTTP 429 or ``apiLimitExceeded``.
        VenueUnavailable: another non-200 without a Kraken envelope, or an HTML page.
        TransportError: a gateway timeout (504/524): the request may have been handled.
        MalformedReply: a 200 reply we cannot read.
        VenueError: the error code mapped by ``error_for``.
    """
    if status == 429:
        raise RateLimited("HTTP 429 Too Many Requests from Kraken Futures")
    looks_html = "html" in content_type.lower() or body.lstrip()[:1] == b"<"
    data: Any = None
    if not looks_html:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
    if isinstance(data, dict) and data.get("result") == "error":
        code = _first_error(data)
        if code is None:
            raise MalformedReply(f"Kraken Futures error reply without an error code (HTTP {status})")
        raise error_for(code, http_status=status)
    if status != 200:
        if status in _GATEWAY_TIMEOUTS:
            raise TransportError(f"Kraken Futures gateway timed out (HTTP {status}); effect unknown")
        kind = "an HTML error page" if looks_html else "an error"
        raise VenueUnavailable(f"Kraken Futures answered HTTP {status} with {kind}")
    if looks_html:
        raise MalformedReply("Kraken Futures answered with an HTML page instead of JSON")
    if not isinstance(data, dict):
        raise MalformedReply(f"Kraken Futures reply is not a JSON object ({len(body)} bytes)")
    if data.get("result") != "success":
        raise MalformedReply(f"Kraken Futures reply has result={data.get('result')!r}")
    return data


def _dec(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedReply(f"{what} is not a number: {value!r}")
    try:
        out = Decimal(str(value))
    except InvalidOperation as e:
        raise MalformedReply(f"{what} is not a number: {value!r}") from e
    if not out.is_finite():
        raise MalformedReply(f"{what} is not a finite number: {value!r}")
    return out


def iso_to_unix_or_none(text: Any) -> float | None:
    """An ISO time (``2026-01-01T00:00:00.000Z``) as unix seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _iso_to_unix(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        raise MalformedReply(f"not an ISO time: {text!r}") from e


def _order_type(raw: Any) -> str:
    text = str(raw or "")
    return _ORDER_TYPES.get(text, text)


def _positive(value: Decimal | None) -> Decimal | None:
    # Kraken writes 0 for "no stop price" on limit orders (WS example stop_price 0.0).
    return value if value is not None and value != 0 else None


def parse_rest_order(account_id: str, raw: Mapping[str, Any]) -> Order:
    """One entry of openorders' ``openOrders`` -> Order.

    Fields (API-FACTS 5.3): order_id, cliOrdId, status (untouched|partiallyFilled), side,
    orderType, symbol, limitPrice, stopPrice, filledSize, unfilledSize, reduceOnly, receivedTime.

    Raises:
        MalformedReply: a required field is missing or not a number.
    """
    try:
        order_id = str(raw["order_id"])
        filled = _dec(raw.get("filledSize", 0), "filledSize") or Decimal(0)
        unfilled = _dec(raw["unfilledSize"], "unfilledSize") or Decimal(0)
        status = str(raw.get("status", "untouched"))
        order_type = str(raw.get("orderType") or "")
        return Order(
            account_id=account_id,
            venue=VenueKind.FUTURES,
            order_id=order_id,
            symbol=str(raw["symbol"]),
            side=Side(str(raw["side"])),
            order_type=_order_type(raw.get("orderType")),
            price=_dec(raw.get("limitPrice"), "limitPrice"),
            quantity=filled + unfilled,
            filled=filled,
            opened_at=_iso_to_unix(raw.get("receivedTime")),
            client_id=str(raw["cliOrdId"]) if raw.get("cliOrdId") else None,
            stop_price=_positive(_dec(raw.get("stopPrice"), "stopPrice")),
            reduce_only=bool(raw.get("reduceOnly", False)),
            status="partially filled" if status == "partiallyFilled" or filled > 0 else "open",
            # "post" is a post-only limit order (Kraken's orderType); Futures has no expiry on
            # resting orders, and an IOC order never rests: what is listed is GTC.
            time_in_force="GTC",
            post_only=order_type == "post" if order_type in ("post", "lmt") else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, MalformedReply):
            raise
        raise MalformedReply(f"openorders entry is malformed: {e!r}") from e


def _each_order(
    account_id: str,
    raw: Sequence[Any],
    parse: Callable[[str, Mapping[str, Any]], Order],
    problems: list[str] | None,
) -> list[Order]:
    """Parse every order, skipping (and telling ``problems`` of) the malformed ones."""
    orders: list[Order] = []
    for item in raw:
        try:
            if not isinstance(item, Mapping):
                raise MalformedReply(f"an order that is not an object: {item!r}"[:120])
            orders.append(parse(account_id, item))
        except MalformedReply as e:
            if problems is not None:
                problems.append(str(e))
    return orders


def parse_open_orders(
    account_id: str, data: Mapping[str, Any], problems: list[str] | None = None
) -> list[Order]:
    """openorders reply -> orders; a malformed entry is skipped and told to ``problems``.

    Raises:
        MalformedReply: no ``openOrders`` list.
    """
    raw = data.get("openOrders")
    if not isinstance(raw, list):
        raise MalformedReply("openorders reply has no 'openOrders' list")
    return _each_order(account_id, raw, parse_rest_order, problems)


@dataclass(frozen=True, slots=True)
class CancelItem:
    """What Kraken said about one cancel instruction.

    Attributes:
        status: Kraken's inner status (``cancelled``, ``filled``, ``notFound``, ...).
        order_id: the order's id when Kraken named it.
        cli_ord_id: the client id when Kraken named it.
        filled: how much of the order had filled, when the order events said.
        received_time: when Kraken received it (Kraken's clock).
    """

    status: str
    order_id: str | None
    cli_ord_id: str | None
    filled: Decimal | None = None
    received_time: str | None = None

    @property
    def outcome(self) -> Outcome:
        """What this status proves about the order (``result: success`` alone proves nothing)."""
        return outcome_for_status(self.status, self.filled)


def outcome_for_status(status: str, filled: Decimal | None = None) -> Outcome:
    """Map one inner cancel status to the ledger.

    cancelled -> CANCELLED (possibly only the rest: part may have filled); filled -> FILLED;
    notFound -> ALREADY_GONE; a processBefore miss -> REJECTED (the order is untouched); anything
    else -> UNKNOWN, to be re-checked by listing.
    """
    if status == ST_CANCELLED:
        if filled is not None and filled > 0:
            return Outcome(CancelState.CANCELLED, f"rest cancelled after {filled} filled")
        return Outcome(CancelState.CANCELLED)
    if status == ST_FILLED:
        return Outcome(CancelState.FILLED, "could not be cancelled: filled")
    if status == ST_NOT_FOUND:
        return Outcome(CancelState.ALREADY_GONE, "not found: cancelled or filled before")
    if status == ST_TOO_LATE:
        return Outcome(CancelState.REJECTED, "arrived after processBefore; not processed")
    return Outcome(CancelState.UNKNOWN, f"Kraken status not understood: {status}")


def _event_filled(events: Any) -> Decimal | None:
    """The filled size of the order named by a CANCEL event, if any (seed 003 OrderEvent)."""
    if not isinstance(events, list):
        return None
    for event in events:
        if isinstance(event, Mapping) and event.get("type") == "CANCEL":
            order = event.get("order")
            if isinstance(order, Mapping):
                return _dec(order.get("filled"), "orderEvents.order.filled")
    return None


def _opt_str(value: Any) -> str | None:
    return str(value) if value else None


def _cancel_item(raw: Mapping[str, Any]) -> CancelItem:
    status = raw.get("status")
    if not isinstance(status, str) or not status:
        raise MalformedReply("cancel status has no 'status'")
    order_id = raw.get("order_id")
    cli = raw.get("cliOrdId")
    return CancelItem(
        status=status,
        order_id=str(order_id) if order_id else None,
        cli_ord_id=str(cli) if cli else None,
        filled=_event_filled(raw.get("orderEvents")),
        # cancelorder says receivedTime; batchorder items say dateTimeReceived.
        received_time=_opt_str(raw.get("receivedTime") or raw.get("dateTimeReceived")),
    )


def parse_cancel_order(data: Mapping[str, Any]) -> CancelItem:
    """cancelorder reply -> its ``cancelStatus``.

    Raises:
        MalformedReply: no ``cancelStatus`` object or no status in it.
    """
    raw = data.get("cancelStatus")
    if not isinstance(raw, Mapping):
        raise MalformedReply("cancelorder reply has no 'cancelStatus'")
    return _cancel_item(raw)


def parse_batch(data: Mapping[str, Any]) -> list[CancelItem]:
    """batchorder reply -> one item per ``batchStatus`` entry (in Kraken's order, not ours).

    Raises:
        MalformedReply: no ``batchStatus`` list, or an entry without a status.
    """
    raw = data.get("batchStatus")
    if not isinstance(raw, list):
        raise MalformedReply("batchorder reply has no 'batchStatus' list")
    return [_cancel_item(item) for item in raw if isinstance(item, Mapping)]


def match_items(
    items: Sequence[CancelItem], refs: Sequence[CancelRef], orders_by_client: Mapping[str, str]
) -> dict[str, Outcome]:
    """Outcomes per venue order id for the items Kraken named with an id we sent.

    An item is matched by ``order_id`` first, then by ``cliOrdId`` (resolved to the order id
    through ``orders_by_client``). Kraken says the batch list is "in no particular order", so
    position is never used; items we cannot match give no outcome (the desk re-checks).

    Args:
        items: parsed statuses.
        refs: what we asked to cancel.
        orders_by_client: client id -> venue order id, for the orders we know.

    Returns:
        Outcome per venue order id.
    """
    wanted_ids = {r.value for r in refs if r.kind is IdKind.ORDER_ID}
    wanted_cli = {r.value for r in refs if r.kind is IdKind.CLIENT_ID}
    out: dict[str, Outcome] = {}
    for item in items:
        key: str | None = None
        if item.order_id is not None and item.order_id in wanted_ids:
            key = item.order_id
        elif item.cli_ord_id is not None and item.cli_ord_id in wanted_cli:
            key = orders_by_client.get(item.cli_ord_id) or item.order_id
        if key is not None:
            out[key] = item.outcome
    return out


@dataclass(frozen=True, slots=True)
class CancelAllResult:
    """What cancelallorders said.

    Attributes:
        status: ``cancelled`` or ``noOrdersToCancel``.
        scope: ``cancelOnly``: ``all`` or the symbol.
        cancelled_ids: the ``order_id`` of each ``cancelledOrders`` entry.
        received_time: when Kraken received the request.
    """

    status: str
    scope: str | None
    cancelled_ids: tuple[str, ...]
    received_time: str | None


def parse_cancel_all(data: Mapping[str, Any]) -> CancelAllResult:
    """cancelallorders reply -> the orders it names as cancelled.

    Raises:
        MalformedReply: no ``cancelStatus`` object or an unknown status.
    """
    raw = data.get("cancelStatus")
    if not isinstance(raw, Mapping):
        raise MalformedReply("cancelallorders reply has no 'cancelStatus'")
    status = raw.get("status")
    if status not in (ST_CANCELLED, ST_NO_ORDERS):
        raise MalformedReply(f"cancelallorders status not understood: {status!r}")
    listed = raw.get("cancelledOrders") or []
    if not isinstance(listed, list):
        raise MalformedReply("cancelallorders 'cancelledOrders' is not a list")
    ids = tuple(str(o["order_id"]) for o in listed if isinstance(o, Mapping) and o.get("order_id"))
    scope = raw.get("cancelOnly")
    received = raw.get("receivedTime")
    return CancelAllResult(
        str(status), str(scope) if scope else None, ids, str(received) if received else None
    )


def parse_deadman(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """cancelallordersafter reply -> (currentTime, triggerTime or None when disarmed).

    Raises:
        MalformedReply: no ``status`` object with a ``triggerTime``.
    """
    raw = data.get("status")
    if not isinstance(raw, Mapping) or "triggerTime" not in raw:
        raise MalformedReply("cancelallordersafter reply has no status.triggerTime")
    trigger = str(raw["triggerTime"])
    current = raw.get("currentTime")
    return (str(current) if current else None), (None if trigger in ("0", "") else trigger)


# --------------------------------------------------------------------------- websocket


def ws_challenge_request(api_key: str) -> str:
    """The first message of the challenge flow (API-FACTS 5.5 step 1)."""
    return json.dumps({"event": "challenge", "api_key": api_key})


def ws_subscribe(feed: str, api_key: str, challenge: str, signed: str) -> str:
    """A private subscribe carrying the original and signed challenge (API-FACTS 5.5 step 4)."""
    return json.dumps(
        {
            "event": "subscribe",
            "feed": feed,
            "api_key": api_key,
            "original_challenge": challenge,
            "signed_challenge": signed,
        }
    )


@dataclass(frozen=True, slots=True)
class WsChallenge:
    """The server's challenge UUID."""

    message: str


@dataclass(frozen=True, slots=True)
class WsSubscribed:
    """A subscription ack (``ok`` False for subscribed_failed)."""

    feed: str
    ok: bool


@dataclass(frozen=True, slots=True)
class WsError:
    """``{"event": "error", "message": ...}``: Invalid feed, Json Error, ..."""

    message: str


@dataclass(frozen=True, slots=True)
class WsAlert:
    """``{"event": "alert", "message": ...}``, e.g. "Failed to subscribe to authenticated feed"."""

    message: str


@dataclass(frozen=True, slots=True)
class WsOther:
    """Anything that says nothing about our orders (info, heartbeat, other feeds)."""

    text: str


WsMessage = WsChallenge | WsSubscribed | WsError | WsAlert | WsOther | StreamEvent


def parse_ws_order(account_id: str, raw: Mapping[str, Any]) -> Order:
    """One open_orders order object -> Order.

    ``qty`` is what is still open and ``filled`` what has filled (API-FACTS 11: a 1-lot order
    reads ``qty 0.86, filled 0.14`` after a partial fill), so the order's size is their sum; time
    is unix milliseconds; direction 0 is buy, 1 sell.

    Raises:
        MalformedReply: a required field is missing or not a number.
    """
    try:
        direction = raw["direction"]
        if direction not in (0, 1):
            raise MalformedReply(f"open_orders direction not understood: {direction!r}")
        filled = _dec(raw.get("filled", 0), "filled") or Decimal(0)
        qty = _dec(raw["qty"], "qty") or Decimal(0)
        time_ms = raw.get("time", 0)
        if isinstance(time_ms, bool) or not isinstance(time_ms, int | float) or not math.isfinite(time_ms):
            raise MalformedReply(f"open_orders time not understood: {time_ms!r}")
        cli = raw.get("cli_ord_id")
        return Order(
            account_id=account_id,
            venue=VenueKind.FUTURES,
            order_id=str(raw["order_id"]),
            symbol=str(raw["instrument"]),
            side=Side.BUY if direction == 0 else Side.SELL,
            order_type=_order_type(raw.get("type")),
            price=_dec(raw.get("limit_price"), "limit_price"),
            quantity=qty + filled,
            filled=filled,
            opened_at=float(time_ms) / 1000.0,
            client_id=str(cli) if cli else None,
            stop_price=_positive(_dec(raw.get("stop_price"), "stop_price")),
            reduce_only=bool(raw.get("reduce_only", False)),
            status="partially filled" if filled > 0 else "open",
            time_in_force="GTC",
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, MalformedReply):
            raise
        raise MalformedReply(f"open_orders order is malformed: {e!r}") from e


def removal_outcome(reason: str) -> Outcome:
    """What a removal from open_orders proves: a cancel reason -> CANCELLED, full_fill -> FILLED."""
    if reason in CANCEL_REASONS:
        return Outcome(CancelState.CANCELLED, reason)
    if reason == FILL_REASON:
        return Outcome(CancelState.FILLED, reason)
    return Outcome(CancelState.ALREADY_GONE, reason or "removed")


def parse_ws(
    account_id: str, text: str | bytes, feed: str = "open_orders", problems: list[str] | None = None
) -> WsMessage:
    """Decode one Futures WS message.

    Args:
        account_id: the console's account id, stamped on orders.
        text: the frame.
        feed: the orders feed we subscribed (``open_orders`` or ``open_orders_verbose``).
        problems: receives one line per order skipped from a snapshot (a malformed order is one
            skipped order, not a lost feed).

    Returns:
        A control message, or a StreamEvent (SNAPSHOT, UPSERT, REMOVED).

    Raises:
        MalformedReply: not JSON, or a delta we cannot read (the feed restarts from a snapshot).
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedReply("Kraken Futures WS sent a frame that is not JSON") from e
    if not isinstance(data, dict):
        raise MalformedReply("Kraken Futures WS sent a frame that is not an object")
    event = data.get("event")
    if event == "challenge":
        message = data.get("message")
        if not isinstance(message, str) or not message:
            raise MalformedReply("challenge reply without a message")
        return WsChallenge(message)
    if event in ("subscribed", "subscribed_failed"):
        return WsSubscribed(str(data.get("feed", "")), event == "subscribed")
    if event == "error":
        return WsError(str(data.get("message", "")))
    if event == "alert":
        return WsAlert(str(data.get("message", "")))
    got = data.get("feed")
    if got == f"{feed}_snapshot":
        raw_orders = data.get("orders")
        if not isinstance(raw_orders, list):
            raise MalformedReply("open_orders snapshot without an orders list")
        return StreamEvent(
            StreamKind.SNAPSHOT, tuple(_each_order(account_id, raw_orders, parse_ws_order, problems))
        )
    if got == feed:
        reason = str(data.get("reason") or "")
        raw_order = data.get("order")
        if data.get("is_cancel") is True or not isinstance(raw_order, Mapping):
            order_id = data.get("order_id")
            if not order_id and isinstance(raw_order, Mapping):
                order_id = raw_order.get("order_id")
            if not order_id:
                raise MalformedReply("open_orders removal without an order_id")
            return StreamEvent(StreamKind.REMOVED, order_id=str(order_id), outcome=removal_outcome(reason))
        order = parse_ws_order(account_id, raw_order)
        return StreamEvent(StreamKind.UPSERT, (order,), order_id=order.order_id)
    return WsOther(str(event or got or ""))
