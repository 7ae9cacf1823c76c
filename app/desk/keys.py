"""What each account's key may do: probed harmlessly when it connects, kept on the desk.

The probe's result drives the account: a key that lists but cannot cancel is shown amber and is
left out of the kill switch and the dead man's switch (``Desk.cancel_account_ids``); a key that
may trade or withdraw gets a recommendation to use a query + cancel key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from app.core.accounts import KeyCheck
from app.core.errors import VenueError
from app.core.orders import VenueKind
from app.desk.desk import Desk

log = logging.getLogger("app.desk.keys")

PROBE_TIMEOUT_S = 20.0

RECOMMENDATION = (
    "Recommended: a key with only the query permissions (open orders) and 'Cancel & close orders'. "
    "This console never places orders, trades or withdraws, so it needs nothing more."
)


def complete(check: KeyCheck, venue: VenueKind) -> KeyCheck:
    """Fill in what the venue's key model tells without a probe.

    Kraken Futures keys are "read-only" or "full access" (there is no cancel-only key): a key
    that may cancel may also place orders.
    """
    if venue is VenueKind.FUTURES and check.can_trade is None and check.can_cancel is not None:
        return replace(check, can_trade=check.can_cancel)
    return check


def warnings(check: KeyCheck, venue: VenueKind | None = None) -> list[str]:
    """What the trader should know about a key, one line each (empty when it is just right)."""
    out: list[str] = []
    if check.list_only:
        out.append(
            "This key can list orders but not cancel them: it is left out of the kill switch and "
            "the dead man's switch."
        )
    rights = [
        what
        for what, has in (
            ("place orders", check.can_trade),
            ("withdraw funds", check.can_withdraw),
        )
        if has
    ]
    if rights:
        extra = (
            " (Kraken Futures has no cancel-only key: prefer a separate key for this console)"
            if venue is VenueKind.FUTURES
            else ""
        )
        out.append(f"This key may also {' and '.join(rights)}, which this console never does{extra}.")
        out.append(RECOMMENDATION)
    return out


async def check_key(desk: Desk, account_id: str) -> KeyCheck | None:
    """Probe one connected account's key and keep the result on the desk.

    Returns:
        The check, or None when the probe could not run (the account's link shows why).
    """
    venue = desk.venues.get(account_id)
    spec = desk.specs.get(account_id)
    if venue is None or spec is None:
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            check = complete(await venue.check_key(), spec.venue)
    except (VenueError, TimeoutError) as e:
        log.warning("could not probe the key of %s: %s", account_id, e or type(e).__name__)
        return None
    if desk.venues.get(account_id) is not venue:
        return None  # removed or reconnected meanwhile: that one gets its own probe
    desk.set_key_check(account_id, check)
    for line in warnings(check, spec.venue):
        log.info("%s: %s", spec.name, line)
    return check


async def check_keys(desk: Desk, account_ids: Iterable[str] | None = None) -> dict[str, KeyCheck]:
    """Probe several accounts' keys at once (default: every connected account)."""
    ids = list(desk.venues if account_ids is None else account_ids)
    results = await asyncio.gather(*(check_key(desk, a) for a in ids))
    return {a: c for a, c in zip(ids, results, strict=True) if c is not None}
