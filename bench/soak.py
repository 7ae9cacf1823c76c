"""``python -m bench.soak [--quick]``: cancel tens of thousands of orders on all five transports under
every fault class the simulator can inject, then compare the console's ledger with the exchange.

Per transport it prints: orders tried; marked cancelled but not cancelled at the exchange;
marked failed/rejected although our request cancelled them; left unknown after the faults
stopped; rows still shown that the exchange had closed (resurrected/stale); crashes (errors
logged by the console, exceptions nobody handled); ledger endings missing from the audit log.
The last line sums them. Figures are printed, not asserted: tests keep the short cases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.errors import VenueError
from app.core.ledger import CancelState
from app.core.orders import Order, VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.sim.faults import Faults
from app.sim.server import SimServer
from app.sim.state import Exchange, MarketActivity
from app.venues.base import Venue
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue

log = logging.getLogger("bench.soak")

S = CancelState


@dataclass(frozen=True)
class TransportCase:
    """One transport to soak: the account's venue kind, its Spot transport, the host to fault."""

    name: str
    kind: VenueKind
    transport: Transport
    host: str


CASES = (
    TransportCase("Spot REST", VenueKind.SPOT, Transport.REST, "spot_rest"),
    TransportCase("Spot WS v2", VenueKind.SPOT, Transport.WS_V2, "spot_ws"),
    TransportCase("Spot WS v1", VenueKind.SPOT, Transport.WS_V1, "spot_ws"),
    TransportCase("Futures", VenueKind.FUTURES, Transport.WS_V2, "futures"),
    TransportCase("Prime", VenueKind.PRIME, Transport.WS_V2, "prime"),
)

Fault = Callable[[Faults], None]


def _counter(name: str, n: int = 1) -> Fault:
    def apply(f: Faults) -> None:
        setattr(f, name, n)

    apply.__name__ = name
    return apply


def _none(f: Faults) -> None:
    """No fault this round."""


def _gateway(status: int) -> Fault:
    def apply(f: Faults) -> None:
        f.after_apply_status = status
        f.http_5xx_after_apply = 1

    apply.__name__ = f"http_{status}_after_apply"
    return apply


# Every fault class the simulator has (docs/SIMULATOR.md): refusals before anything is applied,
# and replies that go wrong after the cancel was applied; hosts ignore what they cannot do.
FAULTS: tuple[Fault, ...] = (
    _none,
    _counter("drop_connection"),
    _counter("hang"),
    _counter("html_error_page"),
    _counter("http_5xx"),
    _counter("service_unavailable"),
    _counter("rate_limit", 2),
    _counter("throttled"),
    _counter("too_many_requests"),
    _counter("throttled_no_ts"),
    _counter("invalid_session"),
    _counter("drop_after_apply"),
    _counter("hang_after_apply"),
    _gateway(504),
    _gateway(524),
    _counter("html_200_after_apply"),
    _counter("garbled_after_apply"),
    _counter("empty_after_apply"),
    _counter("huge_after_apply"),
    _counter("lost_reply"),
    _counter("duplicate_reply"),
    _counter("reorder_replies"),
    _counter("skip_sequence"),
    _counter("lost_delta"),
    _counter("malformed_order"),
)
SCOPES = (
    "selection",
    "selection",
    "selection",
    "single",
    "symbol",
    "account",
    "kill switch",
    "outage",
    "dead man's switch",
)


@dataclass
class Row:
    """One transport's line of the table."""

    name: str
    tried: int = 0
    wrongly_cancelled: int = 0
    wrongly_failed: int = 0
    unknown_left: int = 0
    resurrected: int = 0
    crashes: int = 0
    audit_missing: int = 0
    seconds: float = 0.0
    rounds: int = 0
    examples: list[str] = field(default_factory=list)

    WRONG = ("wrongly_cancelled", "wrongly_failed", "unknown_left", "resurrected", "crashes", "audit_missing")


class _Errors(logging.Handler):
    """Counts what the console logs at ERROR (a crash it caught is still a crash)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("app.") and not record.name.startswith("app.sim"):
            self.records.append(record)


async def _wait_until(predicate: Callable[[], bool], within_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


async def soak_one(case: TransportCase, target: int, seed: int, workdir: Path, min_rounds: int) -> Row:
    """Soak one transport until ``target`` orders were tried in at least ``min_rounds`` rounds."""
    row = Row(case.name)
    rng = random.Random(seed)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    exchange = Exchange(seed=seed, rate_limits=True)
    account = exchange.add_account("acct", case.kind.value)
    server = SimServer(exchange, Faults())
    endpoints = await server.start()
    activity = MarketActivity(exchange, random.Random(seed + 1), rate_per_s=20, accounts=["acct"])
    audit = AuditLog(workdir / f"soak-{case.host}-{seed}.sqlite3")
    desk = Desk(audit)
    spec = AccountSpec(
        "acct",
        case.name,
        case.kind,
        dict(endpoints),
        stream_transport=case.transport,
        cancel_transport=case.transport,
        options={"spot_tier": account.tier},  # the trader said which tier the account is
    )
    venue = build_venue(spec, Credentials(account.api_key, account.secret), NonceSource())
    faults = server.own_faults(case.host)
    t0 = time.monotonic()
    try:
        exchange.demo.generate_orders("acct", 400, rng)
        desk.add_account(spec, venue)
        waits: set[str] = set()
        desk.coordinator.transitioned.connect(
            lambda moved: waits.update(
                f"{e.state.value}: {e.reason}" for e in moved if e.state in (S.WAITING, S.UNKNOWN)
            )
        )
        await _wait_until(lambda: desk.store.count("acct") > 0, 20)
        activity.start()
        while row.tried < target or row.rounds < min_rounds:
            row.rounds += 1
            if exchange.book.open_count("acct") < 300:
                exchange.demo.generate_orders("acct", 300, rng)
                await asyncio.sleep(0.3)  # let the listing or stream show them
            fault = FAULTS[row.rounds % len(FAULTS)]
            scope = SCOPES[rng.randrange(len(SCOPES))]
            if scope == "dead man's switch":
                await _deadman_fires(venue, case, desk)
                continue
            outage = None
            if scope == "outage":
                # The venue goes away mid-cancel and comes back on the same port.
                outage = asyncio.create_task(_outage(server, case.host, rng.uniform(0.0, 0.05), 1.5))
                scope = "selection"
            intent = _intent(scope, desk.store.orders("acct"), rng)
            if intent is None:
                continue
            plan = desk.plan(intent)
            row.tried += plan.order_count
            fault(faults)
            started = time.monotonic()
            waits.clear()
            try:
                async with asyncio.timeout(120):
                    report = await desk.cancel(intent, plan)
                if waits and time.monotonic() - started > 5:
                    log.info("  waits: %s", "; ".join(sorted(waits)[:6]))
                log.info(
                    "round %d %s under %s: %d orders, %s, %.1f s",
                    row.rounds,
                    scope,
                    fault.__name__,
                    plan.order_count,
                    report.summary(),
                    time.monotonic() - started,
                )
            except TimeoutError:
                row.crashes += 1
                row.examples.append(
                    f"round {row.rounds}: {scope} under {fault.__name__} did not finish in 120 s"
                )
            if outage is not None:
                await outage
            _clear(faults)
        # The faults stop; the re-checks get their chance (a minute at most, as a trader would wait).
        _clear(faults)
        await _wait_until(lambda: not desk.coordinator.unknown(), 90, 0.2)
        await activity.stop()
        # A fresh listing (or the stream) catches up: what is still shown after that is stale.
        await desk.refresh()
        await _wait_until(lambda: not _stale(desk, exchange), 20, 0.2)
        _judge(row, desk, exchange, audit)
    finally:
        row.seconds = time.monotonic() - t0
        with contextlib.suppress(Exception):
            await activity.stop()
        await desk.aclose()
        audit.close()
        await server.stop()
        logging.getLogger().removeHandler(errors)
        loop.set_exception_handler(None)
    row.crashes += len(errors.records) + len(unhandled)
    row.examples.extend(f"logged: {r.getMessage()[:160]}" for r in errors.records[:3])
    row.examples.extend(f"unhandled: {str(c.get('message'))[:160]}" for c in unhandled[:3])
    return row


async def _outage(server: SimServer, host: str, after_s: float, for_s: float) -> None:
    await asyncio.sleep(after_s)
    await server.stop_host(host)
    await asyncio.sleep(for_s)
    await server.start_host(host)


async def _deadman_fires(venue: Venue, case: TransportCase, desk: Desk) -> None:
    """Arm Kraken's dead man's switch for 2 s and let it fire: the table must follow."""
    if not venue.capabilities.deadman:
        return
    with contextlib.suppress(VenueError):
        await venue.arm_deadman(2)
        await asyncio.sleep(3.0)
        await venue.arm_deadman(0)
    log.info("dead man's switch fired on %s; %d rows left", case.name, desk.store.count("acct"))


def _intent(scope: str, orders: Sequence[Order], rng: random.Random) -> CancelIntent | None:
    if not orders:
        return None
    if scope == "single":
        return CancelIntent(Scope.ORDERS, (rng.choice(orders),))
    if scope == "selection":
        k = min(len(orders), rng.randint(2, 160))
        return CancelIntent(Scope.ORDERS, tuple(rng.sample(list(orders), k)))
    if scope == "symbol":
        return CancelIntent(Scope.SYMBOL, account_ids=("acct",), symbol=rng.choice(orders).symbol)
    if scope == "account":
        return CancelIntent(Scope.ACCOUNT, account_ids=("acct",))
    return CancelIntent(Scope.EVERYTHING)


def _clear(faults: Faults) -> None:
    for name in (
        "drop_connection",
        "hang",
        "html_error_page",
        "http_5xx",
        "service_unavailable",
        "rate_limit",
        "throttled",
        "too_many_requests",
        "throttled_no_ts",
        "invalid_session",
        "drop_after_apply",
        "hang_after_apply",
        "http_5xx_after_apply",
        "html_200_after_apply",
        "garbled_after_apply",
        "empty_after_apply",
        "huge_after_apply",
        "lost_reply",
        "duplicate_reply",
        "reorder_replies",
        "skip_sequence",
        "lost_delta",
        "malformed_order",
    ):
        setattr(faults, name, 0)


def _stale(desk: Desk, exchange: Exchange) -> list[Order]:
    """Rows shown that the exchange has closed and the ledger is not still settling."""
    out = []
    for order in desk.store.orders("acct"):
        sim = exchange.book.get_order("acct", order.order_id)
        if sim is not None and sim.status != "open":
            entry = desk.coordinator.entry(order.key)
            if entry is None or not (entry.state.is_open_attempt or entry.state is S.UNKNOWN):
                out.append(order)
    return out


def _judge(row: Row, desk: Desk, exchange: Exchange, audit: AuditLog) -> None:
    truths = exchange.truth.orders("acct")
    for entry in desk.coordinator.entries():
        truth = truths.get(entry.order.order_id)
        status = truth.state if truth is not None else "never known"
        # Cancelled by a request of ours (the console's key), not by activity or the dead man's switch.
        by_us = (
            truth is not None
            and truth.state == "cancelled"
            and truth.ended_by is not None
            and truth.ended_by.kind in ("request", "cancel_all")
        )
        wrong = None
        if entry.state is S.CANCELLED and status != "cancelled":
            row.wrongly_cancelled += 1
            wrong = f"{entry.order.order_id} cancelled in the ledger, {status} at the exchange"
        elif entry.state in (S.FAILED, S.REJECTED) and by_us:
            row.wrongly_failed += 1
            wrong = (
                f"{entry.order.order_id} {entry.state.value} ({entry.reason}) but our request cancelled it"
            )
        elif entry.state is S.FILLED and status == "cancelled":
            row.wrongly_cancelled += 1
            wrong = f"{entry.order.order_id} filled in the ledger, cancelled at the exchange"
        elif entry.state is S.UNKNOWN or entry.state.is_open_attempt:
            row.unknown_left += 1
            wrong = f"{entry.order.order_id} left {entry.state.value}: {entry.reason}"
        if wrong and len(row.examples) < 8:
            row.examples.append(wrong)
        history = audit.history(entry.order.account_id, entry.order.order_id)
        if not history or history[-1][0] != entry.state.value:
            row.audit_missing += 1
    for order in _stale(desk, exchange):
        row.resurrected += 1
        if len(row.examples) < 8:
            sim = exchange.book.get_order("acct", order.order_id)
            row.examples.append(f"{order.order_id} still shown, {sim.status if sim else '?'} at the exchange")


def render(rows: Sequence[Row]) -> str:
    """The table and the summary line."""
    head = (
        "transport",
        "tried",
        "cancelled\nbut open",
        "failed but\ncancelled",
        "unknown\nleft",
        "resurrected",
        "crashes",
        "audit\nmissing",
        "rounds",
        "s",
    )
    lines = [
        "| " + " | ".join(h.replace("\n", " ") for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [
            r.name,
            r.tried,
            r.wrongly_cancelled,
            r.wrongly_failed,
            r.unknown_left,
            r.resurrected,
            r.crashes,
            r.audit_missing,
            r.rounds,
            f"{r.seconds:.0f}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    total = {k: sum(getattr(r, k) for r in rows) for k in ("tried", *Row.WRONG)}
    lines.append("")
    lines.append(
        f"soak: tried {total['tried']}; wrongly cancelled {total['wrongly_cancelled']}; "
        f"wrongly failed {total['wrongly_failed']}; unknown left {total['unknown_left']}; "
        f"resurrected {total['resurrected']}; crashes {total['crashes']}; "
        f"audit missing {total['audit_missing']}"
    )
    return "\n".join(lines)


async def run(per_transport: int, seed: int, only: Sequence[str], min_rounds: int) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kcc-soak-") as tmp:
        for i, case in enumerate(CASES):
            if only and not any(o.lower() in case.name.lower() for o in only):
                continue
            row = await soak_one(case, per_transport, seed + i, Path(tmp), min_rounds)
            print(f"  {case.name}: tried {row.tried} in {row.seconds:.0f} s", file=sys.stderr, flush=True)
            for example in row.examples:
                print(f"    {example}", file=sys.stderr)
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--quick", action="store_true", help="about 2,000 orders per transport (10,000 in all)")
    p.add_argument("--orders", type=int, help="orders to try per transport (default 8,000; --quick 2,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", action="append", default=[], help="transports whose name contains this")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per round")
    p.add_argument(
        "--rounds", type=int, help="at least this many rounds per transport (default: two per fault class)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if args.verbose:
        log.setLevel(logging.INFO)
    per = args.orders or (2000 if args.quick else 8000)
    rows = asyncio.run(run(per, args.seed, args.only, args.rounds or 2 * len(FAULTS)))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
