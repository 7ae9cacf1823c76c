"""Pieces every simulator host shares: HTTP latency and faults, dropping a connection, control bodies."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from app.sim.faults import CLOUDFLARE_502_HTML, FaultKind, Faults

log = logging.getLogger("app.sim.hostkit")

VenueAnswers = Mapping[FaultKind, Callable[[], web.StreamResponse]]
"""How a host words the faults that are business errors (each API has its own error body)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def drop(request: web.Request) -> None:
    """Close the connection under a request without answering."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """A control request's JSON object body (an empty body is ``{}``).

    Raises:
        web.HTTPBadRequest: the body is not a JSON object.
    """
    try:
        data = await request.json() if await request.read() else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def apply_http_faults(
    request: web.Request, faults: Faults, closing: asyncio.Event, answers: VenueAnswers
) -> web.StreamResponse | None:
    """Apply latency, then the next fault, to one HTTP request.

    Transport-level faults (drop, hang, HTML page, 5xx) are the same on every host; business
    faults are answered in the host's own words through ``answers``.

    Args:
        request: the request being handled.
        faults: the host's faults in force.
        closing: set when the server stops (a hung request is released then).
        answers: the host's replies for the business faults.

    Returns:
        The faulty response, or None to handle the request normally.
    """
    delay = faults.delay_s()
    if delay:
        await asyncio.sleep(delay)
    fault = faults.take()
    if fault is None:
        return None
    log.info("fault %s on %s", fault.value, request.path)
    if fault is FaultKind.DROP:
        drop(request)
        return web.Response(status=500)
    if fault is FaultKind.HANG:
        await closing.wait()
        drop(request)
        return web.Response(status=500)
    if fault is FaultKind.HTML_ERROR:
        return web.Response(status=502, text=CLOUDFLARE_502_HTML, content_type="text/html")
    if fault is FaultKind.HTTP_5XX:
        status = faults.http_5xx_status
        return web.Response(status=status, text=f"{status} Server Error")
    answer = answers.get(fault)
    return answer() if answer is not None else None
