"""The audit log alone: its schema, what a write puts on disk, and that a failing disk never raises."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.core.ledger import CancelState
from app.core.orders import Order
from app.desk.audit import AuditLog, Transition
from tests.helpers.fakes import FakeClock, make_order

S = CancelState

# Every column the log has. Anything added here is read by whoever opens the file: no key, no
# secret, no signature, no nonce, no token, ever (DESIGN.md, "Secrets").
ACTION_COLUMNS = ["attempt", "at", "intent", "requests", "orders", "summary", "settled_at", "latency_ms"]
TRANSITION_COLUMNS = [
    "id",
    "at",
    "attempt",
    "account",
    "venue",
    "order_id",
    "client_id",
    "symbol",
    "state",
    "reason",
    "form",
    "latency_ms",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "audit.sqlite3"


@pytest.fixture
def audit(path: Path, clock: FakeClock) -> Iterator[AuditLog]:
    log = AuditLog(path, clock=clock.time)
    try:
        yield log
    finally:
        log.close()


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows as another process would see them: committed, on disk."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def columns(path: Path, table: str) -> list[str]:
    return [str(r[1]) for r in read(path, f"PRAGMA table_info({table})")]


def moved(order: Order, state: CancelState, reason: str | None = None, attempt: str = "A1") -> Transition:
    return Transition(attempt, order, state, reason)


def test_the_schema_holds_ids_states_reasons_and_times_only(audit: AuditLog, path: Path) -> None:
    assert columns(path, "actions") == ACTION_COLUMNS
    assert columns(path, "transitions") == TRANSITION_COLUMNS
    indexes = read(path, "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='transitions'")
    assert ("transitions_order",) in indexes


def test_the_log_is_in_wal_mode_and_its_folder_is_made(audit: AuditLog, path: Path) -> None:
    assert path.parent.is_dir()
    assert read(path, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_keeps_what_was_written(path: Path, clock: FakeClock) -> None:
    first = AuditLog(path, clock=clock.time)
    first.record([moved(make_order(1), S.QUEUED)])
    first.close()
    again = AuditLog(path, clock=clock.time)  # CREATE ... IF NOT EXISTS: the schema is not reset
    try:
        assert again.history("spot", "O1") == [("queued", None)]
    finally:
        again.close()


def test_an_action_begins_with_its_write_ahead_then_ends_with_its_summary(
    audit: AuditLog, path: Path, clock: FakeClock
) -> None:
    audit.begin_action("A1", "cancel 3 orders", requests=2, orders=3)
    assert read(path, "SELECT * FROM actions") == []  # one commit with its "queued" rows, not two
    audit.record([Transition("A1", make_order(1), S.QUEUED, None, None, None)])
    assert len(read(path, "SELECT * FROM transitions")) == 1
    assert read(path, "SELECT * FROM actions") == [
        ("A1", clock.time(), "cancel 3 orders", 2, 3, None, None, None)
    ]
    started = clock.time()
    clock.now += 0.5
    audit.end_action("A1", "cancelled 3", latency_ms=12.5)
    assert read(path, "SELECT * FROM actions") == [
        ("A1", started, "cancel 3 orders", 2, 3, "cancelled 3", started + 0.5, 12.5)
    ]


def test_a_transition_row_is_the_orders_ids_and_the_move(
    audit: AuditLog, path: Path, clock: FakeClock
) -> None:
    order = make_order(7, client_id="my-ref-1")
    audit.record([Transition("A9", order, S.CANCELLED, "User requested", "batch", 12.5)])
    assert read(path, "SELECT * FROM transitions") == [
        (
            1,
            clock.time(),
            "A9",
            "spot",
            "spot",
            "O7",
            "my-ref-1",
            "XBT/USD",
            "cancelled",
            "User requested",
            "batch",
            12.5,
        )
    ]


def test_a_record_is_all_or_nothing_and_a_failure_is_logged_not_raised(
    audit: AuditLog, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Transition("A1", replace(make_order(2), order_id=None), S.SENT)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, "app.desk.audit"):
        audit.record([moved(make_order(1), S.SENT), broken])
    # order_id is NOT NULL: the second row fails, and the first is rolled back with it.
    assert read(path, "SELECT * FROM transitions") == []
    assert [r.getMessage() for r in caplog.records] == ["audit log write failed"]
    # The connection is usable afterwards: no transaction was left open.
    audit.record([moved(make_order(3), S.CANCELLED)])
    assert read(path, "SELECT order_id, state FROM transitions") == [("O3", "cancelled")]
    assert len(caplog.records) == 1


@pytest.mark.parametrize("call", ["begin", "end", "record"])
def test_a_closed_database_is_logged_and_never_raises(
    audit: AuditLog, caplog: pytest.LogCaptureFixture, call: str
) -> None:
    audit.close()
    with caplog.at_level(logging.ERROR, "app.desk.audit"):
        if call == "begin":  # written with the action's first transitions
            audit.begin_action("A1", "kill switch", 1, 1)
            audit.record([moved(make_order(1), S.QUEUED)])
        elif call == "end":
            audit.end_action("A1", "cancelled 1", 1.0)
        else:
            audit.record([moved(make_order(1), S.SENT)])
    (record,) = caplog.records
    assert record.getMessage() == "audit log write failed" and record.exc_info is not None


def test_a_read_only_database_is_logged_and_never_raises(
    audit: AuditLog, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit._db.execute("PRAGMA query_only = ON")  # what a read-only mount or a full disk does to writes
    with caplog.at_level(logging.ERROR, "app.desk.audit"):
        audit.record([moved(make_order(1), S.SENT)])
    assert [r.getMessage() for r in caplog.records] == ["audit log write failed"]
    assert read(path, "SELECT * FROM transitions") == []


def test_history_is_one_orders_moves_oldest_first(audit: AuditLog) -> None:
    o1, o2, other = make_order(1), make_order(2), make_order(1, account="futures")
    audit.record([moved(o1, S.QUEUED), moved(o2, S.QUEUED), moved(other, S.QUEUED)])
    audit.record([moved(o1, S.SENT), moved(o2, S.SENT)])
    audit.record([moved(o1, S.UNKNOWN, "connection dropped")])
    audit.record([moved(o1, S.CANCELLED, "User requested")])
    assert audit.history("spot", "O1") == [
        ("queued", None),
        ("sent", None),
        ("unknown", "connection dropped"),
        ("cancelled", "User requested"),
    ]
    assert audit.history("futures", "O1") == [("queued", None)]
    assert audit.history("spot", "O404") == []


def test_nothing_secret_looking_is_stored(audit: AuditLog, path: Path) -> None:
    # The desk hands the log orders and ledger moves only; whatever it is given, each stored value
    # is one of these (the credentials in the keychain never reach it).
    order = make_order(3, client_id="cl-3")
    audit.begin_action("A1", "cancel 1 order", 1, 1)
    audit.record([Transition("A1", order, S.REJECTED, "EOrder:Cannot cancel", "single", 3.0)])
    audit.end_action("A1", "rejected 1", 3.0)
    given = {"A1", "cancel 1 order", "rejected 1", "spot", "O3", "cl-3", "XBT/USD", "rejected"}
    given |= {"EOrder:Cannot cancel", "single"}
    stored = {
        v
        for table in ("actions", "transitions")
        for row in read(path, f"SELECT * FROM {table}")
        for v in row
        if isinstance(v, str)
    }
    assert stored == given
    assert not {
        c for c in ACTION_COLUMNS + TRANSITION_COLUMNS if any(w in c for w in ("key", "secret", "sign"))
    }


def test_a_memory_log_works_without_a_folder() -> None:
    audit = AuditLog(":memory:")
    try:
        audit.record([moved(make_order(1), S.QUEUED)])
        assert audit.history("spot", "O1") == [("queued", None)]
        assert not Path(":memory:").exists()
    finally:
        audit.close()
