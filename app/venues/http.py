"""What an httpx failure means for a request's effect, shared by the REST venues."""

from __future__ import annotations

import functools
import ssl

import httpx

from app.core.errors import TransportError, VenueError, VenueUnavailable


def error_for_transport(error: httpx.TransportError, what: str) -> VenueError:
    """Map an httpx failure to the console's error, by whether the request may have left.

    A connection that was never made sent nothing (``VenueUnavailable``: the order is surely
    still open); a timeout or a connection lost after sending leaves the effect unknown
    (``TransportError``: re-check before saying anything).

    Args:
        error: the httpx exception.
        what: the call, for the message (e.g. ``CancelOrder`` or ``Kraken Futures cancelorder``).

    Returns:
        The exception to raise (from ``error``).
    """
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return VenueUnavailable(
            f"{what}: cannot connect to Kraken ({type(error).__name__}); nothing was sent"
        )
    if isinstance(error, httpx.TimeoutException):
        return TransportError(f"{what}: no answer from Kraken in time")
    return TransportError(f"{what}: connection failed ({type(error).__name__})")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every REST client (loading the CA store costs ~60 ms each)."""
    return ssl.create_default_context()


def new_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An HTTP client for one venue, sharing the process's TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())
