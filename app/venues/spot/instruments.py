"""Spot's public instrument data: ``GET /0/public/AssetPairs`` (pair names and decimals)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from app.core.errors import MalformedReply
from app.core.instruments import Instrument, MarketKind, asset_name
from app.core.orders import VenueKind
from app.venues.http import error_for_transport, new_client
from app.venues.spot.rest_wire import parse_envelope

ASSET_PAIRS_PATH = "/0/public/AssetPairs"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None


def parse_asset_pairs(result: Mapping[str, Any]) -> list[Instrument]:
    """AssetPairs ``result`` -> instruments, one per pair (entries it cannot read are skipped).

    Kraken's AssetPair (krakenfx/api-specs ``pairs.yaml``): keyed by the REST pair key
    (``XXBTZUSD``), with ``altname`` (``XBTUSD``), ``wsname`` (``XBT/USD``, WS v1), ``base`` and
    ``quote`` asset ids, ``pair_decimals`` (prices) and ``lot_decimals`` (volumes). WS v2 and
    Prime write ``BTC/USD``, so that spelling is an alias too.

    Args:
        result: the reply's ``result`` object.

    Returns:
        The instruments; ``symbol`` is the WS v1 name when given, else the altname.
    """
    out: list[Instrument] = []
    for key, pair in result.items():
        if not isinstance(pair, Mapping):
            continue
        altname = str(pair.get("altname") or key)
        wsname = str(pair.get("wsname") or "")
        base_id, quote_id = pair.get("base"), pair.get("quote")
        if wsname and "/" in wsname:
            ws_base, _, ws_quote = wsname.partition("/")
            base, quote = asset_name(ws_base), asset_name(ws_quote)
        elif isinstance(base_id, str) and isinstance(quote_id, str):
            base, quote = asset_name(base_id), asset_name(quote_id)
        else:
            continue
        names = [str(key), altname, wsname, f"{base}/{quote}"]
        symbol = wsname or altname
        aliases = tuple(dict.fromkeys(n for n in names if n and n != symbol))
        out.append(
            Instrument(
                VenueKind.SPOT,
                symbol,
                base,
                quote,
                MarketKind.SPOT,
                price_decimals=_int_or_none(pair.get("pair_decimals")),
                size_decimals=_int_or_none(pair.get("lot_decimals")),
                aliases=aliases,
            )
        )
    return out


async def fetch_asset_pairs(base_url: str, *, client: httpx.AsyncClient | None = None) -> list[Instrument]:
    """Every Spot pair from a Spot REST host's public AssetPairs (no key needed).

    Args:
        base_url: the Spot REST base URL (``https://api.kraken.com`` or a simulator).
        client: an HTTP client to use (tests); one is made and closed otherwise.

    Returns:
        The instruments.

    Raises:
        VenueError: the host could not be reached or answered an error.
        MalformedReply: the reply could not be read.
    """
    own = client is None
    http = client or new_client(TIMEOUT)
    try:
        try:
            reply = await http.get(base_url.rstrip("/") + ASSET_PAIRS_PATH)
        except httpx.TransportError as e:
            raise error_for_transport(e, "AssetPairs") from e
        result = parse_envelope(reply.status_code, reply.headers.get("content-type", ""), reply.content)
        if not isinstance(result, Mapping):
            raise MalformedReply("AssetPairs result is not an object")
        return parse_asset_pairs(result)
    finally:
        if own:
            await http.aclose()
