"""Composition root: hardening, paths, config, keychain, desk, demo simulator; the window or a command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.hardening import harden

if TYPE_CHECKING:
    from app.accounts import ConfiguredAccounts
    from app.desk.desk import Desk
    from app.desk.reconcile import Reconciler, ReconcileSummary
    from app.instance import Profile
    from app.venues.nonces import NonceSource

log = logging.getLogger("app")

DEMO_ORDERS = 200
HAND_OFF_WAIT_S = 5.0  # a window that holds the lock but is still starting gets this long to answer
COMMAND_LOCK_WAIT_S = 10.0  # a command waits this long for another command on the profile to end
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _common_options(*, top: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the subcommand (SUPPRESS after: never undo the top's)."""
    p = argparse.ArgumentParser(add_help=False)
    d: Any = (lambda value: value) if top else (lambda _value: argparse.SUPPRESS)
    p.add_argument(
        "--demo", action="store_true", default=d(False), help="run on the built-in simulated exchange"
    )
    p.add_argument(
        "--endpoints",
        type=Path,
        default=d(None),
        help="connect to a simulator: the JSON line of python -m app.sim",
    )
    p.add_argument("--orders", type=int, default=d(DEMO_ORDERS), help="demo: open Spot orders")
    p.add_argument("--log-level", default=d("WARNING"), help="DEBUG, INFO, WARNING (default), ERROR")
    p.add_argument("--log-file", type=Path, default=d(None), help="also write the log here (0600)")
    p.add_argument("--json", action="store_true", default=d(False), help="commands: print JSON")
    return p


def _parser() -> argparse.ArgumentParser:
    from app.cli import add_commands

    p = argparse.ArgumentParser(
        prog="kraken-cancel",
        description="See every open Kraken order (Spot, Futures, Prime) and cancel them fast and surely. "
        "Without a command it opens the window.",
        parents=[_common_options(top=True)],
    )
    p.add_argument("--version", action="version", version=f"kraken-cancel {__version__}")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window once orders are listed")
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help="quit after this long")
    p.add_argument("--self-check", action="store_true", help="print versions, paths, keychain; exit")
    # Checks that a crash report holds no secret: once the orders are listed, the window raises an
    # uncaught exception whose message holds the first account's key and secret (app.logsafe
    # must scrub them from stderr and the log). For tests and the paranoid; not in --help.
    p.add_argument("--crash-test", action="store_true", help=argparse.SUPPRESS)
    add_commands(p, _common_options(top=False))
    return p


def sim_accounts(endpoints: dict[str, Any]) -> list[tuple[AccountSpec, Credentials]]:
    """Accounts for a simulator's JSON line (demo keys come from it, not from the keychain).

    ``accounts`` maps a name to ``{"key", "secret"}`` (and ``"kind"`` when the name is not the
    venue's: accounts added over the simulator's control API).
    """
    from app.logsafe import register_secret
    from app.venues.registry import DESCRIPTORS

    urls = {k: v for k, v in endpoints.items() if isinstance(v, str)}
    names = {"spot": "Demo Spot", "futures": "Demo Futures", "prime": "Demo Prime"}
    out: list[tuple[AccountSpec, Credentials]] = []
    for name, keys in dict(endpoints.get("accounts", {})).items():
        try:
            kind = VenueKind(str(keys.get("kind", name)))
        except (ValueError, AttributeError):
            continue
        if kind not in DESCRIPTORS:
            continue
        spec = AccountSpec(
            account_id=f"demo-{name}",
            name=names.get(name) or str(name),
            venue=kind,
            endpoints=urls,
            stream_transport=Transport.WS_V2,
            cancel_transport=Transport.WS_V2,
        )
        creds = Credentials(str(keys["key"]), str(keys["secret"]))
        register_secret(creds.api_key, creds.secret)
        out.append((spec, creds))
    return out


def _setup_logging(level: str, log_file: Path | None) -> None:
    from app.logsafe import install

    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT)
    handlers: list[logging.Handler] = []
    if log_file is not None:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
    install(handlers)


@dataclass
class Session:
    """What this run works on: the profile, its accounts (fixed for demo/--endpoints, else the
    configured ones with keys from the keychain), nonces and audit log."""

    profile: Profile
    audit_path: Path
    nonces: NonceSource
    fixed: list[tuple[AccountSpec, Credentials]] | None = None
    store: ConfiguredAccounts | None = None
    stop: list[Callable[[], None]] = field(default_factory=list)
    desk: Desk | None = None

    def specs(self) -> list[AccountSpec]:
        """The accounts this run would connect."""
        if self.fixed is not None:
            return [s for s, _ in self.fixed]
        return self.store.list() if self.store is not None else []

    async def build_desk(self, only: Callable[[AccountSpec], bool] | None = None) -> Desk:
        """The desk with the accounts added (``only``: a filter)."""
        from app.desk.audit import AuditLog
        from app.desk.desk import Desk
        from app.venues.registry import build_venue

        desk = Desk(AuditLog(self.audit_path))
        desk.coordinator.session = f"{secrets.token_hex(2)}-"  # attempt ids unique across runs
        self.desk = desk
        if self.fixed is not None:
            for spec, creds in self.fixed:
                if only is None or only(spec):
                    desk.add_account(spec, build_venue(spec, creds, self.nonces))
        elif self.store is not None:
            for spec in self.store.list():
                if only is not None and not only(spec):
                    continue
                try:
                    await self.store.connect(spec)
                except Exception as e:
                    log.error("account %s not connected: %s", spec.name, e)
                    desk.report_problem(spec, str(e))
        return desk


def _session(args: argparse.Namespace) -> Session | int:
    """The run's profile and accounts (no network, no keychain read yet)."""
    from app.accounts import ConfiguredAccounts
    from app.config import ConfigFile
    from app.instance import Profile
    from app.keychain import Keychain
    from app.paths import default_paths, secure
    from app.venues.nonces import NonceSource

    paths = default_paths()
    secure(paths)
    if args.demo:
        return Session(Profile(paths, "demo"), paths.data_dir / "demo-audit.sqlite3", NonceSource(), fixed=[])
    if args.endpoints is not None:
        try:
            endpoints = json.loads(args.endpoints.read_text().strip().splitlines()[0])
            if not isinstance(endpoints, dict):
                raise ValueError("not a JSON object")
            fixed = sim_accounts(endpoints)
        except (OSError, ValueError, IndexError, KeyError, TypeError) as e:
            print(f"kraken-cancel: cannot read endpoints file {args.endpoints}: {e!r}", file=sys.stderr)
            return 2
        return Session(
            Profile(paths, "sim"), paths.data_dir / "sim-audit.sqlite3", NonceSource(), fixed=fixed
        )
    nonces = NonceSource(paths.nonce_file)
    session = Session(Profile(paths, "main"), paths.audit_db, nonces)
    session.store = ConfiguredAccounts(
        ConfigFile(paths.config_file), Keychain(), nonces, lambda: session.desk
    )
    return session


def _start_demo(session: Session, orders: int) -> None:
    """Start the in-process simulator (after the profile lock is held: one per profile)."""
    from app.sim.server import SimThread
    from app.sim.state import Exchange

    exchange = Exchange(seed=0, rate_limits=False)
    for kind in ("spot", "futures", "prime"):
        exchange.add_account(kind, kind)
    exchange.seed_demo(orders, 0)
    sim_thread = SimThread(exchange, activity_rate_per_s=2.0, activity_seed=1)
    endpoints: dict[str, Any] = {**sim_thread.start(), "accounts": exchange.credentials()}
    session.stop.append(sim_thread.stop)
    session.fixed = sim_accounts(endpoints)


def _hand_off(session: Session, message: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    """Ask the window holding the profile to act; None if no window answers."""
    from app.instance import request

    deadline = time.monotonic() + HAND_OFF_WAIT_S
    while True:
        try:
            return request(session.profile.address, message, timeout_s=timeout_s)
        except (OSError, ValueError):
            if time.monotonic() > deadline or session.profile.holder().get("kind") != "window":
                return None
            time.sleep(0.2)


def _start_reconciler(desk: Desk) -> Reconciler:
    from app.desk.reconcile import Reconciler

    reconciler = Reconciler(desk)
    reconciler.start()
    return reconciler


def _preload_before_qt() -> None:
    """Import what the window needs that is not Qt before Qt: PySide6 reads the source of every
    module imported after it (its ``__feature__`` import hook), ~300 modules here (httpx,
    websockets, keyring, the venues), ~50 ms of start-up (bench 4, profiled)."""
    import app.accounts
    import app.desk.desk
    import app.desk.history
    import app.desk.instruments
    import app.desk.orderfacts
    import app.desk.reconcile
    import app.desk.venues
    import app.keychain
    import app.licences
    import app.venues.registry  # noqa: F401


def _run_window(args: argparse.Namespace, session: Session) -> int:
    from app.cli import DeskCommands
    from app.desk.keys import check_keys

    _preload_before_qt()
    from app.ui.app import run_window, screenshot_when_ready
    from app.ui.main_window import MainWindow

    lock = session.profile.acquire("window")
    if lock is None:
        answer = _hand_off(session, {"cmd": "raise"}, 5.0)
        if answer is not None and answer.get("ok"):
            print(
                "kraken-cancel: the console is already running for this profile: "
                "its window was brought forward.",
                file=sys.stderr,
            )
            return 0
        print(
            f"kraken-cancel: cannot start: {session.profile.describe_holder()} is using this profile "
            f"({session.profile.paths.data_dir}, {session.profile.name}) and does not answer. "
            "Close it, or wait for it to finish.",
            file=sys.stderr,
        )
        return 3
    if args.demo:
        _start_demo(session, args.orders)
    held: dict[str, Any] = {}

    async def build_desk() -> Desk:
        desk = await session.build_desk()
        held["reconciler"] = _start_reconciler(desk)
        return desk

    async def on_ready(window: MainWindow) -> None:
        reconciler: Reconciler = held["reconciler"]

        # A bridge task: the window waits for it, then cancels it, before the desk closes.
        async def probe_keys() -> None:
            checks = await check_keys(window.bridge.desk)
            name = window.bridge.account_name
            more = [name(a) for a, c in checks.items() if c.more_than_needed]
            cannot = [name(a) for a, c in checks.items() if c.list_only]
            if cannot:
                window.show_message(
                    f"{', '.join(cannot)}: the key can list but not cancel; left out of the kill switch "
                    "and the dead man's switch (File > Accounts).",
                    error=True,
                )
            elif more:
                window.show_message(
                    f"{', '.join(more)}: the key may also place orders or withdraw; a query + cancel "
                    "key is recommended (File > Accounts)."
                )

        held["commands"].key_checks = window.bridge.run(
            probe_keys(), "key-checks", what="checking what the keys may do"
        )

        def show(summary: ReconcileSummary) -> None:
            window.bridge.activity_model.add_note(summary.text(), time.time())
            log.debug("shown in Activity: %s", summary.text())
            window.show_message(summary.text().capitalize(), error=summary.unknown > 0)

        reconciler.summarized.connect(show)
        if reconciler.summary is not None:
            show(reconciler.summary)
        if args.crash_test:
            await screenshot_when_ready(window, None, 20.0)
            await _crash_test(session)

    def handler_for(desk: Desk) -> Callable[[dict[str, Any]], Any]:
        commands = held["commands"] = DeskCommands(desk)
        return commands.handle

    try:
        return run_window(
            build_desk,
            accounts_store=session.store,
            screenshot=args.screenshot,
            quit_after=args.quit_after,
            argv=[sys.argv[0]],
            on_ready=on_ready,
            single_instance=(session.profile.address, handler_for),
            mode="demo" if args.demo else "simulator" if args.endpoints is not None else None,
        )
    finally:
        for stop in session.stop:
            stop()
        lock.release()


async def _crash_test(session: Session) -> None:
    creds: Credentials | None = None
    if session.fixed:
        creds = session.fixed[0][1]
    elif session.store is not None and session.store.list():
        creds = await session.store.credentials(session.store.list()[0].account_id)
    held = f"key={creds.api_key} secret={creds.secret}" if creds else "no account"
    raise RuntimeError(f"--crash-test: an uncaught exception holding {held}")


def _run_command(args: argparse.Namespace, session: Session) -> int:
    from app.cli import EXIT_CANNOT_RUN, EXIT_USAGE, UsageError, confirm_kill, render, request_from_args
    from app.cli import run_on_own_desk as run_here

    try:
        request = request_from_args(args)
        if request["cmd"] == "kill" and not request["yes"]:
            if not confirm_kill():
                print("kraken-cancel: nothing cancelled.", file=sys.stderr)
                return 1
            request["yes"] = True
    except UsageError as e:
        print(f"kraken-cancel: {e}", file=sys.stderr)
        return EXIT_USAGE
    timeout = float(request.get("wait_s", 30.0)) + 90.0
    deadline = time.monotonic() + COMMAND_LOCK_WAIT_S
    while (lock := session.profile.acquire("command")) is None:
        answer = _hand_off(session, request, timeout)
        if answer is not None:
            return render(answer, as_json=args.json)
        # A window that holds the profile and does not answer will not let go by itself; another
        # command will, when it ends.
        if time.monotonic() > deadline or session.profile.holder().get("kind") == "window":
            result = {
                "command": request["cmd"],
                "ok": False,
                "exit": EXIT_CANNOT_RUN,
                "error": f"{session.profile.describe_holder()} is using this profile and does not answer",
            }
            return render(result, as_json=args.json)
        time.sleep(0.2)
    try:
        if args.demo:
            _start_demo(session, args.orders)
        account = request.get("account") if request["cmd"] in ("list", "cancel", "deadman") else None

        def only(spec: AccountSpec) -> bool:
            # One account asked for: connect just that one (fewer connections, faster).
            return (
                account is None
                or account in (spec.account_id, spec.name)
                or (spec.name.casefold() == account.casefold())
            )

        specs = session.specs()
        if account is not None and not any(only(s) for s in specs):
            known = ", ".join(f"{s.account_id} ({s.name})" for s in specs) or "none"
            error = f"{account!r} is not a connected account; accounts: {known}"
            return render(
                {"command": request["cmd"], "ok": False, "exit": EXIT_USAGE, "error": error},
                as_json=args.json,
            )

        async def reconcile(desk: Desk) -> ReconcileSummary | None:
            reconciler = _start_reconciler(desk)
            try:
                return await reconciler.wait(timeout_s=15.0)
            finally:
                await reconciler.aclose()

        result = asyncio.run(run_here(request, lambda: session.build_desk(only), reconcile=reconcile))
        return render(result, as_json=args.json)
    finally:
        for stop in session.stop:
            stop()
        lock.release()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kraken-cancel`` and ``python -m app``."""
    harden()  # first: no core dumps, private files, before any key is read
    if sys.stdout is None:  # a windowed Windows build has no console
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    args = _parser().parse_args(argv)
    try:
        _setup_logging(args.log_level, args.log_file)
    except (ValueError, OSError) as e:
        print(f"kraken-cancel: {e}", file=sys.stderr)
        return 2
    if args.self_check:
        from app.selfcheck import run_self_check

        return run_self_check()
    session = _session(args)
    if isinstance(session, int):
        return session
    if args.command:
        return _run_command(args, session)
    return _run_window(args, session)


if __name__ == "__main__":
    sys.exit(main())
