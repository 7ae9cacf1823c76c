"""FuturesOrderFeed's reconnect policy with fakes (what the simulator cannot show in test time)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from app.core.accounts import Credentials, LinkState
from app.venues.base import StreamEvent
from app.venues.futures_ws import BACKOFF_MAX_S, PING_INTERVAL_S, FuturesOrderFeed

pytestmark = pytest.mark.timeout(10)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    feed = FuturesOrderFeed("a", "ws://x", Credentials("k", "s"), rng=random.Random(3))
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, BACKOFF_MAX_S)]:
        delays = [feed.backoff(attempt) for _ in range(50)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(set(delays)) > 1  # jittered, so many clients do not reconnect in step


async def test_connect_failures_back_off_and_ping_every_30_s() -> None:
    calls: list[dict[str, Any]] = []
    sleeps: list[float] = []

    def refusing_connect(url: str, **kwargs: Any) -> Any:
        calls.append({"url": url, **kwargs})
        raise ConnectionRefusedError("refused")

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 4:
            raise asyncio.CancelledError

    links: list[LinkState] = []
    events: list[StreamEvent] = []
    feed = FuturesOrderFeed(
        "a",
        "ws://x/ws/v1",
        Credentials("k", "s"),
        connect=refusing_connect,
        sleep=fake_sleep,
        rng=random.Random(1),
    )
    with pytest.raises(asyncio.CancelledError):
        await feed.run(events.append, lambda state, _text: links.append(state))
    assert calls[0]["url"] == "ws://x/ws/v1"
    assert calls[0]["ping_interval"] == PING_INTERVAL_S == 30.0
    assert calls[0]["max_size"] >= 16 * 1024 * 1024
    assert len(calls) == 4
    # Attempts 1, 2, 3, 4: each wait within [base/2, base] of a doubling base.
    for delay, base in zip(sleeps, [1.0, 2.0, 4.0, 8.0], strict=True):
        assert base / 2 <= delay <= base
    assert links[0] is LinkState.CONNECTING
    assert links[1:-1] == [LinkState.RECONNECTING] * 4
    assert links[-1] is LinkState.DOWN
    assert events == []
