"""History over the audit log: the schema migration on an existing file, paged and indexed reads,
search by each field, an order's whole life, CSV export; figures printed over a generated year."""

from __future__ import annotations

import contextlib
import csv
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.ledger import CancelState
from app.desk import audit as audit_module
from app.desk.audit import SCHEMA_VERSION, AuditLog, Transition
from app.desk.history import CSV_HEADER, AuditReader, HistoryQuery
from bench import history as gen
from tests.helpers.fakes import FakeClock, make_order

S = CancelState
ROWS = 100_000  # the suite's size; ``python -m bench.history`` runs a million (figures in DECISIONS.md)


def indexes(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_the_migration_adds_historys_indexes_to_an_existing_file_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:  # a file the first version wrote
        db.executescript(audit_module._SCHEMA)
        db.execute(
            "INSERT INTO transitions(at, attempt, account, venue, order_id, state) VALUES"
            " (1.0, 'A1', 'spot', 'spot', 'O1', 'queued')"
        )
        db.commit()
    assert user_version(path) == 0 and "transitions_at" not in indexes(path)
    log = AuditLog(path)
    log.close()
    assert user_version(path) == SCHEMA_VERSION == 1
    assert {
        "transitions_at",
        "transitions_order_id",
        "transitions_client_id",
        "transitions_symbol_at",
        "transitions_account_at",
    } <= indexes(path)
    again = AuditLog(path)  # opening again changes nothing and keeps the rows
    try:
        assert again.history("spot", "O1") == [("queued", None)]
    finally:
        again.close()
    assert user_version(path) == 1


def test_a_failing_migration_step_is_rolled_back_and_the_log_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        audit_module,
        "_MIGRATIONS",
        ("CREATE INDEX IF NOT EXISTS good ON transitions(at); CREATE INDEX bad ON nowhere(x)",),
    )
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    try:
        log.record([Transition("A1", make_order(1), S.QUEUED)])
        assert log.history("spot", "O1") == [("queued", None)]
    finally:
        log.close()
    assert user_version(path) == 0 and "good" not in indexes(path)  # all of the step, or none of it
    assert "schema step 1 failed" in caplog.text


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float]]:
    """A generated audit of ``ROWS`` transitions over a year, migrated as on an upgrade."""
    path = tmp_path_factory.mktemp("history") / "audit.sqlite3"
    t0 = time.perf_counter()
    first = gen.generate(path, ROWS)
    t1 = time.perf_counter()
    AuditLog(path).close()
    print(
        f"\n{ROWS:,} transitions generated in {t1 - t0:.2f} s, migrated in {time.perf_counter() - t1:.2f} s"
    )
    yield path, first


def test_history_opens_and_searches_a_year_of_audit_in_pages(year: tuple[Path, float]) -> None:
    path, first = year
    lines = gen.measure(path, first, ROWS)
    print(f"\nHistory over {ROWS:,} transitions (page 1, page 2, rows):")
    for what, ms, nxt, n in lines:
        print(f"  {what:36} {ms:7.1f} ms {nxt:7.1f} ms {n:5d}")
    found = {what: n for what, _ms, _nxt, n in lines}
    assert found["open History (newest page)"] == 500
    assert found["an order id (whole)"] == 3  # queued, sent, cancelled
    assert found["an order id (start, lower case)"] == 3
    assert found["a client id"] == 3
    assert found["an attempt id"] == 300
    assert found["a symbol on an account, no match"] == 0  # SOL/USD orders are never on spot2
    assert found["one order's life"] == 3


def test_pages_follow_each_other_newest_first_without_gaps(year: tuple[Path, float]) -> None:
    path, _first = year
    reader = AuditReader(path)
    try:
        q = HistoryQuery(symbol="xbt/usd", account="spot")  # orders n % 12 == 0
        seen = list(reader.iter_all(q, page=997))
        assert len(seen) == 3 * len(range(0, ROWS // 3, 12))
        assert all(r.symbol == "XBT/USD" and r.account == "spot" for r in seen)
        keys = [(r.at, r.id) for r in seen]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
        assert seen[0].intent == "cancel 100 orders"  # the action each row belongs to
    finally:
        reader.close()


def test_a_date_range_and_the_accounts_and_symbols_the_log_names(year: tuple[Path, float]) -> None:
    path, first = year
    reader = AuditReader(path)
    try:
        since, until = first + 10 * gen.DAY, first + 11 * gen.DAY
        rows = list(reader.iter_all(HistoryQuery(since=since, until=until)))
        assert rows and all(since <= r.at < until for r in rows)
        step = 365 * gen.DAY / ROWS
        assert abs(len(rows) - gen.DAY / step) <= 1
        assert reader.accounts() == sorted(gen.ACCOUNTS)
        assert reader.symbols() == sorted(gen.SYMBOLS)
    finally:
        reader.close()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[AuditLog, Path, FakeClock]]:
    clock = FakeClock()
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path, clock=clock.time)
    try:
        yield log, path, clock
    finally:
        log.close()


def test_the_full_life_of_an_order_over_two_attempts_and_sessions(
    session: tuple[AuditLog, Path, FakeClock],
) -> None:
    log, path, clock = session
    order = make_order(7, client_id="grid-7")
    log.begin_action("s1-1", "cancel all XBT/USD", requests=1, orders=1)
    log.record([Transition("s1-1", order, S.QUEUED), Transition("s1-1", order, S.SENT, form="batch")])
    clock.now += 1
    log.record([Transition("s1-1", order, S.UNKNOWN, "timeout")])
    log.end_action("s1-1", "unknown 1", 1000.0)
    clock.now += 60  # the next session re-checks it and a new cancel ends it
    log.begin_action("s2-1", "cancel 1 order", requests=1, orders=1)
    log.record([Transition("s2-1", order, S.QUEUED), Transition("s2-1", order, S.SENT)])
    log.record([Transition("s2-1", order, S.CANCELLED, latency_ms=41.0)])
    log.record([Transition("s2-1", make_order(8), S.QUEUED)])
    reader = AuditReader(path)  # a second connection, read-only, while the log is open
    try:
        life = reader.order_life("spot", order.order_id)
        assert [(r.attempt, r.state, r.intent) for r in life] == [
            ("s1-1", "queued", "cancel all XBT/USD"),
            ("s1-1", "sent", "cancel all XBT/USD"),
            ("s1-1", "unknown", "cancel all XBT/USD"),
            ("s2-1", "queued", "cancel 1 order"),
            ("s2-1", "sent", "cancel 1 order"),
            ("s2-1", "cancelled", "cancel 1 order"),
        ]
        assert life[2].reason == "timeout" and life[-1].latency_ms == 41.0
        by_client = reader.page(HistoryQuery(ids="GRID-7"))
        assert {r.order_id for r in by_client} == {order.order_id}
        assert reader.page(HistoryQuery(ids="gr")) == []  # two signs: whole ids only
        newest = reader.page(HistoryQuery(), limit=2)
        assert [r.order_id for r in newest] == ["O8", order.order_id]
        db = reader._conn()
        assert db is not None
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # History cannot write
            db.execute("DELETE FROM transitions")
    finally:
        reader.close()


def test_export_writes_every_match_not_only_the_shown_page(
    session: tuple[AuditLog, Path, FakeClock], tmp_path: Path
) -> None:
    log, path, clock = session
    for i in range(1200):
        clock.now += 0.001
        log.record(
            [Transition(f"A{i // 100}", make_order(i, symbol="ETH/USD" if i % 2 else "XBT/USD"), S.CANCELLED)]
        )
    reader = AuditReader(path)
    try:
        out = tmp_path / "h.csv"
        n = reader.export_csv(HistoryQuery(symbol="ETH/USD"), out)
    finally:
        reader.close()
    with out.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(CSV_HEADER) and n == len(rows) - 1 == 600
    assert {r[4] for r in rows[1:]} == {"ETH/USD"}
    assert rows[1][0].endswith("Z") and rows[1][5] == "O1199"  # UTC times, newest first
    assert not (tmp_path / "h.csv.part").exists()


def test_a_file_not_written_yet_reads_as_empty(tmp_path: Path) -> None:
    reader = AuditReader(tmp_path / "none" / "audit.sqlite3")
    assert reader.page(HistoryQuery()) == [] and reader.accounts() == []
    assert reader.order_life("spot", "O1") == []
    assert not (tmp_path / "none").exists()  # reading created nothing
