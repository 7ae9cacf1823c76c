"""History: reads the audit log across sessions, in pages, by what a trader searches for.

The audit log (``app.desk.audit``) keeps every transition of every cancel; this module only
reads it, on its own read-only connection, so History never writes nor blocks the writer (WAL).

Reads are paged newest first with a keyset (``at``, ``id``): page N costs what page 1 costs,
and every search is served by an index the audit schema adds (version 1), so a year of audit
(a million rows) opens and searches in milliseconds, not seconds.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("app.desk.history")

PAGE_ROWS = 500
MIN_PREFIX = 3  # an id shorter than this matches whole ids only (a prefix of 1-2 signs matches everything)

_COLUMNS = (
    "t.id, t.at, t.attempt, t.account, t.venue, t.order_id, t.client_id, t.symbol, t.state, t.reason,"
    " t.form, t.latency_ms, a.intent"
)
CSV_HEADER = (
    "time_utc",
    "epoch",
    "account",
    "venue",
    "symbol",
    "order_id",
    "client_id",
    "state",
    "reason",
    "form",
    "latency_ms",
    "action",
    "attempt",
)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What History searches for; empty fields match everything.

    Attributes:
        ids: an order id, client id or attempt id, or the start of one (any case, at least
            ``MIN_PREFIX`` signs for a prefix).
        symbol: the symbol as Kraken names it (any case).
        symbols: more symbols, exactly as stored, that also match (the venues' names of the
            market the trader typed, e.g. ``XBT/USD`` for ``BTC/USD``).
        account: the account id.
        since: epoch seconds, inclusive.
        until: epoch seconds, exclusive.
    """

    ids: str = ""
    symbol: str = ""
    symbols: tuple[str, ...] = ()
    account: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One audited transition, with what the action it belongs to was asked to do."""

    id: int
    at: float
    attempt: str
    account: str
    venue: str
    order_id: str
    client_id: str | None
    symbol: str | None
    state: str
    reason: str | None
    form: str | None
    latency_ms: float | None
    intent: str | None

    @property
    def cursor(self) -> tuple[float, int]:
        """Where the next page (older rows) starts."""
        return (self.at, self.id)

    def csv_fields(self) -> list[str]:
        """The row as CSV fields (``CSV_HEADER``); times in UTC, ISO 8601."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.at)) + f".{int(self.at % 1 * 1000):03d}Z"
        return [
            stamp,
            f"{self.at:.3f}",
            self.account,
            self.venue,
            self.symbol or "",
            self.order_id,
            self.client_id or "",
            self.state,
            self.reason or "",
            self.form or "",
            "" if self.latency_ms is None else f"{self.latency_ms:.1f}",
            self.intent or "",
            self.attempt,
        ]


def _variants(text: str) -> list[str]:
    """The text as typed, upper and lower case (Spot ids are upper case, Futures and Prime lower)."""
    return list(dict.fromkeys((text, text.upper(), text.lower())))


def _where(query: HistoryQuery, symbols: list[str] | None) -> tuple[list[str], list[object]]:
    terms: list[str] = []
    args: list[object] = []
    ids = query.ids.strip()
    if ids:
        ors = []
        for v in _variants(ids):
            for column in ("t.order_id", "t.client_id", "t.attempt"):
                if len(ids) >= MIN_PREFIX:
                    # A prefix as a range, so the column's index serves it (LIKE would scan).
                    ors.append(f"({column} >= ? AND {column} < ?)")
                    args += [v, v + "\U0010ffff"]
                else:
                    ors.append(f"{column} = ?")
                    args.append(v)
        terms.append("(" + " OR ".join(ors) + ")")
    if symbols is not None:
        # One symbol as stored, so its (symbol, at) index gives the rows already in order.
        terms.append(f"t.symbol IN ({','.join('?' for _ in symbols)})" if symbols else "0")
        args += symbols
    if query.account is not None:
        terms.append("t.account = ?")
        args.append(query.account)
    if query.since is not None:
        terms.append("t.at >= ?")
        args.append(query.since)
    if query.until is not None:
        terms.append("t.at < ?")
        args.append(query.until)
    return terms, args


class AuditReader:
    """Reads an audit log file (read-only); a file not written yet reads as empty.

    Rules kept: never writes (``mode=ro``); every read is one indexed query of at most a page;
    a damaged or locked file is logged and reads as empty, it never raises into the window.
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` for reading (lazily: the first read opens it).

        Args:
            path: the SQLite audit file the session writes (``Session.audit_path``).
        """
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists():
                return None
            try:
                db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
                db.execute("SELECT 1 FROM transitions LIMIT 1")
            except sqlite3.Error as e:
                log.warning("cannot read the audit log %s: %s", self.path, e)
                return None
            self._db = db
        return self._db

    def _rows(self, sql: str, args: Sequence[object]) -> list[HistoryRow]:
        db = self._conn()
        if db is None:
            return []
        try:
            return [HistoryRow(*r) for r in db.execute(sql, args).fetchall()]
        except sqlite3.Error as e:
            log.warning("audit log read failed: %s", e)
            return []

    def page(
        self, query: HistoryQuery, *, after: tuple[float, int] | None = None, limit: int = PAGE_ROWS
    ) -> list[HistoryRow]:
        """Transitions matching ``query``, newest first, at most ``limit``.

        Args:
            query: what to match.
            after: the ``cursor`` of the last row already shown: the page starts just older.
            limit: rows in the page.
        """
        symbols: list[str] | None = None
        if query.symbol.strip() or query.symbols:
            symbols = list(dict.fromkeys([*self._symbols_like(query.symbol), *query.symbols]))
        terms, args = _where(query, symbols)
        if after is not None:
            # (at, id) < after, written so the ``at`` index still serves the range.
            terms.append("t.at <= ? AND (t.at < ? OR t.id < ?)")
            args += [after[0], after[0], after[1]]
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        # An id matches a handful of rows: find them by the id indexes, then sort them. Without
        # the "+" SQLite walks the time index newest first and tests every row (a second on a
        # year of audit) because it cannot know how few rows the ids match.
        order = "+t.at DESC, t.id DESC" if query.ids.strip() else "t.at DESC, t.id DESC"
        sql = (
            f"SELECT {_COLUMNS} FROM transitions t LEFT JOIN actions a ON a.attempt = t.attempt"
            f"{where} ORDER BY {order} LIMIT ?"
        )
        return self._rows(sql, [*args, limit])

    def _symbols_like(self, text: str) -> list[str]:
        """The stored symbols equal to ``text`` in any case."""
        want = text.strip().casefold()
        return [s for s in self.symbols() if s.casefold() == want]

    def symbols(self) -> list[str]:
        """Every symbol the log names (a skip scan over the symbol index)."""
        return self._distinct("symbol")

    def symbol_venues(self) -> list[tuple[str, str]]:
        """(symbol, venue) of every symbol the log names: one indexed look-up per symbol."""
        db = self._conn()
        if db is None:
            return []
        out = []
        try:
            for symbol in self.symbols():
                row = db.execute(
                    "SELECT venue FROM transitions WHERE symbol = ? LIMIT 1", (symbol,)
                ).fetchone()
                if row is not None:
                    out.append((symbol, str(row[0])))
        except sqlite3.Error as e:
            log.warning("audit log read failed: %s", e)
        return out

    def order_life(self, account: str, order_id: str) -> list[HistoryRow]:
        """Every transition of one order over every cancel attempt and session, oldest first."""
        return self._rows(
            f"SELECT {_COLUMNS} FROM transitions t LEFT JOIN actions a ON a.attempt = t.attempt"
            " WHERE t.account = ? AND t.order_id = ? ORDER BY t.id",
            (account, order_id),
        )

    def accounts(self) -> list[str]:
        """Every account the log names (a skip scan over the account index: fast on any size)."""
        return self._distinct("account")

    def _distinct(self, column: str) -> list[str]:
        db = self._conn()
        if db is None:
            return []
        sql = (
            f"WITH RECURSIVE d(x) AS (SELECT MIN({column}) FROM transitions UNION ALL"
            f" SELECT (SELECT MIN({column}) FROM transitions WHERE {column} > x) FROM d WHERE x IS NOT NULL)"
            " SELECT x FROM d WHERE x IS NOT NULL"
        )
        try:
            return [str(x) for (x,) in db.execute(sql).fetchall()]
        except sqlite3.Error as e:
            log.warning("audit log read failed: %s", e)
            return []

    def iter_all(self, query: HistoryQuery, *, page: int = 5000) -> Iterator[HistoryRow]:
        """Every matching row, newest first, read page by page."""
        after: tuple[float, int] | None = None
        while True:
            rows = self.page(query, after=after, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].cursor

    def export_csv(self, query: HistoryQuery, path: Path) -> int:
        """Write every row matching ``query`` (not only those shown) to ``path``; returns how many.

        Written to a temporary name first, so a half-written file never carries the name asked.
        """
        tmp = path.with_name(path.name + ".part")
        n = 0
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(CSV_HEADER)
            for row in self.iter_all(query):
                w.writerow(row.csv_fields())
                n += 1
        tmp.replace(path)
        return n

    def close(self) -> None:
        """Close the connection (a later read opens it again)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
