"""The dead man's switch manager: keeps each venue's server-side timer armed while the trader is here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.core.errors import VenueError
from app.core.events import Event
from app.desk.timing import Sleep
from app.venues.base import Venue

log = logging.getLogger("app.desk.deadman")

DEFAULT_TIMEOUT_S = 60  # Kraken suggests T=60 re-sent every 15-30 s (API-FACTS 6)
DEFAULT_REFRESH_S = 20
NO_SWITCH = "no dead man's switch"


@dataclass(frozen=True, slots=True)
class DeadmanState:
    """One account's switch as last heard from its venue."""

    account_id: str
    armed: bool
    trigger_time: str | None = None
    error: str | None = None
    supported: bool = True


class DeadmanManager:
    """Arms, refreshes and disarms the switch on every account whose venue has one.

    Events:
        changed(DeadmanState): an account's switch state changed or a refresh failed.

    Rules: while armed, the timer is re-sent every ``refresh_s`` (< timeout) so orders survive only
    as long as the console is alive and reaching Kraken; a failed refresh is shown at once (the
    server timer keeps running and will fire); disarm sends timeout 0. Venues without a switch
    (Prime) are reported unsupported, never silently skipped.
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        timeout_s: int = DEFAULT_TIMEOUT_S,
        refresh_s: float = DEFAULT_REFRESH_S,
        *,
        sleep: Sleep = asyncio.sleep,
        left_out: Callable[[str], str | None] | None = None,
    ) -> None:
        """Make a manager over the desk's venues (read at each arm, so new accounts join).

        Args:
            venues: each connected account's venue, by account id.
            timeout_s: the server-side timer Kraken is given at each (re-)arm.
            refresh_s: how often the timer is re-sent while armed.
            sleep: how the refresh loop waits (``asyncio.sleep``).
            left_out: why an account is not armed (e.g. its key cannot cancel), or None.

        Raises:
            ValueError: ``refresh_s`` is not shorter than ``timeout_s``.
        """
        if refresh_s >= timeout_s:
            raise ValueError("the refresh interval must be shorter than the timeout")
        self._venues = venues
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self._sleep = sleep
        self._left_out = left_out or (lambda _account_id: None)
        self._task: asyncio.Task[None] | None = None
        self.states: dict[str, DeadmanState] = {}
        self.changed: Event[DeadmanState] = Event("deadman_changed")

    @property
    def armed(self) -> bool:
        """True while the refresh loop runs."""
        return self._task is not None and not self._task.done()

    def _set(self, state: DeadmanState) -> None:
        if self.states.get(state.account_id) != state:
            self.states[state.account_id] = state
            self.changed.emit(state)

    async def _arm_all(self, timeout_s: int) -> None:
        async def one(account_id: str, venue: Venue) -> None:
            if not venue.capabilities.deadman:
                self._set(DeadmanState(account_id, False, supported=False, error=NO_SWITCH))
                return
            why = self._left_out(account_id)
            if why is not None:
                self._set(DeadmanState(account_id, False, supported=False, error=f"left out: {why}"))
                return
            try:
                status = await venue.arm_deadman(timeout_s)
            except VenueError as e:
                log.warning("dead man's switch on %s: %s", account_id, e)
                self._set(DeadmanState(account_id, timeout_s > 0, error=str(e)))
                return
            self._set(DeadmanState(account_id, status.trigger_time is not None, status.trigger_time))

        await asyncio.gather(*(one(aid, v) for aid, v in list(self._venues.items())))

    async def arm(self) -> None:
        """Arm now on every account and keep refreshing until ``disarm``."""
        await self._arm_all(self.timeout_s)
        if not self.armed:
            self._task = asyncio.create_task(self._refresh_loop(), name="deadman-refresh")

    async def _refresh_loop(self) -> None:
        while True:
            await self._sleep(self.refresh_s)
            await self._arm_all(self.timeout_s)

    async def disarm(self) -> None:
        """Stop refreshing and disarm every account's timer."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self._arm_all(0)
