"""Running the simulator: SimServer's host registry, SimThread, and ``python -m app.sim``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp import web

from app.sim.faults import Faults
from app.sim.server import HOSTS, HostContext, HostSpec, SimServer, SimThread
from app.sim.state import Exchange
from tests.sim.kraken import read_line

ROOT = Path(__file__).resolve().parents[2]


def signed_post(http: httpx.Client, method: str, key: str, secret: str) -> httpx.Response:
    """A private Spot call signed as Kraken documents (written here, not imported)."""
    nonce = str(time.time_ns())
    body = urlencode({"nonce": nonce}).encode()
    path = f"/0/private/{method}"
    digest = hashlib.sha256(nonce.encode() + body).digest()
    sign = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512).digest()
    headers = {
        "API-Key": key,
        "API-Sign": base64.b64encode(sign).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return http.post(path, content=body, headers=headers)


async def test_adding_a_host_is_one_registry_entry() -> None:
    def build_echo(ctx: HostContext) -> web.Application:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"host": ctx.name, "accounts": list(ctx.exchange.accounts)})

        app = web.Application()
        app.router.add_get("/x", hello)
        return app

    echo = HostSpec(
        "echo", build=build_echo, urls=(("echo_a", "http://{addr}/x"), ("echo_ws", "ws://{addr}/x"))
    )
    exchange = Exchange(seed=1)
    exchange.add_account("spot", "spot")
    server = SimServer(exchange, hosts=[*HOSTS, echo])
    urls = await server.start()
    try:
        assert {"spot_rest", "echo_a", "echo_ws"} <= set(urls)
        assert urls["echo_ws"].startswith("ws://127.0.0.1:") and urls["echo_ws"].endswith("/x")
        async with httpx.AsyncClient() as http:
            assert (await http.get(urls["echo_a"])).json() == {"host": "echo", "accounts": ["spot"]}
    finally:
        await server.stop()
    await server.stop()  # idempotent


async def test_stop_releases_hung_requests_and_disarms_timers() -> None:
    exchange = Exchange(seed=1)
    exchange.add_account("spot", "spot")
    server = SimServer(exchange, Faults(hang=1))
    urls = await server.start()
    exchange.arm_deadman("spot", 60)
    async with httpx.AsyncClient(base_url=urls["spot_rest"]) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/0/public/Time", timeout=0.2)
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 2
    assert exchange.deadman_trigger_time("spot") is None


def test_sim_thread_start_call_stop() -> None:
    exchange = Exchange(seed=4)
    exchange.seed_demo(20, seed=4, kinds=("spot",))
    sim = SimThread(exchange, activity_rate_per_s=50, activity_seed=1)
    urls = sim.start()
    try:
        account = sim.call(exchange.account, "spot")
        with httpx.Client(base_url=urls["spot_rest"], timeout=5) as http:
            assert http.get("/0/public/Time").json()["error"] == []
            reply = signed_post(http, "OpenOrders", account.api_key, account.secret).json()
            assert reply["error"] == [] and len(reply["result"]["open"]) > 0
        now, trigger = sim.call(exchange.arm_deadman, "spot", 0.05)
        assert trigger == pytest.approx(now + 0.05)
        deadline = time.monotonic() + 3
        cancelled = 0
        while not cancelled and time.monotonic() < deadline:
            time.sleep(0.02)
            cancelled = int(sim.call(exchange.counts)["spot"]["canceled"])
        assert cancelled > 0  # the switch fired on the sim loop (nothing else cancels here)

        async def count_async() -> int:
            return len(exchange.accounts)

        assert sim.submit(count_async()).result(5) == 1
    finally:
        sim.stop()
    sim.stop()
    assert not sim.activity.running
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=2) as http:
        http.get(urls["spot_rest"] + "/0/public/Time")


def test_sim_thread_reports_a_failed_start() -> None:
    sim = SimThread(Exchange(seed=1), host="256.0.0.1", activity_rate_per_s=0)
    with pytest.raises(RuntimeError):
        sim.start()
    sim.stop()


def test_python_m_app_sim_prints_one_json_line_and_serves(tmp_path: Path) -> None:
    stderr = (tmp_path / "stderr.txt").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.sim",
            "--orders",
            "10",
            "--other-orders",
            "2",
            "--seed",
            "3",
            "--no-activity",
            "--latency-ms",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        line = read_line(proc, timeout=20)
        info = json.loads(line)
        assert info["spot_rest"].startswith("http://127.0.0.1:")
        spot = info["accounts"]["spot"]
        assert len(base64.b64decode(spot["secret"])) == 64 and spot["key"]
        assert {"futures", "prime"} <= set(info["accounts"])
        with httpx.Client(base_url=info["spot_rest"], timeout=5) as http:
            reply = signed_post(http, "OpenOrders", spot["key"], spot["secret"]).json()
        assert reply["error"] == [] and len(reply["result"]["open"]) == 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""  # exactly one line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        stderr.close()
    assert b"simulator serving" in (tmp_path / "stderr.txt").read_bytes()
