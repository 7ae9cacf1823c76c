"""The dead man's switch room: one timer per account that cancels everything when it runs out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container

from app.sim.book import OrderBook
from app.sim.clock import SimClock
from app.sim.orders import REASON_DEADMAN
from app.sim.truth import Actor, acting

log = logging.getLogger("app.sim.deadman")

DEADMAN_MAX_TIMEOUT_S = 86400


class DeadmanSwitches:
    """Each account's dead man's switch (CancelAllOrdersAfter, API-FACTS 6).

    Rules kept: arming again replaces the timer (it extends or shortens it); a timeout of 0
    disarms; on expiry every open order of the account is cancelled with reason
    ``dead_man_switch``, once, and the switch disarms; timers run on the loop that armed them
    and are all disarmed by ``close()`` when the simulator stops.
    """

    def __init__(self, clock: SimClock, accounts: Container[str], book: OrderBook) -> None:
        """Start with every switch disarmed.

        Args:
            clock: The exchange's clocks (trigger times are wall time).
            accounts: The known account names.
            book: The order book a firing switch cancels in.
        """
        self.clock = clock
        self.accounts = accounts
        self.book = book
        self._armed: dict[str, tuple[asyncio.TimerHandle, float]] = {}

    def arm(self, account: str, timeout_s: float) -> tuple[float, float]:
        """Arm, extend or (with 0) disarm an account's dead man's switch (API-FACTS 6).

        On expiry every open order of the account is cancelled with reason
        ``dead_man_switch`` and the switch disarms. Must be called on the running loop.

        Args:
            account: Account name.
            timeout_s: Seconds from now; 0 (or less) disarms.

        Returns:
            ``(current_time, trigger_time)`` as unix seconds; trigger 0.0 when disarmed.

        Raises:
            KeyError: For an unknown account.
            RuntimeError: When no event loop is running.
        """
        if account not in self.accounts:
            raise KeyError(account)
        now = self.clock.wall()
        self.disarm(account)
        if timeout_s <= 0:
            return now, 0.0
        loop = asyncio.get_running_loop()
        handle = loop.call_later(timeout_s, self._fired, account)
        self._armed[account] = (handle, now + timeout_s)
        return now, now + timeout_s

    def disarm(self, account: str) -> None:
        """Disarm an account's dead man's switch if armed.

        Args:
            account: Account name.
        """
        armed = self._armed.pop(account, None)
        if armed is not None:
            armed[0].cancel()

    def trigger_time(self, account: str) -> float | None:
        """Return when the account's switch fires (unix seconds), or None if disarmed.

        Args:
            account: Account name.

        Returns:
            The trigger time or None.
        """
        armed = self._armed.get(account)
        return None if armed is None else armed[1]

    def _fired(self, account: str) -> None:
        self._armed.pop(account, None)
        with acting(Actor("deadman")):
            cancelled = self.book.cancel_all(account, reason=REASON_DEADMAN)
        log.info("dead man's switch fired for %s: %d orders cancelled", account, len(cancelled))

    def close(self) -> None:
        """Disarm every timer (call when the simulator stops)."""
        for account in list(self._armed):
            self.disarm(account)
