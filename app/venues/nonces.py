"""Per-key strictly increasing nanosecond nonces with a persisted high-water mark.

Kraken rejects a nonce not above every earlier one for the key (API-FACTS 1.2), and has no way
to lower the mark, so the counter never goes back: not across restarts (the mark is persisted)
and not when the clock steps back (max(last + 1, now)).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("app.venues.nonces")


RESERVE_NS = 10_000_000_000  # persist 10 s of nanosecond nonces ahead


def key_id(api_key: str) -> str:
    """A stable, non-secret name for an API key (the nonce store's key; safe in logs)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class NonceSource:
    """One monotonic counter per API key (keyed by a non-secret key id).

    Rules: each value is greater than every earlier value for that key, even across restarts
    when a ``store_path`` is given. Thread-safe.
    """

    def __init__(self, store_path: Path | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self._path = store_path
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

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._reserved))
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
            self._last[key_id] = value
            if value > self._reserved.get(key_id, 0):
                self._reserved[key_id] = value + RESERVE_NS
                self._save()
            return value

    def last(self, key_id: str) -> int | None:
        """The highest nonce handed out for ``key_id``, if any."""
        return self._last.get(key_id)
