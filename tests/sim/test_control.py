"""Outages and ports: hosts down and up on the same port, pinned ports, the control host."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.sim.faults import Faults
from app.sim.server import SimServer
from app.sim.state import Exchange, MarketActivity
from tests.sim.kraken import Sim, read_line, ws_connect

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    """Ports nobody listens on right now (the OS picks them)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_block(width: int) -> int:
    """A port ``p`` such that ``p .. p + width - 1`` are all free right now."""
    for _ in range(50):
        base = free_ports(1)[0]
        if base + width >= 65536:
            continue
        socks = []
        try:
            for port in range(base, base + width):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free block of ports")


async def test_host_down_refuses_and_drops_then_comes_back_on_the_same_port(sim: Sim) -> None:
    order = sim.add()
    url = sim.urls["spot_rest"]
    async with httpx.AsyncClient(base_url=url, timeout=2) as keepalive:
        assert (await keepalive.get("/0/public/Time")).status_code == 200  # a kept-alive connection
        async with ws_connect(sim.urls["spot_ws_v2"]) as ws:
            await ws.recv()
            down = await sim.control("/_sim/hosts/spot_rest/down", {})
            assert down["spot_rest"]["up"] is False
            await sim.control("/_sim/hosts/spot_ws/down", {})
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        with pytest.raises(httpx.ConnectError):
            await sim.http.get(url + "/0/public/Time")
        with pytest.raises(httpx.TransportError):
            await keepalive.get("/0/public/Time")  # the old connection was cut, a new one refused
        assert sim.status(order.order_id) == "open"
        hosts = (await sim.control("/_sim/hosts"))["hosts"]
        assert hosts["spot_rest"]["up"] is False and hosts["futures"]["up"] is True
        port = hosts["spot_rest"]["port"]
        up = await sim.control("/_sim/hosts/spot_rest/up", {})
        assert up["spot_rest"] == {"up": True, "port": port, "urls": {"spot_rest": url}}
        assert (await keepalive.get("/0/public/Time")).status_code == 200
    assert (await sim.spot().call("CancelOrder", {"txid": order.order_id}))["result"]["count"] == 1
    await sim.control("/_sim/hosts/spot_ws/up", {})
    async with ws_connect(sim.urls["spot_ws_v2"]) as ws:
        assert (await ws.recv())["channel"] == "status"


async def test_a_hung_request_is_released_when_its_host_goes_down(sim: Sim) -> None:
    sim.faults("futures").hang_after_apply = 1
    order = sim.add("futures", "PF_XBTUSD")
    pending = asyncio.create_task(sim.futures().raw("POST", "cancelorder", {"order_id": order.order_id}))
    for _ in range(100):
        if sim.status(order.order_id, "futures") == "canceled":
            break
        await asyncio.sleep(0.01)
    await sim.server.stop_host("futures")
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(pending, 3)
    await sim.server.start_host("futures")
    await sim.server.start_host("futures")  # idempotent
    assert (await sim.futures().call("GET", "openorders"))["openOrders"] == []


async def test_hosts_keep_their_faults_and_settings_across_an_outage(sim: Sim) -> None:
    await sim.control("/_sim/hosts/spot_ws/settings", {"heartbeat_s": 0.5})
    faults = await sim.control("/_sim/hosts/spot_rest/faults", {"rate_limit": 2})
    assert faults["rate_limit"] == 2
    await sim.server.stop_host("spot_rest")
    await sim.server.stop_host("spot_rest")  # idempotent
    await sim.server.start_host("spot_rest")
    await sim.server.stop_host("spot_ws")
    await sim.server.start_host("spot_ws")
    assert (await sim.spot().call("OpenOrders"))["error"] == ["EAPI:Rate limit exceeded"]
    assert (await sim.control("/_sim/hosts/spot_ws/settings"))["heartbeat_s"] == 0.5
    cleared = await sim.control("/_sim/hosts/spot_rest/faults", {"clear": True})
    assert cleared["rate_limit"] == 0


async def test_control_api_refuses_what_it_does_not_know(sim: Sim) -> None:
    base = sim.urls["control"]
    assert (await sim.http.post(base + "/_sim/hosts/nowhere/down")).status_code == 404
    assert (await sim.http.post(base + "/_sim/hosts/spot_rest/faults", json={"nope": 1})).status_code == 400
    assert (await sim.http.post(base + "/_sim/hosts/spot_ws/settings", json={"nope": 1})).status_code == 400
    assert (await sim.http.post(base + "/_sim/status", json={"status": "closed"})).status_code == 400
    assert (await sim.http.post(base + "/_sim/tokens", json={"ttl_s": 0})).status_code == 400
    defaults = await sim.control("/_sim/faults", {"latency_ms": 5})
    assert defaults["latency_ms"] == 5.0 and sim.server.faults.latency_ms == 5.0
    state = await sim.control("/_sim/state")
    assert state["accounts"]["spot"]["open"] == 0 and state["system_status"] == "online"
    prime = await sim.control("/_sim/hosts/prime/settings", {"pending_cancel_s": 0.1})
    assert prime == {"pending_cancel_s": 0.1, "drop_after_apply": True}
    assert (await sim.http.get(base + "/_sim/hosts/spot_rest/settings")).status_code == 404


async def test_pinned_ports_and_default_server_without_control() -> None:
    ports = free_ports(5)
    names = ["spot_rest", "futures", "prime", "spot_ws", "control"]
    exchange = Exchange(seed=2)
    server = SimServer(exchange, Faults(), ports=dict(zip(names, ports, strict=True)), control=True)
    urls = await server.start()
    try:
        assert urls["spot_rest"] == f"http://127.0.0.1:{ports[0]}"
        assert urls["spot_ws_v2"] == f"ws://127.0.0.1:{ports[3]}/v2"
        assert urls["control"] == f"http://127.0.0.1:{ports[4]}"
        table = server.host_table()
        assert [table[n]["port"] for n in names[:4]] == ports[:4]
    finally:
        await server.stop()
    plain = SimServer(Exchange(seed=2))
    try:
        assert "control" not in await plain.start()
    finally:
        await plain.stop()


def test_python_m_app_sim_pins_ports_and_names_the_control_host(tmp_path: Path) -> None:
    base = free_block(11)
    args = ["--orders", "3", "--other-orders", "1", "--no-activity", "--base-port", str(base)]
    args += ["--ports", f"control={base + 10}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.sim", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            info = json.loads(read_line(proc, timeout=20))
            assert info["spot_rest"] == f"http://127.0.0.1:{base}"
            assert info["futures_rest"] == f"http://127.0.0.1:{base + 1}"
            assert info["spot_ws_v1"] == f"ws://127.0.0.1:{base + 3}/"
            assert info["control"] == f"http://127.0.0.1:{base + 10}"
            with httpx.Client(timeout=5) as http:
                hosts = http.get(info["control"] + "/_sim/hosts").json()["hosts"]
                assert hosts["prime"]["port"] == base + 2 and all(h["up"] for h in hosts.values())
                assert http.post(info["control"] + "/_sim/hosts/spot_rest/down").status_code == 200
                with pytest.raises(httpx.ConnectError):
                    http.get(info["spot_rest"] + "/0/public/Time")
                assert http.post(info["control"] + "/_sim/hosts/spot_rest/up").status_code == 200
                assert http.get(info["spot_rest"] + "/0/public/Time").json()["error"] == []
                truth = http.get(info["control"] + "/_sim/truth", params={"account": "spot"}).json()
                assert truth["counts"]["open"] == 3 and truth["counts"]["by"]["created"] == {"seed": 3}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_bad_port_pins_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.sim", "--ports", "moon=1"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2 and b"bad port pin" in result.stderr


async def test_market_activity_is_controlled_at_runtime(sim: Sim) -> None:
    base = sim.urls["control"]
    assert (await sim.http.get(base + "/_sim/activity")).status_code == 404  # this server runs none
    activity = MarketActivity(sim.exchange, random.Random(1), 0.0, accounts=["spot"])
    sim.server.activity = activity
    try:
        for _ in range(5):
            sim.add()
        started = await sim.control(
            "/_sim/activity", {"rate_per_s": 200, "cancel_share": 1, "expire_share": 0}
        )
        assert started["running"] is True and started["cancel_share"] == 1.0
        for _ in range(200):
            if (await sim.truth())["counts"]["by"].get("cancelled", {}).get("activity"):
                break
            await asyncio.sleep(0.02)
        assert (await sim.truth())["counts"]["by"]["cancelled"]["activity"] >= 1
        bad = await sim.http.post(base + "/_sim/activity", json={"cancel_share": -1})
        assert bad.status_code == 400
    finally:
        await activity.stop()
