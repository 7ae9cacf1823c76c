"""Fault injection and reply choices for the simulator's hosts, set at runtime, replayable from a seed."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SYSTEM_STATUSES = ("online", "cancel_only", "maintenance", "post_only")


class FaultKind(enum.Enum):
    """What a host does instead of answering normally, in the order they are consumed.

    Each kind's value is the name of its "next N requests" counter in ``Faults``. Kinds up to
    ``INVALID_SESSION`` act before the request is handled (nothing is applied); the ``*_AFTER``
    kinds and the WebSocket reply kinds act after the exchange applied it; the stream kinds act
    on listings, snapshots and stream updates.
    """

    # Before the request is handled: nothing applied.
    DROP = "drop_connection"
    HANG = "hang"
    HTML_ERROR = "html_error_page"
    HTTP_5XX = "http_5xx"
    SERVICE_UNAVAILABLE = "service_unavailable"
    RATE_LIMIT = "rate_limit"
    THROTTLED = "throttled"
    TOO_MANY_REQUESTS = "too_many_requests"
    THROTTLED_NO_TS = "throttled_no_ts"
    INVALID_SESSION = "invalid_session"
    # HTTP, after the request was applied.
    DROP_AFTER = "drop_after_apply"
    HANG_AFTER = "hang_after_apply"
    HTTP_5XX_AFTER = "http_5xx_after_apply"
    HTML_200_AFTER = "html_200_after_apply"
    GARBLED_AFTER = "garbled_after_apply"
    EMPTY_AFTER = "empty_after_apply"
    HUGE_AFTER = "huge_after_apply"
    # WebSocket replies to requests that were applied.
    LOST_REPLY = "lost_reply"
    DUPLICATE_REPLY = "duplicate_reply"
    REORDER_REPLIES = "reorder_replies"
    # Streams and listings.
    SKIP_SEQUENCE = "skip_sequence"
    LOST_DELTA = "lost_delta"
    MALFORMED_ORDER = "malformed_order"


# The business answers a host words in its own API's terms (the rest are transport faults).
BUSINESS_KINDS = frozenset(
    {
        FaultKind.SERVICE_UNAVAILABLE,
        FaultKind.RATE_LIMIT,
        FaultKind.THROTTLED,
        FaultKind.TOO_MANY_REQUESTS,
        FaultKind.THROTTLED_NO_TS,
    }
)
AFTER_APPLY_HTTP = frozenset(
    {
        FaultKind.DROP_AFTER,
        FaultKind.HANG_AFTER,
        FaultKind.HTTP_5XX_AFTER,
        FaultKind.HTML_200_AFTER,
        FaultKind.GARBLED_AFTER,
        FaultKind.EMPTY_AFTER,
        FaultKind.HUGE_AFTER,
    }
)
# What an HTTP request may suffer, in priority order (listings take MALFORMED_ORDER on their own).
_TRANSPORT_BEFORE = frozenset({FaultKind.DROP, FaultKind.HANG, FaultKind.HTML_ERROR, FaultKind.HTTP_5XX})
HTTP_KINDS = tuple(k for k in FaultKind if k in _TRANSPORT_BEFORE | BUSINESS_KINDS | AFTER_APPLY_HTTP)
# What a WebSocket request that changes orders may suffer, after it was applied.
WS_REPLY_KINDS = (
    FaultKind.DROP_AFTER,
    FaultKind.LOST_REPLY,
    FaultKind.DUPLICATE_REPLY,
    FaultKind.REORDER_REPLIES,
)

# Probability fields: kind -> field, drawn from the seeded rng after the counters.
_RATES: tuple[tuple[FaultKind, str], ...] = (
    (FaultKind.DROP, "drop_rate"),
    (FaultKind.HTTP_5XX, "http_5xx_rate"),
    (FaultKind.DROP_AFTER, "drop_after_apply_rate"),
    (FaultKind.HTTP_5XX_AFTER, "http_5xx_after_apply_rate"),
    (FaultKind.LOST_REPLY, "lost_reply_rate"),
    (FaultKind.LOST_DELTA, "lost_delta_rate"),
)

# Text fields and the values they take.
CHOICES: dict[str, tuple[str, ...]] = {
    "system_status": SYSTEM_STATUSES,
    # How a cancel of an id the exchange never knew is answered: "EOrder:Unknown order" (what
    # the simulator always said; the console's key check relies on it) or "EOrder:Invalid
    # order" (Kraken's SDK guides, API-FACTS 11).
    "never_known_error": ("unknown", "invalid"),
    # How an id that was open and is closed now is answered (the same two texts).
    "gone_order_error": ("unknown", "invalid"),
    # A batch naming a reference that names no open order: skip it (count what was cancelled),
    # refuse the batch after cancelling the others, or refuse it with nothing applied.
    "batch_unknown_id": ("skip", "refuse_after_apply", "refuse_all"),
    # Which requests consume the counters and rates: any, or only the ones that cancel.
    "scope": ("all", "cancels"),
}

# Not settings: excluded from patch, snapshot and clear.
_INTERNAL = frozenset({"rng", "watchers"})

# Mimics the page a CDN shows when the origin fails: HTML where the client expects JSON.
_CLOUDFLARE_TITLES = {
    200: "Please wait",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway time-out",
    520: "Web server is returning an unknown error",
    521: "Web server is down",
    522: "Connection timed out",
    523: "Origin is unreachable",
    524: "A timeout occurred",
}


def cloudflare_html(status: int, host: str = "api.kraken.com") -> str:
    """The HTML page a CDN in front of Kraken shows for ``status`` (520-524 are Cloudflare's own).

    Args:
        status: The HTTP status the page explains.
        host: The site named in the title.

    Returns:
        The page.
    """
    title = _CLOUDFLARE_TITLES.get(status, "Error")
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head><title>{host} | {status}: {title}</title></head>
<body>
<div id="cf-error-details">
<h1>{title} <span>Error code {status}</span></h1>
<p>The web server reported an error.</p>
<p>Cloudflare Ray ID: <strong>7a1b2c3d4e5f6a7b</strong></p>
</div>
</body>
</html>
"""


CLOUDFLARE_502_HTML = cloudflare_html(502)


@dataclass
class Faults:
    """One host's fault settings and reply choices; mutable at runtime (tests and the control API).

    Counters (one per ``FaultKind``, named by its value) mean "the next N requests" and are
    deterministic; the ``*_rate`` fields are probabilities drawn from ``rng`` (seeded, so a run
    can be replayed). Which kinds a host takes is up to the host: HTTP hosts the ``HTTP_KINDS``,
    WebSocket hosts drops, reply kinds on requests that change orders, and stream kinds.

    Events: ``watch(callback)`` is called with this object after ``system_status`` changes
    (hosts push Kraken's status messages on it).

    Attributes:
        latency_ms: Added before each request is handled (and before WS messages are sent).
        jitter_ms: Uniform extra delay in ``[0, jitter_ms]``.
        drop_connection: Next N requests: close the TCP connection without a reply.
        hang: Next N requests: never answer (until the host goes down or the server stops).
        html_error_page: Next N requests: HTTP 502 with a CDN-style HTML page.
        http_5xx: Next N requests: an HTTP 5xx status (``http_5xx_status``) with a short body.
        service_unavailable: Next N requests: ``EService:Unavailable``.
        rate_limit: Next N requests: ``EAPI:Rate limit exceeded``.
        throttled: Next N requests: ``EService: Throttled: <unix ts>``.
        too_many_requests: Next N requests: ``EGeneral:Too many requests``.
        throttled_no_ts: Next N requests: ``EService:Throttled`` without a time.
        invalid_session: Next N private WS requests: ``ESession:Invalid session``.
        drop_after_apply: Next N requests are applied, then the connection is cut unanswered.
        hang_after_apply: Next N requests are applied, then never answered.
        http_5xx_after_apply: Next N requests are applied, then answered ``after_apply_status``
            with an HTML page (504 and Cloudflare's 520-524 come after the engine acted).
        html_200_after_apply: Next N requests are applied, then answered 200 with HTML.
        garbled_after_apply: Next N requests are applied, then answered with a cut, garbled body.
        empty_after_apply: Next N requests are applied, then answered 200 with an empty body.
        huge_after_apply: Next N requests are applied, then answered with the reply padded to
            ``huge_body_bytes`` (valid JSON, several MB).
        lost_reply: Next N WS requests are applied and never answered; the socket stays up.
        duplicate_reply: Next N WS requests are answered twice.
        reorder_replies: Next N WS requests' replies go out in the wrong order (several replies
            reversed; a single one after the next request's replies).
        skip_sequence: Next N stream updates skip a sequence number (nothing is lost).
        lost_delta: Next N stream updates are never sent (the next one has its own sequence).
        malformed_order: Next N listings or snapshots carry one order with a bad field.
        drop_rate: Probability of a drop per request.
        http_5xx_rate: Probability of an HTTP 5xx per request.
        drop_after_apply_rate: Probability per request of a drop after apply.
        http_5xx_after_apply_rate: Probability per request of a 5xx page after apply.
        lost_reply_rate: Probability per WS request that changes orders of a lost reply.
        lost_delta_rate: Probability per stream update of a lost delta.
        http_5xx_status: The status used for ``http_5xx`` faults.
        after_apply_status: The status of ``http_5xx_after_apply`` (500-599; 520-524 Cloudflare).
        huge_body_bytes: Size of a ``huge_after_apply`` body.
        snapshot_delay_ms: A WS snapshot follows the subscribe ack this much later.
        system_status: ``online``, ``cancel_only`` (cancels only), ``maintenance`` (nothing,
            cancels fail with ``EService:Unavailable``) or ``post_only``.
        never_known_error: ``unknown`` (``EOrder:Unknown order``) or ``invalid``
            (``EOrder:Invalid order``, as Kraken's SDK guides say) for a cancel naming an id the
            exchange never knew.
        gone_order_error: The same choice for an id that was open and is closed now.
        batch_unknown_id: ``skip``, ``refuse_after_apply`` or ``refuse_all`` (see ``CHOICES``).
        strict_cl_ord_ids: CancelOrderBatch refuses ``cl_ord_ids`` given as bare strings.
        v1_txid_required: WS v1 ``cancelOrder`` without ``txid`` is refused.
        scope: ``all`` requests consume counters and rates, or only ``cancels``.
        rng: Random source for rates and jitter.
        watchers: Called after ``system_status`` changes.
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
    too_many_requests: int = 0
    throttled_no_ts: int = 0
    invalid_session: int = 0
    drop_after_apply: int = 0
    hang_after_apply: int = 0
    http_5xx_after_apply: int = 0
    html_200_after_apply: int = 0
    garbled_after_apply: int = 0
    empty_after_apply: int = 0
    huge_after_apply: int = 0
    lost_reply: int = 0
    duplicate_reply: int = 0
    reorder_replies: int = 0
    skip_sequence: int = 0
    lost_delta: int = 0
    malformed_order: int = 0
    drop_rate: float = 0.0
    http_5xx_rate: float = 0.0
    drop_after_apply_rate: float = 0.0
    http_5xx_after_apply_rate: float = 0.0
    lost_reply_rate: float = 0.0
    lost_delta_rate: float = 0.0
    http_5xx_status: int = 503
    after_apply_status: int = 504
    huge_body_bytes: int = 4 * 1024 * 1024
    snapshot_delay_ms: float = 0.0
    system_status: str = "online"
    never_known_error: str = "invalid"  # Kraken: "EOrder:Invalid order" for a made-up id (API-FACTS 11)
    gone_order_error: str = "unknown"
    batch_unknown_id: str = "skip"
    strict_cl_ord_ids: bool = True  # the schema: {"cl_ord_id": ...} objects
    v1_txid_required: bool = True  # seed 000: txid is required
    scope: str = "all"
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False, compare=False)
    watchers: list[Callable[[Faults], None]] = field(default_factory=list, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        old = self.__dict__.get(name, value)
        object.__setattr__(self, name, value)
        if name == "system_status" and old != value:
            for watcher in list(self.__dict__.get("watchers", ())):
                watcher(self)

    def watch(self, callback: Callable[[Faults], None]) -> Callable[[], None]:
        """Call ``callback(self)`` after every change of ``system_status``.

        Args:
            callback: Must be quick and must not raise.

        Returns:
            A function that stops watching (safe to call twice).
        """
        self.watchers.append(callback)

        def unwatch() -> None:
            if callback in self.watchers:
                self.watchers.remove(callback)

        return unwatch

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
        for kind in FaultKind:
            if allowed and kind not in allowed:
                continue
            remaining: int = getattr(self, kind.value)
            if remaining > 0:
                setattr(self, kind.value, remaining - 1)
                return kind
        for kind, name in _RATES:
            if allowed and kind not in allowed:
                continue
            rate: float = getattr(self, name)
            if rate > 0 and self.rng.random() < rate:
                return kind
        return None

    def applies_to(self, is_cancel: bool) -> bool:
        """Whether a request consumes counters and rates under ``scope``.

        Args:
            is_cancel: The request cancels (or arms the dead man's switch).

        Returns:
            True when ``scope`` is ``all`` or the request cancels.
        """
        return self.scope == "all" or is_cancel

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Apply a JSON-style patch of fields.

        Args:
            changes: Field names to new values (``rng`` and ``watchers`` cannot be patched).

        Raises:
            ValueError: On an unknown field, a wrong type or a value outside its choices.
        """
        fields = {f.name for f in dataclasses.fields(self) if f.name not in _INTERNAL}
        updates: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown fault field: {name}")
            updates[name] = _checked(name, getattr(self, name), value)
        for name, value in updates.items():
            setattr(self, name, value)

    def snapshot(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict.

        Returns:
            Every field except ``rng`` and ``watchers``.
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _INTERNAL}

    def clear(self) -> None:
        """Reset every fault to its default (the rng keeps its state, watchers stay)."""
        for f in dataclasses.fields(self):
            if f.name not in _INTERNAL and f.default is not dataclasses.MISSING:
                setattr(self, f.name, f.default)


def _checked(name: str, current: Any, value: Any) -> Any:
    """``value`` for field ``name`` (holding ``current``), converted, or ValueError."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if isinstance(value, bool):
        raise ValueError(f"bad value for {name}: {value!r}")
    if isinstance(current, int):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if isinstance(current, float):
        if not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(value)
    choices = CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {choices}")
    return value
