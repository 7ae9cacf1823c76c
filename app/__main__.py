"""Composition root: paths, config, keychain, desk, the simulator in demo mode, the window."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind

log = logging.getLogger("app")

DEMO_ORDERS = 200


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kraken-cancel",
        description="See every open Kraken order (Spot, Futures, Prime) and cancel them fast and surely.",
    )
    p.add_argument("--version", action="version", version=f"kraken-cancel {__version__}")
    p.add_argument("--demo", action="store_true", help="run on the built-in simulated exchange")
    p.add_argument("--orders", type=int, default=DEMO_ORDERS, help="demo: open Spot orders")
    p.add_argument(
        "--endpoints", type=Path, help="connect to a simulator: the JSON line of python -m app.sim"
    )
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window once orders are listed")
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help="quit after this long")
    p.add_argument("--self-check", action="store_true", help="print versions, paths, keychain; exit")
    p.add_argument("--log-level", default="WARNING")
    return p


def sim_accounts(endpoints: dict[str, Any]) -> list[tuple[AccountSpec, Credentials]]:
    """Accounts for a simulator's JSON line (demo keys come from it, not from the keychain)."""
    from app.venues.registry import DESCRIPTORS

    urls = {k: v for k, v in endpoints.items() if isinstance(v, str)}
    names = {"spot": "Demo Spot", "futures": "Demo Futures", "prime": "Demo Prime"}
    out: list[tuple[AccountSpec, Credentials]] = []
    for name, keys in dict(endpoints.get("accounts", {})).items():
        try:
            kind = VenueKind(name)
        except ValueError:
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
        out.append((spec, Credentials(str(keys["key"]), str(keys["secret"]))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kraken-cancel`` and ``python -m app``."""
    if sys.stdout is None:  # a windowed Windows build has no console
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.self_check:
        from app.selfcheck import run_self_check

        return run_self_check()

    # Imported here so --version and --self-check stay fast and Qt-free.
    from app.accounts import ConfiguredAccounts
    from app.config import ConfigFile
    from app.desk.audit import AuditLog
    from app.desk.desk import Desk
    from app.keychain import Keychain
    from app.paths import default_paths
    from app.ui.app import run_window
    from app.venues.nonces import NonceSource
    from app.venues.registry import build_venue

    paths = default_paths()
    sim_thread = None
    fixed: list[tuple[AccountSpec, Credentials]] | None = None
    store: ConfiguredAccounts | None = None
    if args.demo:
        from app.sim.server import SimThread
        from app.sim.state import Exchange

        exchange = Exchange(seed=0, rate_limits=False)
        for kind in ("spot", "futures", "prime"):
            exchange.add_account(kind, kind)
        exchange.seed_demo(args.orders, 0)
        sim_thread = SimThread(exchange, activity_rate_per_s=2.0, activity_seed=1)
        endpoints: dict[str, Any] = {**sim_thread.start(), "accounts": exchange.credentials()}
        fixed = sim_accounts(endpoints)
        nonces = NonceSource()
        audit_path = paths.data_dir / "demo-audit.sqlite3"
    elif args.endpoints is not None:
        try:
            endpoints = json.loads(args.endpoints.read_text().strip().splitlines()[0])
        except (OSError, ValueError, IndexError) as e:
            print(f"kraken-cancel: cannot read endpoints file {args.endpoints}: {e}", file=sys.stderr)
            return 2
        fixed = sim_accounts(endpoints)
        nonces = NonceSource()
        audit_path = paths.data_dir / "sim-audit.sqlite3"
    else:
        nonces = NonceSource(paths.nonce_file)
        audit_path = paths.audit_db

    holder: dict[str, Desk] = {}

    async def build_desk() -> Desk:
        desk = Desk(AuditLog(audit_path))
        holder["desk"] = desk
        if fixed is not None:
            for spec, creds in fixed:
                desk.add_account(spec, build_venue(spec, creds, nonces))
        elif store is not None:
            for spec in store.list():
                try:
                    await store.connect(spec)
                except Exception as e:
                    log.error("account %s not connected: %s", spec.name, e)
                    desk.report_problem(spec, str(e))
        return desk

    if fixed is None:
        store = ConfiguredAccounts(
            ConfigFile(paths.config_file), Keychain(), nonces, lambda: holder.get("desk")
        )
    try:
        return run_window(
            build_desk,
            accounts_store=store,
            screenshot=args.screenshot,
            quit_after=args.quit_after,
            argv=[sys.argv[0]],
            mode="demo" if args.demo else "simulator" if args.endpoints is not None else None,
        )
    finally:
        if sim_thread is not None:
            sim_thread.stop()


if __name__ == "__main__":
    sys.exit(main())
