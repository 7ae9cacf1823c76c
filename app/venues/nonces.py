"""Per-key strictly increasing nanosecond nonces with a persisted high-water mark.

Kraken rejects a nonce not above every earlier one for the key (API-FACTS 1.2), and has no way
to lower the mark, so the counter never goes back: not across restarts (the mark is persisted)
and not when the clock steps back (max(last + 1, now)).

Across processes (two consoles, or the console and its command line, on one key): a process
hands out nonces only from a range it reserved under an OS file lock, above every mark any
process wrote, so two processes never hand out the same nonce. The reservation is 10 s of clock
ahead, so the lock and the file are touched about every 10 s per key, not per request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Container
from pathlib import Path
from typing import TypeVar

from app.core.errors import AuthError
from app.oslock import LockHeld, locked

log = logging.getLogger("app.venues.nonces")

T = TypeVar("T")


RESERVE_NS = 10_000_000_000  # persist 10 s of nanosecond nonces ahead
JUMP_NS = 1_000_000_000  # after "invalid nonce": go this far past everything we know of
LOCK_TIMEOUT_S = 5.0

# Shown when Kraken refuses a nonce again right after the jump ahead.
NONCE_CLASH = "another program is using this API key; give each program its own key"


def key_id(api_key: str) -> str:
    """A stable, non-secret name for an API key (the nonce store's key; safe in logs)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class NonceSource:
    """One monotonic counter per API key (keyed by a non-secret key id).

    Rules: each value is greater than every earlier value for that key, even across restarts
    when a ``store_path`` is given; with a store, processes sharing it never hand out the same
    value (each reserves its range under the store's lock, above every other reservation).
    Thread-safe.
    """

    def __init__(self, store_path: Path | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self._path = store_path
        self._lock_path = store_path.with_name(store_path.name + ".lock") if store_path else None
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, int] = self._load()
        # What is on disk is a reservation ahead of what was handed out, so the hot path writes
        # only every RESERVE_NS of clock time, not on every request.
        self._reserved: dict[str, int] = dict(self._last)

    def _load(self) -> dict[str, int]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text())
            return {str(k): int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            log.warning("nonce store %s unreadable; starting from the clock", self._path)
            return {}

    def _cross_process(self) -> contextlib.AbstractContextManager[None]:
        if self._lock_path is None:
            return contextlib.nullcontext()
        return locked(self._lock_path, timeout_s=LOCK_TIMEOUT_S)

    def _reserve(self, key_id: str, value: int) -> int:
        """Under the store's lock: move ``value`` above every other process's reservation for
        the key, reserve ahead of it and persist. Returns the (possibly raised) value."""
        try:
            with self._cross_process():
                disk = self._load()
                value = max(value, disk.get(key_id, 0) + 1)
                self._reserved[key_id] = value + RESERVE_NS
                merged = {**disk, **{k: max(v, disk.get(k, 0)) for k, v in self._reserved.items()}}
                self._save(merged)
        except LockHeld:
            # Never block a cancel on a stuck lock: go past what we know and tell the log.
            log.error("nonce store lock held over %.0f s; reserving without it", LOCK_TIMEOUT_S)
            self._reserved[key_id] = value + RESERVE_NS
            self._save(dict(self._reserved))
        return value

    def _save(self, marks: dict[str, int]) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(marks))
            os.replace(tmp, self._path)
        except OSError:
            log.exception("could not persist nonce high-water marks")

    def next(self, key_id: str) -> int:
        """The next nonce for ``key_id``.

        Args:
            key_id: a stable, non-secret name for the API key (e.g. a hash of the public key).

        Returns:
            An integer greater than every earlier one for this key.
        """
        with self._lock:
            value = max(self._last.get(key_id, 0) + 1, self._clock())
            if value > self._reserved.get(key_id, 0):
                value = self._reserve(key_id, value)
            self._last[key_id] = value
            return value

    def jump(self, key_id: str) -> int:
        """Kraken refused a nonce as not above its mark: another program used the key. Go past
        everything any process of ours reserved, and ``JUMP_NS`` past the clock, so the retry
        has a chance. Returns the new floor (the next nonce is above it).
        """
        with self._lock:
            value = max(self._last.get(key_id, 0), self._clock()) + JUMP_NS
            value = self._reserve(key_id, value)
            self._last[key_id] = value
            log.warning("nonce for key %s jumped ahead after Kraken refused one", key_id)
            return value

    def last(self, key_id: str) -> int | None:
        """The highest nonce handed out for ``key_id``, if any."""
        return self._last.get(key_id)


async def retry_after_nonce_clash(
    send: Callable[[], Awaitable[T]],
    nonces: NonceSource,
    key: str,
    refusals: Container[str | None],
    venue: str,
) -> T:
    """``send()``, and once more after Kraken refused its nonce (nothing was applied: another
    program used a higher nonce on the key), with the nonce jumped ahead.

    Raises:
        AuthError: refused again after the jump: "another program is using this API key".
        Whatever ``send`` raises otherwise.
    """
    try:
        return await send()
    except AuthError as e:
        if e.venue_error not in refusals:
            raise
        nonces.jump(key)
    try:
        return await send()
    except AuthError as e:
        if e.venue_error not in refusals:
            raise
        raise AuthError(
            f"{venue} refused the nonce twice ({e.venue_error}): {NONCE_CLASH}", venue_error=e.venue_error
        ) from None
