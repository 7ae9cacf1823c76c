"""The notification policy fed notices on a fake clock: bursts become one message, messages keep apart."""

from __future__ import annotations

import itertools

import pytest

from app.ui.notify_policy import (
    MAX_LINES,
    Message,
    Notice,
    NoticeKind,
    NoticePolicy,
    Severity,
    summarise,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fill(n: int, where: str = "Main spot", symbol: str = "XBT/USD") -> Notice:
    return Notice(NoticeKind.FILLED, where, f"buy {n} {symbol} at 100", symbol=symbol)


def run_until_quiet(policy: NoticePolicy, clock: FakeClock) -> list[Message]:
    """Advance to each due time and take what is due, until nothing waits."""
    out: list[Message] = []
    while (due := policy.due_at()) is not None:
        clock.now = max(clock.now, due)
        message = policy.take()
        assert message is not None, "due_at said it was due"
        out.append(message)
    return out


def test_a_single_fill_is_told_once_the_stream_pauses() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, quiet_s=0.5)
    policy.add(Notice(NoticeKind.FILLED, "Main spot", "buy 1.25 XBT/USD at 100.5", symbol="XBT/USD"))
    assert policy.take() is None  # not yet: more may follow
    clock.advance(0.49)
    assert policy.take() is None
    clock.advance(0.01)
    message = policy.take()
    assert message is not None
    assert message.title == "Order filled"
    assert message.body == "buy 1.25 XBT/USD at 100.5 — Main spot"
    assert message.severity is Severity.INFO
    assert policy.take() is None and policy.pending == 0


def test_200_fills_in_2_seconds_are_one_message() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, quiet_s=0.5, max_wait_s=3.0)
    for i in range(200):
        policy.add(fill(i, symbol="XBT/USD" if i < 150 else "ETH/USD"))
        clock.advance(0.01)
        assert policy.take() is None, f"a message in the middle of the burst (fill {i})"
    messages = run_until_quiet(policy, clock)
    assert len(messages) == 1
    (message,) = messages
    assert message.title == "200 orders filled on Main spot"
    assert message.body == "Filled: 200 on Main spot (XBT/USD 150, ETH/USD 50)"
    assert message.total == 200


def test_a_burst_never_waits_longer_than_max_wait() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, quiet_s=0.5, max_wait_s=3.0, min_gap_s=3.0)
    told_at: list[float] = []
    counts: list[int] = []
    for i in range(1000):  # 10 s of fills, one every 10 ms: never a pause
        policy.add(fill(i))
        message = policy.take()
        if message is not None:
            told_at.append(clock.now)
            counts.append(message.total)
        clock.advance(0.01)
    counts += [m.total for m in run_until_quiet(policy, clock)]
    assert told_at[0] == pytest.approx(1003.0, abs=0.011)  # the first after max_wait_s
    gaps = [b - a for a, b in itertools.pairwise(told_at)]
    assert all(g >= 3.0 - 1e-9 for g in gaps)  # never closer than min_gap_s
    assert sum(counts) == 1000  # every fill in exactly one message
    assert len(counts) <= 5


def test_messages_keep_their_minimum_gap() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, quiet_s=0.5, min_gap_s=3.0)
    policy.add(fill(1))
    clock.advance(0.5)
    assert policy.take() is not None
    clock.advance(0.5)
    policy.add(fill(2))
    clock.advance(1.0)  # quiet long enough, but the previous message was 1.5 s ago
    assert policy.take() is None
    assert policy.due_at() == pytest.approx(clock.now + 1.5)
    clock.advance(1.5)
    message = policy.take()
    assert message is not None and message.title == "Order filled"


def test_a_cancel_in_trouble_does_not_wait_for_the_gap() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, quiet_s=0.5, min_gap_s=5.0)
    policy.add(fill(1))
    clock.advance(0.5)
    assert policy.take() is not None
    policy.add(fill(2))
    policy.add(Notice(NoticeKind.PROBLEM, "", "Cancel 5 orders", detail="rejected 5"))
    clock.advance(0.5)  # the pause, not the 5 s gap
    message = policy.take()
    assert message is not None and message.severity is Severity.CRITICAL and message.total == 2


def test_a_kind_switched_off_is_dropped_not_told_later() -> None:
    clock = FakeClock()
    policy = NoticePolicy(clock, enabled={NoticeKind.PARTIALLY_FILLED: False})
    assert not policy.add(Notice(NoticeKind.PARTIALLY_FILLED, "Main spot", "buy 0.5 of 1 XBT/USD"))
    assert policy.due_at() is None and policy.dropped == 1
    assert policy.add(fill(1))
    policy.enabled[NoticeKind.PARTIALLY_FILLED] = True  # switched on again: the dropped one stays dropped
    (message,) = run_until_quiet(policy, clock)
    assert message.total == 1


def test_a_mixed_burst_is_titled_by_its_most_severe_kind() -> None:
    notices = [
        fill(1, "Main spot"),
        fill(2, "Futures"),
        Notice(
            NoticeKind.CANCELLED_ELSEWHERE,
            "Futures",
            "sell 1 PF_XBTUSD at 90000",
            "PF_XBTUSD",
            "dead_man_switch",
        ),
        Notice(NoticeKind.PROBLEM, "", "Cancel 1,000 orders", detail="cancelled 995, rejected 5"),
    ]
    message = summarise(notices)
    assert message.severity is Severity.CRITICAL
    assert message.title == (
        "1 cancel needs attention; 1 order cancelled or expired outside the console; 2 orders filled"
    )
    lines = message.body.splitlines()
    assert lines[0] == "Cancel 1,000 orders: cancelled 995, rejected 5"
    assert lines[1] == "Cancelled or expired outside the console: 1 on Futures (PF_XBTUSD 1)"
    assert lines[2:] == ["Filled: 1 on Main spot (XBT/USD 1)", "Filled: 1 on Futures (XBT/USD 1)"]


def test_a_summary_over_many_accounts_and_markets_stays_short() -> None:
    notices = [fill(i, where=f"Account {i % 9}", symbol=f"M{i % 7}/USD") for i in range(90)]
    message = summarise(notices)
    assert message.title == "90 orders filled on 9 accounts"
    lines = message.body.splitlines()
    assert len(lines) == MAX_LINES
    assert lines[-1] == f"…and {9 - (MAX_LINES - 1)} more"
    assert "more markets" in lines[0]


def test_a_single_outside_cancel_says_why() -> None:
    message = summarise(
        [
            Notice(
                NoticeKind.CANCELLED_ELSEWHERE,
                "Main spot",
                "sell 2 ETH/USD at 3000",
                "ETH/USD",
                "User requested",
            )
        ]
    )
    assert message.title == "Order left outside the console"
    assert message.body == "sell 2 ETH/USD at 3000 — Main spot\nUser requested"
    assert message.severity is Severity.WARNING


def test_nothing_to_summarise_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarise([])
