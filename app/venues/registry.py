"""Builds a venue for an account: the one place that knows every venue class."""

from __future__ import annotations

from collections.abc import Callable

from app.core.accounts import AccountSpec, endpoint
from app.core.orders import VenueKind
from app.venues.base import Credentials, Venue
from app.venues.futures import build_futures_venue
from app.venues.nonces import NonceSource
from app.venues.prime_ws import PrimeWsVenue
from app.venues.spot import build_spot_venue

VenueFactory = Callable[[AccountSpec, Credentials, NonceSource], Venue]


def _prime(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    return PrimeWsVenue(spec.account_id, endpoint(spec, "prime_ws"), creds)


FACTORIES: dict[VenueKind, VenueFactory] = {
    VenueKind.SPOT: build_spot_venue,
    VenueKind.FUTURES: build_futures_venue,
    VenueKind.PRIME: _prime,
}


def build_venue(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    """A venue for ``spec``.

    Raises:
        ValueError: no venue of that kind is built into this version.
    """
    factory = FACTORIES.get(spec.venue)
    if factory is None:
        raise ValueError(f"{spec.venue.value} accounts are not supported by this version")
    return factory(spec, creds, nonces)
