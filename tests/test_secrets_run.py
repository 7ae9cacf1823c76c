"""Secrets stay secret through a whole session of the real console at DEBUG level.

The window runs against a simulator process with ``--log-level DEBUG`` (so httpx, websockets,
qasync and asyncio all log), the command line cancels an order and arms and disarms the dead
man's switch through it, the window quits, then a second run crashes on purpose with an
uncaught exception whose message holds a key and its secret (``--crash-test``). Every file the
runs wrote (logs, audit log, config, nonce marks, locks, any core file) and every stdout and
stderr is then searched for every key and secret the simulator gave out: none may appear.

Two ways to get keys: the simulator's line (``--endpoints``), and the trader's own accounts
with the keys in the real keychain (a Secret Service in the D-Bus session ``scripts/test.sh``
starts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import ConfigFile
from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.instance import Profile, request, window_answers
from app.keychain import Keychain
from app.paths import Paths
from tests.helpers.apprun import SimProcess, app_env, run_app, simulator, start_app, stop, wait_for


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with simulator(tmp_path, "--orders", "20", "--other-orders", "4") as s:
        yield s


def written_files(*roots: Path) -> list[Path]:
    return sorted({p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()})


def search(files: list[Path], texts: list[str], secrets: list[str]) -> list[str]:
    """Where any secret appears (as text, or as its UTF-8 bytes in a binary file such as SQLite)."""
    hits = []
    for f in files:
        data = f.read_bytes()
        hits.extend(f"{f.name}: {s[:6]}..." for s in secrets if s.encode() in data)
    for i, text in enumerate(texts):
        hits.extend(f"output {i}: {s[:6]}..." for s in secrets if s in text)
    return hits


def session(
    sim: SimProcess, tmp_path: Path, base: list[str], profile_name: str, env: dict[str, str]
) -> tuple[list[str], Path]:
    """A full session and a crash; returns every stdout/stderr text and the run folder."""
    run = tmp_path / "run"  # the working folder: a core file would land here
    run.mkdir()
    env["KRAKEN_CANCEL_CWD"] = str(run)
    home = Path(env["KRAKEN_CANCEL_HOME"])
    profile = Profile(Paths(home / "config", home / "data"), profile_name)
    debug = ["--log-level", "DEBUG"]
    window = start_app([*base, *debug, "--log-file", str(run / "console.log")], env, run / "window.stderr")
    outputs: list[str] = []
    try:
        wait_for(lambda: window_answers(profile), 40, "the window")
        listing = {"cmd": "list", "account": "demo-spot" if profile_name == "sim" else "spot"}
        wait_for(lambda: len(request(profile.address, listing)["orders"]) == 20, 30, "the listing")
        target = sorted(sim.open_ids("spot"))[0]
        account = listing["account"]
        for args in (
            ["cancel", "--account", account, "--ids", target],
            ["deadman", "arm", "60"],
            ["deadman", "disarm"],
            ["list", "--json"],
        ):
            done = run_app([*base, *debug, *args], env)
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stderr[-3000:]
        assert sim.states("spot")[target] == "cancelled"
    finally:
        assert stop(window) in (0, -15), (run / "window.stderr").read_text()[-3000:]
    crash = run_app([*base, *debug, "--log-file", str(run / "crash.log"), "--crash-test"], env)
    outputs += [crash.stdout, crash.stderr]
    assert crash.returncode == 1
    assert "uncaught exception" in crash.stderr and "--crash-test" in crash.stderr
    assert "RuntimeError: --crash-test: an uncaught exception holding key=<redacted> secret=<redacted>" in (
        crash.stderr
    )
    return outputs, run


def check_nothing_leaked(sim: SimProcess, tmp_path: Path, outputs: list[str], run: Path, home: Path) -> None:
    files = written_files(home, run)
    names = {f.name for f in files}
    assert {"console.log", "crash.log", "window.stderr"} <= names
    assert not [f for f in files if f.name.startswith("core")]
    log = (run / "console.log").read_text()
    # The run logged what a leak would need: frames, HTTP requests, tokens being fetched.
    assert "websockets" in log and "GetWebSocketsToken" in log and "<redacted>" in log
    secrets = sim.secrets()
    assert len(secrets) >= 6
    hits = search(files, [*outputs, (run / "window.stderr").read_text()], secrets)
    names = sorted(f.name for f in files)
    print(f"searched {names} and {len(outputs) + 1} outputs for {len(secrets)} secrets: {hits}")
    assert hits == []


def test_a_whole_debug_session_and_a_crash_leak_no_key(sim: SimProcess, tmp_path: Path) -> None:
    env = app_env(tmp_path / "home")
    outputs, run = session(sim, tmp_path, ["--endpoints", str(sim.path)], "sim", env)
    check_nothing_leaked(sim, tmp_path, outputs, run, tmp_path / "home")


@pytest.mark.keychain
def test_keys_from_the_real_keychain_leak_nowhere(sim: SimProcess, tmp_path: Path) -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.skip("no D-Bus session: run through scripts/test.sh")
    home = tmp_path / "home"
    keychain = Keychain()
    urls = {k: v for k, v in sim.endpoints.items() if isinstance(v, str)}
    specs = [
        AccountSpec(name, f"My {name}", kind, endpoints=urls, stream_transport=Transport.WS_V2)
        for name, kind in (("spot", VenueKind.SPOT), ("futures", VenueKind.FUTURES))
    ]
    for spec in specs:
        keys = sim.endpoints["accounts"][spec.account_id]
        keychain.save(spec.account_id, Credentials(keys["key"], keys["secret"]))
    ConfigFile(home / "config" / "config.json").save(specs)
    try:
        outputs, run = session(sim, tmp_path, [], "main", app_env(home))
        check_nothing_leaked(sim, tmp_path, outputs, run, home)
        assert len(json.loads((home / "config" / "config.json").read_text())["accounts"]) == 2
    finally:
        for spec in specs:
            keychain.delete(spec.account_id)
