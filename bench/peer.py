"""Peer: ccxt (async) and our desk each cancelling the same 500 Spot + 500 Futures orders."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from app.core.accounts import Transport
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from bench.appside import account, desk_with
from bench.common import Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.peer")

N = 500
CHUNK = 50  # Kraken: CancelOrderBatch takes at most 50 ids; ccxt does not split, so we do


def _ccxt_clients(endpoints: dict[str, Any], rate_limit: bool) -> tuple[Any, Any]:
    """ccxt's async kraken and krakenfutures, their URLs pointed at the simulator."""
    import ccxt.async_support as ccxt

    keys = endpoints["accounts"]
    spot = ccxt.kraken(
        {"apiKey": keys["spot"]["key"], "secret": keys["spot"]["secret"], "enableRateLimit": rate_limit}
    )
    # ccxt's kraken.sign() appends "/0/private/<Method>" to urls['api']['private'].
    spot.urls["api"] = {
        **spot.urls["api"],
        "public": endpoints["spot_rest"],
        "private": endpoints["spot_rest"],
    }
    fut = ccxt.krakenfutures(
        {"apiKey": keys["futures"]["key"], "secret": keys["futures"]["secret"], "enableRateLimit": rate_limit}
    )
    # krakenfutures.sign() appends "v3/<endpoint>" to urls['api']['private'].
    base = endpoints["futures_rest"].rstrip("/") + "/derivatives/api/"
    fut.urls["api"] = {**fut.urls["api"], "public": base, "private": base}
    # cancel_orders() loads markets first (GET instruments), which the simulator does not serve;
    # an application loads markets once at start, so an empty, already-loaded market table
    # stands in for that (cancelling by order id needs no market data).
    fut.markets = {}
    fut.markets_by_id = {}
    return spot, fut


async def _ccxt_cancel(client: Any, ids: list[str]) -> None:
    await asyncio.gather(*(client.cancel_orders(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)))


async def _fresh(ctl: Control) -> tuple[list[str], list[str]]:
    return await ctl.add_orders("spot", N), await ctl.add_orders("futures", N)


async def run(runs: int, figures: list[Figure], notes: list[str]) -> None:
    """ccxt (default throttling and without it) and the desk, ``runs`` times each."""
    args = ["--orders", "0", "--other-orders", "0", "--no-activity", "--no-rate-limits"]
    with SimProcess(*args) as sim:
        ctl = Control(sim.control)
        results: dict[str, list[float]] = {"ccxt": [], "ccxt_nothrottle": [], "desk": []}
        try:
            for label, throttle in (("ccxt", True), ("ccxt_nothrottle", False)):
                spot, fut = _ccxt_clients(sim.endpoints, throttle)
                try:
                    for _ in range(runs):
                        sids, fids = await _fresh(ctl)
                        t0 = time.perf_counter()
                        await asyncio.gather(_ccxt_cancel(spot, sids), _ccxt_cancel(fut, fids))
                        results[label].append((time.perf_counter() - t0) * 1000)
                        left = await ctl.open_counts()
                        if left["spot"] or left["futures"]:
                            raise RuntimeError(f"ccxt left orders open: {left}")
                finally:
                    await spot.close()
                    await fut.close()
            accounts = [
                account(sim.endpoints, "peer-spot", VenueKind.SPOT, cancel=Transport.REST),
                account(sim.endpoints, "peer-futures", VenueKind.FUTURES),
            ]
            async with desk_with(accounts) as desk:
                for _ in range(runs):
                    sids, fids = await _fresh(ctl)
                    want = {("peer-spot", i) for i in sids} | {("peer-futures", i) for i in fids}
                    await wait_for(
                        lambda want=want: want <= set(desk.store._orders), 60.0, "1,000 orders listed"
                    )
                    orders = tuple(o for o in desk.store.orders() if o.key in want)
                    t0 = time.perf_counter()
                    report = await desk.cancel(CancelIntent(Scope.ORDERS, orders))
                    results["desk"].append((time.perf_counter() - t0) * 1000)
                    left = await ctl.open_counts()
                    if left["spot"] or left["futures"]:
                        raise RuntimeError(f"desk left orders open: {left} ({report.summary()})")
        finally:
            await ctl.aclose()
    import ccxt

    names = {
        "ccxt": f"ccxt {ccxt.__version__} (enableRateLimit, its default)",
        "ccxt_nothrottle": f"ccxt {ccxt.__version__} (enableRateLimit=False)",
        "desk": "our desk (Spot REST + Futures REST, confirmed)",
    }
    for key, name in names.items():
        figures.append(Figure("5. peer", f"500 Spot + 500 Futures: {name}", "ms", results[key]))
    desk_med = Figure("", "", "", results["desk"]).median or 1.0
    for key in ("ccxt", "ccxt_nothrottle"):
        med = Figure("", "", "", results[key]).median or 0.0
        figures.append(
            Figure("5. peer", f"ratio {key} / desk (medians)", "x", [med / desk_med], note="> 1: desk faster")
        )
    notes.append(
        "Peer: ccxt cancels in chunks of 50 ids per cancel_orders call (Kraken's batch limit; ccxt "
        "does not split), Spot and Futures concurrently; ccxt's krakenfutures is given an empty "
        "market table because the simulator does not serve GET instruments. ccxt's time ends when "
        "its calls return (acknowledged); the desk's ends when every order is confirmed."
    )
