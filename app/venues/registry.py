"""What each venue is and can do, and how to build one: the one place that knows every venue.

Adding a venue touches ``app/venues`` and one line of ``DESCRIPTORS``; the desk, the planner, the
dead man's switch manager and the Accounts dialog read what they need from here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.venues.base import Capabilities, Venue
from app.venues.futures.venue import FUTURES_CAPABILITIES, build_futures_venue
from app.venues.nonces import NonceSource
from app.venues.prime.venue import PRIME_CAPABILITIES, build_prime_venue
from app.venues.signing import is_valid_b64_secret
from app.venues.spot.venue import SPOT_CAPABILITIES, build_spot_venue

VenueFactory = Callable[[AccountSpec, Credentials, NonceSource], Venue]


class EndpointRole(enum.Enum):
    """A base URL an account may point elsewhere (a simulator, a sandbox), with Kraken's default.

    The value is the key used in ``AccountSpec.endpoints`` and in the simulator's JSON line.
    """

    SPOT_REST = "spot_rest"
    SPOT_WS_V2 = "spot_ws_v2"
    SPOT_WS_V1 = "spot_ws_v1"
    FUTURES_REST = "futures_rest"
    FUTURES_WS = "futures_ws"
    PRIME_WS = "prime_ws"

    @property
    def label(self) -> str:
        """What the Accounts dialog calls the field."""
        return _ROLE_INFO[self][0]

    @property
    def schemes(self) -> tuple[str, ...]:
        """URL schemes the role accepts (plain ones for a simulator on loopback)."""
        return _ROLE_INFO[self][1]

    @property
    def production(self) -> str:
        """Kraken's production URL for the role."""
        return _ROLE_INFO[self][2]

    def check_url(self, url: str) -> str | None:
        """What is wrong with ``url`` for this role, or None when it is usable."""
        if not url.startswith(tuple(f"{s}://" for s in self.schemes)):
            return f"The {self.value} endpoint must start with {' or '.join(f'{s}://' for s in self.schemes)}"
        return None


_HTTP = ("http", "https")
_WS = ("ws", "wss")
_ROLE_INFO: dict[EndpointRole, tuple[str, tuple[str, ...], str]] = {
    EndpointRole.SPOT_REST: ("REST base URL", _HTTP, "https://api.kraken.com"),
    EndpointRole.SPOT_WS_V2: ("WebSocket v2 URL", _WS, "wss://ws-auth.kraken.com/v2"),
    EndpointRole.SPOT_WS_V1: ("WebSocket v1 URL", _WS, "wss://ws-auth.kraken.com"),
    EndpointRole.FUTURES_REST: ("REST base URL", _HTTP, "https://futures.kraken.com"),
    EndpointRole.FUTURES_WS: ("WebSocket URL", _WS, "wss://futures.kraken.com/ws/v1"),
    EndpointRole.PRIME_WS: ("WebSocket URL", _WS, "wss://wss.prime.kraken.com/ws/v1"),
}


def endpoint(spec: AccountSpec, role: EndpointRole) -> str:
    """The base URL for ``role``: the account's own, else Kraken production."""
    return spec.endpoints.get(role.value) or role.production


def _b64_64(secret: str) -> str | None:
    # Kraken Spot and Futures secrets are base64 of 64 bytes (API-FACTS 1.1, 5.1).
    if is_valid_b64_secret(secret):
        return None
    return (
        "This secret is not a Kraken secret: it should be base64 text decoding to 64 bytes. "
        "Copy it again from Kraken's API key page."
    )


def _any_secret(secret: str) -> str | None:
    # Prime secrets are used as-is as HMAC key bytes (API-FACTS 9.1): any non-empty text.
    return None if secret.strip() else "Enter the secret (private key)."


@dataclass(frozen=True, slots=True)
class VenueDescriptor:
    """One kind of venue, as everything above the venues sees it.

    Attributes:
        kind: the venue family.
        label: what the window calls it.
        roles: the endpoints an account of this kind uses, in the order the dialog shows them.
        transports: the transports a trader may choose to stream and to cancel (Spot); empty
            when the venue has only one way.
        capabilities: what the venue can do with its default transports.
        check_secret: what is wrong with a pasted secret, or None.
        build: makes the venue for an account.
    """

    kind: VenueKind
    label: str
    roles: tuple[EndpointRole, ...]
    transports: tuple[Transport, ...]
    capabilities: Capabilities
    check_secret: Callable[[str], str | None]
    build: VenueFactory


def _spot(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    return build_spot_venue(
        spec,
        creds,
        nonces,
        rest_url=endpoint(spec, EndpointRole.SPOT_REST),
        ws_urls={
            Transport.WS_V2: endpoint(spec, EndpointRole.SPOT_WS_V2),
            Transport.WS_V1: endpoint(spec, EndpointRole.SPOT_WS_V1),
        },
    )


def _futures(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    return build_futures_venue(
        spec,
        creds,
        nonces,
        rest_url=endpoint(spec, EndpointRole.FUTURES_REST),
        ws_url=endpoint(spec, EndpointRole.FUTURES_WS),
    )


def _prime(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    return build_prime_venue(spec, creds, url=endpoint(spec, EndpointRole.PRIME_WS))


DESCRIPTORS: dict[VenueKind, VenueDescriptor] = {
    VenueKind.SPOT: VenueDescriptor(
        VenueKind.SPOT,
        "Spot",
        (EndpointRole.SPOT_REST, EndpointRole.SPOT_WS_V2, EndpointRole.SPOT_WS_V1),
        (Transport.WS_V2, Transport.WS_V1, Transport.REST),
        SPOT_CAPABILITIES,
        _b64_64,
        _spot,
    ),
    VenueKind.FUTURES: VenueDescriptor(
        VenueKind.FUTURES,
        "Futures",
        (EndpointRole.FUTURES_REST, EndpointRole.FUTURES_WS),
        (),
        FUTURES_CAPABILITIES,
        _b64_64,
        _futures,
    ),
    VenueKind.PRIME: VenueDescriptor(
        VenueKind.PRIME,
        "Prime",
        (EndpointRole.PRIME_WS,),
        (),
        PRIME_CAPABILITIES,
        _any_secret,
        _prime,
    ),
}


def descriptor(kind: VenueKind) -> VenueDescriptor:
    """The descriptor of ``kind``.

    Raises:
        ValueError: no venue of that kind is built into this version.
    """
    found = DESCRIPTORS.get(kind)
    if found is None:
        raise ValueError(f"{kind.value} accounts are not supported by this version")
    return found


def build_venue(spec: AccountSpec, creds: Credentials, nonces: NonceSource) -> Venue:
    """A venue for ``spec``.

    Raises:
        ValueError: no venue of that kind is built into this version.
    """
    return descriptor(spec.venue).build(spec, creds, nonces)
