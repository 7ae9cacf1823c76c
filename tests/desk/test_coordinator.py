"""The cancel coordinator alone: every ledger path against a scripted venue, on a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.core.errors import (
    AuthError,
    MalformedReply,
    PermissionDenied,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope
from app.desk.audit import AuditLog
from app.desk.coordinator import CancelCoordinator, CancelReport, LedgerEntry
from app.desk.store import OrderStore
from app.venues.base import CancelReply, Venue
from tests.helpers.fakes import EPOCH, FakeClock, ScriptedVenue, make_order, settle

S = CancelState
CANCELLED = Outcome(S.CANCELLED)
RATE_LIMITED = "EAPI:Rate limit exceeded"


class Rig:
    """A coordinator over a real store and audit log, scripted venues and a fake clock."""

    def __init__(self, audit_path: Path) -> None:
        self.clock = FakeClock(autojump=True)
        self.store = OrderStore()
        self.audit = AuditLog(audit_path, clock=self.clock.time)
        self.audit_path = audit_path
        self.venues: dict[str, Venue] = {}
        # Re-checks of unknown orders run on their own clock: they move only when a test says.
        self.recheck_clock = FakeClock()
        self.coordinator = CancelCoordinator(
            self.store,
            self.venues,
            self.audit,
            clock=self.clock.monotonic,
            wall_clock=self.clock.time,
            sleep=self.clock.sleep,
            recheck_wait=self.recheck_clock.wait_for_wake,
        )
        self.moves: list[list[LedgerEntry]] = []
        self.reports: list[CancelReport] = []
        self.coordinator.transitioned.connect(self.moves.append)
        self.coordinator.settled.connect(self.reports.append)

    def venue(self, account: str = "spot", n: int = 1, *, latency_s: float = 0.0) -> ScriptedVenue:
        """Connect a scripted venue with ``n`` open orders (O1..On), listed in the store."""
        venue = ScriptedVenue(account, clock=self.clock, latency_s=latency_s)
        venue.book = [make_order(i, account=account) for i in range(1, n + 1)]
        self.store.upsert(venue.book)
        self.venues[account] = venue
        return venue

    async def cancel(self, *orders: Order) -> CancelReport:
        return await self.coordinator.cancel(CancelIntent(Scope.ORDERS, orders))

    def state(self, order: Order) -> tuple[CancelState, str | None]:
        entry = self.coordinator.entry(order.key)
        assert entry is not None
        return entry.state, entry.reason

    def states(self, order: Order) -> list[str]:
        """Every state the audit log holds for ``order``, oldest first."""
        return [s for s, _ in self.audit.history(order.account_id, order.order_id)]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path / "audit.sqlite3")
    try:
        yield r
    finally:
        await r.coordinator.aclose()
        r.audit.close()


def test_the_scripted_venue_is_a_venue() -> None:
    assert isinstance(ScriptedVenue(), Venue)


# --- the venue answers per order ------------------------------------------------------------


async def test_per_order_replies_settle_each_order_as_the_venue_said(rig: Rig) -> None:
    venue = rig.venue(n=4)
    o1, o2, o3, o4 = venue.book
    venue.replies.append(
        CancelReply(
            {
                "O1": Outcome(S.CANCELLED),
                "O2": Outcome(S.ALREADY_GONE, "EOrder:Unknown order"),
                "O3": Outcome(S.FILLED, "filled"),
                "O4": Outcome(S.REJECTED, "EOrder:Cannot cancel"),
            }
        )
    )
    report = await rig.cancel(o1, o2, o3, o4)
    assert [r.form for r in venue.executed] == [RequestForm.BATCH]
    assert venue.confirmed == []  # every order named: nothing to re-check
    assert rig.state(o1) == (S.CANCELLED, None)
    assert rig.state(o2) == (S.ALREADY_GONE, "EOrder:Unknown order")
    assert rig.state(o3) == (S.FILLED, "filled")
    assert rig.state(o4) == (S.REJECTED, "EOrder:Cannot cancel")
    # Gone orders leave the table; a refused one stays, its outcome beside it.
    assert [o.order_id for o in rig.store.orders()] == ["O4"]
    assert rig.store.outcome(o4.key) == Outcome(S.REJECTED, "EOrder:Cannot cancel")
    assert rig.states(o1) == ["queued", "sent", "cancelled"]
    assert rig.audit.history("spot", "O4") == [
        ("queued", None),
        ("sent", None),
        ("rejected", "EOrder:Cannot cancel"),
    ]
    assert report.counts == Counter({S.CANCELLED: 1, S.ALREADY_GONE: 1, S.FILLED: 1, S.REJECTED: 1})
    assert (report.requests, report.orders, report.errors) == (1, 4, [])


async def test_an_order_the_reply_does_not_name_is_acknowledged_then_confirmed(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.replies.append(CancelReply({"O1": Outcome(S.CANCELLED)}))
    venue.confirms.append({"O2": Outcome(S.CANCELLED)})
    await rig.cancel(o1, o2)
    assert venue.confirmed == [["O2"]]
    assert rig.states(o1) == ["queued", "sent", "cancelled"]
    assert rig.states(o2) == ["queued", "sent", "acknowledged", "cancelled"]


# --- a bare count ---------------------------------------------------------------------------


async def test_a_bare_count_is_confirmed_order_by_order(rig: Rig) -> None:
    venue = rig.venue(n=3)
    o1, o2, o3 = venue.book
    venue.replies.append(CancelReply(count=3))
    venue.confirms.append(
        {"O1": Outcome(S.CANCELLED), "O2": Outcome(S.FILLED), "O3": Outcome(S.FAILED, "still open")}
    )
    report = await rig.cancel(o1, o2, o3)
    assert venue.confirmed == [["O1", "O2", "O3"]]
    assert rig.state(o1) == (S.CANCELLED, None)
    assert rig.state(o2) == (S.FILLED, None)
    assert rig.state(o3) == (S.FAILED, "still open")
    assert rig.states(o1) == ["queued", "sent", "acknowledged", "cancelled"]
    assert rig.states(o3) == ["queued", "sent", "acknowledged", "failed"]
    assert rig.store.outcome(o3.key) == Outcome(S.FAILED, "still open")
    assert report.counts == Counter({S.CANCELLED: 1, S.FILLED: 1, S.FAILED: 1})


async def test_an_order_the_recheck_does_not_name_is_rechecked_until_known(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.replies.append(CancelReply(count=2))
    venue.confirms.append({"O1": Outcome(S.CANCELLED)})
    await rig.cancel(o1, o2)
    assert rig.state(o2) == (S.UNKNOWN, "venue did not say; re-checking")
    assert rig.states(o2) == ["queued", "sent", "acknowledged", "unknown"]
    assert o2.key in rig.store  # never claimed gone
    # The background re-check asks again with back-off; every round is audited.
    await rig.recheck_clock.advance(0.5)  # round 1: still nothing said
    assert venue.confirmed[-1] == ["O2"]
    assert rig.state(o2) == (S.UNKNOWN, "re-check 1: Kraken did not say yet")
    venue.confirms.append({"O2": Outcome(S.FILLED, "filled")})
    await rig.recheck_clock.advance(1.0)  # round 2: Kraken says
    assert rig.state(o2) == (S.FILLED, "filled") and o2.key not in rig.store
    assert rig.states(o2) == ["queued", "sent", "acknowledged", "unknown", "unknown", "filled"]
    assert rig.recheck_clock.waits[:2] == [0.5, 1.0]


# --- the effect is unknown ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [TransportError("connection dropped"), MalformedReply("connection dropped")], ids=type
)
async def test_an_unknown_effect_is_unknown_then_rechecked(rig: Rig, error: VenueError) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.replies.append(error)
    venue.confirms.append({"O1": Outcome(S.CANCELLED), "O2": Outcome(S.FAILED, "still open")})
    report = await rig.cancel(o1, o2)
    assert venue.confirmed == [["O1", "O2"]]
    assert rig.states(o1) == ["queued", "sent", "unknown", "cancelled"]
    assert rig.audit.history("spot", "O2")[2:] == [
        ("unknown", "connection dropped"),
        ("failed", "still open"),
    ]
    assert report.errors == ["connection dropped"]
    assert report.counts == Counter({S.CANCELLED: 1, S.FAILED: 1})


@pytest.mark.parametrize("error", [TransportError("timed out"), RuntimeError("timed out")], ids=type)
async def test_a_failed_recheck_leaves_the_order_unknown(rig: Rig, error: Exception) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(TransportError("connection dropped"))
    venue.confirms.append(error)
    report = await rig.cancel(o1)
    # Still unknown: a failed re-check adds nothing it knows, but it is written down.
    assert rig.state(o1) == (S.UNKNOWN, "re-check failed: timed out")
    assert rig.states(o1) == ["queued", "sent", "unknown", "unknown"]
    assert report.errors == ["connection dropped", "re-check failed: timed out"]
    assert o1.key in rig.store
    # ...and is never abandoned: the background re-check finds out.
    venue.confirms.append({"O1": Outcome(S.CANCELLED, "User requested")})
    await rig.recheck_clock.advance(0.5)
    assert rig.state(o1) == (S.CANCELLED, "User requested")


async def test_a_count_whose_recheck_fails_is_unknown(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(CancelReply(count=1))
    venue.confirms.append(TransportError("timed out"))
    report = await rig.cancel(o1)
    assert rig.state(o1) == (S.UNKNOWN, "re-check failed: timed out")
    assert rig.states(o1) == ["queued", "sent", "acknowledged", "unknown"]
    assert report.counts == Counter({S.UNKNOWN: 1})


async def test_an_internal_error_in_the_venue_is_unknown_then_rechecked(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(KeyError("txid"))
    venue.confirms.append({"O1": Outcome(S.CANCELLED)})
    with caplog.at_level(logging.ERROR, "app.desk.coordinator"):
        report = await rig.cancel(o1)
    assert rig.audit.history("spot", "O1")[2] == ("unknown", "internal error: KeyError")
    assert rig.state(o1) == (S.CANCELLED, None)
    assert report.errors == ["internal error: KeyError('txid')"]
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


# --- rate limits ----------------------------------------------------------------------------


async def test_a_rate_limit_waits_with_a_doubling_backoff_then_sends_again(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.extend([RateLimited(RATE_LIMITED)] * 3)
    report = await rig.cancel(o1)
    assert len(venue.executed) == 4
    assert rig.clock.sleeps == [0.25, 0.5, 1.0]
    assert rig.state(o1) == (S.CANCELLED, None)
    # Refused for the limit means nothing applied: "waiting" with the ETA, never "failed".
    assert rig.states(o1) == [
        "queued",
        "sent",
        "waiting",
        "sent",
        "waiting",
        "sent",
        "waiting",
        "sent",
        "cancelled",
    ]
    assert rig.audit.history("spot", "O1")[2] == (
        "waiting",
        f"waiting: Kraken's rate limit ({RATE_LIMITED}), ~1 s",
    )
    assert report.errors == [] and report.rate_waits == 3


async def test_a_rate_limit_waits_as_long_as_the_venue_says(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.extend([RateLimited("EService: Throttled", retry_after=2.5), RateLimited(RATE_LIMITED)])
    await rig.cancel(o1)
    # The venue's wait first; then, unsaid, the back-off of the second try.
    assert rig.clock.sleeps == [2.5, 0.5]
    assert rig.state(o1) == (S.CANCELLED, None)


async def test_a_rate_limit_until_the_retries_run_out_fails(rig: Rig) -> None:
    venue = rig.venue(n=2)
    venue.replies.extend([RateLimited("too fast", venue_error=RATE_LIMITED)] * 30)
    report = await rig.cancel(*venue.book)
    assert len(venue.executed) == 30  # the first try and 29 more
    assert rig.clock.sleeps[:4] == [0.25, 0.5, 1.0, 2.0] and max(rig.clock.sleeps) == 30.0
    for o in venue.book:
        assert rig.state(o) == (S.FAILED, f"rate limited 30 times: {RATE_LIMITED}")
        assert rig.states(o)[-1] == "failed"
        assert o.key in rig.store
    assert venue.confirmed == []
    assert report.errors == ["too fast"]
    assert report.counts == Counter({S.FAILED: 2})


async def test_the_retry_count_and_backoff_are_the_coordinators_to_set(rig: Rig) -> None:
    venue = rig.venue(n=1)
    coordinator = CancelCoordinator(
        rig.store, rig.venues, rig.audit, max_retries=2, backoff_s=0.1, sleep=rig.clock.sleep
    )
    venue.replies.extend([RateLimited(RATE_LIMITED)] * 2)
    await coordinator.cancel(CancelIntent(Scope.ORDERS, tuple(venue.book)))
    assert rig.clock.sleeps == [0.1]
    assert coordinator.entry(venue.book[0].key).state is S.FAILED  # type: ignore[union-attr]


# --- refused, or never processed ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (VenueRejected("refused", venue_error="EOrder:Invalid order"), "EOrder:Invalid order"),
        (PermissionDenied("no cancel permission"), "no cancel permission"),
        (AuthError("bad key", venue_error="EAPI:Invalid key"), "EAPI:Invalid key"),
    ],
    ids=["rejected", "permission", "auth"],
)
async def test_a_rejection_is_rejected_with_the_venues_words(
    rig: Rig, error: VenueError, reason: str
) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(error)
    report = await rig.cancel(o1)
    assert rig.state(o1) == (S.REJECTED, reason)
    assert rig.audit.history("spot", "O1") == [("queued", None), ("sent", None), ("rejected", reason)]
    assert venue.confirmed == []
    assert rig.store.outcome(o1.key) == Outcome(S.REJECTED, reason)
    assert report.errors == [str(error)]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (VenueUnavailable("maintenance", venue_error="EService:Unavailable"), "EService:Unavailable"),
        (VenueUnavailable("HTTP 503"), "HTTP 503"),
        (VenueError("connection refused"), "connection refused"),
    ],
    ids=["unavailable", "http", "refused"],
)
async def test_a_request_never_processed_fails(rig: Rig, error: VenueError, reason: str) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(error)
    report = await rig.cancel(o1)
    assert rig.state(o1) == (S.FAILED, reason)
    assert rig.states(o1) == ["queued", "sent", "failed"]
    assert venue.confirmed == []
    assert o1.key in rig.store
    assert report.counts == Counter({S.FAILED: 1})


async def test_an_account_not_connected_fails_its_orders(rig: Rig) -> None:
    venue = rig.venue(n=2)
    intent = CancelIntent(Scope.ORDERS, tuple(venue.book))
    plan = rig.coordinator.plan(intent)  # shown in a confirmation...
    del rig.venues["spot"]  # ...while the account was removed
    report = await rig.coordinator.cancel(intent, plan)
    assert venue.executed == []
    for o in venue.book:
        assert rig.state(o) == (S.FAILED, "account not connected")
        assert rig.states(o) == ["queued", "failed"]
    assert report.counts == Counter({S.FAILED: 2})


async def test_orders_of_an_account_never_connected_plan_nothing(rig: Rig) -> None:
    stranger = make_order(1, account="elsewhere")
    report = await rig.cancel(stranger)
    assert (report.requests, report.orders, report.summary()) == (0, 0, "nothing to cancel")
    assert rig.coordinator.entry(stranger.key) is None
    assert rig.audit.history("elsewhere", "O1") == []


# --- the stream's word ----------------------------------------------------------------------


async def test_a_stream_removal_settles_an_order_in_flight(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.hold = asyncio.Event()
    venue.replies.append(CancelReply(count=2))
    venue.confirms.append({"O2": Outcome(S.CANCELLED)})
    task = asyncio.create_task(rig.cancel(o1, o2))
    await settle()
    assert rig.state(o1) == (S.SENT, None)
    # The stream says O1 left with a cancel reason while the request is still out.
    rig.coordinator.observe_removals([(o1, Outcome(S.CANCELLED, "User requested"))])
    assert rig.state(o1) == (S.CANCELLED, "User requested")
    assert o1.key not in rig.store
    venue.hold.set()
    report = await task
    # The count that follows cannot unsettle it, and only O2 needs a re-check.
    assert rig.states(o1) == ["queued", "sent", "cancelled"]
    assert venue.confirmed == [["O2"]]
    assert report.counts == Counter({S.CANCELLED: 2})


async def test_a_stream_removal_settles_an_unknown_order(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(TransportError("connection dropped"))
    venue.confirms.append(TransportError("timed out"))
    await rig.cancel(o1)
    assert rig.state(o1)[0] is S.UNKNOWN
    rig.coordinator.observe_removal(o1, Outcome(S.FILLED, "filled"))
    assert rig.state(o1) == (S.FILLED, "filled")
    assert rig.states(o1) == ["queued", "sent", "unknown", "unknown", "filled"]
    assert o1.key not in rig.store


async def test_a_stream_removal_without_a_cancel_in_flight_writes_nothing(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.replies.append(VenueRejected("refused", venue_error="EOrder:Cannot cancel"))
    await rig.cancel(o1)
    moves = len(rig.moves)
    rig.coordinator.observe_removals([(o1, CANCELLED), (o2, CANCELLED)])
    assert len(rig.moves) == moves
    assert rig.states(o1) == ["queued", "sent", "rejected"]
    assert rig.states(o2) == []


async def test_stream_removals_alike_are_written_together(rig: Rig) -> None:
    venue = rig.venue(n=3)
    venue.hold = asyncio.Event()
    task = asyncio.create_task(rig.cancel(*venue.book))
    await settle()
    o1, o2, o3 = venue.book
    before = len(rig.moves)
    rig.coordinator.observe_removals(
        [(o1, CANCELLED), (o2, Outcome(S.FILLED)), (o3, CANCELLED)]  # two moves: one per outcome
    )
    assert [[e.order.order_id for e in m] for m in rig.moves[before:]] == [["O1", "O3"], ["O2"]]
    venue.hold.set()
    await task


async def test_a_late_fill_after_cancelled_is_recorded_as_filled(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    await rig.cancel(o1)
    assert rig.state(o1) == (S.CANCELLED, None)
    rig.coordinator.observe_removals([(o1, Outcome(S.FILLED, "filled"))])  # facts win
    assert rig.state(o1) == (S.FILLED, "filled")
    assert rig.states(o1) == ["queued", "sent", "cancelled", "filled"]


# --- never twice ----------------------------------------------------------------------------


async def test_a_second_cancel_does_not_double_up_on_orders_in_flight(rig: Rig) -> None:
    venue = rig.venue(n=3)
    o1, o2, o3 = venue.book
    venue.hold = asyncio.Event()
    first = asyncio.create_task(rig.cancel(o1, o2))
    await settle()
    again = CancelIntent(Scope.ORDERS, (o1, o2, o3))
    assert [o.order_id for o in rig.coordinator.plan(again).requests[0].orders] == ["O3"]
    second = asyncio.create_task(rig.coordinator.cancel(again))
    await settle()
    assert [[o.order_id for o in r.orders] for r in venue.executed] == [["O1", "O2"], ["O3"]]
    venue.hold.set()
    r1, r2 = await first, await second
    assert (r1.counts, r2.counts) == (Counter({S.CANCELLED: 2}), Counter({S.CANCELLED: 1}))
    assert r1.attempt != r2.attempt
    assert rig.states(o1) == ["queued", "sent", "cancelled"]


async def test_an_order_taken_over_by_a_newer_cancel_is_counted_there(rig: Rig) -> None:
    quick = rig.venue("quick", n=1)
    slow = rig.venue("slow", n=1)
    (q1,), (s1,) = quick.book, slow.book
    quick.replies.append(VenueUnavailable("HTTP 503"))
    slow.hold = asyncio.Event()
    first = asyncio.create_task(rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (q1, s1))))
    await settle()
    assert rig.state(q1)[0] is S.FAILED  # while the slow account is still out
    second = await rig.cancel(q1)  # the trader tries again
    slow.hold.set()
    report = await first
    assert report.counts == Counter({S.CANCELLED: 1})  # s1 only: q1 is the second action's
    assert second.counts == Counter({S.CANCELLED: 1})
    assert rig.states(q1) == ["queued", "sent", "failed", "queued", "sent", "cancelled"]


async def test_a_refused_order_can_be_cancelled_again(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(VenueUnavailable("HTTP 503"))
    await rig.cancel(o1)
    await rig.cancel(o1)
    assert rig.states(o1) == ["queued", "sent", "failed", "queued", "sent", "cancelled"]


# --- the audit log --------------------------------------------------------------------------


async def test_queued_is_on_disk_before_the_bytes_leave_and_sent_right_after(rig: Rig) -> None:
    venue = rig.venue(n=2)
    seen: list[object] = []
    reader = sqlite3.connect(rig.audit_path)  # another connection: sees only what is committed

    def look(request: CancelRequest) -> None:
        seen.append(reader.execute("SELECT intent, summary FROM actions").fetchall())
        seen.append(reader.execute("SELECT order_id, state, form FROM transitions ORDER BY id").fetchall())

    venue.on_sent = look  # the venue's observer said "sent": the bytes go now
    try:
        await rig.cancel(*venue.book)
    finally:
        reader.close()
    # The write-ahead: the action and every order's "queued" are committed before the request
    # leaves; "sent" follows on the next loop turn, before anything the answer brings.
    assert seen == [[("cancel 2 orders", None)], [("O1", "queued", None), ("O2", "queued", None)]]
    assert rig.states(venue.book[0]) == rig.states(venue.book[1]) == ["queued", "sent", "cancelled"]
    with contextlib.closing(sqlite3.connect(rig.audit_path)) as db:
        rows = db.execute("SELECT order_id, state, form FROM transitions ORDER BY id").fetchall()
    assert rows[2:4] == [("O1", "sent", "batch"), ("O2", "sent", "batch")]


async def test_the_table_hears_of_a_cancel_after_its_first_bytes_left(rig: Rig) -> None:
    venue = rig.venue(n=2)
    order: list[str] = []
    rig.coordinator.transitioned.connect(lambda moved: order.append(f"shown {moved[0].state.value}"))
    rig.store.updated.connect(lambda _orders: order.append("store"))
    venue.on_sent = lambda _req: order.append("bytes leave")
    await rig.cancel(*venue.book)
    assert order[0] == "bytes leave"  # no repaint of the rows before the request is on its way
    assert [o for o in order if o.startswith("shown")] == ["shown queued", "shown sent", "shown cancelled"]


async def test_a_ledger_move_held_for_the_next_turn_is_shown_in_order_with_later_ones(rig: Rig) -> None:
    venue = rig.venue(n=1)
    venue.replies.append(VenueUnavailable("HTTP 503"))  # fails in the same loop turn as it is sent
    await rig.cancel(*venue.book)
    assert [m[0].state.value for m in rig.moves] == ["queued", "sent", "failed"]
    assert rig.store.get(venue.book[0].key) is not None
    assert rig.store.outcome(venue.book[0].key) == Outcome(S.FAILED, "HTTP 503")


async def test_the_action_is_written_with_its_summary_and_latency(rig: Rig) -> None:
    venue = rig.venue(n=2, latency_s=0.012)
    venue.replies.append(CancelReply({"O1": CANCELLED, "O2": Outcome(S.FILLED)}))
    report = await rig.cancel(*venue.book)
    with contextlib.closing(sqlite3.connect(rig.audit_path)) as db:
        (row,) = db.execute("SELECT attempt, at, intent, requests, orders, summary, latency_ms FROM actions")
        latencies = db.execute("SELECT state, latency_ms FROM transitions WHERE order_id='O1'").fetchall()
    assert row[:6] == (report.attempt, EPOCH + 1000.0, "cancel 2 orders", 1, 2, "cancelled 1, filled 1")
    assert row[6] == pytest.approx(12.0)
    assert latencies == [("queued", None), ("sent", None), ("cancelled", pytest.approx(12.0))]


# --- the report -----------------------------------------------------------------------------


async def test_the_report_counts_this_actions_orders_times_and_events(rig: Rig) -> None:
    spot = rig.venue("spot", n=2, latency_s=0.010)
    fut = rig.venue("fut", n=1, latency_s=0.004)
    spot.replies.append(
        CancelReply({"O1": CANCELLED, "O2": CANCELLED}, venue_time_in="t-in", venue_time_out="t-out")
    )
    report = await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (*spot.book, *fut.book)))
    assert report.attempt == f"A{int(EPOCH + 1000.0)}-1"
    entry = rig.coordinator.entry(spot.book[0].key)
    assert entry is not None and entry.at == EPOCH + 1000.010 and entry.latency_ms == pytest.approx(10.0)
    assert (report.intent, report.requests, report.orders) == ("cancel 3 orders", 2, 3)
    assert report.counts == Counter({S.CANCELLED: 3})
    assert sorted(report.round_trips_ms) == pytest.approx([4.0, 10.0])
    assert report.latency_ms == pytest.approx(14.0)  # both fake round trips, on one fake clock
    assert report.venue_times == [("t-in", "t-out")]
    assert rig.reports == [report]
    # Batched per step and account: queued (one), then sent and cancelled per request.
    assert [(m[0].state, len(m)) for m in rig.moves] == [
        (S.QUEUED, 3),
        (S.SENT, 2),
        (S.CANCELLED, 2),
        (S.SENT, 1),
        (S.CANCELLED, 1),
    ]


async def test_accounts_run_concurrently(rig: Rig) -> None:
    slow = rig.venue("slow", n=1)
    fast = rig.venue("fast", n=1)
    slow.hold = asyncio.Event()
    task = asyncio.create_task(rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (*slow.book, *fast.book))))
    await settle()
    assert rig.state(fast.book[0])[0] is S.CANCELLED  # not waiting behind the slow account
    assert rig.state(slow.book[0])[0] is S.SENT
    slow.hold.set()
    assert (await task).counts == Counter({S.CANCELLED: 2})


def test_the_summary_lists_states_alphabetically_and_skips_zeros() -> None:
    report = CancelReport("A1", "kill switch")
    assert report.summary() == "nothing to cancel"
    report.counts.update({S.REJECTED: 1, S.CANCELLED: 10, S.FAILED: 0, S.ALREADY_GONE: 2})
    assert report.summary() == "already gone 2, cancelled 10, rejected 1"


async def test_an_action_interrupted_mid_flight_leaves_nothing_sent_or_acknowledged_for_good(
    rig: Rig,
) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.hold = asyncio.Event()  # the request is out; its answer never comes
    task = asyncio.create_task(rig.cancel(o1, o2))
    await settle()
    assert rig.state(o1)[0] is S.SENT
    task.cancel()  # the console closes, or a caller's deadline passes
    with pytest.raises(asyncio.CancelledError):
        await task
    # It left: Kraken may have applied it. Unknown, re-checked, never "sent" for good.
    assert rig.state(o1) == (S.UNKNOWN, "interrupted after it was sent; re-checking")
    assert rig.states(o1)[-1] == "unknown"
    venue.confirms.append({"O1": Outcome(S.CANCELLED), "O2": Outcome(S.CANCELLED)})
    await rig.recheck_clock.advance(0.5)  # the background re-check's first round
    assert rig.state(o1)[0] is S.CANCELLED and rig.state(o2)[0] is S.CANCELLED


async def test_an_action_interrupted_before_sending_fails_what_never_left(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    gate = asyncio.Event()
    rig.coordinator._venues["spot"].execute = _gated(venue.execute, gate)  # type: ignore[method-assign]
    task = asyncio.create_task(rig.cancel(o1))
    await settle()
    assert rig.state(o1)[0] is S.QUEUED
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.state(o1) == (S.FAILED, "interrupted before it was sent")


def _gated(execute, gate: asyncio.Event):  # type: ignore[no-untyped-def]
    async def gated(*args, **kwargs):  # type: ignore[no-untyped-def]
        await gate.wait()  # still queued: the observer never heard "sent"
        return await execute(*args, **kwargs)

    return gated
