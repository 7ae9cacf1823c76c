"""Fault injection for the simulator's hosts: latency, errors, drops and hangs, set at runtime."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SYSTEM_STATUSES = ("online", "cancel_only", "maintenance", "post_only")


class FaultKind(enum.Enum):
    """What a host does instead of answering normally, in the order they are consumed."""

    DROP = "drop_connection"
    HANG = "hang"
    HTML_ERROR = "html_error_page"
    HTTP_5XX = "http_5xx"
    SERVICE_UNAVAILABLE = "service_unavailable"
    RATE_LIMIT = "rate_limit"
    THROTTLED = "throttled"


# The "next N requests" counter field of each fault, in priority order: when several are set,
# one request consumes only the first one that applies.
_COUNTERS: tuple[tuple[FaultKind, str], ...] = (
    (FaultKind.DROP, "drop_connection"),
    (FaultKind.HANG, "hang"),
    (FaultKind.HTML_ERROR, "html_error_page"),
    (FaultKind.HTTP_5XX, "http_5xx"),
    (FaultKind.SERVICE_UNAVAILABLE, "service_unavailable"),
    (FaultKind.RATE_LIMIT, "rate_limit"),
    (FaultKind.THROTTLED, "throttled"),
)

_RATES: tuple[tuple[FaultKind, str], ...] = (
    (FaultKind.DROP, "drop_rate"),
    (FaultKind.HTTP_5XX, "http_5xx_rate"),
)

# Mimics the page a CDN shows when the origin is down: HTML where the client expects JSON.
CLOUDFLARE_502_HTML = """<!DOCTYPE html>
<html lang="en-US">
<head><title>api.kraken.com | 502: Bad gateway</title></head>
<body>
<div id="cf-error-details">
<h1>Bad gateway <span>Error code 502</span></h1>
<p>The web server reported a bad gateway error.</p>
<p>Cloudflare Ray ID: <strong>7a1b2c3d4e5f6a7b</strong></p>
</div>
</body>
</html>
"""


@dataclass
class Faults:
    """One host's fault settings; mutable at runtime (tests and ``/_sim/faults`` patch it).

    Counters mean "the next N requests" and are deterministic; the ``*_rate`` fields are
    probabilities drawn from ``rng`` (seeded, so a run can be replayed). WebSocket hosts reuse
    ``delay_s()`` for latency and ``take()`` for drops.

    Attributes:
        latency_ms: Added before each request is handled (and before WS messages are sent).
        jitter_ms: Uniform extra delay in ``[0, jitter_ms]``.
        drop_connection: Next N requests: close the TCP connection without a reply.
        hang: Next N requests: never answer (until the server stops).
        html_error_page: Next N requests: HTTP 502 with a CDN-style HTML page.
        http_5xx: Next N requests: an HTTP 5xx status (``http_5xx_status``) with a short body.
        service_unavailable: Next N requests: ``EService:Unavailable``.
        rate_limit: Next N requests: ``EAPI:Rate limit exceeded``.
        throttled: Next N requests: ``EService: Throttled: <unix ts>``.
        drop_rate: Probability of a drop per request.
        http_5xx_rate: Probability of an HTTP 5xx per request.
        http_5xx_status: The status used for 5xx faults.
        system_status: ``online``, ``cancel_only`` (cancels only), ``maintenance`` (nothing,
            cancels fail with ``EService:Unavailable``) or ``post_only``.
        rng: Random source for rates and jitter.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    drop_connection: int = 0
    hang: int = 0
    html_error_page: int = 0
    http_5xx: int = 0
    service_unavailable: int = 0
    rate_limit: int = 0
    throttled: int = 0
    drop_rate: float = 0.0
    http_5xx_rate: float = 0.0
    http_5xx_status: int = 503
    system_status: str = "online"
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False, compare=False)

    def delay_s(self) -> float:
        """Return the delay to apply to one request or message, in seconds.

        Returns:
            ``latency_ms`` plus a uniform jitter, converted to seconds (0 when unset).
        """
        if self.latency_ms <= 0 and self.jitter_ms <= 0:
            return 0.0
        jitter = self.rng.uniform(0.0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return max(0.0, self.latency_ms + jitter) / 1000.0

    def take(self, *allowed: FaultKind) -> FaultKind | None:
        """Consume and return the fault the next request should suffer, if any.

        Args:
            allowed: Restrict to these kinds (a WebSocket host passes ``FaultKind.DROP``);
                empty means all kinds.

        Returns:
            The fault to apply, or None to answer normally.
        """
        for kind, name in _COUNTERS:
            if allowed and kind not in allowed:
                continue
            remaining: int = getattr(self, name)
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return kind
        for kind, name in _RATES:
            if allowed and kind not in allowed:
                continue
            rate: float = getattr(self, name)
            if rate > 0 and self.rng.random() < rate:
                return kind
        return None

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Apply a JSON-style patch of fields.

        Args:
            changes: Field names to new values (``rng`` cannot be patched).

        Raises:
            ValueError: On an unknown field, a wrong type or an unknown system status.
        """
        fields = {f.name: f for f in dataclasses.fields(self) if f.name != "rng"}
        updates: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown fault field: {name}")
            current = getattr(self, name)
            if isinstance(current, bool) or isinstance(value, bool):
                raise ValueError(f"bad value for {name}: {value!r}")
            if isinstance(current, int) and not isinstance(current, bool):
                if not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer")
            elif isinstance(current, float):
                if not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                value = float(value)
            elif name == "system_status" and value not in SYSTEM_STATUSES:
                raise ValueError(f"system_status must be one of {SYSTEM_STATUSES}")
            updates[name] = value
        for name, value in updates.items():
            setattr(self, name, value)

    def snapshot(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict.

        Returns:
            Every field except ``rng``.
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "rng"}

    def clear(self) -> None:
        """Reset every fault to its default (the rng keeps its state)."""
        for f in dataclasses.fields(self):
            if f.name != "rng" and f.default is not dataclasses.MISSING:
                setattr(self, f.name, f.default)
