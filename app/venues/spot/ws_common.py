"""What Spot WebSocket v1 and v2 share, pure: replies, status, Kraken's error strings, numbers, times."""

from __future__ import annotations

import abc
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Protocol, TypeVar

from app.core.errors import AuthError, MalformedReply, PermissionDenied, TransportError, VenueError
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order
from app.core.plan import CancelRequest, RequestForm
from app.venues.base import CancelReply, DeadmanStatus, StreamEvent, StreamKind
from app.venues.sansio import SessionProtocol, Ticket
from app.venues.spot import rest_wire as spot_rest_wire

T = TypeVar("T")

log = logging.getLogger("app.venues.spot.ws")

UNKNOWN_ORDER = spot_rest_wire.UNKNOWN_ORDER
NOT_KNOWN = spot_rest_wire.NOT_KNOWN  # either answer: Kraken does not know the order now


DEADMAN_MAX_S = 86400  # cancel_all_orders_after: timeout < 86400 (API-FACTS 4)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to one request, in either protocol's words.

    Attributes:
        method: v2 ``method`` (``cancel_order``, ``pong``...) or v1 ``event``
            (``cancelOrderStatus``...).
        req_id: The request id echoed (v2 ``req_id``, v1 ``reqid``); None if absent.
        success: True when the venue says it worked.
        result: The ``result`` object (v2) or the reply's own fields (v1).
        error: Kraken's error string when ``success`` is False.
        time_in: When the venue received the request (RFC3339 text, venue clock), if given.
        time_out: When the venue answered, if given.
        warnings: Non-fatal warnings.
    """

    method: str
    req_id: int | None
    success: bool
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    time_in: str | None = None
    time_out: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A keep-alive from the venue (sent about once a second when the link is quiet)."""


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """The venue's trading status, sent on connect and when it changes.

    Attributes:
        system: ``online``, ``maintenance``, ``cancel_only`` or ``post_only``.
        version: The API version text, if given.
        connection_id: The venue's id for this connection, if given.
    """

    system: str
    version: str | None = None
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message the console does not use (logged at debug level)."""

    what: str


def is_token_error(message: str | None) -> bool:
    """Tell whether an error string says the WS token is not (or no longer) valid.

    Kraken answers ``ESession:Invalid session`` when a token was invalidated (API-FACTS 2.1, 8);
    an unknown or expired token is reported in the same category.

    Args:
        message: Kraken's error string.

    Returns:
        True for a token error: fetch a new token and retry.
    """
    if not message:
        return False
    return message.startswith("ESession:") or "invalid token" in message.lower()


def error_for(message: str) -> VenueError:
    """Map a Kraken error string from a WS reply to the console's error class.

    Args:
        message: e.g. ``EOrder:Unknown order``, ``ESession:Invalid session``.

    Returns:
        The exception to raise (not raised here).
    """
    if is_token_error(message):
        return AuthError(f"Kraken refused the WebSocket token: {message}", venue_error=message)
    return spot_rest_wire.error_for(message)


def loads(text: str | bytes) -> Any:
    """Decode a frame, keeping every JSON number with a fraction as a Decimal.

    Raises:
        MalformedReply: the frame is not JSON.
    """
    try:
        return json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedReply(f"Kraken sent a frame that is not JSON ({len(text)} bytes)") from e


def dumps(message: Mapping[str, Any]) -> str:
    """Encode a request compactly (the order of keys is kept)."""
    return json.dumps(message, separators=(",", ":"))


def decimal_or_none(value: Any) -> Decimal | None:
    """A wire number (JSON number or decimal string) -> Decimal; None for null or ``""``.

    Raises:
        MalformedReply: the value is not a number.
    """
    if isinstance(value, Decimal):
        return value  # frames are decoded with parse_float=Decimal: already exact
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as e:
        raise MalformedReply(f"not a decimal number: {value!r}") from e


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def rfc3339_to_unix(text: Any) -> float | None:
    """Parse Kraken's RFC3339 timestamps (any number of fraction digits; no zone = UTC).

    Args:
        text: e.g. ``2023-09-22T10:33:05.709950Z`` (seed 004 also shows a 7-digit fraction).

    Returns:
        Unix seconds, or None if the text is not such a timestamp.
    """
    if not isinstance(text, str):
        return None
    if len(text) >= 20 and text[10] == "T" and text[19] in ".Z+-":
        # The usual shape, parsed in C: 10,000 of them in a snapshot (start-up, bench 4).
        # Past 6 fraction digits it keeps microseconds, which is all a timestamp here needs.
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass  # the careful way below
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    m = _RFC3339.match(text.strip())
    if m is None:
        return None
    zone = m.group(3) or "+00:00"
    try:
        base = datetime.fromisoformat(m.group(1) + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.astimezone(UTC).timestamp() + frac


def one_kind(refs: Sequence[CancelRef]) -> IdKind:
    """The id kind shared by every ref.

    Raises:
        ValueError: no refs, or refs of different kinds (the console never mixes id kinds in
            one request, DESIGN.md "The cancel ledger").
    """
    if not refs:
        raise ValueError("a cancel request needs at least one id")
    kinds = {r.kind for r in refs}
    if len(kinds) != 1:
        raise ValueError("one cancel request must not mix id kinds")
    return refs[0].kind


def removal_outcome(status: str | None, reason: Any) -> Outcome | None:
    """What a terminal status proves about an order, or None if the status is not terminal.

    canceled -> cancelled (with the venue's reason); filled -> filled; expired -> already gone.

    Args:
        status: ``order_status`` / ``exec_type`` (v2) or ``status`` (v1: ``closed`` = filled).
        reason: The venue's reason text, if any.
    """
    why = str(reason) if reason not in (None, "") else None
    if status == "canceled":
        return Outcome(CancelState.CANCELLED, why or "canceled")
    if status in ("filled", "closed"):
        return Outcome(CancelState.FILLED, why or "filled")
    if status == "expired":
        return Outcome(CancelState.ALREADY_GONE, why or "expired")
    return None


def userref_or_none(value: Any) -> int | None:
    """A wire userref -> int; None for absent, 0 (Kraken's "none") or not an integer."""
    if isinstance(value, bool):
        return None
    try:
        ref = int(str(value))
    except ValueError:
        return None
    return ref or None


# --------------------------------------------------------------------------- the protocol


class Book(Protocol):
    """An order book fed by a private stream (``ExecutionsBook`` / ``OpenOrdersBook``)."""

    snapshot_seen: bool
    gap: bool

    def apply(self, message: Any) -> list[StreamEvent]:
        """Apply one stream message and return its events."""
        ...

    def orders(self) -> list[Order]:
        """Every open order fully known."""
        ...

    def __contains__(self, order_id: object) -> bool: ...


Settle = Callable[[list[Reply]], T]
"""Turns a request's replies into its answer (raises the VenueError Kraken's words mean)."""


@dataclass(eq=False, slots=True)
class _Pending(Generic[T]):
    ticket: Ticket[T]
    expect: int | None  # replies to wait for; None: an unknown number (e.g. a userref)
    settle: Settle[T]
    replies: list[Reply] = field(default_factory=list)
    stream_ids: frozenset[str] = frozenset()  # a cancel's orders: the stream may settle it first
    heard: dict[str, Outcome] = field(default_factory=dict)  # what the stream said of them

    def finish(self) -> None:
        try:
            self.ticket.resolve(self.settle(self.replies))
        except VenueError as e:
            self.ticket.fail(e)


STREAM_SETTLED_KEPT = 1000  # requests the stream answered (their reply lost): a late one is dropped quietly


def stream_settles(request: CancelRequest) -> tuple[str, ...]:
    """The orders whose endings on the stream answer ``request`` when Kraken's reply is lost:
    every order it names by order or client id (a userref may name orders the console does not
    know), or for a cancel-all every order listed when it was planned (what it cancelled beyond
    them, Kraken's count would have said; the kill switch's next wave takes those)."""
    if request.form is RequestForm.ALL:
        return tuple(o.order_id for o in request.orders)
    if not request.refs or len(request.orders) != len(request.refs):
        return ()
    if any(r.kind is IdKind.USERREF for r in request.refs):
        return ()
    return tuple(o.order_id for o in request.orders)


def venue_times(replies: Sequence[Reply]) -> dict[str, Any]:
    """The venue's receive and answer times of a request (v2 only; v1 replies carry none)."""
    return {"venue_time_in": replies[0].time_in, "venue_time_out": replies[-1].time_out}


def only_order(request: CancelRequest) -> str | None:
    """The one order a single-id request names, when its reply does not say it."""
    if request.refs[0].kind is IdKind.ORDER_ID:
        return request.refs[0].value
    return request.orders[0].order_id if len(request.orders) == 1 else None


def not_known_reply(request: CancelRequest, replies: Sequence[Reply], error: str) -> CancelReply:
    """A single-id cancel answered "unknown/invalid order": check the order before saying anything.

    Kraken answers so for an order closed by anyone (our earlier attempt, another tool, a fill) or
    never valid (API-FACTS 11): the outcome is unknown until the stream or QueryOrders says which.
    """
    checking = Outcome(CancelState.UNKNOWN, f"Kraken does not know the order now ({error}); checking")
    outcomes = {o.order_id: checking for o in request.orders}
    if request.refs[0].kind is IdKind.ORDER_ID:
        outcomes[request.refs[0].value] = checking
    return CancelReply(outcomes, **venue_times(replies))


def checked(reply: Reply) -> Reply:
    """``reply`` if it says success, else the error Kraken's words mean (raised)."""
    if not reply.success:
        raise error_for(reply.error or f"{reply.method} failed")
    for w in reply.warnings:
        log.info("Kraken warning on %s: %s", reply.method, w)
    return reply


def deadman_status(replies: list[Reply], timeout_s: int) -> DeadmanStatus:
    """The switch's state from a cancel-after reply (v1 ``triggerTime`` is ``"0"`` when off).

    Raises:
        VenueError: Kraken refused; MalformedReply: no ``triggerTime``.
    """
    result = checked(replies[0]).result
    trigger, current = result.get("triggerTime"), result.get("currentTime")
    if trigger is None:
        raise MalformedReply("cancel-after reply has no triggerTime")
    armed = timeout_s > 0 and str(trigger) not in ("0", "")
    return DeadmanStatus(None if current is None else str(current), str(trigger) if armed else None)


class SpotWsProtocol(SessionProtocol):
    """One Spot WebSocket connection (v1 or v2), sans I/O.

    On ``connection_made`` it subscribes to the private order stream with the token; it is live
    once Kraken acknowledged the subscription and sent the snapshot. Requests carry their own id
    and are answered by the replies that echo it (several replies may answer one request).

    Rules kept:
    - a reply goes to the request whose id it echoes; unsolicited errors are logged;
    - a request ends when its expected replies came; when the wait is over (``expire``) it ends
      with what came, or as effect unknown if nothing came; when the socket drops, every open
      request is effect unknown (``TransportError``), never a guess;
    - a refused subscription ends the connection (a refused key or permission: ``auth``);
    - a stream message we cannot read, or a skipped sequence number, ends the connection so the
      next one starts from a fresh snapshot (our copy may be wrong);
    - Kraken's ``maintenance`` status makes the next reconnect wait at least 5 s (API-FACTS 2.2).
    """

    name = "spot ws"

    def __init__(
        self,
        account_id: str,
        token: str,
        *,
        ids: Iterator[int],
        resync_on_gap: bool = True,
        on_ratecount: Callable[[str, float], None] | None = None,
        on_max_ratecount: Callable[[float], None] | None = None,
    ) -> None:
        """Make the protocol for one connection.

        Args:
            account_id: the desk's account id (stamped on orders).
            token: a fresh token from GetWebSocketsToken.
            ids: request ids, shared by every connection of the venue (never reused).
            resync_on_gap: end the connection when the stream skips a sequence number.
            on_ratecount: told (symbol, counter) when Kraken streams a pair's trading counter.
            on_max_ratecount: told the tier's threshold when Kraken acknowledges the stream.
        """
        super().__init__()
        self.on_ratecount = on_ratecount
        self.on_max_ratecount = on_max_ratecount
        self.account_id = account_id
        self.token = token
        self.system: str | None = None
        self.book = self._new_book()
        self._ids = ids
        self._resync_on_gap = resync_on_gap
        self._pending: dict[int, _Pending[Any]] = {}
        self._watching: dict[str, list[int]] = {}  # order id -> cancels the stream may settle
        self._stream_settled: dict[int, None] = {}  # their request ids, oldest first
        self._subscribed = False

    # --- what each version gives -------------------------------------------------------

    @abc.abstractmethod
    def _parse(self, frame: str | bytes) -> Any:
        """Decode one frame (raises MalformedReply)."""

    @abc.abstractmethod
    def _new_book(self) -> Book:
        """An empty book for this version's order stream."""

    @abc.abstractmethod
    def _is_stream_data(self, message: Any) -> bool:
        """Whether ``message`` belongs to the order stream."""

    @abc.abstractmethod
    def _subscribe_frame(self, req_id: int) -> str:
        """The private order stream's subscribe request."""

    @abc.abstractmethod
    def _ping_frame(self, req_id: int) -> str:
        """A ping request."""

    def _stream_data(self, message: Any) -> None:
        """Look at a stream message before the book does (v2 reads Kraken's rate counter here)."""

    @abc.abstractmethod
    def _cancel_after_frame(self, req_id: int, timeout_s: int) -> str:
        """The dead man's switch request."""

    @abc.abstractmethod
    def cancel(self, request: CancelRequest) -> Ticket[CancelReply]:
        """Queue one planned cancel request (raises ValueError for a form it cannot send)."""

    def deadman(self, timeout_s: int) -> Ticket[DeadmanStatus]:
        """Queue the dead man's switch request (0 disarms)."""
        return self.request(
            "cancel all orders after",
            lambda i: self._cancel_after_frame(i, timeout_s),
            lambda replies: deadman_status(replies, timeout_s),
        )

    # --- requests ----------------------------------------------------------------------

    def request(
        self,
        what: str,
        frame: Callable[[int], str],
        settle: Settle[T],
        *,
        expect: int | None = 1,
        stream_ids: Sequence[str] = (),
    ) -> Ticket[T]:
        """Queue one request.

        Args:
            what: the request's name for messages.
            frame: builds the frame from the request id.
            settle: turns the replies into the answer.
            expect: replies to wait for (None: as many as come within the settle time).
            stream_ids: a cancel's orders (``stream_settles``). Once the order stream has told
                how each of them ended, that counts as a partial answer: the link then waits
                only its settle time for Kraken's reply, and if none comes the stream's outcomes
                are the answer (``expire``). Kraken's reply, when it comes, is the answer as
                before; a reply lost with the socket up costs half a second, not a timeout and
                a re-check.

        Returns:
            The ticket its replies (or the stream) settle.
        """
        req_id = next(self._ids)
        ticket: Ticket[T] = Ticket(what)
        self._pending[req_id] = _Pending(ticket, expect, settle, stream_ids=frozenset(stream_ids))
        for order_id in stream_ids:
            self._watching.setdefault(order_id, []).append(req_id)
        self._send(frame(req_id), ticket)
        return ticket

    def _heard_on_stream(self, order_id: str, outcome: Outcome) -> None:
        """The stream says how ``order_id`` ended: a partial answer to each cancel it completes."""
        for req_id in self._watching.pop(order_id, ()):
            pending = self._pending.get(req_id)
            if pending is None:
                continue
            pending.heard[order_id] = outcome
            if len(pending.heard) == len(pending.stream_ids) and not pending.replies:
                pending.ticket.advance()  # the link now waits its settle time, not the timeout

    def _forget(self, req_id: int, pending: _Pending[Any]) -> None:
        """A request is settled: stop watching the stream for it."""
        del self._pending[req_id]
        for order_id in pending.stream_ids:
            waiting = self._watching.get(order_id)
            if waiting is not None and req_id in waiting:
                waiting.remove(req_id)
                if not waiting:
                    del self._watching[order_id]

    def _reply(self, reply: Reply) -> None:
        pending = self._pending.get(reply.req_id) if reply.req_id is not None else None
        if pending is None and reply.req_id in self._stream_settled:
            del self._stream_settled[reply.req_id]
            return  # the stream answered first; Kraken's own reply says nothing more
        if pending is None:
            if not reply.success:
                log.warning(
                    "%s %s: unsolicited error from Kraken: %s", self.name, self.account_id, reply.error
                )
            return
        pending.replies.append(reply)
        if pending.expect is not None and len(pending.replies) >= pending.expect:
            self._forget(reply.req_id, pending)  # type: ignore[arg-type]  # not None: it was found by it
            pending.finish()
        else:
            pending.ticket.advance()

    def expire(self, ticket: Ticket[Any]) -> None:
        """The wait is over: end with what came, or as effect unknown when nothing came."""
        for req_id, pending in list(self._pending.items()):
            if pending.ticket is ticket:
                self._forget(req_id, pending)
                if pending.replies:
                    pending.finish()
                elif pending.stream_ids and len(pending.heard) == len(pending.stream_ids):
                    # Kraken's reply was lost; the stream told how every order ended.
                    self._stream_settled[req_id] = None
                    while len(self._stream_settled) > STREAM_SETTLED_KEPT:
                        del self._stream_settled[next(iter(self._stream_settled))]
                    ticket.resolve(CancelReply(dict(pending.heard)))
                else:
                    ticket.fail(
                        TransportError(f"{ticket.what}: no answer from Kraken in time; effect unknown")
                    )

    def connection_lost(self, reason: str) -> None:
        """Every open request's effect is unknown."""
        pending, self._pending = self._pending, {}
        self._watching.clear()
        for p in pending.values():
            p.ticket.fail(
                TransportError(
                    f"{p.ticket.what}: the WebSocket dropped before the answer ({reason}); effect unknown"
                )
            )

    def ping(self) -> bool:
        """Queue a ping (its pong is a reply like any other)."""
        self.request("ping", self._ping_frame, lambda replies: None)
        return True

    # --- the stream --------------------------------------------------------------------

    def connection_made(self) -> None:
        """Subscribe to the private order stream."""
        self.request("subscribe", self._subscribe_frame, self._subscribed_reply)

    def _subscribed_reply(self, replies: list[Reply]) -> None:
        reply = replies[0]
        if not reply.success:
            error = error_for(reply.error or "subscribe failed")
            # A stale token is replaced on the next connect; a refused key or permission is not.
            auth = isinstance(error, AuthError | PermissionDenied) and not is_token_error(reply.error)
            self._fail_connection(f"Kraken refused the order stream: {reply.error}", auth=auth)
            raise error
        self._subscribed = True
        maximum = reply.result.get("maxratecount")
        if self.on_max_ratecount is not None and isinstance(maximum, int | float | Decimal):
            self.on_max_ratecount(float(maximum))
        self._check_live()

    def _check_live(self) -> None:
        if not self.live and self._subscribed and self.book.snapshot_seen:
            self.live = True

    def receive(self, frame: str | bytes) -> None:
        """Take one frame: a reply, the order stream, a status or a heartbeat."""
        try:
            message = self._parse(frame)
        except MalformedReply as e:
            self._fail_connection(f"could not read a message from Kraken: {e}")
            return
        if isinstance(message, Reply):
            self._reply(message)
        elif isinstance(message, SystemStatus):
            self.system = message.system
            self.reconnect_floor_s = 5.0 if message.system == "maintenance" else 0.0
            log.info("%s %s: Kraken says %s", self.name, self.account_id, message.system)
        elif self._is_stream_data(message):
            self._stream_data(message)
            try:
                events = self.book.apply(message)
            except MalformedReply as e:
                self._fail_connection(f"could not read the order stream: {e}")
                return
            for event in events:
                if (
                    self._watching
                    and event.kind is StreamKind.REMOVED
                    and event.order_id is not None
                    and event.outcome is not None
                ):
                    self._heard_on_stream(event.order_id, event.outcome)
                self._emit(event)
            self._check_live()
            if self.book.gap and self._resync_on_gap:
                self._fail_connection("the stream skipped a sequence number; resubscribing")

    def orders(self) -> list[Order]:
        """The book's open orders."""
        return self.book.orders()
