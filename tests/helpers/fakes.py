"""Hand-written fakes for the desk's unit tests: a clock that moves only when told, a scripted venue."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence
from decimal import Decimal

from app.core.accounts import KeyCheck, LinkState
from app.core.events import Event
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, Side, VenueKind
from app.core.plan import CancelRequest, VenueLimits
from app.venues.base import (
    CancelReply,
    Capabilities,
    DeadmanStatus,
    LinkSink,
    SendObserver,
    StreamEvent,
    StreamSink,
    VenueStatus,
)

EPOCH = 1_700_000_000.0  # the fake wall clock reads EPOCH + its monotonic time

# How many loop turns "let everything woken run" takes: each gather, task start and future
# callback costs one; the desk's code under these fakes needs fewer than ten.
SETTLE_TURNS = 20


def make_order(
    i: int,
    *,
    account: str = "spot",
    venue: VenueKind = VenueKind.SPOT,
    symbol: str = "XBT/USD",
    quantity: str = "1",
    client_id: str | None = None,
) -> Order:
    """Order number ``i`` (order id ``O<i>``) of ``account``: a 1-lot limit buy at 100."""
    return Order(
        account,
        venue,
        f"O{i}",
        symbol,
        Side.BUY,
        "limit",
        Decimal(100),
        Decimal(quantity),
        Decimal(0),
        EPOCH - 60.0,
        client_id=client_id,
    )


async def settle() -> None:
    """Let every task that can run, run (a few loop turns; nothing here waits on real time)."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


class FakeClock:
    """Time that passes only when the test says so.

    Provides what the desk takes: ``monotonic`` and ``time`` (clocks), ``sleep`` and
    ``wait_for_wake`` (waits). Every wait asked for is recorded, in order, in ``sleeps`` /
    ``waits``.

    Rules: a sleeper wakes only when ``advance`` moves the clock to its deadline, sleepers
    wake in deadline order and the clock reads each one's deadline as it wakes. With
    ``autojump=True`` a sleep moves the clock itself at once (one loop turn): for code a test
    awaits directly, like a retry loop.
    """

    def __init__(self, start: float = 1_000.0, *, autojump: bool = False) -> None:
        self.now = start
        self.autojump = autojump
        self.sleeps: list[float] = []
        self.waits: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        """Seconds since an arbitrary start, like ``time.monotonic``."""
        return self.now

    def time(self) -> float:
        """Epoch seconds, like ``time.time``."""
        return EPOCH + self.now

    @property
    def sleeping(self) -> int:
        """How many sleepers wait for the clock."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        """Like ``asyncio.sleep``, on this clock."""
        self.sleeps.append(seconds)
        await self._sleep(seconds)

    async def wait_for_wake(self, wake: asyncio.Event, timeout_s: float) -> None:
        """Like ``app.desk.timing.wait_for_wake``, on this clock."""
        self.waits.append(timeout_s)
        if wake.is_set():
            return
        timer = asyncio.create_task(self._sleep(timeout_s), name="fake-clock-timeout")
        woken = asyncio.create_task(wake.wait(), name="fake-clock-wake")
        try:
            await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            woken.cancel()

    async def _sleep(self, seconds: float) -> None:
        if self.autojump:
            self.now += seconds
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``, waking each sleeper due on the way and letting it run."""
        await settle()  # a task started just now gets to its first sleep at the time it started
        target = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            if fut.done():  # cancelled while asleep
                continue
            self.now = max(self.now, deadline)
            fut.set_result(None)
            await settle()
        self.now = target
        await settle()


Answer = CancelReply | BaseException | Callable[[CancelRequest], CancelReply]
"""What the scripted venue does for one ``execute``: reply, raise, or compute a reply."""


def cancelled_each(request: CancelRequest) -> CancelReply:
    """The venue's usual word: every order the request names was cancelled."""
    return CancelReply({o.order_id: Outcome(CancelState.CANCELLED) for o in request.orders})


class ScriptedVenue:
    """A venue that answers from a script and sends nothing (satisfies ``app.venues.base.Venue``).

    Scripts are consumed in order, one entry per call: ``replies`` for ``execute`` (default when
    empty: every order cancelled), ``confirms`` for ``confirm`` (default: says nothing),
    ``listings`` for ``list_open_orders`` (default: ``book``), ``deadman_answers`` for
    ``arm_deadman`` (default: armed until ``now + timeout``, or disarmed for 0). An exception in
    a script is raised.

    Records every call: ``executed``, ``confirmed`` (order ids asked), ``armed_with``
    (timeouts), ``listed`` (count); ``stream_sink`` is the desk's sink once the stream runs (to
    send more events later). ``on_execute`` runs first in each ``execute`` (to look at the
    world as the request leaves); while ``hold`` is set to an unset event, ``execute`` waits for
    it (a request in flight). With a ``clock``, each ``execute`` takes ``latency_s`` on it.
    """

    def __init__(
        self,
        account_id: str = "spot",
        *,
        kind: VenueKind = VenueKind.SPOT,
        limits: VenueLimits | None = None,
        deadman: bool = True,
        streaming: bool = False,
        clock: FakeClock | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.account_id = account_id
        self.kind = kind
        self.capabilities = Capabilities(
            limits if limits is not None else VenueLimits(max_batch=50, cancel_all=True),
            deadman=deadman,
            streaming=streaming,
        )
        self.clock = clock
        self.latency_s = latency_s
        self.problems: Event[str] = Event("scripted venue problems")
        self.replies: list[Answer] = []
        self.confirms: list[dict[str, Outcome] | BaseException] = []
        self.listings: list[list[Order] | BaseException] = []
        self.deadman_answers: list[DeadmanStatus | BaseException] = []
        self.stream_events: list[StreamEvent] = []
        self.stream_sink: StreamSink | None = None
        self.book: list[Order] = []
        self.executed: list[CancelRequest] = []
        self.urgent: list[bool] = []
        self.reconnects = 0
        self.status: VenueStatus | None = VenueStatus("online")
        self.waits: list[float] = []  # rate-limit waits to announce before the next executes
        self.confirmed: list[list[str]] = []
        self.armed_with: list[int] = []
        self.listed = 0
        self.on_execute: Callable[[CancelRequest], None] | None = None
        self.on_sent: Callable[[CancelRequest], None] | None = None
        self.hold: asyncio.Event | None = None
        self.closed = False

    async def list_open_orders(self) -> list[Order]:
        """The next scripted listing, else ``book``."""
        self.listed += 1
        if self.listings:
            answer = self.listings.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return list(answer)
        return list(self.book)

    async def execute(
        self, request: CancelRequest, *, urgent: bool = False, observer: SendObserver | None = None
    ) -> CancelReply:
        """The next scripted answer (default: every order cancelled).

        In order: ``on_execute`` sees the request arrive; a scripted rate-limit wait is announced;
        the observer hears "sent"; ``hold`` keeps it in flight; then the answer comes.
        """
        self.executed.append(request)
        self.urgent.append(urgent)
        if self.on_execute is not None:
            self.on_execute(request)
        if observer is not None and self.waits:
            observer.waiting(self.waits.pop(0), "a scripted rate limit")
            await asyncio.sleep(0)
        if observer is not None:
            observer.sent()
        if self.on_sent is not None:
            self.on_sent(request)  # the moment the bytes would leave
        if self.hold is not None:
            await self.hold.wait()
        if self.clock is not None:
            self.clock.now += self.latency_s
        answer: Answer = self.replies.pop(0) if self.replies else cancelled_each
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, CancelReply):
            return answer
        return answer(request)

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """The next scripted re-check (default: the venue says nothing)."""
        self.confirmed.append([o.order_id for o in orders])
        answer = self.confirms.pop(0) if self.confirms else {}
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """The next scripted status (default: armed for ``timeout_s``, or disarmed for 0)."""
        if not self.capabilities.deadman:
            raise NotImplementedError("this venue has no dead man's switch")
        self.armed_with.append(timeout_s)
        if self.deadman_answers:
            answer = self.deadman_answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        now = self.clock.time() if self.clock is not None else EPOCH
        return DeadmanStatus(str(now), str(now + timeout_s) if timeout_s else None)

    def reconnect_now(self) -> None:
        """Counted: the F5 key reached the venue."""
        self.reconnects += 1

    async def kraken_status(self) -> VenueStatus | None:
        """The scripted Kraken status (default: online)."""
        return self.status

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Say the link is live, hand over ``stream_events`` in one burst, then idle until cancelled.

        Later events can be sent to ``stream_sink``.
        """
        self.stream_sink = sink
        link(LinkState.LIVE, "")
        for e in self.stream_events:
            sink(e)
        await asyncio.Event().wait()

    async def check_key(self) -> KeyCheck:
        """A key that may query and cancel."""
        return KeyCheck(True, True)

    async def aclose(self) -> None:
        """Remember it was closed."""
        self.closed = True
