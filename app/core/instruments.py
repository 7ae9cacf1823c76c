"""Markets as the console names them: one spelling across venues, and how their numbers are written.

Kraken spells one market several ways: Spot REST ``XBTUSD`` (or its key ``XXBTZUSD``), Spot WS v1
``XBT/USD``, Spot WS v2 ``BTC/USD``, Futures ``PF_XBTUSD``, Prime ``BTC-USD``. The console shows
one name (``BTC/USD``, ``BTC/USD perp``) and keeps the venue's own as an alias.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal

from app.core.orders import VenueKind


class MarketKind(enum.StrEnum):
    """What is traded: the asset itself, a perpetual, or a future with an expiry."""

    SPOT = "spot"
    PERPETUAL = "perp"
    FUTURE = "future"


# Kraken's legacy asset codes: older assets carry an X (crypto) or Z (fiat) prefix in REST
# (AssetPairs' ``base``/``quote``, pair keys like XXBTZUSD); XBT is bitcoin, XDG dogecoin.
_LEGACY = {
    "XXBT": "XBT",
    "XETH": "ETH",
    "XXRP": "XRP",
    "XLTC": "LTC",
    "XXLM": "XLM",
    "XXMR": "XMR",
    "XZEC": "ZEC",
    "XETC": "ETC",
    "XREP": "REP",
    "XMLN": "MLN",
    "XXDG": "XDG",
    "ZUSD": "USD",
    "ZEUR": "EUR",
    "ZGBP": "GBP",
    "ZCAD": "CAD",
    "ZJPY": "JPY",
    "ZCHF": "CHF",
    "ZAUD": "AUD",
}
_COMMON_NAME = {"XBT": "BTC", "XDG": "DOGE"}
# Quote currencies a symbol without a separator may end with, longest first (XBTUSDT before USD).
_QUOTES = (
    "PYUSD",
    "USDT",
    "USDC",
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "JPY",
    "CHF",
    "AUD",
    "XBT",
    "BTC",
    "ETH",
    "DAI",
)
FIAT_LIKE = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "USDT", "USDC", "DAI", "PYUSD"})
"""Quote currencies whose amounts read in cents (notional shown with 2 decimals)."""


def asset_name(code: str) -> str:
    """What the console calls an asset: ``XXBT`` / ``XBT`` -> ``BTC``, ``ZUSD`` -> ``USD``.

    Args:
        code: Kraken's asset code, any case.

    Returns:
        The common upper-case name.
    """
    up = code.strip().upper()
    up = _LEGACY.get(up, up)
    return _COMMON_NAME.get(up, up)


def decimals_of(value: Decimal | None) -> int:
    """Digits after the point as written (``Decimal("64250.0")`` -> 1; ``1E+1`` -> 0)."""
    if value is None or not value.is_finite():
        return 0
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _split_plain(name: str) -> tuple[str, str] | None:
    for sep in ("/", "-", ":"):
        if sep in name:
            base, _, quote = name.partition(sep)
            if base and quote:
                return base, quote
    for quote in _QUOTES:
        if name.endswith(quote) and len(name) > len(quote):
            return name[: -len(quote)], quote
    return None


def _expiry_text(yymmdd: str) -> str | None:
    try:
        day = dt.datetime.strptime(yymmdd, "%y%m%d").date()
    except ValueError:
        return None
    return day.strftime("%d %b %y")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One market on one venue, with how its numbers are written.

    Attributes:
        venue: the venue family listing it.
        symbol: the venue's own name, as its orders carry it (``XBT/USD``, ``PF_XBTUSD``).
        base: the base asset as the console names it (``BTC``).
        quote: the quote currency (``USD``); notionals are in it.
        kind: spot, perpetual or dated future.
        price_decimals: digits after the point of a price (None: not known, use the orders').
        size_decimals: digits after the point of a size (None: not known).
        aliases: other names the venue uses for it (REST altname and key, WS v2 name).
        contract_size: what one unit of size is worth (Futures ``contractSize``).
        inverse: an inverse contract: sizes count quote-currency contracts, not the base.
        expiry: a dated future's last day as shown (``28 Jun 24``).
        guessed: made up from the symbol alone (no instrument data from the venue).
    """

    venue: VenueKind
    symbol: str
    base: str
    quote: str
    kind: MarketKind = MarketKind.SPOT
    price_decimals: int | None = None
    size_decimals: int | None = None
    aliases: tuple[str, ...] = ()
    contract_size: Decimal = Decimal(1)
    inverse: bool = False
    expiry: str | None = None
    guessed: bool = False

    @property
    def display(self) -> str:
        """One name across venues: ``BTC/USD``, ``BTC/USD perp``, ``BTC/USD 28 Jun 24``."""
        pair = f"{self.base}/{self.quote}" if self.quote else self.base
        if self.kind is MarketKind.PERPETUAL:
            return f"{pair} inverse perp" if self.inverse else f"{pair} perp"
        if self.kind is MarketKind.FUTURE:
            return f"{pair} {self.expiry}" if self.expiry else f"{pair} future"
        return pair


def guess_instrument(venue: VenueKind, symbol: str) -> Instrument:
    """An instrument made up from a symbol alone, for markets without instrument data.

    Futures names carry their kind: ``PF_`` flexible perpetual, ``PI_`` inverse perpetual,
    ``FF_``/``FI_`` dated (``FI_XBTUSD_240628``). Others split at ``/``, ``-`` or a known quote.

    Args:
        venue: the venue family.
        symbol: the venue's symbol.

    Returns:
        The instrument (``guessed`` set; decimals unknown).
    """
    name = symbol.strip().upper()
    kind = MarketKind.SPOT
    inverse = False
    expiry: str | None = None
    body = name
    if venue is VenueKind.FUTURES and len(name) > 3 and name[2] == "_":
        prefix, body = name[:2], name[3:]
        kind = MarketKind.PERPETUAL if prefix in ("PF", "PI") else MarketKind.FUTURE
        inverse = prefix in ("PI", "FI")
        if "_" in body:
            body, _, date = body.partition("_")
            expiry = _expiry_text(date)
    elif venue is VenueKind.FUTURES:
        kind = MarketKind.PERPETUAL
    split = _split_plain(body)
    if split is None:
        return Instrument(venue, symbol, body, "", kind, inverse=inverse, expiry=expiry, guessed=True)
    base, quote = split
    return Instrument(
        venue,
        symbol,
        asset_name(base),
        asset_name(quote),
        kind,
        inverse=inverse,
        expiry=expiry,
        guessed=True,
    )
