"""Futures' public instrument data: ``GET /derivatives/api/v3/instruments`` (tick sizes, precisions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from app.core.instruments import Instrument, MarketKind, asset_name, decimals_of, guess_instrument
from app.core.orders import VenueKind
from app.venues.futures import wire
from app.venues.http import error_for_transport, new_client

INSTRUMENTS_ENDPOINT = "instruments"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _origin(base_url: str) -> str:
    # As the venue's own rest_origin: the user may type the host, .../derivatives or .../api/v3.
    base = base_url.rstrip("/")
    for suffix in (wire.API_PREFIX, "/derivatives"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        return None
    return out if out.is_finite() and out > 0 else None


def _expiry(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d %b %y")
    except ValueError:
        return None


def parse_instruments(data: Mapping[str, Any]) -> list[Instrument]:
    """An ``instruments`` reply -> instruments (entries without a symbol are skipped).

    Kraken's Instrument schema (``futures-rest/trading/public.yml``): ``symbol``, ``type``
    (``flexible_futures``, ``futures_inverse``, ``futures_vanilla``), ``base``/``quote`` (or
    ``pair`` ``XBT:USD``), ``tickSize`` (price step), ``contractValueTradePrecision`` (decimals
    of a size; may be negative for whole tens), ``contractSize``, ``lastTradingTime`` (dated
    futures). Perpetual flexible contracts have no ``lastTradingTime``.

    Args:
        data: the whole reply (``result: success`` checked by the caller).

    Returns:
        The instruments.
    """
    items = data.get("instruments")
    if not isinstance(items, Sequence):
        return []
    out: list[Instrument] = []
    for raw in items:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("symbol"), str):
            continue
        symbol = str(raw["symbol"])
        guess = guess_instrument(VenueKind.FUTURES, symbol)
        base, quote = raw.get("base"), raw.get("quote")
        pair = raw.get("pair")
        if (
            (not isinstance(base, str) or not isinstance(quote, str))
            and isinstance(pair, str)
            and ":" in pair
        ):
            base, _, quote = pair.partition(":")
        kind_text = str(raw.get("type") or "")
        expiry = _expiry(raw.get("lastTradingTime"))
        kind = guess.kind
        if expiry is not None:
            kind = MarketKind.FUTURE
        elif kind_text == "flexible_futures" or symbol.upper().startswith(("PF_", "PI_")):
            kind = MarketKind.PERPETUAL
        tick = _decimal(raw.get("tickSize"))
        precision = raw.get("contractValueTradePrecision")
        size_decimals = (
            max(0, int(precision))
            if isinstance(precision, int | float) and not isinstance(precision, bool)
            else None
        )
        out.append(
            Instrument(
                VenueKind.FUTURES,
                symbol,
                asset_name(base) if isinstance(base, str) and base else guess.base,
                asset_name(quote) if isinstance(quote, str) and quote else guess.quote,
                kind,
                price_decimals=decimals_of(tick.normalize()) if tick is not None else None,
                size_decimals=size_decimals,
                contract_size=_decimal(raw.get("contractSize")) or Decimal(1),
                inverse=kind_text == "futures_inverse" or guess.inverse,
                expiry=expiry or guess.expiry,
            )
        )
    return out


async def fetch_instruments(base_url: str, *, client: httpx.AsyncClient | None = None) -> list[Instrument]:
    """Every Futures contract from a Futures REST host's public ``instruments`` (no key needed).

    Args:
        base_url: the Futures REST base URL (``https://futures.kraken.com`` or a simulator).
        client: an HTTP client to use (tests); one is made and closed otherwise.

    Returns:
        The instruments.

    Raises:
        VenueError: the host could not be reached or answered an error.
        MalformedReply: the reply could not be read (a subclass of VenueError).
    """
    own = client is None
    http = client or new_client(TIMEOUT)
    try:
        url = f"{_origin(base_url)}{wire.API_PREFIX}/{INSTRUMENTS_ENDPOINT}"
        try:
            reply = await http.get(url)
        except httpx.TransportError as e:
            raise error_for_transport(e, "Kraken Futures instruments") from e
        data = wire.parse_envelope(reply.status_code, reply.headers.get("content-type", ""), reply.content)
        return parse_instruments(data)
    finally:
        if own:
            await http.aclose()
