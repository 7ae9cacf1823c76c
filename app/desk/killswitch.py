"""The kill switch that stays flat: cancel everything, then keep cancelling what appears.

A kill switch that fires once leaves holes: an order a bot places a moment later, a Prime order
placed after the last listing (Prime cancels by id only), an account whose venue was down when
the key was pressed. So the switch runs per account:

1. **First wave.** When the account is reachable (its link live or listed over REST), cancel
   everything on it (``Scope.ACCOUNT``: Kraken's cancel-all where the venue has one, every known
   order otherwise), on the emergency lane. A wave that did not go through cleanly (the venue
   refused the connection, a reply was lost) is sent again: cancel-all is idempotent.
2. **Pending.** An account that is down waits ("kill switch waiting for Futures") and fires as
   soon as it is back, however long that takes, until the trader stops the switch.
3. **Holding flat.** For ``hold_s`` after its first wave, any order that appears on the account
   (stream, listing) is cancelled at once.

It ends when every account has held flat for ``hold_s`` after its first wave, or on ``stop()``
(Esc). Its report counts what was cancelled across every wave, including orders Kraken's
cancel-all ended that no listing had shown yet: never "nothing to cancel" after cancelling.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from app.core.accounts import LinkState
from app.core.events import Event
from app.core.ledger import CancelState
from app.core.orders import Order, OrderKey
from app.core.plan import CancelIntent, Scope

if TYPE_CHECKING:
    from app.desk.coordinator import CancelReport
    from app.desk.desk import AccountStatus, Desk

log = logging.getLogger("app.desk.killswitch")

DEFAULT_HOLD_S = 10.0
GATHER_S = 0.05  # orders appearing together (a bot's burst) are cancelled in one wave
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # between waves that did not go through, while reachable
MAX_TRIES_PER_ORDER = 3  # an order Kraken keeps refusing to cancel is not sent for ever
REACHABLE = frozenset({LinkState.LIVE, LinkState.POLLING})


class KillPhase(enum.StrEnum):
    """Where a kill switch is."""

    CANCELLING = "cancelling"  # a first wave is on its way somewhere
    HOLDING = "holding"  # every reachable account had its first wave; cancelling what appears
    DONE = "done"  # every account held flat for the whole hold
    STOPPED = "stopped"  # the trader stopped it (Esc) or the desk closed


@dataclass(frozen=True, slots=True)
class KillState:
    """What the kill switch has done so far, for the window's countdown line and the CLI.

    Attributes:
        phase: where it is.
        accounts: the accounts it covers.
        hold_until: wall-clock time the hold ends (the latest over accounts that had a first wave).
        pending: accounts waiting for their venue to come back.
        counts: each order's latest ending over every wave (failed, then cancelled: cancelled).
        unlisted: orders Kraken's cancel-all reported beyond those the console knew of.
        waves: cancel actions sent.
        problems: what went wrong, e.g. a wave refused.
    """

    phase: KillPhase
    accounts: tuple[str, ...]
    hold_until: float | None = None
    pending: tuple[str, ...] = ()
    counts: Counter[CancelState] = field(default_factory=Counter)
    unlisted: int = 0
    waves: int = 0
    problems: tuple[str, ...] = ()

    @property
    def cancelled(self) -> int:
        """Orders Kraken said it cancelled, listed or not."""
        return self.counts[CancelState.CANCELLED] + self.unlisted

    def summary(self) -> str:
        """e.g. ``cancelled 118 (3 not yet listed), already gone 2; waiting for Futures``."""
        parts = []
        if self.cancelled:
            extra = f" ({self.unlisted} not yet listed)" if self.unlisted else ""
            parts.append(f"cancelled {self.cancelled}{extra}")
        parts += [
            f"{state.value} {n}"
            for state, n in sorted(self.counts.items())
            if n and state is not CancelState.CANCELLED
        ]
        text = ", ".join(parts) if parts else ("nothing was open" if self.waves else "nothing sent yet")
        if self.pending:
            text += f"; waiting for {', '.join(self.pending)}"
        return text


class KillSwitch:
    """One press of the kill switch, running until flat for ``hold_s`` or stopped.

    Events:
        changed(KillState): after each wave, when an account turns pending or reachable, at the end.
    """

    def __init__(
        self,
        desk: Desk,
        account_ids: Sequence[str],
        hold_s: float = DEFAULT_HOLD_S,
        *,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Prepare (not start) a kill switch over ``account_ids``.

        Raises:
            ValueError: ``hold_s`` is negative, or no account is given.
        """
        if hold_s < 0:
            raise ValueError("the hold cannot be negative")
        if not account_ids:
            raise ValueError("the kill switch needs at least one account")
        self._desk = desk
        self.hold_s = hold_s
        self._wall = wall_clock
        self._sleep = sleep
        self.state = KillState(KillPhase.CANCELLING, tuple(account_ids))
        self.changed: Event[KillState] = Event("kill_switch_changed")
        self._stop = asyncio.Event()
        self._pokes: dict[str, asyncio.Event] = {aid: asyncio.Event() for aid in account_ids}
        self._first_done: set[str] = set()
        self._tries: Counter[OrderKey] = Counter()  # waves that named each order
        self._endings: dict[OrderKey, CancelState] = {}  # each order's latest ending, over waves
        self._task: asyncio.Task[KillState] | None = None

    # --- control ------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[KillState]:
        """Start the switch; the task's result is the final state."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="kill-switch")
        return self._task

    def stop(self) -> None:
        """Stop holding and waiting (Esc). Requests already sent still finish and settle."""
        self._stop.set()
        for poke in self._pokes.values():
            poke.set()

    @property
    def running(self) -> bool:
        """True until it ends."""
        return self.state.phase in (KillPhase.CANCELLING, KillPhase.HOLDING)

    async def run(self) -> KillState:
        """Cancel, hold flat, and return the final state."""
        unhook = [
            self._desk.account_changed.connect(self._account_changed),
            self._desk.store.inserted.connect(self._orders_appeared),
        ]
        log.info("kill switch on %s, holding %g s", ", ".join(self.state.accounts), self.hold_s)
        try:
            await asyncio.gather(*(self._account(aid) for aid in self.state.accounts))
        finally:
            for u in unhook:
                u()
            phase = KillPhase.STOPPED if self._stop.is_set() else KillPhase.DONE
            self._update(phase=phase)
            log.info("kill switch %s: %s", phase.value, self.state.summary())
        return self.state

    # --- per account --------------------------------------------------------------------------

    async def _account(self, aid: str) -> None:
        tries = 0
        while not self._stop.is_set():  # the first wave, as often as it takes
            if not self._reachable(aid):
                self._set_pending(aid, True)
                await self._wait(aid, None)
                continue
            self._set_pending(aid, False)
            report = await self._wave(aid)
            if self._clean(report):
                break
            log.info(
                "kill switch on %s: wave %d not clean (%s%s); again in %g s",
                aid,
                tries + 1,
                report.summary(),
                f"; {report.errors[-1]}" if report.errors else "",
                RETRY_S[min(tries, len(RETRY_S) - 1)],
            )
            if not self._reachable(aid):
                continue
            await self._wait(aid, RETRY_S[min(tries, len(RETRY_S) - 1)])
            tries += 1
        if self._stop.is_set():
            return
        self._first_done.add(aid)
        until = self._wall() + self.hold_s
        waiting = set(self.state.accounts) - self._first_done - set(self.state.pending)
        phase = KillPhase.CANCELLING if waiting else KillPhase.HOLDING
        self._update(hold_until=max(self.state.hold_until or 0.0, until), phase=phase)
        while not self._stop.is_set():
            left = until - self._wall()
            if left <= 0:
                break
            if self._open_on(aid) and self._reachable(aid):
                await self._sleep(GATHER_S)  # let a burst arrive, then one wave for all of it
                await self._wave(aid)
                continue
            await self._wait(aid, left)

    def _reachable(self, aid: str) -> bool:
        st = self._desk.status.get(aid)
        return aid in self._desk.venues and st is not None and st.link in REACHABLE

    def _open_on(self, aid: str) -> list[Order]:
        """Orders shown on the account that no cancel is on, and not refused too often."""
        held = self._desk.coordinator.held_keys(aid)
        return [
            o
            for o in self._desk.store.orders(aid)
            if o.key not in held and self._tries[o.key] < MAX_TRIES_PER_ORDER
        ]

    async def _wave(self, aid: str) -> CancelReport:
        self._tries.update(o.key for o in self._desk.store.orders(aid))
        intent = CancelIntent(Scope.ACCOUNT, account_ids=(aid,))
        plan = self._desk.plan(intent)
        report = await self._desk.cancel(intent, plan)
        # An order a wave failed on and the next one cancelled counts once, as cancelled.
        for request in plan.requests:
            for order in request.orders:
                entry = self._desk.coordinator.entry(order.key)
                if entry is not None and entry.attempt == report.attempt:
                    self._endings[order.key] = entry.state
        counts = Counter(self._endings.values())
        problems = self.state.problems
        for e in report.errors:
            text = f"{aid}: {e}"
            if text not in problems:
                problems = (*problems, text)
        self._update(
            counts=counts,
            unlisted=self.state.unlisted + report.unlisted_cancelled,
            waves=self.state.waves + 1,
            problems=problems,
        )
        return report

    @staticmethod
    def _clean(report: CancelReport) -> bool:
        """The wave reached Kraken and ended: nothing failed, no request was lost on the way."""
        return not report.errors and not report.counts[CancelState.FAILED]

    async def _wait(self, aid: str, timeout_s: float | None) -> None:
        poke = self._pokes[aid]
        poke.clear()
        if self._stop.is_set():
            return
        try:
            async with asyncio.timeout(timeout_s):
                await poke.wait()
        except TimeoutError:
            pass

    # --- what the desk tells us ---------------------------------------------------------------

    def _account_changed(self, status: AccountStatus) -> None:
        poke = self._pokes.get(status.account_id)
        if poke is not None and status.account_id in self.state.pending and status.link in REACHABLE:
            poke.set()  # its venue is back: fire

    def _orders_appeared(self, orders: list[Order]) -> None:
        for aid in {o.account_id for o in orders}:
            poke = self._pokes.get(aid)
            if poke is not None and aid in self._first_done:
                poke.set()

    def _set_pending(self, aid: str, pending: bool) -> None:
        now = tuple(
            a for a in self.state.accounts if (a == aid and pending) or (a != aid and a in self.state.pending)
        )
        if now != self.state.pending:
            if pending:
                log.warning("kill switch waiting for %s (not reachable)", aid)
            self._update(pending=now)

    def _update(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self.changed.emit(self.state)
