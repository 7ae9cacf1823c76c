"""The cancel ledger: the states an order moves through while it is being cancelled.

queued -> sent -> acknowledged -> cancelled, or one of the other endings: already gone (the venue
did not know the order: it was cancelled or filled before), filled (the venue says it filled
instead), rejected (the venue refused, with its reason), failed (we know nothing was applied, with
the reason), unknown (timeout, dropped connection, gateway error: re-checked until known, never
guessed). A request held back by a rate limit is ``waiting`` (before it is sent, or after Kraken
refused it for the limit: nothing was applied) and is sent when the limit allows.

``cancelled`` is reached only when the venue said so for that very order, or its live stream
removed the order with a cancel reason. Everything else must say what it knows and no more.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CancelState(enum.StrEnum):
    """Where an order is in its cancellation."""

    QUEUED = "queued"
    WAITING = "waiting"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"
    ALREADY_GONE = "already gone"
    FILLED = "filled"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """True when nothing more will happen to this attempt on its own."""
        return self in FINAL_STATES

    @property
    def is_open_attempt(self) -> bool:
        """True while the attempt is still in flight (a new cancel would double up)."""
        return self in (CancelState.QUEUED, CancelState.WAITING, CancelState.SENT, CancelState.ACKNOWLEDGED)


FINAL_STATES = frozenset(
    {
        CancelState.CANCELLED,
        CancelState.ALREADY_GONE,
        CancelState.FILLED,
        CancelState.REJECTED,
        CancelState.FAILED,
        CancelState.UNKNOWN,
    }
)

# Which moves are legal. UNKNOWN is final for the attempt but is re-checked until resolved (each
# re-check is a move UNKNOWN -> UNKNOWN with what it found, so the audit log shows every one);
# REJECTED/FAILED orders can be queued again by a new cancel. UNKNOWN cannot become REJECTED: a
# later refusal says nothing about what the earlier request did.
_NOT_SENT = frozenset(
    {CancelState.FAILED, CancelState.REJECTED, CancelState.ALREADY_GONE, CancelState.UNKNOWN}
)
_ALLOWED: dict[CancelState | None, frozenset[CancelState]] = {
    None: frozenset({CancelState.QUEUED}),
    # Not sent yet, and it filled: a fact, whatever we were about to ask.
    CancelState.QUEUED: frozenset({CancelState.SENT, CancelState.WAITING, CancelState.FILLED} | _NOT_SENT),
    CancelState.WAITING: frozenset({CancelState.SENT, CancelState.WAITING, CancelState.FILLED} | _NOT_SENT),
    CancelState.SENT: frozenset(FINAL_STATES | {CancelState.ACKNOWLEDGED, CancelState.WAITING}),
    CancelState.ACKNOWLEDGED: FINAL_STATES,
    CancelState.UNKNOWN: frozenset(
        {
            CancelState.CANCELLED,
            CancelState.ALREADY_GONE,
            CancelState.FILLED,
            CancelState.FAILED,
            CancelState.UNKNOWN,
            CancelState.QUEUED,
        }
    ),
    CancelState.REJECTED: frozenset({CancelState.QUEUED}),
    CancelState.FAILED: frozenset({CancelState.QUEUED}),
    # A stream can still report a late fill for an order we saw cancelled: facts win.
    CancelState.CANCELLED: frozenset({CancelState.FILLED}),
    CancelState.ALREADY_GONE: frozenset({CancelState.QUEUED, CancelState.CANCELLED}),
    CancelState.FILLED: frozenset(),
}


def can_move(old: CancelState | None, new: CancelState) -> bool:
    """Whether the ledger allows ``old -> new``.

    Args:
        old: the current state, None when the order has no cancel attempt yet.
        new: the proposed state.

    Returns:
        True if the move is legal.
    """
    return new in _ALLOWED[old]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a venue said (or what we know) about one order of a cancel request."""

    state: CancelState
    reason: str | None = None

    def __str__(self) -> str:
        if not self.reason:
            return self.state.value
        # "waiting: Kraken's rate limit, ~3 s" already says its state: not "waiting (waiting: …)".
        if self.reason.startswith(f"{self.state.value}: "):
            return self.reason
        return f"{self.state.value} ({self.reason})"
