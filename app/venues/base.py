"""The small protocol every venue implements, and the values venues hand to the desk."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.core.accounts import KeyCheck, LinkState
from app.core.events import Event
from app.core.ledger import Outcome
from app.core.orders import Order, VenueKind
from app.core.plan import CancelRequest, VenueLimits


@dataclass(frozen=True, slots=True)
class CancelReply:
    """What a venue said about one cancel request.

    Attributes:
        outcomes: per venue order id, for the orders the venue named individually.
        count: a bare count, when that is all the venue said (reconcile before marking).
        pending: the venue said the cancellation is still in progress.
        venue_time_in: when the venue received the request (venue clock), if it said.
        venue_time_out: when the venue answered (venue clock), if it said.
    """

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    count: int | None = None
    pending: bool = False
    venue_time_in: str | None = None
    venue_time_out: str | None = None


@dataclass(frozen=True, slots=True)
class DeadmanStatus:
    """The venue's dead man's switch after an arm/disarm; ``trigger_time`` None when disarmed."""

    current_time: str | None
    trigger_time: str | None


@dataclass(frozen=True, slots=True)
class VenueStatus:
    """Kraken's own word on a venue: its trading status and any announced maintenance.

    Attributes:
        status: ``online``, ``maintenance`` (nothing works, cancels neither), ``cancel_only``
            (cancels work), ``post_only``, or ``unknown`` when Kraken could not be asked.
        note: Kraken's words, e.g. a scheduled maintenance notice.
        maintenance_at: when an announced maintenance starts (unix seconds), if one is.
    """

    status: str
    note: str | None = None
    maintenance_at: float | None = None


def retry_detail(reason: str, delay_s: float) -> str:
    """The link state detail while waiting to reconnect (the desk reads the countdown back)."""
    return f"{reason}; reconnecting in {math.ceil(delay_s)} s"


_RETRY = re.compile(r"(?:reconnecting|retrying) in (\d+) s$")


def retry_in_s(detail: str) -> float | None:
    """The seconds until the next reconnect a ``retry_detail`` names, if it names one."""
    m = _RETRY.search(detail)
    return float(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one venue can do, as the planner, the dead man's switch manager and the window read it.

    Attributes:
        limits: the cancel API's shape (batch sizes, cancel-all scopes) for the planner.
        deadman: the venue has a server-side dead man's switch (cancel-all-after).
        streaming: orders arrive over a live stream (``run_stream``); else the desk polls.
    """

    limits: VenueLimits
    deadman: bool
    streaming: bool


class StreamKind(enum.StrEnum):
    """What a stream message says about orders."""

    SNAPSHOT = "snapshot"  # the full list of open orders: replace what we have
    UPSERT = "upsert"  # an order is new or changed
    REMOVED = "removed"  # an order left the book
    PROBLEM = "problem"  # something the venue sent was skipped (``detail`` says what)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One message from a venue's live order stream, already decoded.

    For REMOVED: ``reason`` is the venue's words and ``outcome`` what it proves: CANCELLED only
    when the venue gave a cancel reason, FILLED when it filled, else ALREADY_GONE. For PROBLEM:
    ``detail`` says what was skipped (one malformed order is one skipped order, never the stream).
    """

    kind: StreamKind
    orders: tuple[Order, ...] = ()
    order_id: str | None = None
    outcome: Outcome | None = None
    detail: str | None = None


class SendObserver(Protocol):
    """What a venue tells the desk while one request is on its way (the ledger follows it)."""

    def waiting(self, seconds: float, why: str) -> None:
        """The request waits about ``seconds`` for a rate limit before it is sent."""
        ...

    def sent(self) -> None:
        """The request's bytes are leaving now (called right before the write)."""
        ...


class NoObserver:
    """An observer that is told things and does nothing (requests nobody watches)."""

    def waiting(self, seconds: float, why: str) -> None:
        """Nothing to do."""

    def sent(self) -> None:
        """Nothing to do."""


NO_OBSERVER = NoObserver()


StreamSink = Callable[[StreamEvent], None]
LinkSink = Callable[[LinkState, str], None]


@runtime_checkable
class Venue(Protocol):
    """One account's connection to a Kraken API.

    A venue only moves bytes and decodes them; the desk decides what to cancel and keeps the
    ledger. Every method raises the errors of ``app.core.errors`` and nothing else.
    """

    account_id: str
    kind: VenueKind
    capabilities: Capabilities
    problems: Event[str]  # what was skipped from a listing or stream (shown in Activity)

    async def list_open_orders(self) -> list[Order]:
        """Every open order of the account."""
        ...

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """Send one planned cancel request and return what the venue said.

        Args:
            request: the planned request.
            urgent: the emergency lane (cancel-all, kill switch): goes before ordinary requests
                waiting on this key, may use the budget slice held back for it, never paced.
            observer: told when the request waits for a rate limit and when its bytes leave.
        """
        ...

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """Find out what became of orders whose cancel result is not yet known per order."""
        ...

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Arm (or with 0, disarm) the venue's dead man's switch (only if ``capabilities.deadman``)."""
        ...

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream live order updates into ``sink`` until cancelled (only if ``capabilities.streaming``)."""
        ...

    async def check_key(self) -> KeyCheck:
        """Probe what the key may do, without changing anything."""
        ...

    def reconnect_now(self) -> None:
        """Cut any reconnect wait short (the F5 key); a venue without a socket does nothing."""
        ...

    async def kraken_status(self) -> VenueStatus | None:
        """Kraken's own status for this venue (None when it has no way to say)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
