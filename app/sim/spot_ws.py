"""The simulated Spot WebSocket host (``ws-auth.kraken.com``): v1 at ``/`` and v2 at ``/v2`` on one port."""

from __future__ import annotations

from aiohttp import web

from app.sim.hostkit import HostContext, add_controls
from app.sim.spot_ws_common import HEARTBEAT_S, IDLE_TIMEOUT_S, SpotWsHost
from app.sim.spot_ws_v1 import SpotWsV1Host
from app.sim.spot_ws_v2 import SpotWsV2Host

__all__ = [
    "HEARTBEAT_S",
    "HOST_KEY",
    "IDLE_TIMEOUT_S",
    "SPOT_WS_URLS",
    "SpotWsHost",
    "SpotWsV1Host",
    "SpotWsV2Host",
    "build_spot_ws_app",
]

HOST_KEY = web.AppKey("spot_ws_host", SpotWsHost)
# Endpoint names and URL templates for the server's host registry (v1 at "/", v2 at "/v2").
SPOT_WS_URLS = (("spot_ws_v1", "ws://{addr}/"), ("spot_ws_v2", "ws://{addr}/v2"))


def build_spot_ws_app(
    ctx: HostContext, *, idle_timeout_s: float = IDLE_TIMEOUT_S, heartbeat_s: float = HEARTBEAT_S
) -> web.Application:
    """Build the aiohttp application of the Spot WebSocket host.

    Args:
        ctx: The host context from ``SimServer``.
        idle_timeout_s: Close connections idle this long.
        heartbeat_s: Heartbeat period on quiet connections.

    Returns:
        The application (the host object, shared by both versions, is ``app[HOST_KEY]``).
    """
    host = SpotWsHost(ctx, idle_timeout_s=idle_timeout_s, heartbeat_s=heartbeat_s)
    app = web.Application()
    app[HOST_KEY] = host
    app.router.add_get("/", SpotWsV1Host(host).serve)
    app.router.add_get("/v2", SpotWsV2Host(host).serve)
    add_controls(app, ctx, [("*", "/_sim/ws", host.control)])
    app.on_shutdown.append(host.on_shutdown)
    return app
