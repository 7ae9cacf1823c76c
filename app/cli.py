"""The command line on the same desk: ``kraken-cancel list | cancel | kill | deadman``.

Every command runs on a ``Desk`` (the same keychain, cancel ledger, audit log and planner as
the window) and prints per-order outcomes, or JSON with ``--json``; the exit status is 0 only
when everything ended as asked. When the window runs on the same profile, the command is sent
to it over the profile's local socket (``app.instance``) and runs on the window's desk: no
second set of connections, one ledger. ``DeskCommands`` is what both sides run.

Exit statuses: 0 everything ended as asked; 1 something did not (an order failed, was refused,
filled first, is still unknown, an account could not be listed or armed); 2 bad input (nothing
was sent); 3 the console cannot run here (keychain, profile in use, no account).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.orders import Order
from app.core.plan import CancelIntent, Scope
from app.desk.coordinator import CancelReport
from app.desk.desk import Desk
from app.desk.keys import check_keys
from app.desk.reconcile import ReconcileSummary

log = logging.getLogger("app.cli")

EXIT_OK = 0
EXIT_NOT_AS_ASKED = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3

COMMANDS = ("list", "cancel", "kill", "deadman")
AS_ASKED = frozenset({CancelState.CANCELLED, CancelState.ALREADY_GONE})
LIST_WAIT_S = 20.0  # how long a command waits for its accounts' first listing
SETTLE_WAIT_S = 30.0  # how long a cancel waits for unknown endings to be re-checked
KEY_CHECK_WAIT_S = 15.0  # the kill switch and the dead man's switch wait this long for key probes
MAX_DEADMAN_S = 86399  # Kraken: timeout < 86400 (API-FACTS 6)


class UsageError(ValueError):
    """The request is not valid: nothing was sent."""


# --- the parser ----------------------------------------------------------------------------------


def add_commands(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Add the subcommands to the console's parser (no subcommand still opens the window).

    Args:
        parser: the top-level parser.
        common: options also accepted after the subcommand (``--endpoints``, ``--demo``...),
            declared with ``default=argparse.SUPPRESS`` so they never undo the top-level ones.
    """
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", parents=[common], help="print the open orders")
    p.add_argument("--account", help="only this account (id or name)")
    p.add_argument("--symbol", help="only this symbol, e.g. XBT/USD or PF_XBTUSD")
    p = sub.add_parser("cancel", parents=[common], help="cancel orders of one account, by symbol or by id")
    p.add_argument("--account", required=True, help="the account (id or name)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--symbol", help="every order of this symbol")
    what.add_argument("--ids", nargs="+", metavar="ID", help="these order ids (or client ids)")
    p.add_argument("--wait", type=float, default=SETTLE_WAIT_S, help="seconds to wait for unknown endings")
    p = sub.add_parser("kill", parents=[common], help="kill switch: cancel every order on every account")
    p.add_argument("--yes", action="store_true", help="do not ask (needed when not run from a terminal)")
    p.add_argument("--wait", type=float, default=SETTLE_WAIT_S, help="seconds to wait for unknown endings")
    p = sub.add_parser("deadman", parents=[common], help="arm or disarm Kraken's dead man's switch once")
    action = p.add_subparsers(dest="deadman_action", metavar="ACTION", required=True)
    arm = action.add_parser("arm", parents=[common], help="Kraken cancels everything after SECONDS")
    arm.add_argument("seconds", type=int, metavar="SECONDS")
    arm.add_argument("--account", help="only this account (id or name)")
    off = action.add_parser("disarm", parents=[common], help="stop Kraken's timer (timeout 0)")
    off.add_argument("--account", help="only this account (id or name)")


def request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The request a parsed command line stands for (what goes over the window's socket).

    Raises:
        UsageError: an argument is out of range.
    """
    cmd = args.command
    req: dict[str, Any] = {"cmd": cmd}
    if cmd == "list":
        req.update(account=args.account, symbol=args.symbol)
    elif cmd == "cancel":
        req.update(account=args.account, symbol=args.symbol, ids=args.ids, wait_s=args.wait)
    elif cmd == "kill":
        req.update(yes=bool(args.yes), wait_s=args.wait)
    elif cmd == "deadman":
        seconds = args.seconds if args.deadman_action == "arm" else 0
        if args.deadman_action == "arm" and not 1 <= seconds <= MAX_DEADMAN_S:
            raise UsageError(f"SECONDS must be between 1 and {MAX_DEADMAN_S} (Kraken's limit)")
        req.update(seconds=seconds, account=args.account)
    return validate(req)


def _text(req: dict[str, Any], name: str) -> str | None:
    value = req.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{name} must be a non-empty text")
    return value.strip()


def validate(req: dict[str, Any]) -> dict[str, Any]:
    """Check a request's fields (it may come from the socket, so nothing is trusted).

    Raises:
        UsageError: what is wrong with it.
    """
    cmd = req.get("cmd")
    if cmd not in COMMANDS:
        raise UsageError(f"unknown command {cmd!r}: one of {', '.join(COMMANDS)}")
    out: dict[str, Any] = {"cmd": cmd}
    for name in ("account", "symbol"):
        out[name] = _text(req, name)
    wait = req.get("wait_s", SETTLE_WAIT_S)
    if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 <= wait <= 600:
        raise UsageError("wait must be between 0 and 600 seconds")
    out["wait_s"] = float(wait)
    if cmd == "cancel":
        ids = req.get("ids")
        if ids is not None:
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
                raise UsageError("ids must be a list of order ids")
            ids = list(dict.fromkeys(i.strip() for i in ids))
        out["ids"] = ids
        if out["account"] is None:
            raise UsageError("cancel needs --account")
        if (out["symbol"] is None) == (ids is None):
            raise UsageError("cancel needs either --symbol or --ids")
    if cmd == "kill":
        out["yes"] = req.get("yes") is True
    if cmd == "deadman":
        seconds = req.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= MAX_DEADMAN_S:
            raise UsageError(f"seconds must be a whole number from 0 to {MAX_DEADMAN_S}")
        out["seconds"] = seconds
    return out


# --- the commands, on a desk -----------------------------------------------------------------------


def order_json(o: Order) -> dict[str, Any]:
    """An open order as the command line prints it."""
    return {
        "account": o.account_id,
        "venue": o.venue.value,
        "symbol": o.symbol,
        "side": o.side.value,
        "type": o.order_type,
        "price": None if o.price is None else str(o.price),
        "quantity": str(o.quantity),
        "filled": str(o.filled),
        "order_id": o.order_id,
        "client_id": o.client_id,
        "userref": o.userref,
        "opened_at": o.opened_at,
    }


class DeskCommands:
    """The command line's commands on a desk (the command's own, or the window's).

    Rules: a request is validated before anything is sent; a cancel names one account and is
    planned by the desk's planner (never widened), and outcomes are the ledger's words after
    the unknown ones had ``wait_s`` to be re-checked; the kill switch and the dead man's switch
    leave out keys that cannot cancel, and say so; nothing here prints (the answer is a dict).
    """

    def __init__(self, desk: Desk, *, key_checks: asyncio.Task[Any] | None = None) -> None:
        self.desk = desk
        self.key_checks = key_checks  # the kill switch and the dead man's switch wait for it

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request; the answer always has ``ok`` and ``exit`` (the exit status)."""
        try:
            req = validate(request)
            if req["cmd"] == "list":
                return self.list_orders(req["account"], req["symbol"])
            if req["cmd"] == "cancel":
                return await self.cancel(req["account"], req["symbol"], req["ids"], req["wait_s"])
            if req["cmd"] == "kill":
                if not req["yes"]:
                    raise UsageError("the kill switch needs yes (kraken-cancel kill --yes)")
                return await self.kill(req["wait_s"])
            return await self.deadman(req["seconds"], req["account"])
        except UsageError as e:
            return {"command": request.get("cmd"), "ok": False, "exit": EXIT_USAGE, "error": str(e)}

    def account(self, text: str) -> str:
        """The id of the connected account called ``text`` (its id or its name).

        Raises:
            UsageError: no such account, or the name is ambiguous.
        """
        specs = self.desk.specs
        if text in specs:
            return text
        found = [aid for aid, s in specs.items() if s.name.casefold() == text.casefold()]
        if len(found) == 1:
            return found[0]
        known = ", ".join(f"{aid} ({s.name})" for aid, s in specs.items()) or "none"
        why = "is ambiguous" if found else "is not a connected account"
        raise UsageError(f"{text!r} {why}; accounts: {known}")

    def _accounts(self) -> list[dict[str, Any]]:
        return [
            {
                "account": st.account_id,
                "name": st.name,
                "venue": st.venue.value,
                "link": st.link.value,
                "detail": st.detail,
                "can_cancel": st.can_cancel,
            }
            for st in self.desk.status.values()
        ]

    def list_orders(self, account: str | None, symbol: str | None) -> dict[str, Any]:
        """The open orders (of one account, of one symbol)."""
        aid = self.account(account) if account else None
        orders = [
            o
            for o in self.desk.store.orders(aid)
            if symbol is None or o.symbol.casefold() == symbol.casefold()
        ]
        down = [
            st
            for st in self.desk.status.values()
            if (aid is None or st.account_id == aid) and not _listed(st.link)
        ]
        result: dict[str, Any] = {
            "command": "list",
            "orders": [order_json(o) for o in orders],
            "accounts": self._accounts(),
            "problems": [f"{st.name} is {st.link.value}: {st.detail}" for st in down],
        }
        return _finish(result, ok=not down)

    async def cancel(
        self, account: str, symbol: str | None, ids: list[str] | None, wait_s: float
    ) -> dict[str, Any]:
        """Cancel one account's orders of ``symbol``, or the orders with these ids."""
        aid = self.account(account)
        not_found: list[str] = []
        if ids is not None:
            by_id = {o.order_id: o for o in self.desk.store.orders(aid)}
            by_client = {o.client_id: o for o in by_id.values() if o.client_id}
            chosen: list[Order] = []
            for i in ids:
                o = by_id.get(i) or by_client.get(i)
                if o is None:
                    not_found.append(i)
                elif o not in chosen:
                    chosen.append(o)
            intent = CancelIntent(Scope.ORDERS, tuple(chosen))
        else:
            intent = CancelIntent(Scope.SYMBOL, account_ids=(aid,), symbol=self._symbol(aid, symbol))
        result = await self._run(intent, wait_s, "cancel")
        if not_found:
            result["not_found"] = not_found
            result["problems"].append(
                f"not among {aid}'s open orders (already gone, or a typo?): {', '.join(not_found)}"
            )
        return _finish(result, ok=result["ok"] and not not_found)

    def _symbol(self, aid: str, symbol: str | None) -> str:
        assert symbol is not None
        known = {o.symbol for o in self.desk.store.orders(aid)}
        exact = [s for s in known if s.casefold() == symbol.casefold()]
        return exact[0] if exact else symbol

    async def _wait_keys(self) -> None:
        if self.key_checks is not None and not self.key_checks.done():
            await asyncio.wait([self.key_checks], timeout=KEY_CHECK_WAIT_S)

    async def kill(self, wait_s: float) -> dict[str, Any]:
        """The kill switch: everything on every connected account whose key may cancel."""
        await self._wait_keys()
        accounts = self.desk.cancel_account_ids()
        left_out = [a for a in self.desk.venues if a not in accounts]
        if not accounts:
            nobody: dict[str, Any] = {
                "command": "kill",
                "outcomes": [],
                "problems": ["no account can cancel"],
            }
            return _finish(nobody, ok=False)
        intent = CancelIntent(Scope.EVERYTHING, account_ids=accounts)
        result = await self._run(intent, wait_s, "kill")
        for a in left_out:
            result["problems"].append(f"left out: {self._name(a)}: its key can list but not cancel")
        result["left_out"] = left_out
        return _finish(result, ok=result["ok"] and not left_out)

    def _name(self, aid: str) -> str:
        spec = self.desk.specs.get(aid)
        return f"{spec.name} ({aid})" if spec else aid

    async def _run(self, intent: CancelIntent, wait_s: float, command: str) -> dict[str, Any]:
        plan = self.desk.plan(intent)
        problems: list[str] = []
        for aid in intent.account_ids:
            st = self.desk.status.get(aid)
            if st is not None and st.link is LinkState.DOWN:
                problems.append(f"{st.name} is down: {st.detail}")
        if not plan.requests and not intent.orders:
            empty: dict[str, Any] = {"command": command, "intent": intent.describe(), "outcomes": []}
            empty.update(summary="nothing to cancel", problems=problems)
            return _finish(empty, ok=not problems)
        coord = self.desk.coordinator
        # Orders already being cancelled are not sent again (the planner leaves them out): their
        # outcome is the attempt's that is on them.
        busy = [o for o in intent.orders if all(o not in r.orders for r in plan.requests)]
        report = (
            await self.desk.cancel(intent, plan) if plan.requests else CancelReport("-", intent.describe())
        )
        tracked = [o for r in plan.requests for o in r.orders]
        await self._settle(report.attempt, tracked, wait_s)
        for o in busy:
            e = coord.entry(o.key)
            if e is not None:
                await self._settle(e.attempt, [o], wait_s)
        outcomes: list[dict[str, Any]] = []
        counts: Counter[CancelState] = Counter()
        for o in [*tracked, *busy]:
            e = coord.entry(o.key)
            state = e.state if e is not None else CancelState.UNKNOWN
            reason = e.reason if e is not None else "no ledger entry"
            if e is not None and e.attempt != report.attempt:
                reason = f"cancelled by attempt {e.attempt}: {reason or ''}".strip(": ")
            counts[state] += 1
            outcomes.append(
                {
                    "account": o.account_id,
                    "order_id": o.order_id,
                    "symbol": o.symbol,
                    "state": state.value,
                    "reason": reason,
                }
            )
        problems.extend(report.errors)
        result: dict[str, Any] = {
            "command": command,
            "intent": report.intent,
            "attempt": report.attempt,
            "outcomes": outcomes,
            "summary": _summary(counts, report),
            "latency_ms": round(report.latency_ms, 1),
            "problems": problems,
        }
        ok = all(CancelState(o["state"]) in AS_ASKED for o in outcomes) and not report.errors
        return _finish(result, ok=ok)

    async def _settle(self, attempt: str, orders: Sequence[Order], wait_s: float) -> None:
        """Wait (up to ``wait_s``) for the attempt's unknown or in-flight orders to be known."""
        deadline = time.monotonic() + wait_s
        coord = self.desk.coordinator
        while time.monotonic() < deadline:
            open_ = [
                o
                for o in orders
                if (e := coord.entry(o.key)) is not None
                and e.attempt == attempt
                and (e.state is CancelState.UNKNOWN or not e.state.is_final)
            ]
            if not open_:
                return
            await asyncio.sleep(0.1)

    async def deadman(self, seconds: int, account: str | None) -> dict[str, Any]:
        """Send Kraken's cancel-all timer once (``seconds``; 0 disarms) to each account that has one."""
        await self._wait_keys()
        ids = [self.account(account)] if account else list(self.desk.venues)
        may = set(self.desk.cancel_account_ids())
        stopped = False
        if seconds == 0 and account is None and self.desk.deadman.armed:
            # The window keeps its own switch re-armed: a disarm for every account ends that too,
            # or it would be armed again within seconds.
            await self.desk.deadman.disarm()
            stopped = True
        results: list[dict[str, Any]] = []
        problems: list[str] = []
        ok = True

        async def one(aid: str) -> dict[str, Any]:
            venue = self.desk.venues[aid]
            row: dict[str, Any] = {"account": aid, "armed": False, "trigger_time": None, "error": None}
            if not venue.capabilities.deadman:
                row["error"] = "no dead man's switch on this venue"
                row["supported"] = False
                return row
            if aid not in may:
                row["error"] = "left out: its key can list but not cancel"
                row["supported"] = False
                return row
            try:
                status = await venue.arm_deadman(seconds)
            except Exception as e:
                row["error"] = str(e) or type(e).__name__
                return row
            row["armed"] = status.trigger_time is not None
            row["trigger_time"] = status.trigger_time
            return row

        results = list(await asyncio.gather(*(one(a) for a in ids)))
        for row in results:
            if row["error"] and row.get("supported", True):
                ok = False
                problems.append(f"{self._name(row['account'])}: {row['error']}")
            elif row["error"]:
                problems.append(f"{self._name(row['account'])}: {row['error']}")
                if account is not None:
                    ok = False  # the one account asked for cannot be armed
        if stopped:
            problems.append("the window's dead man's switch was on: it is off now")
        if self.desk.deadman.armed and seconds:
            problems.append(
                "the window's dead man's switch is on: it re-arms with its own timeout "
                f"({self.desk.deadman.timeout_s} s) every {self.desk.deadman.refresh_s:g} s"
            )
        result = {"command": "deadman", "seconds": seconds, "accounts": results, "problems": problems}
        return _finish(result, ok=ok and any(r["error"] is None for r in results))


def _listed(link: LinkState) -> bool:
    return link in (LinkState.LIVE, LinkState.POLLING)


def _summary(counts: Counter[CancelState], report: CancelReport) -> str:
    parts = [f"{n} {state.value}" for state, n in sorted(counts.items()) if n]
    return ", ".join(parts) if parts else report.summary()


def _finish(result: dict[str, Any], *, ok: bool) -> dict[str, Any]:
    result["ok"] = ok
    result["exit"] = EXIT_OK if ok else EXIT_NOT_AS_ASKED
    return result


# --- running a command in this process -------------------------------------------------------------


async def wait_listed(desk: Desk, timeout_s: float = LIST_WAIT_S) -> None:
    """Wait until every account has answered once (listed, streaming, or definitely down)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(st.link is not LinkState.CONNECTING for st in desk.status.values()):
            return
        await asyncio.sleep(0.05)


async def run_on_own_desk(
    request: dict[str, Any],
    build_desk: Callable[[], Awaitable[Desk]],
    *,
    reconcile: Callable[[Desk], Awaitable[ReconcileSummary | None]] | None = None,
) -> dict[str, Any]:
    """Build a desk, let it list, reconcile the previous session, run ``request``, close it.

    Args:
        request: a validated request.
        build_desk: makes the desk with its accounts added.
        reconcile: takes the previous session's unsettled orders over and waits for their first
            answers (returns the summary to print).
    """
    desk = await build_desk()
    # The kill switch and the dead man's switch leave out keys that cannot cancel: probe first
    # (the probes would only spend Kraken's call counter for the other commands).
    key_checks = (
        asyncio.create_task(check_keys(desk), name="key-checks")
        if request["cmd"] in ("kill", "deadman")
        else None
    )
    try:
        if not desk.venues:
            problems = [f"{st.name}: {st.detail}" for st in desk.status.values()]
            return {
                "command": request["cmd"],
                "ok": False,
                "exit": EXIT_CANNOT_RUN,
                "error": "no account is connected" + (f" ({'; '.join(problems)})" if problems else ""),
            }
        await wait_listed(desk)
        previous = await reconcile(desk) if reconcile is not None else None
        result = await DeskCommands(desk, key_checks=key_checks).handle(request)
        if previous is not None:
            result["previous_session"] = previous.text()
        return result
    finally:
        if key_checks is not None:
            key_checks.cancel()
            await asyncio.gather(key_checks, return_exceptions=True)
        await desk.aclose()


# --- printing ----------------------------------------------------------------------------------------


def render(
    result: dict[str, Any], *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print an answer (text or JSON) and return its exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    status = int(result.get("exit", EXIT_NOT_AS_ASKED))
    if as_json:
        out.write(json.dumps(result, indent=2) + "\n")
        return status
    if "previous_session" in result:
        err.write(f"kraken-cancel: {result['previous_session']}\n")
    if result.get("error"):
        err.write(f"kraken-cancel: {result['error']}\n")
        return status
    cmd = result.get("command")
    if cmd == "list":
        _print_orders(result.get("orders", []), out)
    elif cmd in ("cancel", "kill"):
        for o in result.get("outcomes", []):
            why = f"  ({o['reason']})" if o.get("reason") else ""
            out.write(f"{o['state']:<13} {o['account']:<16} {o['symbol']:<14} {o['order_id']}{why}\n")
        out.write(f"{result.get('intent', cmd)}: {result.get('summary', '')}\n")
    elif cmd == "deadman":
        for row in result.get("accounts", []):
            if row["error"]:
                text = row["error"]
            elif row["armed"]:
                text = f"armed: Kraken cancels everything at {row['trigger_time']} unless re-armed"
            else:
                text = "disarmed"
            out.write(f"{row['account']:<16} {text}\n")
    for p in result.get("problems", []):
        err.write(f"kraken-cancel: {p}\n")
    if status == EXIT_NOT_AS_ASKED and cmd != "list":
        err.write("kraken-cancel: not everything ended as asked\n")
    return status


def _print_orders(orders: list[dict[str, Any]], out: TextIO) -> None:
    header = (
        "ACCOUNT",
        "VENUE",
        "SYMBOL",
        "SIDE",
        "TYPE",
        "PRICE",
        "QUANTITY",
        "FILLED",
        "ORDER ID",
        "CLIENT ID",
    )
    rows = [
        (
            o["account"],
            o["venue"],
            o["symbol"],
            o["side"],
            o["type"],
            o["price"] or "",
            o["quantity"],
            o["filled"],
            o["order_id"],
            o["client_id"] or "",
        )
        for o in orders
    ]
    widths = [max([len(h), *(len(str(r[i])) for r in rows)]) for i, h in enumerate(header)]
    for row in (header, *rows):
        out.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(orders)} open order{'s' if len(orders) != 1 else ''}\n")


def confirm_kill(stdin: TextIO | None = None, err: TextIO | None = None) -> bool:
    """Ask on the terminal before a kill switch without ``--yes``.

    Raises:
        UsageError: not a terminal (a script must say ``--yes``).
    """
    stdin = stdin or sys.stdin
    err = err or sys.stderr
    if stdin is None or not stdin.isatty():
        raise UsageError("kill cancels every order on every account: add --yes when not run from a terminal")
    err.write("Kill switch: cancel ALL orders on every connected account? Type 'yes' to go on: ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")
