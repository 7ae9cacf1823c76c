"""The console's exception tree: every failure a venue, the keychain or the desk can raise.

ConsoleError
├── VenueError                    a venue answered, or failed to answer, a request
│   ├── VenueRejected             the venue answered with a business error (Kraken's error string kept)
│   │   ├── AuthError             bad key, bad signature, stale nonce, lockout
│   │   ├── PermissionDenied      the key lacks the permission the call needs
│   │   └── RateLimited           any of Kraken's rate-limit answers; ``retry_after`` seconds if known
│   ├── VenueUnavailable          maintenance, EService:Unavailable, HTTP 5xx, HTML error pages
│   ├── MalformedReply            a reply we cannot parse: the request's effect is unknown
│   └── TransportError            timeout or dropped connection: the request's effect is unknown
└── KeychainError                 the OS keychain cannot be used
    ├── KeychainUnavailable       no keychain backend (no Secret Service, no D-Bus session)
    └── KeychainLocked            the keychain exists but is locked or refused access

``effect_unknown`` tells the ledger whether the request may have taken effect: when True, orders it
touched go to ``unknown`` and are re-checked by listing; they are never marked cancelled or failed.
Messages never include secrets: raise with the venue's words, never with request headers.
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Base of every error the console raises on purpose."""


class VenueError(ConsoleError):
    """A request to a venue did not succeed."""

    effect_unknown: bool = False

    def __init__(self, message: str, *, venue_error: str | None = None) -> None:
        super().__init__(message)
        self.venue_error = venue_error


class VenueRejected(VenueError):
    """The venue answered and refused the request (the error string is Kraken's own)."""


class AuthError(VenueRejected):
    """The venue refused the credentials: invalid key, signature, nonce, or a lockout."""


class PermissionDenied(VenueRejected):
    """The API key is valid but lacks the permission for this call."""


class RateLimited(VenueRejected):
    """A rate limit was hit; ``retry_after`` is the wait in seconds when the venue said."""

    def __init__(
        self, message: str, *, venue_error: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, venue_error=venue_error)
        self.retry_after = retry_after


class VenueUnavailable(VenueError):
    """The venue is down, in maintenance, or answered with a server error page.

    Kraken documents that a non-200 reply did not reach the API, so nothing happened.
    """


class MalformedReply(VenueError):
    """The reply could not be understood; whether the request took effect is unknown."""

    effect_unknown = True


class TransportError(VenueError):
    """Timeout or dropped connection; whether the request took effect is unknown."""

    effect_unknown = True


class KeychainError(ConsoleError):
    """The OS keychain cannot be used."""


class KeychainUnavailable(KeychainError):
    """No usable keychain backend is available."""


class KeychainLocked(KeychainError):
    """The keychain is locked or refused access."""
