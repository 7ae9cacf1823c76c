"""``python -m app.sim``: serve the simulator; print one JSON line of URLs (control host too) and keys."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import sys
from collections.abc import Sequence

from app.sim.faults import Faults
from app.sim.server import CONTROL, HOSTS, SimServer
from app.sim.state import SPOT_TIERS, Exchange, MarketActivity

log = logging.getLogger("app.sim")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.sim",
        description="Kraken simulator on loopback. Prints one JSON line (URLs, demo keys) to "
        "stdout, logs to stderr, serves until SIGINT/SIGTERM.",
    )
    parser.add_argument("--orders", type=int, default=200, help="open orders on the spot account")
    parser.add_argument("--other-orders", type=int, default=36, help="orders on futures/prime")
    parser.add_argument("--seed", type=int, default=0, help="seeds keys, ids and orders")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to each request")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra latency")
    parser.add_argument("--no-activity", action="store_true", help="no random fills/new orders")
    parser.add_argument("--activity-rate", type=float, default=2.0, help="market actions per s")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce limits")
    parser.add_argument("--tier", choices=sorted(SPOT_TIERS), default="intermediate")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    names = ", ".join([*(spec.name for spec in HOSTS), CONTROL])
    parser.add_argument(
        "--ports",
        type=parse_ports,
        default={},
        help=f"pin ports, e.g. spot_rest=40001,spot_ws=40002 (names: {names}); others get free ports",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        help=f"pin every port from N up, in this order: {names} (--ports wins)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def parse_ports(text: str) -> dict[str, int]:
    """``--ports``: ``name=port,...`` with known host names and ports 1..65535.

    Args:
        text: The option's value.

    Returns:
        Port by host name.

    Raises:
        argparse.ArgumentTypeError: an unknown name or a bad port.
    """
    known = {spec.name for spec in HOSTS} | {CONTROL}
    ports: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in known or not value.isdigit() or not 0 < int(value) < 65536:
            raise argparse.ArgumentTypeError(
                f"bad port pin {item!r}: want name=port with a name from {sorted(known)}"
            )
        ports[name] = int(value)
    return ports


def pinned_ports(args: argparse.Namespace) -> dict[str, int]:
    """The ports to bind: ``--base-port`` numbering, then ``--ports`` pins over it."""
    ports: dict[str, int] = {}
    if args.base_port is not None:
        names = [*(spec.name for spec in HOSTS), CONTROL]
        ports = {name: args.base_port + i for i, name in enumerate(names)}
    ports.update(args.ports)
    return ports


async def serve(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM.

    Args:
        args: Parsed command line.

    Returns:
        The exit status (0).
    """
    exchange = Exchange(seed=args.seed, rate_limits=not args.no_rate_limits)
    for kind in ("spot", "futures", "prime"):
        exchange.add_account(kind, kind, tier=args.tier)
    exchange.seed_demo(args.orders, args.seed, n_other=args.other_orders)
    faults = Faults(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, rng=random.Random(args.seed))
    server = SimServer(exchange, faults, host=args.host, ports=pinned_ports(args), control=True)
    activity = MarketActivity(
        exchange, random.Random(args.seed + 1), 0.0 if args.no_activity else args.activity_rate
    )
    server.activity = activity
    endpoints = await server.start()
    activity.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sys.stdout.write(json.dumps({**endpoints, "accounts": exchange.credentials()}) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await activity.stop()
        await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m app.sim``.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
