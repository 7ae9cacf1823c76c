"""The desk's market data: each venue's instruments fetched once per host, decimals observed as the
fallback, failures reported and survived."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from app.core.accounts import AccountSpec
from app.core.instruments import Instrument
from app.core.orders import VenueKind
from app.desk.instruments import InstrumentBook
from app.venues.registry import EndpointRole
from tests.helpers.fakes import make_order
from tests.helpers.sim import Sim


class FakeFetch:
    """Instruments for any URL; records each URL asked; fails when told."""

    def __init__(self, instruments: list[Instrument], fail: bool = False) -> None:
        self.instruments = instruments
        self.fail = fail
        self.asked: list[str] = []

    async def __call__(self, url: str) -> list[Instrument]:
        self.asked.append(url)
        if self.fail:
            raise OSError("no route to host")
        return self.instruments


XBT = Instrument(
    VenueKind.SPOT, "XBT/USD", "BTC", "USD", price_decimals=1, size_decimals=8, aliases=("XBTUSD",)
)


def spec(account_id: str, venue: VenueKind = VenueKind.SPOT, url: str = "http://a") -> AccountSpec:
    role = "spot_rest" if venue is VenueKind.SPOT else "futures_rest"
    return AccountSpec(account_id, account_id, venue, endpoints={role: url})


async def test_each_host_once_per_session_and_aliases_found() -> None:
    fetch = FakeFetch([XBT])
    book = InstrumentBook({VenueKind.SPOT: (EndpointRole.SPOT_REST, fetch)})
    changed: list[None] = []
    book.changed.connect(changed.append)
    assert await book.load([spec("a"), spec("b"), spec("c", url="http://other")]) == []
    await book.load([spec("a")])
    assert fetch.asked == ["http://a", "http://other"]
    assert book.known(VenueKind.SPOT, "XBTUSD") is XBT
    assert book.instrument(VenueKind.SPOT, "XBT/USD").price_decimals == 1
    assert len(changed) == 2


async def test_prime_has_no_list_and_a_failure_falls_back_to_the_orders() -> None:
    fetch = FakeFetch([], fail=True)
    book = InstrumentBook({VenueKind.SPOT: (EndpointRole.SPOT_REST, fetch)})
    problems = await book.load([spec("a"), AccountSpec("p", "p", VenueKind.PRIME)])
    assert len(problems) == 1 and "Spot market data not loaded" in problems[0]
    o = dataclasses.replace(make_order(1, symbol="BTC-USD"), venue=VenueKind.PRIME, price=Decimal("64250.50"))
    assert book.observe([o]) is False  # the first look at a market is no growth
    inst = book.instrument(VenueKind.PRIME, "BTC-USD")
    assert (inst.display, inst.price_decimals, inst.size_decimals, inst.guessed) == ("BTC/USD", 2, 0, True)
    finer = dataclasses.replace(o, order_id="O2", quantity=Decimal("0.125"))
    assert book.observe([finer]) is True  # rows already shown must be written again
    assert book.instrument(VenueKind.PRIME, "BTC-USD").size_decimals == 3


async def test_loaded_data_wins_over_what_orders_showed() -> None:
    book = InstrumentBook({})
    book.observe([dataclasses.replace(make_order(1), price=Decimal("100.123"))])
    assert book.instrument(VenueKind.SPOT, "XBT/USD").price_decimals == 3
    book.add([XBT])
    assert book.instrument(VenueKind.SPOT, "XBT/USD").price_decimals == 1


async def test_the_real_fetchers_against_the_simulator(sim: Sim) -> None:
    book = InstrumentBook()
    specs = [
        AccountSpec("s", "s", VenueKind.SPOT, endpoints={"spot_rest": sim.endpoints["spot_rest"]}),
        AccountSpec("f", "f", VenueKind.FUTURES, endpoints={"futures_rest": sim.endpoints["futures_rest"]}),
    ]
    assert await book.load(specs) == []
    assert book.instrument(VenueKind.SPOT, "XBTUSD").display == "BTC/USD"
    assert book.instrument(VenueKind.SPOT, "BTC/USD").price_decimals == 1  # the WS v2 name
    perp = book.instrument(VenueKind.FUTURES, "PF_ETHUSD")
    assert (perp.display, perp.price_decimals, perp.size_decimals) == ("ETH/USD perp", 1, 3)
