"""Peer: ccxt (async) and our desk each cancelling the same 500 Spot + 500 Futures orders."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from app.core.accounts import Transport
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from bench.appside import account, desk_with
from bench.common import Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.peer")

N = 500
CHUNK = 50  # Kraken: CancelOrderBatch takes at most 50 ids; ccxt does not split, so we do
PAUSE_S = 11.0  # between runs: Kraken Futures' 10 s budget window and Spot's counters refill


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


RESTED_S = 600.0  # the orders rested 10 minutes: a Spot cancel then costs nothing on its pair's counter
RETRIES = 20  # ccxt calls refused (rate limit, nonce) are sent again, as a ccxt user's loop would


async def _ccxt_call(client: Any, ids: list[str], errors: Counter[str]) -> None:
    """One ``cancel_orders`` call, sent again after a rate-limit or nonce refusal (counted)."""
    import ccxt

    for _ in range(RETRIES):
        try:
            await client.cancel_orders(ids)
            return
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as e:
            errors["rate limit"] += 1
            log.info("ccxt rate limited: %s", e)
            await asyncio.sleep(1.0)
        except ccxt.InvalidNonce:
            errors["nonce"] += 1
    raise RuntimeError(f"ccxt gave up after {RETRIES} refusals")


async def _ccxt_cancel(client: Any, ids: list[str], errors: Counter[str], *, one_at_a_time: bool) -> None:
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    if one_at_a_time:
        # Kraken Spot: a key's nonces must arrive in increasing order and ccxt's nonce is the
        # millisecond clock, so concurrent calls on one key are refused ("EAPI:Invalid nonce").
        for chunk in chunks:
            await _ccxt_call(client, chunk, errors)
    else:
        await asyncio.gather(*(_ccxt_call(client, chunk, errors) for chunk in chunks))


async def _fresh(ctl: Control) -> tuple[list[str], list[str]]:
    return (
        await ctl.add_orders("spot", N, age_s=RESTED_S),
        await ctl.add_orders("futures", N, age_s=RESTED_S),
    )


async def run(runs: int, figures: list[Figure], notes: list[str]) -> None:
    """ccxt (default throttling and without it) and the desk, ``runs`` times each."""
    # Kraken's limits on (the simulator's defaults): "faster" counts only within them.
    args = ["--orders", "0", "--other-orders", "0", "--no-activity"]
    results: dict[str, list[float]] = {"ccxt": [], "ccxt_nothrottle": [], "desk": []}
    errors: dict[str, Counter[str]] = {k: Counter() for k in results}
    waits: list[int] = []
    for label, throttle in (("ccxt", True), ("ccxt_nothrottle", False)):
        # Each contestant on its own simulator: one's rate-limit debt is not the next one's wait.
        with SimProcess(*args) as sim:
            ctl = Control(sim.control)
            spot, fut = _ccxt_clients(sim.endpoints, throttle)
            try:
                for _ in range(runs):
                    sids, fids = await _fresh(ctl)
                    t0 = time.perf_counter()
                    await asyncio.gather(
                        _ccxt_cancel(spot, sids, errors[label], one_at_a_time=True),
                        _ccxt_cancel(fut, fids, errors[label], one_at_a_time=False),
                    )
                    results[label].append((time.perf_counter() - t0) * 1000)
                    left = await ctl.open_counts()
                    if left["spot"] or left["futures"]:
                        raise RuntimeError(f"ccxt left orders open: {left}")
                    await asyncio.sleep(PAUSE_S)  # the budgets refill between runs
            finally:
                await spot.close()
                await fut.close()
                await ctl.aclose()
    with SimProcess(*args) as sim:
        ctl = Control(sim.control)
        try:
            accounts = [
                account(sim.endpoints, "peer-spot", VenueKind.SPOT, cancel=Transport.REST),
                account(sim.endpoints, "peer-futures", VenueKind.FUTURES),
            ]
            for _ in range(runs):
                # The orders rest before the desk connects, so it lists them with their open
                # time (a streamed "new" order is young whatever the simulator backdated).
                sids, fids = await _fresh(ctl)
                async with desk_with(accounts) as desk:
                    want = {("peer-spot", i) for i in sids} | {("peer-futures", i) for i in fids}
                    await wait_for(
                        lambda want=want, desk=desk: want <= set(desk.store._orders),
                        60.0,
                        "1,000 orders listed",
                    )
                    await asyncio.sleep(0.5)  # the listing's own work is done before the cancel
                    orders = tuple(o for o in desk.store.orders() if o.key in want)
                    t0 = time.perf_counter()
                    report = await desk.cancel(CancelIntent(Scope.ORDERS, orders))
                    results["desk"].append((time.perf_counter() - t0) * 1000)
                    errors["desk"]["rate limit"] += report.rate_refusals
                    waits.append(report.rate_waits)
                    left = await ctl.open_counts()
                    if left["spot"] or left["futures"]:
                        raise RuntimeError(f"desk left orders open: {left} ({report.summary()})")
                    confirmed = sum(n for st, n in report.counts.items() if st.is_final)
                    if confirmed < 2 * N:
                        raise RuntimeError(f"desk confirmed only {confirmed} of {2 * N} ({report.summary()})")
                await asyncio.sleep(PAUSE_S)
        finally:
            await ctl.aclose()
    import ccxt

    names = {
        "ccxt": f"ccxt {ccxt.__version__} (enableRateLimit, its default)",
        "ccxt_nothrottle": f"ccxt {ccxt.__version__} (enableRateLimit=False)",
        "desk": "our desk (Spot REST + Futures REST, confirmed)",
    }
    for key, name in names.items():
        errs = ", ".join(f"{n} {what}" for what, n in sorted(errors[key].items())) or "none"
        note = f"refusals: {errs}"
        if key == "desk":
            note += f"; waits on its own rate-limit model: {sum(waits)} (Futures: 10 batches cost 590 units)"
        figures.append(Figure("5. peer", f"500 Spot + 500 Futures: {name}", "ms", results[key], note=note))
    desk_med = Figure("", "", "", results["desk"]).median or 1.0
    for key in ("ccxt", "ccxt_nothrottle"):
        med = Figure("", "", "", results[key]).median or 0.0
        ratio = Figure(
            "5. peer", f"ratio {key} / desk (medians)", "x", [med / desk_med], note="> 1: desk faster"
        )
        if key == "ccxt":
            ratio.budget = ">= 3, desk with 0 rate-limit answers"
            ok = med / desk_med >= 3 and not errors["desk"]["rate limit"]
            ratio.verdict = "ok" if ok else "MISSED"
        figures.append(ratio)
    notes.append(
        "Peer: the simulator enforces Kraken's rate limits (each contestant on a fresh simulator); "
        "the orders rested 10 minutes. ccxt cancels in chunks of 50 ids per cancel_orders call "
        "(Kraken's batch limit; ccxt does not split): Spot calls one at a time (ccxt's nonce is the "
        "millisecond clock and Kraken refuses nonces that arrive out of order), Futures calls "
        "concurrently, Spot and Futures side by side; a refused call is sent again (counted). "
        "ccxt's krakenfutures is given an empty market table because the simulator does not serve "
        "GET instruments. ccxt's time ends when its calls return (acknowledged); the desk's when "
        "every order is confirmed."
    )
