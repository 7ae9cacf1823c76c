"""``python -m bench.soak [--quick] [-v] [--only X] [--orders N] [--rounds N]``: cancel tens of
thousands of orders on all five transports under every fault class the simulator can inject, then
compare the console's ledger with what the exchange really did (``exchange.truth``).

Per transport it prints a table, one row per fault class and a total: orders tried; marked
cancelled (or gone) while still open at the exchange; marked failed/rejected although our request
had cancelled them; left unknown (or in flight) after the faults stopped and the re-checks had
their time; rows still shown that the exchange had closed (resurrected/stale); crashes (errors the
console logged, exceptions nobody handled, rounds that never finished); ledger endings missing
from the audit log. The last line sums them. Figures are printed, not asserted: the tests keep the
short deterministic cases.

How a transport is soaked: one simulator of its own (only the hosts it needs), one account, one
desk, market activity on (fills, expiries, outside cancels and edits race the cancels). Rounds
pair a fault class with a scope (selection, single order, symbol, account, kill switch, a
selection while the host goes down and comes back, the dead man's switch firing). The first pass
gives every fault class the host takes one round with the fault aimed at cancel requests
(``Faults.scope = "cancels"``), every scope at least once; later passes aim the same faults at
any request (listings, tokens, the confirmations' QueryOrders); extra rounds follow until the
order target is met. Before a round the account must be live again (its stream, not the REST
fallback the desk lists with while it reconnects; F5 when it takes more than a second), so the
fault reaches the transport under test. A listing fault (``malformed_order``) on a streaming
transport rides on the outage, whose reconnect snapshot takes it. After each round the fault must
have fired (``hit``); one that did not is tried once more later. When the rounds end the faults
stop, F5 is pressed, and the background re-checks get up to a minute (full: two) to settle what
is unknown; only then is the ledger judged.

The judge reads every attempt's ending from the audit log, with the time it was written, and the
exchange's book says when each order closed (same clock, same process): an ending is wrong when
it was wrong when written, even if a later attempt on the same order covered it up. ``failed``
is right when the order was still open (nothing applied), whatever fault class was on: a gateway
page can come after a refusal as well as after a cancel (a cancel-all refused because a pair was
over its trading counter, then a 524), and the re-check that finds the order open is the proof.

Why it is fast enough (``--quick``: >= 10,000 orders on all five transports in under 3 minutes
on 2 CPUs; about 2 minutes here), and what it does not give up:

- The transports run at the same time, each in its own process (its own simulator, event loop,
  log capture and crash count): a round that waits out a hang or a rate limit on one transport
  does not hold up the others, a crash is charged to the transport that had it, and both CPUs
  work. ``--jobs 1`` runs them one after the other.
- Only the fault classes a transport's host takes are rounds of its own (a Prime socket cannot
  answer HTTP 524, a REST host has no sequence numbers): the old soak ran every class on every
  transport, two rounds each, so half its rounds faulted nothing.
- The quick run's Spot accounts are Pro tier on both sides (the account's ``spot_tier`` option
  and the simulator's account): Kraken's limits stay on and enforced and the ledger still waits
  when they hold, but fewer seconds go to the REST call counter (QueryOrders confirmations and
  batches cost 1 call each) and to the per-pair trading counter. The full run keeps the
  simulator's default tier (intermediate).
- The quick run's market activity is 5 actions/s (full: 20/s): fills, expiries and outside
  cancels still race every round, with fewer seconds-old orders costing 8 on the pair counter.
- One pass over the fault classes (full: two, one aimed at cancels, one at every request);
  every fault class and every scope is still covered on every transport.
- Request timeouts are the venues' own (10 s): a hang costs what it costs a trader.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.accounts import AccountSpec, Credentials, LinkState, Transport
from app.core.errors import VenueError
from app.core.ledger import CancelState
from app.core.orders import Order, VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.coordinator import CancelReport, LedgerEntry
from app.desk.desk import Desk
from app.sim.faults import FaultKind, Faults
from app.sim.server import HOSTS, SimServer
from app.sim.state import Exchange, MarketActivity
from app.venues.base import Venue
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue

log = logging.getLogger("bench.soak")

S = CancelState
GONE = frozenset({S.CANCELLED, S.ALREADY_GONE, S.FILLED})

# Kinds of fault, by the name of their counter in ``Faults`` (the gateway pages set two fields).
_REST_FAULTS = (
    "drop_connection",
    "hang",
    "html_error_page",
    "http_5xx",
    "service_unavailable",
    "rate_limit",
    "throttled",
    "too_many_requests",
    "throttled_no_ts",
    "drop_after_apply",
    "hang_after_apply",
    "http_504_after_apply",
    "http_524_after_apply",
    "html_200_after_apply",
    "garbled_after_apply",
    "empty_after_apply",
    "huge_after_apply",
    "malformed_order",
)
# What each simulator host takes (docs/SIMULATOR.md, "Faults"); the rest it ignores.
HOST_FAULTS: dict[str, tuple[str, ...]] = {
    "spot_rest": _REST_FAULTS,
    "spot_ws": (
        "drop_connection",
        "service_unavailable",
        "rate_limit",
        "throttled",
        "too_many_requests",
        "throttled_no_ts",
        "invalid_session",
        "drop_after_apply",
        "lost_reply",
        "duplicate_reply",
        "reorder_replies",
        "skip_sequence",
        "lost_delta",
        "malformed_order",
    ),
    "futures": (*_REST_FAULTS, "lost_delta"),
    "prime": ("drop_connection", "skip_sequence", "lost_delta", "malformed_order"),
}
ALL_FAULTS = tuple(dict.fromkeys(f for faults in HOST_FAULTS.values() for f in faults))
NO_FAULT = "none"
COUNTERS = tuple(kind.value for kind in FaultKind)  # every "next N requests" counter


def _counter_of(fault: str) -> str | None:
    """The ``Faults`` counter a fault class sets (None for no fault)."""
    if fault == NO_FAULT:
        return None
    if fault.startswith("http_") and fault.endswith("_after_apply"):
        return "http_5xx_after_apply"
    return fault


def set_fault(faults: Faults, fault: str, *, cancels_only: bool) -> None:
    """Arm one fault class for the next request (``rate_limit`` for the next two)."""
    counter = _counter_of(fault)
    faults.scope = "cancels" if cancels_only else "all"
    if counter is None:
        return
    if counter == "http_5xx_after_apply":
        faults.after_apply_status = int(fault.split("_")[1])
    setattr(faults, counter, 2 if fault == "rate_limit" else 1)


def clear_faults(faults: Faults) -> None:
    """Every counter back to 0, aimed at every request again."""
    for name in COUNTERS:
        setattr(faults, name, 0)
    faults.scope = "all"


def fault_fired(faults: Faults, fault: str) -> bool:
    """Whether the armed fault was taken by a request (all of it, for ``rate_limit``)."""
    counter = _counter_of(fault)
    return counter is None or getattr(faults, counter) == 0


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
# The simulator hosts each transport needs (Spot sockets get their tokens and fall back over REST).
_HOSTS_OF = {"spot_ws": ("spot_rest", "spot_ws")}

CANCEL_SCOPES = ("selection", "single", "symbol", "account", "kill switch", "outage")
DEADMAN = "dead man's switch"
# Later rounds draw scopes like a trader would: mostly selections.
DRAWN_SCOPES = ("selection", "selection", "selection", "single", "symbol", "account", "kill switch", "outage")


@dataclass(frozen=True)
class Round:
    """One planned round: a fault class, a scope, and whether the fault waits for a cancel."""

    fault: str
    scope: str
    cancels_only: bool = True


@dataclass(frozen=True)
class Settings:
    """How hard to soak one transport."""

    orders: int
    passes: int
    min_rounds: int
    tier: str
    activity_per_s: float
    settle_s: float
    round_timeout_s: float = 120.0


def plan_rounds(case: TransportCase, passes: int, rng: random.Random, *, deadman: bool) -> list[Round]:
    """Every fault class the host takes once per pass, every scope at least once per pass.

    The first pass aims faults at cancel requests only, later ones at any request. A listing
    fault on a streaming transport rides on the outage (the reconnect's snapshot takes it).
    """
    streaming = case.host != "spot_rest"
    faults = [NO_FAULT, *HOST_FAULTS[case.host]]
    rounds: list[Round] = []
    for p in range(passes):
        scopes = list(CANCEL_SCOPES)
        while len(scopes) < len(faults):
            scopes.append(rng.choice(DRAWN_SCOPES))
        rng.shuffle(scopes)
        order = list(faults)
        while len(order) < len(scopes):
            order.append(NO_FAULT)
        rng.shuffle(order)
        if streaming and "malformed_order" in order:
            # Give the malformed listing the outage's slot (swap scopes with whoever had it).
            i, j = order.index("malformed_order"), scopes.index("outage")
            scopes[i], scopes[j] = scopes[j], scopes[i]
        rounds.extend(Round(f, s, cancels_only=p == 0) for f, s in zip(order, scopes, strict=True))
        if deadman:
            rounds.insert(rng.randrange(len(rounds) + 1), Round(NO_FAULT, DEADMAN))
    return rounds


@dataclass
class Cell:
    """The figures of one fault class (or of a whole transport)."""

    tried: int = 0
    rounds: int = 0
    hit: int = 0
    wrongly_cancelled: int = 0
    wrongly_failed: int = 0
    unknown_left: int = 0
    resurrected: int = 0
    crashes: int = 0
    audit_missing: int = 0

    WRONG = ("wrongly_cancelled", "wrongly_failed", "unknown_left", "resurrected", "crashes", "audit_missing")

    def add(self, other: Cell) -> None:
        for name in ("tried", "rounds", "hit", *self.WRONG):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Row:
    """One transport's results: per fault class, and the examples of what went wrong."""

    name: str
    by_fault: dict[str, Cell] = field(default_factory=dict)
    seconds: float = 0.0
    settle_s: float = 0.0
    endings: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    scopes: Counter[str] = field(default_factory=Counter)

    def cell(self, fault: str) -> Cell:
        return self.by_fault.setdefault(fault, Cell())

    @property
    def total(self) -> Cell:
        out = Cell()
        for c in self.by_fault.values():
            out.add(c)
        return out

    def note(self, text: str) -> None:
        if len(self.examples) < 12:
            self.examples.append(text)


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


async def soak_one(case: TransportCase, settings: Settings, seed: int, workdir: Path) -> Row:
    """Soak one transport: the planned rounds, then more until ``settings.orders`` were tried."""
    row = Row(case.name)
    rng = random.Random(seed)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    exchange = Exchange(seed=seed, rate_limits=True)
    account = exchange.add_account("acct", case.kind.value, tier=settings.tier)
    hosts = [h for h in HOSTS if h.name in _HOSTS_OF.get(case.host, (case.host,))]
    server = SimServer(exchange, Faults(), hosts=hosts)
    endpoints = await server.start()
    activity = MarketActivity(
        exchange, random.Random(seed + 1), rate_per_s=settings.activity_per_s, accounts=["acct"]
    )
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
    plan = plan_rounds(case, settings.passes, rng, deadman=venue.capabilities.deadman)
    round_of: dict[str, str] = {}  # attempt id -> fault class of its round
    t0 = time.monotonic()
    try:
        exchange.demo.generate_orders("acct", 400, rng)
        desk.add_account(spec, venue)
        waits: set[str] = set()
        current = [NO_FAULT]  # the fault class of the round running now

        def moved(entries: list[LedgerEntry]) -> None:
            for e in entries:
                round_of.setdefault(e.attempt, current[0])  # a new attempt: this round's
                if e.state in (S.WAITING, S.UNKNOWN):
                    waits.add(f"{e.state.value}: {e.reason}")

        desk.coordinator.transitioned.connect(moved)
        await _wait_until(lambda: desk.store.count("acct") > 0, 20)
        activity.start()
        n = 0
        tried = 0
        retried: set[str] = set()
        while n < len(plan) or tried < settings.orders or n < settings.min_rounds:
            rnd = plan[n] if n < len(plan) else _drawn(case, rng)
            n += 1
            if exchange.book.open_count("acct") < 300:
                exchange.demo.generate_orders("acct", 300, rng)
                await asyncio.sleep(0.3)  # let the listing or stream show them
            # The table shows orders again (after a kill switch, the next listing brings them),
            # and the link is back from the last round's fault: this round's fault must reach
            # the transport under test, not the REST fallback a cancel takes while it reconnects.
            await _wait_until(lambda: desk.store.count("acct") >= 100, 10)
            await _ready(desk)
            cell = row.cell(rnd.fault if rnd.scope != DEADMAN else DEADMAN)
            cell.rounds += 1
            row.scopes[rnd.scope] += 1
            if rnd.scope == DEADMAN:
                cell.hit += await _deadman_fires(venue, case, desk)
                # The table follows what Kraken's switch cancelled (the stream, or the next poll).
                if not await _wait_until(lambda: not _stale(desk, exchange), 10.0, 0.1):
                    row.note(f"round {n}: rows the dead man's switch cancelled still shown after 10 s")
                continue
            outage = None
            scope = rnd.scope
            if scope == "outage":
                # The venue goes away mid-cancel and comes back on the same port.
                outage = asyncio.create_task(_outage(server, case.host, rng.uniform(0.0, 0.05), 1.5))
                scope = "selection"
            intent = _intent(scope, desk.store.orders("acct"), rng)
            if intent is None:
                row.note(f"round {n}: nothing listed to cancel")
                await asyncio.sleep(1.0)
                continue
            cancel_plan = desk.plan(intent)
            tried += cancel_plan.order_count
            cell.tried += cancel_plan.order_count
            over = getattr(venue, "cancel_transport", None)  # a Spot account: which way it cancels
            set_fault(faults, rnd.fault, cancels_only=rnd.cancels_only)
            started = time.monotonic()
            waits.clear()
            current[0] = rnd.fault
            report: CancelReport | None = None
            try:
                async with asyncio.timeout(settings.round_timeout_s):
                    if rnd.scope == "kill switch":
                        # The window's kill switch itself: waves re-sent until clean, no hold.
                        kill = await desk.kill_switch(0.0, ["acct"]).start()
                        log.info(
                            "%s: round %d kill switch under %s: %d waves, %s, %.1f s",
                            case.name,
                            n,
                            rnd.fault,
                            kill.waves,
                            kill.summary(),
                            time.monotonic() - started,
                        )
                    else:
                        report = await desk.cancel(intent, cancel_plan)
            except TimeoutError:
                cell.crashes += 1
                limit = settings.round_timeout_s
                row.note(f"round {n}: {rnd.scope} under {rnd.fault} did not finish in {limit:g} s")
            if outage is not None:
                await outage
            # The fault must have fired on this round (a stream fault waits for the next update,
            # a listing fault for the next snapshot: F5 after the outage brings it at once).
            if outage is not None:
                await _ready(desk)
            fired = await _wait_until(functools.partial(fault_fired, faults, rnd.fault), 5.0)
            cell.hit += fired
            if not fired and n <= len(plan) and rnd.fault not in retried:
                # Taken by nothing (the outage came first, the link was away): once more, later.
                retried.add(rnd.fault)
                plan.append(Round(rnd.fault, "selection", rnd.cancels_only))
            if report is not None:
                if waits and time.monotonic() - started > 5:
                    log.info("%s:   waits: %s", case.name, "; ".join(sorted(waits)[:6]))
                log.info(
                    "%s: round %d %s under %s%s%s%s: %d orders, %s, %.1f s",
                    case.name,
                    n,
                    rnd.scope,
                    rnd.fault,
                    f" over {over}" if over else "",
                    "" if rnd.cancels_only else " (any request)",
                    "" if fired else " (did not fire)",
                    cancel_plan.order_count,
                    report.summary(),
                    time.monotonic() - started,
                )
                why = Counter(
                    f"{e.state.value}: {e.reason}"
                    for e in desk.coordinator.entries()
                    if e.attempt == report.attempt and e.state in (S.UNKNOWN, S.FAILED, S.REJECTED)
                )
                for text, k in why.most_common(3):
                    log.info("%s:   %d %s", case.name, k, text)
            clear_faults(faults)
        # The faults stop; the trader presses F5; the re-checks get their time.
        clear_faults(faults)
        settle0 = time.monotonic()
        await desk.refresh()
        await _wait_until(lambda: not desk.coordinator.unknown(), settings.settle_s, 0.1)
        row.settle_s = time.monotonic() - settle0
        await activity.stop()
        # A fresh listing (or the stream) catches up: what is still shown after that is stale.
        await desk.refresh()
        await _wait_until(lambda: not _stale(desk, exchange), 20, 0.1)
        _judge(row, desk, exchange, audit, round_of)
        sent = Counter(a.path.rsplit("/", 1)[-1] for a in exchange.arrivals)
        log.info("%s: requests: %s", case.name, ", ".join(f"{p} {k}" for p, k in sent.most_common()))
    finally:
        row.seconds = time.monotonic() - t0
        with contextlib.suppress(Exception):
            await activity.stop()
        await desk.aclose()
        audit.close()
        await server.stop()
        logging.getLogger().removeHandler(errors)
        loop.set_exception_handler(None)
    crashes = row.cell("(crashes)")
    crashes.crashes += len(errors.records) + len(unhandled)
    for r in errors.records[:3]:
        row.note(f"logged: {r.getMessage()[:200]}")
    for c in unhandled[:3]:
        row.note(f"unhandled: {c.get('message')}: {_where(c)}")
    if not crashes.crashes:
        del row.by_fault["(crashes)"]
    return row


async def _ready(desk: Desk) -> bool:
    """Wait until the account's stream is live again (a polled account: listed); F5 if it takes
    more than a second. While a stream reconnects the desk lists over REST and says POLLING."""
    want = LinkState.LIVE if desk.venues["acct"].capabilities.streaming else LinkState.POLLING

    def up() -> bool:
        st = desk.status.get("acct")
        return st is not None and st.link is want

    if await _wait_until(up, 1.0):
        return True
    await desk.refresh()
    return await _wait_until(up, 15.0)


def _where(context: dict[str, Any]) -> str:
    """The exception of an unhandled-error context and the frame it came from."""
    exc = context.get("exception")
    if not isinstance(exc, BaseException):
        return str(context.get("future") or context.get("task") or "")[:200]
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    ours = [f for f in frames if "/app/" in f.filename]
    if ours:
        at += f" (from {ours[-1].filename.split('/app/')[-1]}:{ours[-1].lineno})"
    return f"{exc!r}{at}"


def _drawn(case: TransportCase, rng: random.Random) -> Round:
    """An extra round: any fault class of the host, a scope a trader would pick, any request."""
    fault = rng.choice([NO_FAULT, *HOST_FAULTS[case.host]])
    scope = rng.choice(DRAWN_SCOPES)
    if fault == "malformed_order" and case.host != "spot_rest":
        scope = "outage"
    return Round(fault, scope, cancels_only=False)


async def _outage(server: SimServer, host: str, after_s: float, for_s: float) -> None:
    await asyncio.sleep(after_s)
    await server.stop_host(host)
    await asyncio.sleep(for_s)
    await server.start_host(host)


async def _deadman_fires(venue: Venue, case: TransportCase, desk: Desk) -> bool:
    """Arm Kraken's dead man's switch for 2 s and let it fire: the table must follow."""
    if not venue.capabilities.deadman:
        return False
    try:
        await venue.arm_deadman(2)
        await asyncio.sleep(3.0)
        await venue.arm_deadman(0)
    except VenueError as e:
        log.info("%s: dead man's switch: %s", case.name, e)
        return False
    log.info("%s: dead man's switch fired; %d rows left", case.name, desk.store.count("acct"))
    return True


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


def _judge(row: Row, desk: Desk, exchange: Exchange, audit: AuditLog, round_of: dict[str, str]) -> None:
    """Every ending the ledger ever gave, against what the exchange had done by then; then what
    is still unknown, the audit log's last word, and stale rows.

    Each attempt's ending comes from the audit log (a later attempt on the same order must not
    hide an earlier wrong word the trader saw), with the time it was written; the exchange's
    book says when each order closed (same clock, same process). An order counts once per column.
    """
    truths = exchange.truth.orders("acct")
    wrong: dict[str, dict[str, str]] = {"wrongly_cancelled": {}, "wrongly_failed": {}}

    def closed_at(order_id: str) -> float | None:
        sim = exchange.book.get_order("acct", order_id)
        return sim.closed_at if sim is not None and sim.status != "open" else None

    with contextlib.closing(sqlite3.connect(f"file:{audit.path}?mode=ro", uri=True)) as db:
        endings = db.execute(
            "SELECT attempt, order_id, state, reason, at FROM transitions WHERE id IN"
            " (SELECT MAX(id) FROM transitions WHERE account = 'acct' GROUP BY attempt, order_id)"
        ).fetchall()
    for attempt, oid, state_text, reason, at in endings:
        state = CancelState(state_text)
        truth = truths.get(oid)
        status = truth.state if truth is not None else "never known"
        ended = closed_at(oid)
        gone_then = ended is not None and ended <= at
        # Cancelled by a request of ours (the console's key), not by activity or the dead man's switch.
        by_us = (
            truth is not None
            and truth.state == "cancelled"
            and truth.ended_by is not None
            and truth.ended_by.kind in ("request", "cancel_all")
        )
        column = why = None
        then = status if gone_then else "open" if status == "open" else f"still open ({status} later)"
        if state is S.CANCELLED and not (gone_then and status == "cancelled"):
            column, why = "wrongly_cancelled", f"cancelled in the ledger, {then} at the exchange"
        elif state in GONE and not gone_then:
            column, why = (
                "wrongly_cancelled",
                f"{state.value} ({reason}) in the ledger, {then} at the exchange",
            )
        elif state is S.FILLED and status == "cancelled":
            column, why = "wrongly_cancelled", "filled in the ledger, cancelled at the exchange"
        elif state in (S.FAILED, S.REJECTED) and by_us and gone_then:
            column, why = "wrongly_failed", f"{state.value} ({reason}) but our request had cancelled it"
        if column is not None and oid not in wrong[column]:
            wrong[column][oid] = attempt
            row.note(f"[{round_of.get(attempt, '?')}] {oid} {why}")
    for column, orders in wrong.items():
        for attempt in orders.values():
            cell = row.cell(round_of.get(attempt, "(no round)"))
            setattr(cell, column, getattr(cell, column) + 1)
    for entry in desk.coordinator.entries():
        row.endings[entry.state.value] += 1
        cell = row.cell(round_of.get(entry.attempt, "(no round)"))
        oid = entry.order.order_id
        if entry.state is S.UNKNOWN or entry.state.is_open_attempt:
            cell.unknown_left += 1
            status = truths[oid].state if oid in truths else "never known"
            where = round_of.get(entry.attempt, "?")
            row.note(f"[{where}] {oid} left {entry.state.value}: {entry.reason} ({status} at the exchange)")
        history = audit.history(entry.order.account_id, oid)
        if not history or history[-1][0] != entry.state.value:
            cell.audit_missing += 1
            row.note(f"{oid}: audit ends {history[-1] if history else None}, ledger {entry.state.value}")
    for order in _stale(desk, exchange):
        row.cell("(stale rows)").resurrected += 1
        sim = exchange.book.get_order("acct", order.order_id)
        row.note(f"{order.order_id} still shown, {sim.status if sim else '?'} at the exchange")


# --------------------------------------------------------------------------- the tables

_HEAD = (
    "fault class",
    "rounds",
    "hit",
    "tried",
    "cancelled but open",
    "failed but cancelled",
    "unknown left",
    "resurrected",
    "crashes",
    "audit missing",
)


def _cells(label: str, c: Cell) -> list[str]:
    return [
        label,
        str(c.rounds),
        str(c.hit),
        str(c.tried),
        *(str(getattr(c, k)) for k in Cell.WRONG),
    ]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(head), sep, *(line(r) for r in rows)]


def render(rows: Sequence[Row]) -> str:
    """One table per transport (a row per fault class, then the total) and the summary line."""
    out: list[str] = []
    totals = Cell()
    order = {f: i for i, f in enumerate((NO_FAULT, *ALL_FAULTS, DEADMAN))}
    for r in rows:
        total = r.total
        totals.add(total)
        scopes = ", ".join(f"{s} {n}" for s, n in sorted(r.scopes.items()))
        endings = ", ".join(f"{s} {n}" for s, n in sorted(r.endings.items()))
        out.append(
            f"{r.name}: {total.tried} orders in {total.rounds} rounds, {r.seconds:.0f} s "
            f"(re-checks settled {r.settle_s:.1f} s after the faults stopped)"
        )
        out.append(f"  scopes: {scopes}")
        out.append(f"  endings: {endings}")
        cells = [
            _cells(name, c)
            for name, c in sorted(r.by_fault.items(), key=lambda kv: (order.get(kv[0], 999), kv[0]))
        ]
        out.extend(_table(_HEAD, [*cells, _cells("total", total)]))
        out.append("")
    out.append(
        f"soak: tried {totals.tried}; wrongly cancelled {totals.wrongly_cancelled}; "
        f"wrongly failed {totals.wrongly_failed}; unknown left {totals.unknown_left}; "
        f"resurrected {totals.resurrected}; crashes {totals.crashes}; "
        f"audit missing {totals.audit_missing}"
    )
    return "\n".join(out)


# --------------------------------------------------------------------------- running


def _run_case(case: TransportCase, settings: Settings, seed: int, workdir: str, verbose: bool) -> Row:
    """One transport, in its own process (or inline with ``--jobs 1``)."""
    _configure_logging(verbose)
    return asyncio.run(soak_one(case, settings, seed, Path(workdir)))


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbose:
        log.setLevel(logging.INFO)
        # Each action's summary and time, and each kill-switch wave that was not clean: what a
        # slow round is made of (a round over its limit is otherwise only a count).
        for name in ("app.desk.coordinator", "app.desk.killswitch"):
            logging.getLogger(name).setLevel(logging.INFO)
    for name in os.environ.get("SOAK_LOG", "").split(","):
        if name:
            logging.getLogger(name).setLevel(logging.INFO)


def run(cases: Sequence[TransportCase], settings: Settings, seed: int, jobs: int, verbose: bool) -> list[Row]:
    """Soak each transport (``jobs`` at a time, each in its own process) and collect the rows."""
    rows: dict[str, Row] = {}

    def done(case: TransportCase, row: Row) -> None:
        total = row.total
        print(f"  {case.name}: tried {total.tried} in {row.seconds:.0f} s", file=sys.stderr, flush=True)
        for example in row.examples:
            print(f"    {example}", file=sys.stderr)
        rows[case.name] = row

    with tempfile.TemporaryDirectory(prefix="kcc-soak-") as tmp:
        # Each transport's seed is fixed by its place in CASES: --only replays the same rounds.
        if jobs <= 1:
            for case in cases:
                done(case, _run_case(case, settings, seed + CASES.index(case), tmp, verbose))
        else:
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futures = {
                    pool.submit(_run_case, case, settings, seed + CASES.index(case), tmp, verbose): case
                    for case in cases
                }
                for fut in concurrent.futures.as_completed(futures):
                    done(futures[fut], fut.result())
    return [rows[c.name] for c in cases if c.name in rows]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="2,000 orders per transport (10,000 in all), ~2 min")
    p.add_argument("--orders", type=int, help="orders to try per transport (default 8,000; --quick 2,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", action="append", default=[], help="transports whose name contains this")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per round")
    p.add_argument("--rounds", type=int, default=0, help="at least this many rounds per transport")
    p.add_argument(
        "--passes", type=int, help="rounds per fault class (default 2: cancels, then any request; --quick 1)"
    )
    p.add_argument("--tier", choices=("starter", "intermediate", "pro"), help="Spot tier (quick: pro)")
    p.add_argument("--activity", type=float, help="market actions per second (default 20; --quick 5)")
    p.add_argument("--jobs", type=int, default=len(CASES), help="transports soaked at once (processes)")
    args = p.parse_args(argv)
    _configure_logging(args.verbose)
    settings = Settings(
        orders=args.orders or (2000 if args.quick else 8000),
        passes=args.passes or (1 if args.quick else 2),
        min_rounds=args.rounds,
        tier=args.tier or ("pro" if args.quick else "intermediate"),
        activity_per_s=args.activity if args.activity is not None else (5.0 if args.quick else 20.0),
        settle_s=60.0 if args.quick else 120.0,
    )
    cases = [c for c in CASES if not args.only or any(o.lower() in c.name.lower() for o in args.only)]
    started = time.monotonic()
    rows = run(cases, settings, args.seed, max(1, min(args.jobs, len(cases))), args.verbose)
    print(render(rows))
    print(f"(wall time {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
