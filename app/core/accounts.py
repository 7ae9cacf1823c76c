"""What the console knows about an account: its settings, its link, its key. No secrets here, ever."""

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


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair. ``repr`` never shows the secret (nor the key: it is half the pair)."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key=<{len(self.api_key)} chars>, secret=<hidden>)"


class LinkState(enum.StrEnum):
    """An account's connection state as the sidebar shows it."""

    CONNECTING = "connecting"
    LIVE = "live"
    POLLING = "polling"
    RECONNECTING = "reconnecting"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What a key was found able to do, by harmless probes. None = could not tell.

    ``can_trade`` (place orders), ``can_withdraw`` and ``can_query_funds`` are more than the
    console needs: a key with trade or withdraw rights gets a recommendation to use a
    query + cancel key instead.
    """

    can_query: bool | None
    can_cancel: bool | None
    can_websocket: bool | None = None
    notes: tuple[str, ...] = ()
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    can_query_funds: bool | None = None

    @property
    def list_only(self) -> bool:
        """It can list orders but was refused a cancel: left out of the kill switch and the
        dead man's switch."""
        return self.can_cancel is False

    @property
    def more_than_needed(self) -> bool:
        """It may place orders or move funds, which this console never does."""
        return bool(self.can_trade or self.can_withdraw)
