"""Running the real console and the real simulator as processes (the way a trader does)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimProcess:
    """``python -m app.sim`` running in its own process."""

    proc: subprocess.Popen[str]
    endpoints: dict[str, Any]
    path: Path  # the endpoints file (its first line is the simulator's JSON line)

    @property
    def control(self) -> str:
        return str(self.endpoints["control"])

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(f"{self.control}{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.control}{path}", timeout=10)
        r.raise_for_status()
        return r.json()

    def truth(self, account: str) -> dict[str, Any]:
        return dict(self.get(f"/_sim/truth?account={account}"))

    def states(self, account: str) -> dict[str, str]:
        """Every order the account ever had -> its state (open, cancelled, filled...)."""
        return {str(oid): str(o["state"]) for oid, o in self.truth(account)["orders"].items()}

    def open_ids(self, account: str) -> set[str]:
        return {oid for oid, state in self.states(account).items() if state == "open"}

    def add_account(self, name: str, kind: str, permissions: list[str]) -> dict[str, str]:
        """A new account over the control API; it is written into the endpoints file too."""
        made = self.post("/_sim/accounts", {"name": name, "kind": kind, "permissions": permissions})
        keys = {"key": str(made["key"]), "secret": str(made["secret"]), "kind": kind}
        self.endpoints["accounts"][name] = keys
        self.path.write_text(json.dumps(self.endpoints) + "\n")
        return keys

    def secrets(self) -> list[str]:
        """Every key and secret the simulator gave out."""
        return [
            str(v)
            for a in self.endpoints["accounts"].values()
            for k, v in a.items()
            if k in ("key", "secret")
        ]


@contextlib.contextmanager
def simulator(tmp_path: Path, *args: str) -> Iterator[SimProcess]:
    """Start the simulator (control host on) and stop it afterwards."""
    log = (tmp_path / "sim.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.sim", "--no-activity", "--seed", "5", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise AssertionError(f"the simulator did not start: {(tmp_path / 'sim.log').read_text()[-2000:]}")
    path = tmp_path / "endpoints.json"
    path.write_text(line)
    try:
        yield SimProcess(proc, json.loads(line), path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        log.close()


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a console process: its own profile folders, offscreen Qt."""
    env = {**os.environ, "KRAKEN_CANCEL_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update(extra)
    return env


def run_app(
    args: list[str], env: dict[str, str], *, timeout: float = 90, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=env.get("KRAKEN_CANCEL_CWD", str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


def start_app(args: list[str], env: dict[str, str], stderr_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m app ARGS`` in the background, its stderr to a file."""
    err = stderr_path.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            env=env,
            cwd=env.get("KRAKEN_CANCEL_CWD", str(ROOT)),
            stdout=err,
            stderr=err,
        )
    finally:
        err.close()


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> int:
    """Terminate politely, then for good; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``cond`` until it is truthy; its value."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
