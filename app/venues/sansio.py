"""What every venue's sans-I/O protocol object is made of: tickets, an outbox, events, a failure.

A protocol object (one per connection) turns frames in into events out and requests into frames
plus a ticket, and settles each ticket from the frames that answer it. It never touches a socket,
a clock or an event loop: the link engine (``app.venues.link``) moves its bytes, and tests feed it
frames (websockets' ``protocol.py`` is the model).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.core.errors import TransportError, VenueError
from app.core.orders import Order
from app.venues.base import StreamEvent

T = TypeVar("T")


class Ticket(Generic[T]):
    """One request's answer, settled by the protocol that matched the venue's replies to it.

    Rules: settled once (``resolve`` or ``fail``; later calls are ignored, so the first word
    stands); ``progress`` counts partial answers (a request answered by several replies), each
    of which the link may take as a reason to wait a little longer; listeners hear every change.
    """

    __slots__ = ("_error", "_listeners", "_value", "done", "progress", "sending", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.sending: Callable[[], None] | None = None  # the link calls it right before the write
        self.done = False
        self.progress = 0
        self._value: T | None = None
        self._error: VenueError | None = None
        self._listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        state = "failed" if self._error is not None else "done" if self.done else "open"
        return f"Ticket({self.what!r}, {state}, progress={self.progress})"

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every change; returns a function that stops it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _changed(self) -> None:
        for cb in tuple(self._listeners):
            cb()

    def advance(self) -> None:
        """A partial answer arrived."""
        if not self.done:
            self.progress += 1
            self._changed()

    def resolve(self, value: T) -> None:
        """Settle with the venue's answer."""
        if not self.done:
            self.done, self._value = True, value
            self._changed()

    def fail(self, error: VenueError) -> None:
        """Settle with an error (what it means for the request's effect is in its class)."""
        if not self.done:
            self.done, self._error = True, error
            self._changed()

    def result(self) -> T:
        """The answer.

        Raises:
            VenueError: the ticket failed (or is still open: a bug in the caller).
        """
        if self._error is not None:
            raise self._error
        if not self.done:
            raise TransportError(f"{self.what}: asked for an answer that has not come; effect unknown")
        return self._value  # type: ignore[return-value]  # done without error: a value was set


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a protocol wants its connection ended.

    Attributes:
        reason: for the log and the sidebar.
        auth: Kraken refused the key or the sign-in: reconnecting at once would not help.
    """

    reason: str
    auth: bool = False


class SessionProtocol(abc.ABC):
    """The part every venue protocol shares: the outbox, the events, the live flag, the failure.

    Subclasses implement ``connection_made``, ``receive``, ``ping``, ``expire``,
    ``connection_lost`` and ``orders``. Rules: frames are queued with the ticket they serve (or
    None), so the link can tell which requests never left when a send fails; events are taken in
    arrival order; ``failure`` is set at most once.
    """

    #: Reconnect no sooner than this after the connection ends (Kraken's maintenance rule).
    reconnect_floor_s: float = 0.0

    def __init__(self) -> None:
        self.live = False
        self.failure: Failure | None = None
        self._outbox: list[tuple[str, Ticket[Any] | None]] = []
        self._events: list[StreamEvent] = []

    # --- what the link takes -------------------------------------------------------------

    def data_to_send(self) -> list[tuple[str, Ticket[Any] | None]]:
        """Frames to send now, in order, each with the ticket it serves (None for control)."""
        out, self._outbox = self._outbox, []
        return out

    def events_received(self) -> list[StreamEvent]:
        """Stream events decoded since the last call, in order."""
        out, self._events = self._events, []
        return out

    # --- what subclasses use -------------------------------------------------------------

    def _send(self, frame: str, ticket: Ticket[Any] | None = None) -> None:
        self._outbox.append((frame, ticket))

    def _emit(self, event: StreamEvent) -> None:
        self._events.append(event)

    def _fail_connection(self, reason: str, *, auth: bool = False) -> None:
        if self.failure is None:
            self.failure = Failure(reason, auth)

    # --- what subclasses give ------------------------------------------------------------

    @abc.abstractmethod
    def connection_made(self) -> None:
        """The socket is open: queue the sign-in and subscription frames."""

    @abc.abstractmethod
    def receive(self, frame: str | bytes) -> None:
        """Take one frame from the venue (never raises for what the venue sends)."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """Queue a keep-alive frame; False when the transport pings by itself."""

    @abc.abstractmethod
    def expire(self, ticket: Ticket[Any]) -> None:
        """The wait for ``ticket`` is over: settle it with what came (or as effect unknown)."""

    @abc.abstractmethod
    def connection_lost(self, reason: str) -> None:
        """The socket ended: settle every open ticket (their effect is unknown)."""

    @abc.abstractmethod
    def orders(self) -> list[Order]:
        """The account's open orders as this connection knows them."""
