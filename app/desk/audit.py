"""The audit log: every cancel action and every ledger transition, in SQLite, written before sending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.ledger import CancelState
from app.core.orders import Order
from app.desk.timing import Clock

log = logging.getLogger("app.desk.audit")

_INSERT_TRANSITIONS = (
    "INSERT INTO transitions(at, attempt, account, venue, order_id, client_id, symbol, state,"
    " reason, form, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_ACTION = "INSERT OR REPLACE INTO actions(attempt, at, intent, requests, orders) VALUES (?,?,?,?,?)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    attempt   TEXT PRIMARY KEY,
    at        REAL NOT NULL,
    intent    TEXT NOT NULL,
    requests  INTEGER NOT NULL,
    orders    INTEGER NOT NULL,
    summary   TEXT,
    settled_at REAL,
    latency_ms REAL
);
CREATE TABLE IF NOT EXISTS transitions (
    id         INTEGER PRIMARY KEY,
    at         REAL NOT NULL,
    attempt    TEXT NOT NULL,
    account    TEXT NOT NULL,
    venue      TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    client_id  TEXT,
    symbol     TEXT,
    state      TEXT NOT NULL,
    reason     TEXT,
    form       TEXT,
    latency_ms REAL
);
CREATE INDEX IF NOT EXISTS transitions_order ON transitions(account, order_id);
CREATE INDEX IF NOT EXISTS transitions_attempt ON transitions(attempt);
"""

# Schema versions after the first (``PRAGMA user_version``), each applied once, in one
# transaction, on a file of any age: only additions that ``IF NOT EXISTS`` makes safe to re-run.
# 1: what History searches by (app.desk.history), so a year of audit reads in pages, not scans.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at);
    CREATE INDEX IF NOT EXISTS transitions_order_id ON transitions(order_id);
    CREATE INDEX IF NOT EXISTS transitions_client_id ON transitions(client_id);
    CREATE INDEX IF NOT EXISTS transitions_symbol_at ON transitions(symbol, at);
    CREATE INDEX IF NOT EXISTS transitions_account_at ON transitions(account, at);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring an open audit database (autocommit) up to ``SCHEMA_VERSION``; returns the version it
    is at. A step that fails is rolled back and logged: the log still writes, History reads slower.
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    for step, sql in enumerate(_MIGRATIONS[version:], start=version + 1):
        started = time.perf_counter()
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={step}")
            db.execute("COMMIT")
        except sqlite3.Error:
            log.exception("audit log schema step %d failed; left at version %d", step, version)
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            break
        version = step
        log.info("audit log schema at version %d (%.2f s)", step, time.perf_counter() - started)
    return version


# An order whose last transition is one of these was left in flight or unknown: a restart
# re-checks it with the venue (DESIGN.md: "a restart reconciles what the audit log shows unsettled").
UNSETTLED_STATES = (
    CancelState.QUEUED,
    CancelState.WAITING,
    CancelState.SENT,
    CancelState.ACKNOWLEDGED,
    CancelState.UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One order moving to a ledger state, as written to the log."""

    attempt: str
    order: Order
    state: CancelState
    reason: str | None = None
    form: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class UnsettledOrder:
    """An order whose last audited transition left its cancel in flight or unknown."""

    attempt: str
    account: str
    venue: str
    order_id: str
    client_id: str | None
    symbol: str | None
    state: CancelState
    reason: str | None
    at: float


class AuditLog:
    """Append-only SQLite log (WAL). Never holds secrets: only ids, states, reasons and times.

    Rules: ``record`` commits before returning, so a transition to ``sent`` is on disk before the
    request leaves; a failing disk is logged and never blocks a cancel.
    """

    def __init__(self, path: Path | str, *, clock: Clock = time.time) -> None:
        """Open (or create) the log.

        Args:
            path: the SQLite file (its folder is created), or ``":memory:"``.
            clock: epoch seconds, for the times written.
        """
        self._clock = clock
        self._soon: list[tuple[object, ...]] = []
        self._actions: list[tuple[object, ...]] = []  # begun actions, written with the next write
        self._soon_scheduled = False
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Private from birth: SQLite gives its -wal and -shm files the database's mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        migrate(self._db)

    def begin_action(self, attempt: str, intent: str, requests: int, orders: int) -> None:
        """Record that a cancel action starts: written in the same transaction as the next write
        (the action's own "queued" rows, its write-ahead), one commit before the first byte."""
        self._actions.append((attempt, self._clock(), intent, requests, orders))

    def end_action(self, attempt: str, summary: str, latency_ms: float) -> None:
        """Record how a cancel action ended."""
        self._write(
            "UPDATE actions SET summary=?, settled_at=?, latency_ms=? WHERE attempt=?",
            [(summary, self._clock(), latency_ms, attempt)],
        )

    def record(self, transitions: Iterable[Transition]) -> None:
        """Write transitions in one transaction (after any held back by ``record_soon``)."""
        rows = self._rows(transitions)
        if self._soon:
            self.flush()
        if rows:
            self._write(_INSERT_TRANSITIONS, rows)

    def record_soon(self, transitions: Iterable[Transition]) -> None:
        """Write transitions on the next loop turn (now without a running loop), stamped now.

        For what is not the write-ahead (a ``sent`` whose ``queued`` is on disk): the request
        leaves first. Order is kept: any other write, read or ``close`` writes these first.
        """
        rows = self._rows(transitions)
        if not rows:
            return
        self._soon.extend(rows)
        if self._soon_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._soon_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what ``record_soon`` holds, in one transaction."""
        self._soon_scheduled = False
        rows, self._soon = self._soon, []
        if rows or self._actions:
            self._write(_INSERT_TRANSITIONS, rows)

    def _rows(self, transitions: Iterable[Transition]) -> list[tuple[object, ...]]:
        now = self._clock()
        return [
            (
                now,
                t.attempt,
                t.order.account_id,
                t.order.venue.value,
                t.order.order_id,
                t.order.client_id,
                t.order.symbol,
                t.state.value,
                t.reason,
                t.form,
                t.latency_ms,
            )
            for t in transitions
        ]

    def _write(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if self._soon and sql is not _INSERT_TRANSITIONS:
            self.flush()
        actions, self._actions = self._actions, []
        try:
            self._db.execute("BEGIN")
            if actions:
                self._db.executemany(_INSERT_ACTION, actions)
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            log.exception("audit log write failed")
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def history(self, account: str, order_id: str) -> list[tuple[str, str | None]]:
        """(state, reason) of every transition of one order, oldest first."""
        self.flush()
        cur = self._db.execute(
            "SELECT state, reason FROM transitions WHERE account=? AND order_id=? ORDER BY id",
            (account, order_id),
        )
        return [(str(s), r) for s, r in cur.fetchall()]

    def unsettled_orders(self) -> list[UnsettledOrder]:
        """Every order whose last transition is queued, waiting, sent, acknowledged or unknown,
        oldest first (at start-up: what earlier sessions left unsettled)."""
        self.flush()
        marks = ",".join("?" for _ in UNSETTLED_STATES)
        cur = self._db.execute(
            "SELECT t.attempt, t.account, t.venue, t.order_id, t.client_id, t.symbol, t.state, t.reason, t.at"
            " FROM transitions t JOIN (SELECT MAX(id) AS id FROM transitions GROUP BY account, order_id)"
            f" last ON t.id = last.id WHERE t.state IN ({marks}) ORDER BY t.id",
            [s.value for s in UNSETTLED_STATES],
        )
        return [
            UnsettledOrder(str(a), str(acc), str(v), str(oid), cid, sym, CancelState(st), why, float(at))
            for a, acc, v, oid, cid, sym, st, why, at in cur.fetchall()
        ]

    def unsettled_actions(self) -> list[str]:
        """Attempt ids of actions that began and never ended (no ``settled_at``), oldest first."""
        self.flush()
        cur = self._db.execute("SELECT attempt FROM actions WHERE settled_at IS NULL ORDER BY at")
        return [str(a) for (a,) in cur.fetchall()]

    def attempt_states(self, attempt: str) -> dict[tuple[str, str], CancelState]:
        """The last state of each order an attempt touched, by (account, order id)."""
        self.flush()
        cur = self._db.execute(
            "SELECT account, order_id, state FROM transitions WHERE attempt=? ORDER BY id", (attempt,)
        )
        return {(str(a), str(o)): CancelState(st) for a, o, st in cur.fetchall()}

    def settle_action(self, attempt: str, summary: str) -> None:
        """Close an action a previous session left open (its orders were re-checked)."""
        self._write(
            "UPDATE actions SET summary=?, settled_at=? WHERE attempt=? AND settled_at IS NULL",
            [(summary, self._clock(), attempt)],
        )

    def action(self, attempt: str) -> tuple[str, str | None, float | None] | None:
        """(intent, summary, settled_at) of an action, or None."""
        self.flush()
        row = self._db.execute(
            "SELECT intent, summary, settled_at FROM actions WHERE attempt=?", (attempt,)
        ).fetchone()
        return None if row is None else (str(row[0]), row[1], row[2])

    def close(self) -> None:
        """Close the database."""
        self.flush()
        self._db.close()
