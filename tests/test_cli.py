"""The command line against a real simulator process: outcomes, JSON, exit statuses, bad input,
and a running window doing the work on its own desk (one set of connections, one ledger)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli import EXIT_CANNOT_RUN, EXIT_NOT_AS_ASKED, EXIT_OK, EXIT_USAGE
from app.instance import Profile, window_answers
from app.paths import Paths
from tests.helpers.apprun import SimProcess, app_env, run_app, simulator, start_app, stop, wait_for


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with simulator(tmp_path, "--orders", "30", "--other-orders", "6") as s:
        yield s


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return app_env(tmp_path / "home")


def cli(sim: SimProcess, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_app(["--endpoints", str(sim.path), *args], env)


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def cancels_seen(sim: SimProcess) -> list[str]:
    rows = sim.get("/_sim/arrivals?since_ns=0")["arrivals"]
    return [str(r[2]) for r in rows if "ancel" in str(r[2])]


def test_list_then_cancel_by_symbol_and_by_ids(sim: SimProcess, env: dict[str, str]) -> None:
    listed = as_json(cli(sim, env, "list", "--account", "Demo Spot", "--json"))
    assert listed["ok"] and listed["exit"] == EXIT_OK
    orders = listed["orders"]
    assert {o["order_id"] for o in orders} == sim.open_ids("spot")
    symbol = orders[0]["symbol"]
    of_symbol = {o["order_id"] for o in orders if o["symbol"] == symbol}

    done = cli(sim, env, "cancel", "--account", "demo-spot", "--symbol", symbol)
    assert done.returncode == EXIT_OK, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("cancelled")]
    assert {line.split()[3] for line in lines} == of_symbol
    assert f"cancel all {symbol}: {len(of_symbol)} cancelled" in done.stdout
    states = sim.states("spot")
    assert all(states[i] == "cancelled" for i in of_symbol)

    keep = next(o["order_id"] for o in orders if o["symbol"] != symbol)
    result = as_json(cli(sim, env, "cancel", "--account", "demo-spot", "--ids", keep, "NOT-AN-ID", "--json"))
    assert result["exit"] == EXIT_NOT_AS_ASKED and not result["ok"]
    assert result["not_found"] == ["NOT-AN-ID"]
    assert [(o["order_id"], o["state"]) for o in result["outcomes"]] == [(keep, "cancelled")]
    assert sim.states("spot")[keep] == "cancelled"


def test_bad_input_is_refused_clearly_and_nothing_is_sent(sim: SimProcess, env: dict[str, str]) -> None:
    for args, words in (
        (["cancel", "--symbol", "XBT/USD"], "--account"),
        (["cancel", "--account", "demo-spot"], "--symbol"),
        (["cancel", "--account", "nobody", "--ids", "X"], "is not a connected account"),
        (["deadman", "arm", "0"], "SECONDS must be between 1 and 86399"),
        (["deadman", "arm", "86400"], "SECONDS must be between 1 and 86399"),
        (["kill"], "add --yes when not run from a terminal"),
    ):
        done = cli(sim, env, *args)
        assert done.returncode == EXIT_USAGE, (args, done.stderr)
        assert words in done.stderr, (args, done.stderr)
    assert cancels_seen(sim) == []
    assert len(sim.open_ids("spot")) == 30


def test_dead_mans_switch_and_kill_switch(sim: SimProcess, env: dict[str, str]) -> None:
    armed = as_json(cli(sim, env, "deadman", "arm", "120", "--json"))
    assert armed["ok"], armed
    rows = {r["account"]: r for r in armed["accounts"]}
    assert rows["demo-spot"]["armed"] and rows["demo-futures"]["armed"]
    assert (
        rows["demo-spot"]["trigger_time"]
        and rows["demo-prime"]["error"] == "no dead man's switch on this venue"
    )
    off = cli(sim, env, "deadman", "disarm", "--account", "demo-futures")
    assert off.returncode == EXIT_OK and "demo-futures     disarmed" in off.stdout
    prime = cli(sim, env, "deadman", "arm", "60", "--account", "demo-prime")
    assert prime.returncode == EXIT_NOT_AS_ASKED and "no dead man's switch" in prime.stderr

    killed = as_json(cli(sim, env, "kill", "--yes", "--json"))
    assert killed["ok"] and killed["exit"] == EXIT_OK, killed
    assert {o["state"] for o in killed["outcomes"]} == {"cancelled"}
    for account in ("spot", "futures", "prime"):
        assert sim.open_ids(account) == set(), account
    assert cli(sim, env, "deadman", "disarm").returncode == EXIT_OK


def test_a_list_only_key_is_left_out_of_kill_and_the_exit_status_says_so(
    sim: SimProcess, env: dict[str, str]
) -> None:
    sim.add_account("ro", "spot", ["query"])
    sim.post("/_sim/orders", {"account": "ro", "n": 3})
    result = as_json(cli(sim, env, "kill", "--yes", "--json"))
    assert result["left_out"] == ["demo-ro"] and result["exit"] == EXIT_NOT_AS_ASKED
    assert len(sim.open_ids("ro")) == 3 and sim.open_ids("spot") == set()
    listed = as_json(cli(sim, env, "list", "--json"))
    assert {a["account"]: a["can_cancel"] for a in listed["accounts"]}.get("demo-ro") in (False, None)


def test_a_running_window_runs_the_commands_on_its_desk(
    sim: SimProcess, env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["KRAKEN_CANCEL_HOME"])
    profile = Profile(Paths(home / "config", home / "data"), "sim")
    window = start_app(["--endpoints", str(sim.path), "--log-level", "INFO"], env, tmp_path / "window.log")
    try:
        wait_for(lambda: window_answers(profile), 30, "the window's socket")
        assert profile.holder()["kind"] == "window"

        def listed() -> dict[str, Any]:
            return as_json(cli(sim, env, "list", "--account", "demo-spot", "--json"))

        wait_for(lambda: len(listed()["orders"]) == 30, 20, "the window's listing", every=0.5)
        target = sorted(sim.open_ids("spot"))[0]
        done = cli(sim, env, "cancel", "--account", "demo-spot", "--ids", target)
        assert done.returncode == EXIT_OK and done.stdout.startswith("cancelled"), done.stdout + done.stderr
        assert sim.states("spot")[target] == "cancelled"
        second = run_app(["--endpoints", str(sim.path)], env)  # a second window start
        assert second.returncode == 0 and "brought forward" in second.stderr
        assert window.poll() is None
    finally:
        stop(window)
    log = (tmp_path / "window.log").read_text()
    assert "running the command line's 'cancel' on this window's desk" in log
    assert "running the command line's 'list' on this window's desk" in log
    assert "Traceback" not in log


def test_a_profile_held_by_a_window_that_does_not_answer_is_said_plainly(
    sim: SimProcess, env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["KRAKEN_CANCEL_HOME"])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from app.instance import Profile\n"
            "from app.paths import Paths\n"
            "home = Path(sys.argv[1])\n"
            "lock = Profile(Paths(home / 'config', home / 'data'), 'sim').acquire('window')\n"
            "print('held' if lock else 'busy', flush=True)\n"
            "time.sleep(120)\n",
            str(home),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = cli(sim, env)
        assert started.returncode == EXIT_CANNOT_RUN
        assert f"the console window (pid {holder.pid}) is using this profile" in started.stderr
        assert "does not answer" in started.stderr
        command = cli(sim, env, "list")
        assert command.returncode == EXIT_CANNOT_RUN and "does not answer" in command.stderr
    finally:
        holder.kill()
        holder.wait(5)
        assert holder.stdout is not None
        holder.stdout.close()
    # The OS let the lock go with the process (kill -9): the profile is free again.
    assert cli(sim, env, "list").returncode == EXIT_OK
