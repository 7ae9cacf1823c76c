"""The simulator's instruments and how Kraken writes their numbers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

AccountKind = Literal["spot", "futures", "prime"]
"""Which venue an account, or an instrument, belongs to."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol and how its numbers are written.

    Attributes:
        symbol: The simulator's symbol: Spot WS v1 name (``XBT/USD``), Futures (``PF_XBTUSD``)
            or Prime (``BTC-USD``).
        kind: Which venue lists it.
        price_decimals: Decimals of prices on the wire.
        qty_decimals: Decimals of quantities on the wire.
        ref_price: A plausible market price, for demo orders.
        qty_range: Plausible (min, max) order size, for demo orders.
        altname: Spot REST name without slash (``XBTUSD``); empty for others.
        v2_symbol: Spot WS v2 name (``BTC/USD``: v2 says BTC, not XBT); empty for others.
    """

    symbol: str
    kind: AccountKind
    price_decimals: int
    qty_decimals: int
    ref_price: Decimal
    qty_range: tuple[float, float]
    altname: str = ""
    v2_symbol: str = ""


def _spot(ws: str, alt: str, v2: str, pdec: int, ref: str, qty: tuple[float, float]) -> Instrument:
    return Instrument(ws, "spot", pdec, 8, Decimal(ref), qty, altname=alt, v2_symbol=v2)


INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        _spot("XBT/USD", "XBTUSD", "BTC/USD", 1, "64250.0", (0.0005, 2.0)),
        _spot("XBT/EUR", "XBTEUR", "BTC/EUR", 1, "59100.0", (0.0005, 1.5)),
        _spot("ETH/USD", "ETHUSD", "ETH/USD", 2, "3150.00", (0.01, 25.0)),
        _spot("ETH/EUR", "ETHEUR", "ETH/EUR", 2, "2900.00", (0.01, 20.0)),
        _spot("SOL/USD", "SOLUSD", "SOL/USD", 2, "148.00", (0.5, 200.0)),
        _spot("SOL/EUR", "SOLEUR", "SOL/EUR", 2, "136.00", (0.5, 150.0)),
        _spot("XRP/EUR", "XRPEUR", "XRP/EUR", 5, "0.52000", (50.0, 20000.0)),
        _spot("ADA/USD", "ADAUSD", "ADA/USD", 6, "0.451000", (50.0, 25000.0)),
        _spot("DOT/USD", "DOTUSD", "DOT/USD", 4, "7.1500", (1.0, 800.0)),
        _spot("LTC/USD", "LTCUSD", "LTC/USD", 2, "82.00", (0.1, 60.0)),
        Instrument("PF_XBTUSD", "futures", 0, 4, Decimal("64300"), (0.0001, 2.0)),
        Instrument("PF_ETHUSD", "futures", 1, 3, Decimal("3152.0"), (0.01, 30.0)),
        Instrument("PF_SOLUSD", "futures", 2, 2, Decimal("148.10"), (1.0, 300.0)),
        Instrument("PF_XRPUSD", "futures", 4, 0, Decimal("0.5200"), (100.0, 30000.0)),
        Instrument("BTC-USD", "prime", 2, 8, Decimal("64260.00"), (0.01, 5.0)),
        Instrument("ETH-USD", "prime", 2, 8, Decimal("3151.00"), (0.1, 50.0)),
        Instrument("SOL-USD", "prime", 2, 8, Decimal("148.05"), (5.0, 500.0)),
        Instrument("ETH-BTC", "prime", 5, 8, Decimal("0.04905"), (0.1, 40.0)),
    )
}
SPOT_BY_ALTNAME: dict[str, Instrument] = {i.altname: i for i in INSTRUMENTS.values() if i.altname}


def spot_instrument(name: str) -> Instrument | None:
    """Find a Spot pair by WS v1 name (``XBT/USD``), REST altname (``XBTUSD``) or v2 name.

    Args:
        name: The pair as a client wrote it.

    Returns:
        The instrument, or None if the simulator does not list it.
    """
    found = INSTRUMENTS.get(name) or SPOT_BY_ALTNAME.get(name)
    if found is None:
        found = next((i for i in INSTRUMENTS.values() if i.v2_symbol == name), None)
    return found if found is not None and found.kind == "spot" else None


def instruments_of(kind: AccountKind) -> list[Instrument]:
    """List the instruments of one venue kind.

    Args:
        kind: ``spot``, ``futures`` or ``prime``.

    Returns:
        Instruments in table order.
    """
    return [i for i in INSTRUMENTS.values() if i.kind == kind]


def instrument_or_default(symbol: str) -> Instrument:
    """Find an instrument by symbol, or make up a Spot one with 8 decimals (tests use any symbol).

    Args:
        symbol: The simulator's symbol.

    Returns:
        The listed instrument, or a stand-in.
    """
    known = INSTRUMENTS.get(symbol)
    if known is not None:
        return known
    return Instrument(symbol, "spot", 8, 8, Decimal(1), (1.0, 1.0))


_QUANTA: dict[int, Decimal] = {}


def fmt_decimal(value: Decimal, decimals: int) -> str:
    """Write a decimal with a fixed number of decimals, as Kraken writes numbers.

    Args:
        value: The number.
        decimals: Digits after the point (0 gives an integer string).

    Returns:
        The text, e.g. ``fmt_decimal(Decimal("1.25"), 8) == "1.25000000"``.
    """
    quantum = _QUANTA.get(decimals)
    if quantum is None:
        quantum = _QUANTA[decimals] = Decimal(1).scaleb(-decimals)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):f}"


def parse_decimal(text: str, what: str) -> Decimal:
    """Read a finite decimal.

    Args:
        text: The number as given.
        what: What it is, for the error message.

    Returns:
        The value.

    Raises:
        ValueError: It is not a finite decimal.
    """
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"bad {what}: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"bad {what}: {text!r}")
    return value


# Kraken's legacy asset codes (``XXBT``, ``ZUSD``): older assets carry an X (crypto) or Z (fiat)
# prefix, and a pair of two such assets is keyed by both codes (``XXBTZUSD``); newer pairs are
# keyed by their altname (``SOLUSD``). Seen in AssetPairs' examples (krakenfx/api-specs).
_LEGACY_CRYPTO = frozenset({"XBT", "ETH", "XRP", "LTC", "XLM", "XMR", "ZEC", "ETC", "REP", "MLN", "XDG"})
_LEGACY_FIAT = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD"})


def spot_asset_ids(inst: Instrument) -> tuple[str, str, str]:
    """Kraken's REST key and asset ids of a Spot pair.

    Args:
        inst: A Spot instrument (``XBT/USD``).

    Returns:
        ``(pair key, base asset id, quote asset id)``, e.g. ``("XXBTZUSD", "XXBT", "ZUSD")`` or
        ``("SOLUSD", "SOL", "ZUSD")``.
    """
    base, quote = inst.symbol.split("/")
    base_id = f"X{base}" if base in _LEGACY_CRYPTO else base
    quote_id = f"Z{quote}" if quote in _LEGACY_FIAT else quote
    key = base_id + quote_id if base in _LEGACY_CRYPTO else inst.altname
    return key, base_id, quote_id


def futures_base_quote(inst: Instrument) -> tuple[str, str]:
    """Base and quote of a Futures perpetual (``PF_XBTUSD`` -> ``("XBT", "USD")``).

    Args:
        inst: A Futures instrument.

    Returns:
        ``(base, quote)``.
    """
    name = inst.symbol.split("_", 1)[-1]
    return name[:-3], name[-3:]
