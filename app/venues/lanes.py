"""The emergency lane: a lock that lets cancel-all and the kill switch go before ordinary requests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator


class PriorityLock:
    """One request at a time (a key's nonces must reach Kraken in order), urgent ones first.

    Rules: waiters are served urgent first, then in arrival order; a waiter cancelled while
    queued leaves the queue; the lock is never handed to a cancelled waiter.
    """

    def __init__(self) -> None:
        self._held = False
        self._order = itertools.count()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    @property
    def locked(self) -> bool:
        """True while someone holds the lock."""
        return self._held

    def waiting(self) -> int:
        """How many requests wait for the lock."""
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold the lock for the block; urgent holders are served first."""
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._waiters:
            self._held = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (0 if urgent else 1, next(self._order), fut)
        self._waiters.append(entry)
        self._waiters.sort(key=lambda w: (w[0], w[1]))
        try:
            await fut
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif fut.done() and not fut.cancelled():
                self._release()  # it was handed to us as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)
                return  # handed over: still held
        self._held = False
