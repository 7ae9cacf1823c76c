"""Restarts reconcile: the audit log's unsettled orders are re-checked with the venue and settled.

Audit queries on their own first, then a desk that "died" with cancels in flight and a second
desk on the same audit log, against the real simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from app.core.accounts import AccountSpec
from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog, Transition
from app.desk.desk import Desk
from app.desk.reconcile import ADOPTED_REASON, Reconciler, ReconcileSummary
from tests.helpers.fakes import make_order
from tests.helpers.sim import Sim

S = CancelState


def test_unsettled_orders_are_those_whose_last_transition_is_open_or_unknown(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    o = [make_order(i) for i in range(6)]
    audit.begin_action("A1", "cancel 6 orders", 2, 6)
    moves = [
        (o[0], [S.QUEUED, S.SENT, S.CANCELLED]),  # settled
        (o[1], [S.QUEUED, S.SENT]),  # in flight when the run died
        (o[2], [S.QUEUED, S.SENT, S.UNKNOWN]),  # unknown at exit
        (o[3], [S.QUEUED]),  # never sent
        (o[4], [S.QUEUED, S.WAITING]),  # held by a rate limit
        (o[5], [S.QUEUED, S.SENT, S.ACKNOWLEDGED, S.UNKNOWN, S.FILLED]),  # settled by a re-check
    ]
    for order, states in moves:
        for state in states:
            audit.record([Transition("A1", order, state)])
    audit.begin_action("A2", "cancel 1 order", 1, 1)
    audit.record([Transition("A2", o[0], S.QUEUED), Transition("A2", o[0], S.ALREADY_GONE)])
    audit.end_action("A2", "already gone 1", 3.0)
    rows = audit.unsettled_orders()
    assert [(r.order_id, r.state) for r in rows] == [
        ("O1", S.SENT),
        ("O2", S.UNKNOWN),
        ("O3", S.QUEUED),
        ("O4", S.WAITING),
    ]
    assert {r.attempt for r in rows} == {"A1"} and rows[0].symbol == "XBT/USD"
    assert audit.unsettled_actions() == ["A1"]
    assert audit.attempt_states("A1")[("spot", "O5")] is S.FILLED
    audit.settle_action("A1", "settled after a restart: ...")
    assert audit.unsettled_actions() == []
    audit.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "audit.sqlite3")) as db:
        indexes = db.execute("PRAGMA index_list(transitions)").fetchall()
    assert "transitions_attempt" in {row[1] for row in indexes}


def test_the_summary_line() -> None:
    summary = ReconcileSummary(total=4, unknown=1, not_connected=2)
    summary.settled[S.CANCELLED] = 2
    summary.settled[S.FILLED] = 1
    assert summary.text() == (
        "from the previous session: 3 settled (2 cancelled, 1 filled), 1 still unknown; "
        "2 on accounts not connected now"
    )


async def test_a_restart_settles_what_a_dead_desk_left_in_flight(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    spec = AccountSpec("spot", "Demo spot", VenueKind.SPOT)

    # The first run: a cancel of 3 orders leaves; Kraken applies it but never answers, and the
    # run dies (its task is cut off) with the orders "sent".
    audit1 = AuditLog(path)
    desk1 = Desk(audit1, poll_interval_s=0.2)
    desk1.add_account(spec, sim.spot_venue())
    await asyncio.sleep(0.5)
    doomed = sorted(desk1.store.orders("spot"), key=lambda o: o.order_id)[:3]
    untouched = sorted(desk1.store.orders("spot"), key=lambda o: o.order_id)[3]
    sim.faults.hang_after_apply = 1
    all_sent = asyncio.Event()

    def moved(_entries: object) -> None:
        states = {e.state if (e := desk1.coordinator.entry(o.key)) else None for o in doomed}
        if states == {S.SENT}:
            all_sent.set()

    desk1.coordinator.transitioned.connect(moved)
    task = asyncio.create_task(desk1.cancel(CancelIntent(Scope.ORDERS, tuple(doomed))))
    await asyncio.wait_for(all_sent.wait(), 10)
    ids = {o.order_id for o in doomed}
    for _ in range(200):  # until Kraken applied it (it answers never)
        if not sim.open_ids() & ids:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    attempt = desk1.coordinator.entry(doomed[0].key).attempt  # type: ignore[union-attr]
    # ... and one more that was queued, never sent (so never applied): still open on Kraken.
    audit1.begin_action("A-old-2", "cancel 1 order", 1, 1)
    audit1.record([Transition("A-old-2", untouched, S.QUEUED)])
    # ... and one of an account this run will not connect.
    audit1.record([Transition("A-old-2", make_order(9, account="gone-account"), S.SENT)])
    desk1.coordinator._resolvers.clear()  # the run is dead: nothing of it goes on
    await desk1.aclose()
    audit1.close()
    assert not sim.open_ids() & ids  # Kraken did cancel them

    # The restart.
    audit2 = AuditLog(path)
    desk2 = Desk(audit2, poll_interval_s=0.2)
    desk2.add_account(spec, sim.spot_venue())
    reconciler = Reconciler(desk2)
    summaries: list[ReconcileSummary] = []
    reconciler.summarized.connect(summaries.append)
    assert reconciler.start() == 4
    summary = await reconciler.wait(timeout_s=15)
    assert summary is not None
    assert summary.text() == (
        "from the previous session: 4 settled (3 cancelled, 1 failed), 0 still unknown; "
        "1 on accounts not connected now"
    )
    for o in doomed:
        assert [s for s, _ in audit2.history("spot", o.order_id)[-2:]] == ["unknown", "cancelled"]
        assert ("unknown", ADOPTED_REASON) in audit2.history("spot", o.order_id)
    assert audit2.history("spot", untouched.order_id)[-1] == ("failed", "still open after the cancel")
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT DISTINCT attempt FROM transitions WHERE order_id IN (?,?,?) AND state='cancelled'",
            [o.order_id for o in doomed],
        ).fetchall()
    assert [r[0] for r in rows] == [attempt]  # written under the old attempt id
    # The first run's action is closed; the other keeps an order of an account not connected.
    assert audit2.unsettled_actions() == ["A-old-2"]
    action = audit2.action(attempt)
    assert action is not None and action[1] == "settled after a restart: cancelled 3"
    assert [o.order_id for o in desk2.store.orders("spot")].count(untouched.order_id) == 1  # still open
    remaining = audit2.unsettled_orders()
    assert [r.account for r in remaining] == ["gone-account"]  # kept for a run that connects it
    await reconciler.aclose()
    await desk2.aclose()
    audit2.close()


async def test_nothing_unsettled_says_nothing(sim: Sim, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit)
    desk.add_account(AccountSpec("spot", "Demo spot", VenueKind.SPOT), sim.spot_venue())
    reconciler = Reconciler(desk)
    seen: list[ReconcileSummary] = []
    reconciler.summarized.connect(seen.append)
    assert reconciler.start() == 0
    assert await reconciler.wait(timeout_s=1) is None and seen == []
    await desk.aclose()
    audit.close()
