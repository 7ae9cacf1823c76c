"""What the window says about an account's link, its dead man's switch and Kraken's own status.

Pure functions of the desk's state and the time now (no Qt): the sidebar, the banner and the
orders table call them once a second, so every countdown ticks and nothing is frozen text.
Each returns a ``Said``: a short text for a narrow cell, a tone (a palette colour name of app.ui.theme:
``good``, ``in_flight`` (amber), ``failed``, ``dim`` or ``""``), and the long text for tooltips and the
banner.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.core.accounts import LinkState
from app.desk.deadman import DeadmanState
from app.desk.desk import AccountStatus
from app.desk.venues import VenueStatus

MAINTENANCE_WARN_S = 3600.0  # an announced maintenance this close is a reason to disarm


@dataclass(frozen=True, slots=True)
class Said:
    """One piece of status: ``short`` for a cell, ``tone`` a palette colour name, ``long`` for a tooltip."""

    short: str
    tone: str = ""
    long: str = ""


def clock(at: float) -> str:
    """``12:01:03`` (local time)."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def span(seconds: float) -> str:
    """``47 s``, ``5 min 12 s``, ``2 h 5 min``: how long, for a trader's eye."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def compact(seconds: float) -> str:
    """``47s``, ``5m``, ``2h``: how long, for a narrow cell."""
    s = max(0, int(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m" if s < 3600 else f"{s // 3600}h"


_FROZEN_COUNTDOWN = re.compile(r";? ?(?:reconnecting|retrying) in \d+ s$")


def link(status: AccountStatus, now: float) -> Said:
    """The account's link: live, listed over REST, reconnecting (with the countdown), down (for how long)."""
    retry = f" · retry in {span(status.retry_at - now)}" if status.retry_at and status.retry_at > now else ""
    since = f" for {span(now - status.since)}" if status.since is not None else ""
    as_of = f"; rows as of {clock(status.live_at)}" if status.live_at is not None and status.stale else ""
    # The venue's detail ends with the countdown it had when written: the ticking one replaces it.
    words = _FROZEN_COUNTDOWN.sub("", status.detail)
    detail = f": {words}" if words else ""
    match status.link:
        case LinkState.LIVE:
            return Said("live", "good", f"{status.name} is live")
        case LinkState.POLLING:
            stream_down = "stream" in status.detail
            short = "REST" if stream_down else "polling"
            return Said(
                short, "in_flight" if stream_down else "good", f"{status.name}: {status.detail or 'polled'}"
            )
        case LinkState.CONNECTING:
            return Said("connecting", "in_flight", f"{status.name} is connecting{detail}")
        case LinkState.RECONNECTING:
            short = f"retry {compact(status.retry_at - now)}" if retry and status.retry_at else "reconnecting"
            return Said(
                short,
                "in_flight",
                f"{status.name} is reconnecting{since}{retry}{detail}{as_of}",
            )
        case _:
            short = f"down {compact(now - status.since)}" if status.since is not None else "down"
            return Said(short, "failed", f"{status.name} is down{since}{retry}{detail}{as_of}")


def deadman(state: DeadmanState | None, now: float, *, switch_on: bool) -> Said:
    """One account's dead man's switch: off, a live countdown to Kraken's deadline, failing, none."""
    if state is None:
        return Said("off" if not switch_on else "…", "dim", "Dead man's switch: off")
    if not state.supported:
        return Said("none", "dim", "No dead man's switch on this venue (Prime has none)")
    if state.left_out:
        return Said("left out", "in_flight", f"Dead man's switch: left out: {state.left_out}")
    if not state.armed:
        if state.error:
            return Said("error", "failed", f"Dead man's switch could not be armed: {state.error}")
        return Said("off", "dim", "Dead man's switch: off")
    acked = (
        f"last acknowledged at {clock(state.acked_at)}"
        if state.acked_at is not None
        else "not acknowledged yet"
    )
    if state.trigger_at is None:
        return Said("armed", "good", f"Dead man's switch armed; {acked}")
    left = state.trigger_at - now
    if state.failing or left <= 0:
        since = clock(state.acked_at) if state.acked_at is not None else "the start"
        fires = "fired" if left <= 0 else "cancels everything"
        return Said(
            f"⚠ {clock(state.trigger_at)}",
            "failed",
            f"Not acknowledged since {since}: Kraken {fires} at {clock(state.trigger_at)}"
            + (f" ({state.error})" if state.error else ""),
        )
    return Said(
        compact(left),
        "good",
        f"Dead man's switch armed: Kraken cancels everything in {span(left)} unless refreshed ({acked})",
    )


def kraken(status: VenueStatus | None, now: float) -> Said | None:
    """Kraken's own word on the venue, when it is worth saying (None when online, nothing announced)."""
    if status is None:
        return None
    note = f": {status.note}" if status.note else ""
    match status.status:
        case "maintenance":
            return Said("maintenance", "failed", f"Kraken says maintenance{note}: nothing can be cancelled")
        case "cancel_only":
            return Said(
                "cancel only", "in_flight", f"Kraken says cancel only{note}: cancels work, new orders do not"
            )
        case "post_only":
            return Said("post only", "in_flight", f"Kraken says post only{note}")
        case "unknown":
            return Said("status ?", "dim", f"Kraken's status could not be read{note}")
    if status.maintenance_at is not None and status.maintenance_at > now:
        return Said(
            f"maint. {clock(status.maintenance_at)}",
            "in_flight",
            f"Kraken announces maintenance at {clock(status.maintenance_at)} "
            f"(in {span(status.maintenance_at - now)}){note}",
        )
    return None


def maintenance_reminder(
    statuses: list[AccountStatus], deadman_states: dict[str, DeadmanState], now: float
) -> list[str]:
    """Banner lines: a maintenance ahead (or on) on an account whose dead man's switch is armed."""
    lines = []
    for st in statuses:
        k = st.kraken
        dm = deadman_states.get(st.account_id)
        if k is None or dm is None or not dm.armed:
            continue
        soon = k.maintenance_at is not None and 0 <= k.maintenance_at - now <= MAINTENANCE_WARN_S
        if k.status == "maintenance" or soon:
            when = "now" if k.status == "maintenance" else f"at {clock(k.maintenance_at or now)}"
            lines.append(
                f"Kraken maintenance on {st.name} {when}: disarm the dead man's switch first, or Kraken's "
                "timer may cancel everything while the venue cannot be refreshed."
            )
    return lines
