"""A real ``kill -9`` mid-cancel, then a restart: the audit log's unsettled cancel is re-checked
with Kraken (the simulator) and settled under its old attempt id."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.instance import Profile, request, window_answers
from app.paths import Paths
from tests.helpers.apprun import SimProcess, app_env, run_app, simulator, start_app, stop, wait_for


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with simulator(tmp_path, "--orders", "12", "--other-orders", "3") as s:
        yield s


def last_transition(db: Path, order_id: str) -> tuple[str, str] | None:
    """(attempt, state) of the order's last audited transition, as another process sees it."""
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            row = conn.execute(
                "SELECT attempt, state FROM transitions WHERE order_id=? ORDER BY id DESC LIMIT 1",
                (order_id,),
            ).fetchone()
        except sqlite3.OperationalError:  # the other process created the file, not yet its tables
            return None
    return None if row is None else (str(row[0]), str(row[1]))


def action_row(db: Path, attempt: str) -> tuple[str | None, float | None]:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        summary, settled = conn.execute(
            "SELECT summary, settled_at FROM actions WHERE attempt=?", (attempt,)
        ).fetchone()
    return summary, settled


def hold_the_answer(sim: SimProcess) -> None:
    # Kraken applies the next cancel but its answer is lost, and so is the stream's word on it:
    # the console is left waiting with the order "sent" (its WS request times out after 10 s).
    sim.post("/_sim/hosts/spot_ws/faults", {"lost_reply": 1, "lost_delta": 1})


def kill_when_sent(proc: subprocess.Popen[bytes], db: Path, order_id: str) -> str:
    sent = wait_for(
        lambda: (t := last_transition(db, order_id)) is not None and t[1] == "sent" and t,
        30,
        "the cancel to be sent",
        every=0.02,
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert last_transition(db, order_id) == (sent[0], "sent")  # unsettled in the log
    return str(sent[0])


def test_a_command_killed_mid_cancel_is_settled_by_the_next_run(sim: SimProcess, tmp_path: Path) -> None:
    env = app_env(tmp_path / "home")
    db = tmp_path / "home" / "data" / "sim-audit.sqlite3"
    target = sorted(sim.open_ids("spot"))[0]
    hold_the_answer(sim)
    cancel = start_app(
        ["--endpoints", str(sim.path), "cancel", "--account", "demo-spot", "--ids", target],
        env,
        tmp_path / "cancel.log",
    )
    try:
        attempt = kill_when_sent(cancel, db, target)
    finally:
        stop(cancel)
    assert sim.states("spot")[target] == "cancelled"  # Kraken did it; the console never heard

    after = run_app(["--endpoints", str(sim.path), "list", "--account", "demo-spot"], env)
    assert after.returncode == 0, after.stderr
    assert "from the previous session: 1 settled (1 cancelled), 0 still unknown" in after.stderr
    assert last_transition(db, target) == (attempt, "cancelled")  # under the old attempt id
    summary, settled = action_row(db, attempt)
    assert settled is not None and summary == "settled after a restart: cancelled 1"
    assert target not in after.stdout  # not listed: it is gone
    again = run_app(["--endpoints", str(sim.path), "list", "--account", "demo-spot"], env)
    assert "previous session" not in again.stderr  # nothing left to settle


def test_a_window_killed_mid_cancel_says_so_in_activity_after_the_restart(
    sim: SimProcess, tmp_path: Path
) -> None:
    env = app_env(tmp_path / "home")
    home = tmp_path / "home"
    db = home / "data" / "sim-audit.sqlite3"
    profile = Profile(Paths(home / "config", home / "data"), "sim")
    window = start_app(["--endpoints", str(sim.path)], env, tmp_path / "window1.log")
    try:
        wait_for(lambda: window_answers(profile), 30, "the window")
        listing = {"cmd": "list", "account": "demo-spot"}
        wait_for(lambda: len(request(profile.address, listing)["orders"]) == 12, 20, "the window's listing")
        target = sorted(sim.open_ids("spot"))[0]
        hold_the_answer(sim)

        def ask() -> None:
            # The request is the window's to run: this connection dies with the window.
            asked = {"cmd": "cancel", "account": "demo-spot", "ids": [target]}
            with contextlib.suppress(OSError, ValueError):
                request(profile.address, asked, timeout_s=30)

        threading.Thread(target=ask, daemon=True).start()
        attempt = kill_when_sent(window, db, target)
    finally:
        stop(window)
    assert not window_answers(profile)

    again = start_app(
        ["--endpoints", str(sim.path), "--log-level", "DEBUG", "--quit-after", "8"],
        env,
        tmp_path / "window2.log",
    )
    assert again.wait(60) == 0
    log = (tmp_path / "window2.log").read_text()
    assert "from the previous session: 1 settled (1 cancelled), 0 still unknown" in log
    assert "shown in Activity: from the previous session: 1 settled (1 cancelled)" in log
    assert last_transition(db, target) == (attempt, "cancelled")
    assert action_row(db, attempt)[1] is not None
    assert "Traceback" not in log
