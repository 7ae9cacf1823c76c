"""What the console knows about an account before connecting: no secrets here, ever."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from app.core.orders import VenueKind


class Transport(enum.StrEnum):
    """Which API a Spot account uses to stream and to cancel."""

    REST = "rest"
    WS_V2 = "ws_v2"
    WS_V1 = "ws_v1"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account as configured.

    Attributes:
        account_id: stable id (also the keychain entry name).
        name: what the trader calls it.
        venue: Spot, Futures or Prime.
        endpoints: base URLs by role (``spot_rest``, ``spot_ws_v2``, ``futures_rest``, ...); missing
            roles use Kraken's production hosts.
        stream_transport: Spot only: which transport streams orders.
        cancel_transport: Spot only: which transport cancels (REST is the fallback).
        options: venue options, e.g. ``process_before_ms`` for Futures.
    """

    account_id: str
    name: str
    venue: VenueKind
    endpoints: dict[str, str] = field(default_factory=dict)
    stream_transport: Transport = Transport.WS_V2
    cancel_transport: Transport = Transport.WS_V2
    options: dict[str, int | str | bool] = field(default_factory=dict)


PRODUCTION_ENDPOINTS: dict[str, str] = {
    "spot_rest": "https://api.kraken.com",
    "spot_ws_v2": "wss://ws-auth.kraken.com/v2",
    "spot_ws_v1": "wss://ws-auth.kraken.com",
    "futures_rest": "https://futures.kraken.com",
    "futures_ws": "wss://futures.kraken.com/ws/v1",
    "prime_ws": "wss://wss.prime.kraken.com/ws/v1",
}


def endpoint(spec: AccountSpec, role: str) -> str:
    """The base URL for ``role``: the account's own, else Kraken production."""
    return spec.endpoints.get(role) or PRODUCTION_ENDPOINTS[role]
