"""The History window without the desk: its model pages under Qt's model tester, its fields make
the search, and demo or simulator runs read an audit file of their own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication

from app.__main__ import Session, _parser, _session
from app.core.ledger import CancelState
from app.desk.audit import AuditLog, Transition
from app.desk.history import AuditReader, HistoryQuery
from app.ui.history import ROW_ROLE, HistoryColumn, HistoryModel, HistoryWindow
from bench import history as gen
from tests.helpers.fakes import make_order as fake_order


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, float]:
    path = tmp_path / "audit.sqlite3"
    first = gen.generate(path, 3000, span_s=30 * gen.DAY)
    AuditLog(path).close()
    return path, first


@pytest.mark.qt_log_level_fail("WARNING")
def test_the_model_pages_under_qts_model_tester(
    generated: tuple[Path, float], qapp: QApplication, qtmodeltester: Any
) -> None:
    path, _first = generated
    reader = AuditReader(path)
    watched = HistoryModel(reader, page_rows=100)
    qtmodeltester.check(watched)  # it asks for more itself, from every change's signal
    watched.search(HistoryQuery(account="spot"))
    while watched.canFetchMore():
        watched.fetchMore()
    watched.search(HistoryQuery(symbol="eth/usd"))
    watched.search(HistoryQuery(ids="nothing"))

    model = HistoryModel(reader, page_rows=100)
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    assert model.search(HistoryQuery(account="spot")) == 100 and model.canFetchMore()
    while model.canFetchMore():
        model.fetchMore()
    assert len(resets) == 1  # the search; scrolling only appends
    assert inserted[0] == (100, 199)
    assert model.rowCount() == 3 * len(range(0, 1000, 4))  # every 4th order is on spot
    assert watched.rowCount() == 0
    rows = [model.row_at(r) for r in range(model.rowCount())]
    assert all(r.account == "spot" for r in rows)
    assert [r.cursor for r in rows] == sorted((r.cursor for r in rows), reverse=True)
    model.search(HistoryQuery(ids=gen.order_id(8)))
    assert [model.index(r, HistoryColumn.STATE).data() for r in range(3)] == ["cancelled", "sent", "queued"]
    assert model.index(0, HistoryColumn.ROUND_TRIP).data() == "12 ms"
    assert model.index(0, 0).data(ROW_ROLE).order_id == gen.order_id(8)
    reader.close()


def test_the_fields_make_the_search_and_the_selected_order_shows_its_life(
    generated: tuple[Path, float], qapp: QApplication
) -> None:
    path, first = generated
    names = {"spot": "Main spot"}
    window = HistoryWindow(path, account_name=lambda a: names.get(a, a))
    try:
        assert window.windowTitle() == "History — audit log"
        assert window.model.rowCount() == 500 and window.model.more  # opened on the newest page
        assert "older ones load as you scroll" in window.status.text()
        accounts = [window.account.itemText(i) for i in range(window.account.count())]
        assert accounts == ["All accounts", "futures", "prime", "Main spot (spot)", "spot2"]
        window.ids.setText(gen.order_id(9)[:10].lower())
        assert window.search() == 3
        assert window.life_model.rowCount() == 3  # the first row is selected: its life below
        assert window.life_title.text().startswith(
            f"{gen.order_id(9)} on spot2 (PF_XBTUSD): 1 cancel attempt"
        )
        window.ids.clear()
        window.symbol.setText("pf_xbtusd")
        window.account.setCurrentIndex(window.account.findData("spot2"))
        day = dt.datetime.fromtimestamp(first + 10 * gen.DAY)
        window.since.setDate(QDate(day.year, day.month, day.day))
        window.until.setDate(QDate(day.year, day.month, day.day))
        window.since_on.setChecked(True)
        window.until_on.setChecked(True)
        q = window.query()
        assert (q.symbol, q.account) == ("pf_xbtusd", "spot2")
        assert q.since == dt.datetime(day.year, day.month, day.day).timestamp()
        assert q.until is not None and q.until - q.since in (23 * 3600, 24 * 3600, 25 * 3600)
        n = window.search()
        rows = [window.model.row_at(r) for r in range(n)]
        assert rows and all(r.symbol == "PF_XBTUSD" and r.account == "spot2" for r in rows)
        assert all(q.since <= r.at < q.until for r in rows)
        window.symbol.setText("nothing/here")
        assert window.search() == 0 and window.status.text().startswith("Nothing found.")
        assert window.life_model.rowCount() == 0
    finally:
        window.close()
        window.deleteLater()


def test_a_console_that_never_cancelled_says_so(tmp_path: Path, qapp: QApplication) -> None:
    window = HistoryWindow(tmp_path / "audit.sqlite3", mode="demo")
    try:
        assert window.windowTitle() == "History — demo audit log"
        assert window.model.rowCount() == 0
        assert window.status.text().startswith("Nothing audited yet")
        assert not (tmp_path / "audit.sqlite3").exists()  # History creates nothing
    finally:
        window.close()
        window.deleteLater()


def test_demo_and_simulator_runs_keep_their_audit_apart_from_the_real_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_CANCEL_HOME", str(tmp_path))
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text('{"accounts": {}}\n')

    def audit_of(argv: list[str]) -> Path:
        session = _session(_parser().parse_args(argv))
        assert isinstance(session, Session)
        return session.audit_path

    real = audit_of([])
    demo = audit_of(["--demo"])
    sim = audit_of(["--endpoints", str(endpoints)])
    assert len({real, demo, sim}) == 3
    assert real.name == "audit.sqlite3" and demo.name == "demo-audit.sqlite3"
    # What a demo session writes, History over the real file never shows (and the reverse).
    for path, account in ((demo, "demo-spot"), (real, "main-spot")):
        log = AuditLog(path)
        log.record([Transition("A1", fake_order(1, account=account), CancelState.CANCELLED)])
        log.close()
    assert AuditReader(real).accounts() == ["main-spot"]
    assert AuditReader(demo).accounts() == ["demo-spot"]
    assert not sim.exists()
