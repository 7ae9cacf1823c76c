"""The markets the desk trades in: each venue's public instrument data, fetched once per session.

Prices and sizes are shown with each market's own precision (Spot AssetPairs ``pair_decimals`` /
``lot_decimals``, Futures ``tickSize`` / ``contractValueTradePrecision``). A market without
instrument data (Prime has no public list; a venue that could not be reached) is named from its
symbol, and its precision is the most decimals its orders have shown, so every row of a market
reads alike.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace

from app.core.accounts import AccountSpec
from app.core.events import Event
from app.core.instruments import Instrument, decimals_of, guess_instrument
from app.core.orders import Order, VenueKind
from app.venues.futures.instruments import fetch_instruments
from app.venues.registry import EndpointRole, endpoint
from app.venues.spot.instruments import fetch_asset_pairs

log = logging.getLogger("app.desk.instruments")

Fetcher = Callable[[str], Awaitable[list[Instrument]]]
"""Fetches a venue's instruments from its base URL."""

FETCHERS: dict[VenueKind, tuple[EndpointRole, Fetcher]] = {
    VenueKind.SPOT: (EndpointRole.SPOT_REST, fetch_asset_pairs),
    VenueKind.FUTURES: (EndpointRole.FUTURES_REST, fetch_instruments),
}
"""Where each venue family publishes its instruments (Prime publishes none)."""


class InstrumentBook:
    """Instruments by venue and every name the venue uses for them.

    Events:
        changed(None): instruments were added, or a market's observed precision grew; names and
            numbers shown may read differently now.

    Rules kept: each (venue, base URL) is fetched at most once per session, whatever the number
    of accounts; a failed fetch is reported and the console goes on with names and decimals
    taken from the orders; instrument data, once loaded, wins over anything observed.
    """

    def __init__(self, fetchers: Mapping[VenueKind, tuple[EndpointRole, Fetcher]] | None = None) -> None:
        self._fetchers = dict(FETCHERS if fetchers is None else fetchers)
        self._known: dict[tuple[VenueKind, str], Instrument] = {}
        self._guessed: dict[tuple[VenueKind, str], Instrument] = {}
        self._observed: dict[tuple[VenueKind, str], tuple[int, int]] = {}
        self._asked: set[tuple[VenueKind, str]] = set()
        self.problems: list[str] = []
        self.changed: Event[None] = Event("instruments_changed")

    # --- reading ---------------------------------------------------------------------------

    def known(self, venue: VenueKind, symbol: str) -> Instrument | None:
        """The venue's own instrument data for ``symbol`` (any of its names), if loaded."""
        return self._known.get((venue, symbol))

    def instrument(self, venue: VenueKind, symbol: str) -> Instrument:
        """The instrument for ``symbol``: the venue's data, else one named from the symbol with
        the precision its orders have shown."""
        key = (venue, symbol)
        found = self._known.get(key)
        if found is not None:
            if found.price_decimals is None or found.size_decimals is None:
                seen = self._observed.get(key, (0, 0))
                found = replace(
                    found,
                    price_decimals=seen[0] if found.price_decimals is None else found.price_decimals,
                    size_decimals=seen[1] if found.size_decimals is None else found.size_decimals,
                )
            return found
        guess = self._guessed.get(key)
        if guess is None:
            seen = self._observed.get(key, (0, 0))
            guess = replace(guess_instrument(venue, symbol), price_decimals=seen[0], size_decimals=seen[1])
            self._guessed[key] = guess
        return guess

    def __len__(self) -> int:
        return len({id(i) for i in self._known.values()})

    # --- feeding -----------------------------------------------------------------------------

    def add(self, instruments: Iterable[Instrument]) -> int:
        """Index instruments under their symbol and every alias.

        Returns:
            How many were added.
        """
        n = 0
        for inst in instruments:
            n += 1
            for name in (inst.symbol, *inst.aliases):
                self._known[(inst.venue, name)] = inst
                self._guessed.pop((inst.venue, name), None)
        if n:
            self.changed.emit(None)
        return n

    def observe(self, orders: Iterable[Order]) -> bool:
        """Note the decimals orders are written with (the fallback precision of their market).

        Returns:
            True when a market's precision grew (rows already shown should be written again).
        """
        grew = False
        observed = self._observed
        known = self._known
        for o in orders:
            key = (o.venue, o.symbol)
            inst = known.get(key)
            if inst is not None and inst.price_decimals is not None and inst.size_decimals is not None:
                continue  # the venue's own precision wins: nothing to learn from the order
            price = max(decimals_of(o.price), decimals_of(o.stop_price))
            size = max(decimals_of(o.quantity), decimals_of(o.filled))
            old = observed.get(key)
            if old is None or price > old[0] or size > old[1]:
                observed[key] = (price, size) if old is None else (max(price, old[0]), max(size, old[1]))
                self._guessed.pop(key, None)
                if old is not None or inst is not None:
                    grew = True
        return grew

    async def load(self, specs: Iterable[AccountSpec]) -> list[str]:
        """Fetch the instruments of every venue the accounts use (each host once per session).

        Args:
            specs: the accounts (their venue and endpoints).

        Returns:
            What could not be loaded, one line each (also kept in ``problems``).
        """
        problems: list[str] = []
        for spec in specs:
            entry = self._fetchers.get(spec.venue)
            if entry is None:
                continue
            role, fetch = entry
            url = endpoint(spec, role)
            if (spec.venue, url) in self._asked:
                continue
            self._asked.add((spec.venue, url))
            try:
                instruments = await fetch(url)
            except Exception as e:  # any failure: names and decimals come from the orders
                log.warning("instruments of %s at %s not loaded: %s", spec.venue.value, url, e)
                problems.append(f"{spec.venue.value.capitalize()} market data not loaded: {e}")
                continue
            log.info("%d %s instruments loaded from %s", len(instruments), spec.venue.value, url)
            self.add(instruments)
        self.problems.extend(problems)
        return problems
