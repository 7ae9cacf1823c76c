"""Spot REST wire format, pure: request bodies, reply envelopes, Kraken error strings, orders.

Kraken's envelope is ``{"error": [...], "result": {...}}`` with HTTP 200 even for business
errors; a non-200 reply never reached the API (docs "Spot REST Introduction", API-FACTS 1.3).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from app.core.errors import (
    AuthError,
    MalformedReply,
    PermissionDenied,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, Side, VenueKind

UNKNOWN_ORDER = "EOrder:Unknown order"
INVALID_ORDER = "EOrder:Invalid order"
# Kraken answers an id it does not know now (closed long ago, or never valid) with either string,
# on REST and WS alike (API-FACTS 11): neither proves the order was cancelled; confirm per order.
NOT_KNOWN = (UNKNOWN_ORDER, INVALID_ORDER)
# Calls the REST call counter leaves to the matching engine's limiter: only AddOrder and
# CancelOrder. Every other private call costs 1, CancelOrderBatch, CancelAll and
# CancelAllOrdersAfter included (docs "Spot REST Rate Limits", API-FACTS 7.1).
ENGINE_COUNTED = frozenset({"CancelOrder", "AddOrder"})
BATCH_MAX = 50  # CancelOrderBatch: at most 50 ids/refs in total (API-FACTS 1.4)
QUERY_MAX = 50  # QueryOrders: at most 50 txids per call

_AUTH = (
    "EAPI:Invalid key",
    "EAPI:Invalid signature",
    "EAPI:Invalid nonce",
    "EGeneral:Temporary lockout",
)
_RATE = (
    "EAPI:Rate limit exceeded",
    "EOrder:Rate limit exceeded",
    "EOrder:Domain rate limit exceeded",
    "EAuth:Rate limit exceeded",
    "EAuth:Too many requests",
    "EGeneral:Too many requests",
)
# "EService: Throttled: <unix ts>", sometimes without the timestamp (API-FACTS 8, 11).
_THROTTLED = re.compile(r"^EService:\s*Throttled(?::\s*(\d+))?")
# Answers after which the engine may or may not have acted (it timed out or failed inside).
_EFFECT_UNKNOWN = ("EGeneral:Internal error", "EService:Deadline elapsed")


def encode_form(params: Mapping[str, Any]) -> bytes:
    """URL-form-encode params in the given order (the nonce first by convention)."""
    return urlencode([(k, str(v)) for k, v in params.items()]).encode()


def encode_json(params: Mapping[str, Any]) -> bytes:
    """Compact JSON, as sent and as signed (CancelOrderBatch must be JSON)."""
    return json.dumps(params, separators=(",", ":")).encode()


def error_for(message: str, *, now: float | None = None) -> VenueError:
    """Map one Kraken error string to the console's error class.

    Args:
        message: the string from the ``error`` list, e.g. ``EAPI:Invalid nonce``.
        now: the current unix time (for ``EService: Throttled: <ts>``).

    Returns:
        The exception to raise (not raised here).
    """
    if message.startswith(_AUTH):
        return AuthError(f"Kraken refused the key: {message}", venue_error=message)
    if message.startswith("EGeneral:Permission denied"):
        return PermissionDenied(
            f"The API key lacks the permission for this call: {message}", venue_error=message
        )
    if message.startswith(_RATE):
        return RateLimited(f"Rate limited by Kraken: {message}", venue_error=message)
    throttled = _THROTTLED.match(message)
    if throttled:
        wait = None
        if throttled.group(1):
            wait = max(0.0, int(throttled.group(1)) - (time.time() if now is None else now))
        return RateLimited(f"Throttled by Kraken: {message}", venue_error=message, retry_after=wait)
    if message.startswith(_EFFECT_UNKNOWN):
        # The engine failed or ran out of time while handling it: the cancel may have happened.
        return TransportError(
            f"Kraken could not finish the request, effect unknown: {message}", venue_error=message
        )
    if message.startswith("EService:"):
        return VenueUnavailable(f"Kraken unavailable: {message}", venue_error=message)
    return VenueRejected(f"Kraken rejected the request: {message}", venue_error=message)


def parse_envelope(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """Check an HTTP reply and return its ``result`` object.

    Args:
        status: HTTP status code.
        content_type: the Content-Type header ("" if none).
        body: the raw body.

    Returns:
        The ``result`` mapping (empty if the reply had none).

    Raises:
        TransportError: HTTP 5xx, a gateway page or another non-200: a gateway can time out
            after the engine acted (504, Cloudflare 520-524, API-FACTS 11), so the effect is
            unknown and the orders are re-checked.
        RateLimited: HTTP 429 (refused before processing).
        MalformedReply: a 200 reply that is not Kraken's JSON envelope.
        VenueError: the first Kraken error string, mapped by ``error_for``.
    """
    if status == 429:
        raise RateLimited("HTTP 429 Too Many Requests from Kraken")
    looks_html = "html" in content_type.lower() or body.lstrip()[:1] == b"<"
    if status != 200:
        kind = "an HTML error page" if looks_html else "an error"
        raise TransportError(
            f"Kraken answered HTTP {status} with {kind}; whether the engine acted is unknown"
        )
    if looks_html:
        raise MalformedReply("Kraken answered with an HTML page instead of JSON")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedReply(f"Kraken's reply is not valid JSON ({len(body)} bytes)") from e
    if not isinstance(data, dict) or not isinstance(data.get("error", []), list):
        raise MalformedReply("Kraken's reply is not the {error, result} envelope")
    errors = [str(e) for e in data.get("error", [])]
    if errors:
        raise error_for(errors[0])
    result = data.get("result", {})
    if not isinstance(result, dict):
        raise MalformedReply("Kraken's reply has a result that is not an object")
    return result


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as e:
        raise MalformedReply(f"not a decimal number: {value!r}") from e


def parse_order(account_id: str, txid: str, raw: Mapping[str, Any]) -> Order:
    """One entry of OpenOrders' ``open`` map -> Order.

    Raises:
        MalformedReply: a required field is missing or not a number.
    """
    try:
        descr = raw["descr"]
        side = Side(descr["type"])
        qty = _dec(raw["vol"])
        filled = _dec(raw.get("vol_exec", "0")) or Decimal(0)
        price = _dec(descr.get("price"))
        stop = None
        if descr.get("ordertype", "") not in ("limit", "market"):
            stop, price = price, _dec(descr.get("price2")) or None
        userref = raw.get("userref")
        oflags = raw.get("oflags")
        return Order(
            account_id=account_id,
            venue=VenueKind.SPOT,
            order_id=txid,
            symbol=str(descr["pair"]),
            side=side,
            order_type=str(descr.get("ordertype", "")),
            price=price,
            quantity=qty if qty is not None else Decimal(0),
            filled=filled,
            opened_at=float(raw.get("opentm", 0.0)),
            client_id=raw.get("cl_ord_id") or None,
            userref=int(userref) if userref not in (None, 0, "") else None,
            stop_price=stop,
            status=str(raw.get("status", "open")),
            time_in_force=_time_in_force(raw),
            post_only=None if oflags is None else "post" in str(oflags).split(","),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedReply(f"OpenOrders entry {txid!r} is malformed: {e!r}") from e


def _time_in_force(raw: Mapping[str, Any]) -> str:
    """v1 says ``timeinforce``; REST does not, but an order that rests is GTC unless it expires
    (``expiretm`` set: GTD); IOC orders never rest (Kraken's AddOrder ``timeinforce``)."""
    given = raw.get("timeinforce")
    if given:
        return str(given).upper()
    try:
        expires = float(raw.get("expiretm") or 0)
    except (TypeError, ValueError):
        expires = 0.0
    return "GTD" if expires > 0 else "GTC"


def parse_open_orders(
    account_id: str, result: Mapping[str, Any], problems: list[str] | None = None
) -> list[Order]:
    """OpenOrders ``result`` -> orders (open and pending only).

    One malformed entry is one skipped order: the rest of the account still lists.

    Args:
        account_id: the desk's account id.
        result: the reply's ``result``.
        problems: receives one line per skipped entry (which order, what was wrong).

    Raises:
        MalformedReply: the result has no ``open`` map.
    """
    open_map = result.get("open")
    if not isinstance(open_map, dict):
        raise MalformedReply("OpenOrders result has no 'open' object")
    orders: list[Order] = []
    for txid, raw in open_map.items():
        try:
            order = parse_order(account_id, str(txid), raw if isinstance(raw, Mapping) else {})
        except MalformedReply as e:
            if problems is not None:
                problems.append(str(e))
            continue
        if order.status in ("open", "pending"):
            orders.append(order)
    return orders


def parse_count(result: Mapping[str, Any]) -> tuple[int, bool]:
    """``{"count": N, "pending": bool}`` -> (N, pending).

    Raises:
        MalformedReply: count missing or not an integer.
    """
    try:
        return int(result["count"]), bool(result.get("pending", False))
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedReply(f"cancel reply has no integer count: {result!r}"[:200]) from e


def outcome_from_status(raw: Mapping[str, Any]) -> Outcome:
    """A QueryOrders entry -> what became of the order.

    canceled -> cancelled (the venue says so for this order); closed -> filled; expired -> already
    gone; open/pending -> the cancel did not take (failed, still open).
    """
    status = str(raw.get("status", ""))
    reason = raw.get("reason") or None
    if status == "canceled":
        return Outcome(CancelState.CANCELLED, reason)
    if status == "closed" and reason:
        # Closed with a reason is not a fill (e.g. "Order replaced", API-FACTS 11).
        return Outcome(CancelState.ALREADY_GONE, str(reason))
    if status == "closed":
        return Outcome(CancelState.FILLED, "filled before the cancel")
    if status == "expired":
        return Outcome(CancelState.ALREADY_GONE, "expired")
    if status in ("open", "pending"):
        return Outcome(CancelState.FAILED, "still open after the cancel")
    raise MalformedReply(f"QueryOrders status not understood: {status!r}")
