"""The venue registry: one descriptor per venue kind, read by the desk, the planner and the window."""

from __future__ import annotations

import pytest

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.venues.nonces import NonceSource
from app.venues.registry import DESCRIPTORS, EndpointRole, build_venue, descriptor, endpoint

GOOD_SECRET = "QUJD" * 21 + "QQ=="  # base64 of 64 bytes


def test_every_venue_kind_has_a_descriptor_with_its_roles() -> None:
    assert set(DESCRIPTORS) == set(VenueKind)
    roles = [r for d in DESCRIPTORS.values() for r in d.roles]
    assert sorted(roles, key=lambda r: r.value) == sorted(EndpointRole, key=lambda r: r.value)
    assert descriptor(VenueKind.SPOT).transports == (Transport.WS_V2, Transport.WS_V1, Transport.REST)
    assert [d.label for d in DESCRIPTORS.values()] == ["Spot", "Futures", "Prime"]


def test_capabilities_say_what_each_venue_can_do() -> None:
    spot, futures, prime = (DESCRIPTORS[k].capabilities for k in VenueKind)
    assert spot.deadman and futures.deadman and not prime.deadman
    assert spot.limits.cancel_all and not spot.limits.cancel_all_for_symbol
    assert futures.limits.cancel_all_for_symbol and futures.limits.batch_mixes_id_kinds
    assert not prime.limits.cancel_all and all(c.streaming for c in (spot, futures, prime))


@pytest.mark.parametrize("role", list(EndpointRole))
def test_each_role_accepts_its_production_url_and_a_loopback_one(role: EndpointRole) -> None:
    assert role.check_url(role.production) is None
    plain = role.production.replace("https://", "http://").replace("wss://", "ws://")
    assert role.check_url(plain) is None
    wrong = "ftp://example" if role.schemes[0] == "ws" else "ws://example"
    assert role.value in (role.check_url(wrong) or "")
    assert role.check_url("ftp://x") is not None


def test_secret_checks_follow_each_venue() -> None:
    for kind in (VenueKind.SPOT, VenueKind.FUTURES):
        check = descriptor(kind).check_secret
        assert check(GOOD_SECRET) is None
        assert "not a Kraken secret" in (check("not base64!") or "")
        assert check("QUJD") is not None  # base64, 3 bytes
    prime = descriptor(VenueKind.PRIME).check_secret
    assert prime("any text the Prime desk gave") is None and prime("  ") is not None


async def test_endpoints_default_to_production_and_accounts_may_point_elsewhere() -> None:
    spec = AccountSpec("a", "A", VenueKind.FUTURES, endpoints={"futures_ws": "ws://127.0.0.1:9/ws/v1"})
    assert endpoint(spec, EndpointRole.FUTURES_REST) == "https://futures.kraken.com"
    assert endpoint(spec, EndpointRole.FUTURES_WS) == "ws://127.0.0.1:9/ws/v1"
    for kind in VenueKind:
        venue = build_venue(
            AccountSpec(kind.value, kind.value, kind), Credentials("k", GOOD_SECRET), NonceSource()
        )
        try:
            assert venue.kind is kind and venue.capabilities == descriptor(kind).capabilities
        finally:
            await venue.aclose()
