"""When to raise a desktop notification, and what it says: bursts summarised, rate-limited (pure)."""

# No Qt and no clock of its own: the notifier (app/ui/notify.py) feeds notices and asks when the
# next message is due; tests feed notices with a fake clock.
#
# The rules, for a trader who cannot read 200 pop-ups:
# - a notice waits until the stream of notices pauses (``quiet_s``), but never longer than
#   ``max_wait_s`` after the first one waiting: 200 fills in 2 s become one message;
# - two messages are at least ``min_gap_s`` apart: a steady trickle becomes one summary every
#   few seconds, never one pop-up per event; a cancel that ended in trouble does not wait for
#   the gap (it still waits for the pause, so it comes with what else just happened);
# - a kind the trader switched off is dropped at once (not counted later).

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

QUIET_S = 0.5
MAX_WAIT_S = 3.0
MIN_GAP_S = 5.0  # a steady trickle: one summary every 5 s, and the desktop gets a rest
MAX_LINES = 6  # body lines of a summary; more are counted in a last line
TOP_SYMBOLS = 3  # markets named per line of a summary


class NoticeKind(enum.StrEnum):
    """What happened, one kind per setting."""

    FILLED = "filled"
    PARTIALLY_FILLED = "partially filled"
    CANCELLED_ELSEWHERE = "cancelled elsewhere"  # also expired, or gone without a reason
    PROBLEM = "problem"  # a cancel action ended failed, rejected or unknown

    @property
    def label(self) -> str:
        """The setting's words."""
        return _LABELS[self]


_LABELS = {
    NoticeKind.FILLED: "Orders filled",
    NoticeKind.PARTIALLY_FILLED: "Orders partly filled",
    NoticeKind.CANCELLED_ELSEWHERE: "Orders cancelled or expired outside the console",
    NoticeKind.PROBLEM: "Cancels that end failed, rejected or unknown",
}

# Most severe first: a mixed summary is titled and iconed by its most severe kind.
SEVERITY_ORDER = (
    NoticeKind.PROBLEM,
    NoticeKind.CANCELLED_ELSEWHERE,
    NoticeKind.FILLED,
    NoticeKind.PARTIALLY_FILLED,
)


class Severity(enum.IntEnum):
    """How loud the message is (the tray message's icon)."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


_SEVERITY = {
    NoticeKind.PROBLEM: Severity.CRITICAL,
    NoticeKind.CANCELLED_ELSEWHERE: Severity.WARNING,
    NoticeKind.FILLED: Severity.INFO,
    NoticeKind.PARTIALLY_FILLED: Severity.INFO,
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell the trader.

    Attributes:
        kind: what happened.
        where: the account's name (empty for an action over several accounts).
        what: the order (``buy 1.25 XBT/USD at 100.5``) or the action (``Cancel 5 orders``).
        symbol: the market, for a summary's "XBT/USD 120, ETH/USD 80" (empty for an action).
        detail: the venue's reason, or an action's outcome counts.
    """

    kind: NoticeKind
    where: str
    what: str
    symbol: str = ""
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One desktop notification: a title line, a body, how loud, and what it stands for."""

    title: str
    body: str
    severity: Severity
    counts: Mapping[NoticeKind, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many notices the message summarises."""
        return sum(self.counts.values())


def _orders(n: int) -> str:
    return f"{n:,} order{'s' if n != 1 else ''}"


_SINGLE_TITLE = {
    NoticeKind.FILLED: "Order filled",
    NoticeKind.PARTIALLY_FILLED: "Order partly filled",
    NoticeKind.CANCELLED_ELSEWHERE: "Order left outside the console",
    NoticeKind.PROBLEM: "A cancel needs attention",
}
_VERB = {
    NoticeKind.FILLED: "filled",
    NoticeKind.PARTIALLY_FILLED: "partly filled",
    NoticeKind.CANCELLED_ELSEWHERE: "cancelled or expired outside the console",
}


def _places(names: Iterable[str]) -> str:
    unique = [n for n in dict.fromkeys(names) if n]
    if not unique:
        return ""
    if len(unique) <= 2:
        return " on " + " and ".join(unique)
    return f" on {len(unique)} accounts"


def counts_title(counts: Mapping[NoticeKind, int], places: str = "") -> str:
    """``200 orders filled on Main spot`` / ``1 cancel needs attention; 2 orders filled``.

    Args:
        counts: notices per kind.
        places: `` on <accounts>``, added when only one kind (not a problem) is counted.
    """
    parts: list[str] = []
    for kind in SEVERITY_ORDER:
        k = counts.get(kind, 0)
        if not k:
            continue
        if kind is NoticeKind.PROBLEM:
            parts.append(f"{k} cancel{'s' if k != 1 else ''} need{'s' if k == 1 else ''} attention")
        else:
            parts.append(f"{_orders(k)} {_VERB[kind]}")
    if len(parts) == 1 and not counts.get(NoticeKind.PROBLEM):
        parts[0] += places
    return "; ".join(parts)


def summarise(notices: list[Notice]) -> Message:
    """One message for ``notices`` (at least one): the notice itself, or a summary.

    Raises:
        ValueError: no notice.
    """
    if not notices:
        raise ValueError("nothing to summarise")
    counts = Counter(n.kind for n in notices)
    top = next(k for k in SEVERITY_ORDER if counts[k])
    severity = _SEVERITY[top]
    if len(notices) == 1:
        n = notices[0]
        body = f"{n.what} — {n.where}" if n.where else n.what
        if n.detail:
            body += f"\n{n.detail}"
        return Message(_SINGLE_TITLE[n.kind], body, severity, dict(counts))
    kinds_present = [k for k in SEVERITY_ORDER if counts[k]]
    places = _places(n.where for n in notices) if len(kinds_present) == 1 else ""
    title = counts_title(counts, places)
    lines: list[str] = []
    for kind in kinds_present:
        of_kind = [n for n in notices if n.kind is kind]
        if kind is NoticeKind.PROBLEM:
            lines.extend(f"{n.what}: {n.detail}" if n.detail else n.what for n in of_kind)
            continue
        by_place: dict[str, list[Notice]] = {}
        for n in of_kind:
            by_place.setdefault(n.where, []).append(n)
        for place, group in by_place.items():
            symbols = Counter(n.symbol for n in group if n.symbol).most_common()
            shown = ", ".join(f"{s} {c}" for s, c in symbols[:TOP_SYMBOLS])
            if len(symbols) > TOP_SYMBOLS:
                shown += f", {len(symbols) - TOP_SYMBOLS} more markets"
            head = f"{_VERB[kind].capitalize()}: {len(group):,}"
            if place:
                head += f" on {place}"
            lines.append(f"{head} ({shown})" if shown else head)
    if len(lines) > MAX_LINES:
        rest = len(lines) - (MAX_LINES - 1)
        lines = [*lines[: MAX_LINES - 1], f"…and {rest} more"]
    return Message(title, "\n".join(lines), severity, dict(counts))


class NoticePolicy:
    """Gathers notices and says when one message for them is due.

    Use: ``add()`` each notice; ask ``due_at()`` when to look again; at that time ``take()``
    returns the message (None if it is not due yet, or nothing waits).

    Rules kept: a disabled kind is dropped at ``add``; a message is due when the notices pause
    for ``quiet_s`` or the first waiting one is ``max_wait_s`` old, and never sooner than
    ``min_gap_s`` after the previous message unless a ``PROBLEM`` waits; every notice added
    ends in exactly one message.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        enabled: Mapping[NoticeKind, bool] | None = None,
        quiet_s: float = QUIET_S,
        max_wait_s: float = MAX_WAIT_S,
        min_gap_s: float = MIN_GAP_S,
    ) -> None:
        self._clock = clock
        self.enabled: dict[NoticeKind, bool] = {k: True for k in NoticeKind}
        if enabled is not None:
            self.enabled.update(enabled)
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.min_gap_s = min_gap_s
        self._pending: list[Notice] = []
        self._urgent = False  # a problem waits among them: no minimum gap
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._shown_at: float | None = None
        self.dropped = 0  # notices of kinds switched off (for tests and the log)

    @property
    def pending(self) -> int:
        """Notices waiting for their message."""
        return len(self._pending)

    def add(self, notice: Notice) -> bool:
        """Take a notice; False when its kind is switched off (it is dropped)."""
        if not self.enabled.get(notice.kind, True):
            self.dropped += 1
            return False
        now = self._clock()
        if not self._pending:
            self._first_at = now
        self._last_at = now
        self._pending.append(notice)
        self._urgent = self._urgent or notice.kind is NoticeKind.PROBLEM  # kept, not searched for
        return True

    def due_at(self) -> float | None:
        """When the waiting notices' message is due (clock time), None when nothing waits."""
        if not self._pending or self._first_at is None or self._last_at is None:
            return None
        ready = min(self._last_at + self.quiet_s, self._first_at + self.max_wait_s)
        if self._shown_at is not None and not self._urgent:
            ready = max(ready, self._shown_at + self.min_gap_s)
        return ready

    def take(self) -> Message | None:
        """The message for every waiting notice if it is due now (they are then cleared)."""
        due = self.due_at()
        now = self._clock()
        if due is None or now < due:
            return None
        message = summarise(self._pending)
        self._pending = []
        self._urgent = False
        self._first_at = self._last_at = None
        self._shown_at = now
        return message
