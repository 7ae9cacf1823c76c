"""The dead man's switch manager: keeps each venue's server-side timer armed while the trader is here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from app.core.errors import VenueError
from app.core.events import Event
from app.desk.timing import Clock, Sleep
from app.venues.base import DeadmanStatus, Venue

log = logging.getLogger("app.desk.deadman")

DEFAULT_TIMEOUT_S = 60  # Kraken suggests T=60 re-sent every 15-30 s (API-FACTS 6)
DEFAULT_REFRESH_S = 20
DISARM_WAIT_S = 5.0  # how long quitting waits for Kraken to acknowledge a disarm
NO_SWITCH = "no dead man's switch on this venue"


@dataclass(frozen=True, slots=True)
class DeadmanState:
    """One account's switch as last heard from its venue.

    Attributes:
        account_id: the account.
        armed: Kraken's timer runs (it was armed and not disarmed since).
        trigger_at: when Kraken cancels everything if the timer is not renewed (unix seconds,
            Kraken's own deadline from its last acknowledgement).
        acked_at: when Kraken last acknowledged an arm, refresh or disarm (unix seconds).
        error: why the last arm, refresh or disarm failed (the timer keeps running at Kraken).
        supported: False for a venue without a dead man's switch (Prime).
        left_out: why the account is not armed on purpose (e.g. its key cannot cancel).
    """

    account_id: str
    armed: bool
    trigger_at: float | None = None
    acked_at: float | None = None
    error: str | None = None
    supported: bool = True
    left_out: str | None = None

    @property
    def trigger_time(self) -> str | None:
        """The deadline as ISO text (for logs and older callers), or None."""
        return None if self.trigger_at is None else datetime.fromtimestamp(self.trigger_at).isoformat()

    @property
    def failing(self) -> bool:
        """Armed at Kraken, but the last refresh was not acknowledged: it will fire at ``trigger_at``."""
        return self.armed and self.error is not None


def parse_deadline(text: str | None) -> float | None:
    """Kraken's triggerTime (RFC3339, Spot second precision or Futures milliseconds) -> unix seconds."""
    if not text or text in ("0", ""):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class DeadmanManager:
    """Arms, refreshes and disarms the switch on every account whose venue has one.

    Events:
        changed(DeadmanState): an account's switch state changed or a refresh failed.

    Rules: while armed, the timer is re-sent every ``refresh_s`` (< timeout) so orders survive only
    as long as the console is alive and reaching Kraken; each acknowledgement records Kraken's
    deadline and when it was heard; a failed refresh is shown at once with the deadline Kraken
    still holds (the server timer keeps running and will fire then); disarm sends timeout 0 and
    says, per account, whether Kraken acknowledged it. Venues without a switch (Prime) are
    reported unsupported, never silently skipped; accounts ``left_out`` refuses (a key that cannot
    cancel) are reported left out. A bug in one venue never stops the refresh loop.
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        timeout_s: int = DEFAULT_TIMEOUT_S,
        refresh_s: float = DEFAULT_REFRESH_S,
        *,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
        left_out: Callable[[str], str | None] | None = None,
    ) -> None:
        """Make a manager over the desk's venues (read at each arm, so new accounts join).

        Args:
            venues: each connected account's venue, by account id.
            timeout_s: the server-side timer Kraken is given at each (re-)arm.
            refresh_s: how often the timer is re-sent while armed.
            sleep: how the refresh loop waits (``asyncio.sleep``).
            wall_clock: epoch seconds, for acknowledgement times and the fallback deadline.
            left_out: why an account must be left out (None: arm it), e.g. its key cannot cancel.

        Raises:
            ValueError: ``refresh_s`` is not shorter than ``timeout_s``.
        """
        if refresh_s >= timeout_s:
            raise ValueError("the refresh interval must be shorter than the timeout")
        self._venues = venues
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self._sleep = sleep
        self._wall = wall_clock
        self.left_out = left_out
        self._task: asyncio.Task[None] | None = None
        self._kept: set[asyncio.Task[None]] = set()  # re-arms started by ``account_back``
        self.states: dict[str, DeadmanState] = {}
        self.changed: Event[DeadmanState] = Event("deadman_changed")

    @property
    def armed(self) -> bool:
        """True while the refresh loop runs."""
        return self._task is not None and not self._task.done()

    def armed_accounts(self) -> list[str]:
        """Accounts whose timer runs at Kraken (quitting must ask about these)."""
        return [aid for aid, s in self.states.items() if s.armed]

    def _set(self, state: DeadmanState) -> None:
        if self.states.get(state.account_id) != state:
            self.states[state.account_id] = state
            self.changed.emit(state)

    async def _arm_one(self, account_id: str, venue: Venue, timeout_s: int) -> None:
        previous = self.states.get(account_id)
        if not venue.capabilities.deadman:
            self._set(DeadmanState(account_id, False, supported=False, error=NO_SWITCH))
            return
        why_not = self.left_out(account_id) if self.left_out is not None and timeout_s > 0 else None
        if why_not is not None:
            self._set(DeadmanState(account_id, False, left_out=why_not))
            return
        try:
            status = await venue.arm_deadman(timeout_s)
        except Exception as e:  # a bug in one venue must not stop the others' refreshes
            if not isinstance(e, VenueError):
                log.exception("dead man's switch on %s failed", account_id)
            log.warning("dead man's switch on %s: %s", account_id, e)
            # Kraken still holds the deadline of its last acknowledgement (if any): say so.
            base = previous or DeadmanState(account_id, False)
            self._set(replace(base, error=str(e) or type(e).__name__))
            return
        self._set(self._acknowledged(account_id, status, timeout_s))

    def _acknowledged(self, account_id: str, status: DeadmanStatus, timeout_s: int) -> DeadmanState:
        now = self._wall()
        armed = status.trigger_time is not None and timeout_s > 0
        deadline = parse_deadline(status.trigger_time) if armed else None
        if armed and deadline is None:
            deadline = now + timeout_s  # Kraken said armed without a readable time: its timeout
        return DeadmanState(account_id, armed, deadline, now)

    async def _arm_all(self, timeout_s: int) -> None:
        await asyncio.gather(*(self._arm_one(aid, v, timeout_s) for aid, v in list(self._venues.items())))

    async def arm(self) -> None:
        """Arm now on every account and keep refreshing until ``disarm``."""
        await self._arm_all(self.timeout_s)
        if not self.armed:
            self._task = asyncio.create_task(self._refresh_loop(), name="deadman-refresh")

    def account_back(self, account_id: str) -> None:
        """An account's link is back. If the switch is on and that account's last refresh failed,
        re-arm it now rather than at the next round (up to ``refresh_s`` later): Kraken's timer is
        short, and it may be about to fire, or have fired and be waiting to be armed again."""
        state = self.states.get(account_id)
        venue = self._venues.get(account_id)
        if not self.armed or venue is None or state is None or state.error is None:
            return
        task = asyncio.ensure_future(self._arm_one(account_id, venue, self.timeout_s))
        self._kept.add(task)
        task.add_done_callback(self._kept.discard)

    def fired_between(self, account_id: str, start: float, end: float) -> float | None:
        """When Kraken's timer for the account ran out between ``start`` and ``end`` (unix
        seconds) with no acknowledgement after it, as far as the console knows; else None."""
        state = self.states.get(account_id)
        if state is None or not state.armed or state.trigger_at is None:
            return None
        if not start <= state.trigger_at <= end:
            return None
        if state.acked_at is not None and state.acked_at >= state.trigger_at:
            return None
        return state.trigger_at

    async def _refresh_loop(self) -> None:
        while True:
            await self._sleep(self.refresh_s)
            try:
                await self._arm_all(self.timeout_s)
            except Exception:
                log.exception("dead man's switch refresh round failed")

    async def disarm(self, *, within_s: float = DISARM_WAIT_S) -> dict[str, DeadmanState]:
        """Stop refreshing and disarm every account's timer; wait at most ``within_s``.

        Returns:
            Each account's state after the attempt: ``armed`` still True where Kraken did not
            acknowledge the disarm in time (its timer then fires at ``trigger_at``).
        """
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            async with asyncio.timeout(within_s):
                await self._arm_all(0)
        except TimeoutError:
            for state in list(self.states.values()):
                if state.armed and (state.acked_at is None or state.acked_at < self._wall() - within_s):
                    self._set(replace(state, error=f"no answer to the disarm within {within_s:g} s"))
        return dict(self.states)
