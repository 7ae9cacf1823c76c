"""``python -m bench.history [--rows N]``: History over a year of audit, figures printed.

Generates an audit file of N transitions (default a million: a year of a busy desk) in the
schema a previous version wrote (no History indexes), opens it with ``AuditLog`` so the
migration adds them (timed: what the first start after an upgrade costs), then times History's
first page and its searches with ``AuditReader``. Figures, not pass/fail (DESIGN.md).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from app.desk import audit
from app.desk.audit import AuditLog
from app.desk.history import AuditReader, HistoryQuery, HistoryRow

DAY = 86_400.0
ACCOUNTS = ("spot", "spot2", "futures", "prime")
SYMBOLS = ("XBT/USD", "ETH/USD", "SOL/USD", "PF_XBTUSD", "PF_ETHUSD", "ADA/EUR")


def order_id(n: int) -> str:
    """The id the generator gives order ``n`` (Spot-like, upper case)."""
    return f"O{n:06d}-ABCDE-{n % 99991:06d}"


def generate(path: Path, rows: int, *, end: float | None = None, span_s: float = 365 * DAY) -> float:
    """Write ``rows`` transitions over ``span_s`` ending at ``end`` into a fresh audit file at
    ``path`` in the version-0 schema, in one transaction, SQLite generating the rows itself.

    Three transitions per order (queued, sent, cancelled), orders in actions of 100; order n is
    on ``ACCOUNTS[n % 4]`` and ``SYMBOLS[n % 6]``, odd orders carry client id ``cl-n``.

    Returns:
        the time of the first row (epoch seconds).
    """
    end = time.time() if end is None else end
    start = end - span_s
    step = span_s / max(rows, 1)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.executescript(audit._SCHEMA)  # the first version's tables: migrate() adds History's indexes
        accounts = " ".join(f"WHEN {i} THEN '{a}'" for i, a in enumerate(ACCOUNTS))
        symbols = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(SYMBOLS))
        db.execute("BEGIN")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
            " INSERT INTO transitions(at, attempt, account, venue, order_id, client_id, symbol, state,"
            " reason, form, latency_ms)"
            " SELECT ? + i * ?, 'g-' || (i / 300),"
            f" CASE (i / 3) % {len(ACCOUNTS)} {accounts} END, 'spot',"
            " printf('O%06d-ABCDE-%06d', i / 3, (i / 3) % 99991),"
            " CASE WHEN (i / 3) % 2 THEN 'cl-' || (i / 3) END,"
            f" CASE (i / 3) % {len(SYMBOLS)} {symbols} END,"
            " CASE i % 3 WHEN 0 THEN 'queued' WHEN 1 THEN 'sent' ELSE 'cancelled' END,"
            " NULL, 'batch', CASE WHEN i % 3 = 2 THEN 12.5 END FROM n",
            (rows, start, step),
        )
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
            " INSERT INTO actions(attempt, at, intent, requests, orders, summary, settled_at)"
            " SELECT 'g-' || i, ? + i * 300 * ?, 'cancel 100 orders', 2, 100, 'cancelled 100',"
            " ? + (i * 300 + 299) * ? FROM n",
            ((rows + 299) // 300, start, step, start, step),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return start


def probe(rows: int) -> int:
    """An order in the middle of what ``generate`` wrote (odd: it has a client id)."""
    return (rows // 3) * 37 // 100 | 1


def searches(first: float, rows: int) -> list[tuple[str, HistoryQuery]]:
    """What a trader asks History, over a file ``generate`` wrote starting at ``first``."""
    day = first + 200 * DAY
    n = probe(rows)
    return [
        ("an order id (whole)", HistoryQuery(ids=order_id(n))),
        ("an order id (start, lower case)", HistoryQuery(ids=order_id(n)[:9].lower())),
        ("a client id", HistoryQuery(ids=f"cl-{n}")),
        ("an attempt id", HistoryQuery(ids=f"g-{n // 100}")),
        ("a symbol (any case)", HistoryQuery(symbol="eth/usd")),
        ("an account", HistoryQuery(account="futures")),
        ("an account, one day", HistoryQuery(account="futures", since=day, until=day + DAY)),
        (
            "a symbol on an account, 30 days",
            HistoryQuery(symbol="SOL/USD", account="futures", since=day, until=day + 30 * DAY),
        ),
        ("a symbol on an account, no match", HistoryQuery(symbol="SOL/USD", account="spot2")),
        ("nothing matches", HistoryQuery(ids="ZZZ-none")),
    ]


def _timed(fn: Callable[[], list[HistoryRow]]) -> tuple[float, list[HistoryRow]]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def measure(path: Path, first: float, rows: int) -> list[tuple[str, float, float, int]]:
    """Open ``path`` with a fresh reader, then run ``searches``: (what, first page ms, next
    page ms, rows in the first page) per line; the first line is opening History."""
    out: list[tuple[str, float, float, int]] = []
    reader = AuditReader(path)
    try:
        ms, got = _timed(lambda: reader.page(HistoryQuery()))
        ms2, _ = _timed(lambda: reader.page(HistoryQuery(), after=got[-1].cursor))
        out.append(("open History (newest page)", ms, ms2, len(got)))
        for what, q in searches(first, rows):
            ms, got = _timed(lambda q=q: reader.page(q))  # type: ignore[misc]
            nxt = 0.0
            if got:
                nxt, _ = _timed(lambda q=q, c=got[-1].cursor: reader.page(q, after=c))  # type: ignore[misc]
            out.append((what, ms, nxt, len(got)))
        n = probe(rows)
        ms, life = _timed(lambda: reader.order_life(ACCOUNTS[n % len(ACCOUNTS)], order_id(n)))
        out.append(("one order's life", ms, 0.0, len(life)))
    finally:
        reader.close()
    return out


def run(rows: int, folder: Path) -> list[str]:
    """Generate, migrate, measure; returns the printed lines."""
    path = folder / "audit.sqlite3"
    t0 = time.perf_counter()
    first = generate(path, rows)
    t1 = time.perf_counter()
    AuditLog(path).close()  # the first start after the upgrade: the migration builds the indexes
    t2 = time.perf_counter()
    lines = [
        f"audit of {rows:,} transitions: generated in {t1 - t0:.1f} s, "
        f"migrated (History's indexes built) in {t2 - t1:.1f} s, {path.stat().st_size / 1e6:.0f} MB",
        f"{'':36} {'page 1':>9} {'page 2':>9} {'rows':>5}",
    ]
    for what, ms, nxt, n in measure(path, first, rows):
        lines.append(f"{what:36} {ms:7.1f}ms {nxt:7.1f}ms {n:5d}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures."""
    p = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000, help="transitions to generate (default 1,000,000)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        for line in run(args.rows, Path(tmp)):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
