"""The Spot REST venue against the simulator over real sockets: every cancel form and failure."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from app.core.accounts import Credentials
from app.core.errors import AuthError, MalformedReply, PermissionDenied, TransportError, VenueUnavailable
from app.core.ledger import CancelState
from app.core.orders import CancelRef, IdKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope, plan_cancel
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue
from tests.helpers.sim import Sim


async def test_lists_what_the_exchange_holds(sim: Sim) -> None:
    venue = sim.spot_venue()
    try:
        orders = await venue.list_open_orders()
    finally:
        await venue.aclose()
    assert {o.order_id for o in orders} == sim.open_ids()
    assert all(o.quantity > 0 and o.symbol for o in orders)


async def test_cancel_one_by_txid_is_cancelled_by_the_venues_word(sim: Sim) -> None:
    venue = sim.spot_venue()
    order = (await venue.list_open_orders())[0]
    reply = await venue.execute(CancelRequest("spot", RequestForm.SINGLE, (CancelRef.of(order),), (order,)))
    await venue.aclose()
    assert reply.outcomes[order.order_id].state is CancelState.CANCELLED
    assert order.order_id not in sim.open_ids()


async def test_an_order_kraken_no_longer_knows_is_checked_never_called_cancelled(sim: Sim) -> None:
    venue = sim.spot_venue()
    order = (await venue.list_open_orders())[0]
    req = CancelRequest("spot", RequestForm.SINGLE, (CancelRef.of(order),), (order,))
    await venue.execute(req)
    again = await venue.execute(req)  # a retry after the first worked
    # "Unknown order" proves nothing by itself (API-FACTS 11): the desk confirms it.
    assert again.outcomes[order.order_id].state is CancelState.UNKNOWN
    confirmed = await venue.confirm([order])
    await venue.aclose()
    assert confirmed[order.order_id].state is CancelState.CANCELLED  # QueryOrders: canceled


async def test_cancel_by_client_id_and_userref(sim: Sim) -> None:
    venue = sim.spot_venue()
    orders = await venue.list_open_orders()
    with_cl = next(o for o in orders if o.client_id)
    reply = await venue.execute(
        CancelRequest(
            "spot", RequestForm.SINGLE, (CancelRef(IdKind.CLIENT_ID, with_cl.client_id or ""),), (with_cl,)
        )
    )
    assert reply.count == 1 and with_cl.order_id not in sim.open_ids()
    userrefs = [o.userref for o in orders if o.userref is not None]
    shared = max(set(userrefs), key=userrefs.count)
    touched = [o for o in orders if o.userref == shared]
    reply = await venue.execute(
        CancelRequest("spot", RequestForm.SINGLE, (CancelRef(IdKind.USERREF, str(shared)),), tuple(touched))
    )
    assert reply.count == len(touched) and not reply.outcomes  # a count is not per-order proof
    outcomes = await venue.confirm(touched)
    await venue.aclose()
    assert {o.state for o in outcomes.values()} == {CancelState.CANCELLED}


@pytest.mark.parametrize("n", [2, 50, 51])
async def test_batches_are_confirmed_per_order(sim: Sim, n: int) -> None:
    venue = sim.spot_venue()
    orders = (await venue.list_open_orders())[:n]
    plan = plan_cancel(
        CancelIntent(Scope.ORDERS, tuple(orders)), {"spot": orders}, {"spot": venue.capabilities.limits}
    )
    total = 0
    for req in plan.requests:
        reply = await venue.execute(req)
        total += reply.count or len(reply.outcomes)
    confirmed = await venue.confirm(orders)
    await venue.aclose()
    assert total == n
    assert all(o.state is CancelState.CANCELLED for o in confirmed.values()) and len(confirmed) == n
    assert not ({o.order_id for o in orders} & sim.open_ids())


async def test_confirm_tells_filled_from_cancelled(sim: Sim) -> None:
    venue = sim.spot_venue()
    a, b, c = (await venue.list_open_orders())[:3]
    sim.exchange.fill("spot", b.order_id)
    await venue.execute(CancelRequest("spot", RequestForm.BATCH, (CancelRef.of(a), CancelRef.of(b)), (a, b)))
    out = await venue.confirm([a, b, c])
    await venue.aclose()
    assert out[a.order_id].state is CancelState.CANCELLED
    assert out[b.order_id].state is CancelState.FILLED
    assert out[c.order_id].state is CancelState.FAILED  # never asked: still open


async def test_cancel_all_and_deadman(sim: Sim) -> None:
    venue = sim.spot_venue()
    status = await venue.arm_deadman(60)
    assert status.trigger_time is not None
    assert (await venue.arm_deadman(0)).trigger_time is None
    reply = await venue.execute(CancelRequest("spot", RequestForm.ALL))
    await venue.aclose()
    assert reply.count == 120 and sim.open_ids() == set()


async def test_bad_key_and_bad_signature(sim: Sim) -> None:
    good = sim.creds()
    bad_key = SpotRestVenue(
        "spot", sim.endpoints["spot_rest"], Credentials("nope", good.secret), NonceSource()
    )
    wrong_secret = Credentials(good.api_key, "A" * 86 + "==")
    bad_sig = SpotRestVenue("spot", sim.endpoints["spot_rest"], wrong_secret, NonceSource())
    for venue, text in ((bad_key, "Invalid key"), (bad_sig, "Invalid signature")):
        with pytest.raises(AuthError, match=text) as info:
            await venue.list_open_orders()
        assert good.secret not in str(info.value)
        await venue.aclose()


async def test_stale_nonce(sim: Sim) -> None:
    venue = SpotRestVenue("spot", sim.endpoints["spot_rest"], sim.creds(), NonceSource(clock=lambda: 10**19))
    await venue.list_open_orders()
    stale = SpotRestVenue("spot", sim.endpoints["spot_rest"], sim.creds(), NonceSource(clock=lambda: 5))
    with pytest.raises(AuthError, match="Invalid nonce"):
        await stale.list_open_orders()
    await venue.aclose()
    await stale.aclose()


async def test_concurrent_calls_on_one_key_never_overtake(sim: Sim) -> None:
    venue = sim.spot_venue()
    results = await asyncio.gather(*(venue.list_open_orders() for _ in range(20)))
    await venue.aclose()
    assert all(len(r) == 120 for r in results)


async def test_query_only_key_cannot_cancel(sim: Sim) -> None:
    acct = sim.exchange.add_account("readonly", "spot", permissions={"query"})
    sim.exchange.generate_orders("readonly", 3, __import__("random").Random(1))
    venue = SpotRestVenue(
        "readonly", sim.endpoints["spot_rest"], Credentials(acct.api_key, acct.secret), NonceSource()
    )
    check = await venue.check_key()
    order = (await venue.list_open_orders())[0]
    with pytest.raises(PermissionDenied):
        await venue.execute(CancelRequest("readonly", RequestForm.SINGLE, (CancelRef.of(order),), (order,)))
    await venue.aclose()
    assert (check.can_query, check.can_cancel, check.can_websocket) == (True, False, False)


async def test_full_key_check(sim: Sim) -> None:
    venue = sim.spot_venue()
    check = await venue.check_key()
    await venue.aclose()
    assert (check.can_query, check.can_cancel, check.can_websocket) == (True, True, True)


async def test_html_page_and_5xx_leave_the_effect_unknown(sim: Sim) -> None:
    # A gateway can time out after the engine acted (504, Cloudflare 52x): never "failed".
    venue = sim.spot_venue()
    sim.faults.html_error_page = 1
    with pytest.raises(TransportError, match="HTML") as info:
        await venue.list_open_orders()
    assert info.value.effect_unknown
    sim.faults.http_5xx = 1
    with pytest.raises(TransportError):
        await venue.list_open_orders()
    assert len(await venue.list_open_orders()) == 120
    await venue.aclose()


async def test_timeout_and_drop_are_effect_unknown(sim: Sim) -> None:
    venue = sim.spot_venue(timeout=httpx.Timeout(0.5))
    sim.faults.hang = 1
    with pytest.raises(TransportError) as info:
        await venue.list_open_orders()
    assert info.value.effect_unknown
    sim.faults.drop_connection = 1
    with pytest.raises(TransportError):
        await venue.list_open_orders()
    await venue.aclose()


async def test_malformed_reply_via_mock_transport() -> None:
    # The simulator never sends broken JSON with HTTP 200; MockTransport stands in for that case.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=b'{"error": [], "result": {"count": "x"}}',
            headers={"content-type": "application/json"},
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    venue = SpotRestVenue("s", "http://x", Credentials("k", secret), NonceSource(), client=client)
    with pytest.raises(MalformedReply):
        await venue.execute(CancelRequest("s", RequestForm.ALL))
    await client.aclose()


async def test_confirm_with_one_unknown_id_still_sees_open_orders(sim: Sim) -> None:
    venue = sim.spot_venue()
    a, b = (await venue.list_open_orders())[:2]
    ghost = dataclasses.replace(a, order_id="OZZZZZ-ZZZZZ-ZZZZZZ")
    await venue.execute(CancelRequest("spot", RequestForm.SINGLE, (CancelRef.of(a),), (a,)))
    out = await venue.confirm([a, b, ghost])
    await venue.aclose()
    assert out[a.order_id].state is CancelState.CANCELLED
    assert out[b.order_id].state is CancelState.FAILED  # still open: never "gone"
    assert out[ghost.order_id].state is CancelState.ALREADY_GONE


async def test_unreachable_exchange_means_nothing_was_sent() -> None:
    # A port nobody listens on: the connection is refused before any byte of the cancel leaves.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    venue = SpotRestVenue("s", f"http://127.0.0.1:{port}", Credentials("k", secret), NonceSource())
    with pytest.raises(VenueUnavailable, match="nothing was sent") as info:
        await venue.execute(CancelRequest("s", RequestForm.ALL))
    await venue.aclose()
    assert not info.value.effect_unknown


async def test_a_key_that_cannot_query_is_told_apart_without_listing_every_order(sim: Sim) -> None:
    acct = sim.exchange.add_account("cancelonly", "spot", permissions={"cancel"})
    venue = SpotRestVenue(
        "cancelonly", sim.endpoints["spot_rest"], Credentials(acct.api_key, acct.secret), NonceSource()
    )
    before = len(sim.exchange.arrivals)
    check = await venue.check_key()
    await venue.aclose()
    assert (check.can_query, check.can_cancel) == (False, True)
    paths = [a.path for a in list(sim.exchange.arrivals)[before:]]
    assert any(p.endswith("/QueryOrders") for p in paths)
    assert not any(p.endswith("/OpenOrders") for p in paths)  # the probe does not list the book
