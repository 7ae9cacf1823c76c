"""Runs the simulator's hosts on loopback ports, in the caller's loop or in a background thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from app.sim.control import ControlHost
from app.sim.faults import Faults
from app.sim.futures import FUTURES_URLS, build_futures_app
from app.sim.hostkit import HostContext, HostSettings, HostSpec, StopFn
from app.sim.prime import PRIME_URLS, build_prime_app
from app.sim.spot_rest import build_spot_rest_app
from app.sim.spot_ws import SPOT_WS_URLS, build_spot_ws_app
from app.sim.state import Exchange, MarketActivity

# HostContext and HostSpec live in hostkit (hosts import it, never this module); tests and
# callers still import them from here.
__all__ = ["CONTROL", "HOSTS", "HostContext", "HostSpec", "SimServer", "SimThread", "StopFn"]

log = logging.getLogger("app.sim.server")

T = TypeVar("T")

# The hosts SimServer starts. Adding a host is one line here, e.g.
#   HostSpec("spot_ws", build=build_spot_ws_app,
#            urls=(("spot_ws_v1", "ws://{addr}/"), ("spot_ws_v2", "ws://{addr}/v2"))),
HOSTS: list[HostSpec] = [
    HostSpec("spot_rest", build=build_spot_rest_app),
    HostSpec("futures", build=build_futures_app, urls=FUTURES_URLS),
    HostSpec("prime", build=build_prime_app, urls=PRIME_URLS),
    HostSpec("spot_ws", build=build_spot_ws_app, urls=SPOT_WS_URLS),
]
# The control host's name (in ``ports``, ``endpoints`` and the JSON line).
CONTROL = "control"

# How long stopping waits for in-flight requests before cancelling them.
_SHUTDOWN_TIMEOUT_S = 0.5


@dataclass(eq=False)
class _Running:
    """One started host: its spec, context, runner and listening site."""

    spec: HostSpec
    ctx: HostContext
    port: int = 0
    runner: web.AppRunner | None = None
    site: web.TCPSite | None = None
    stop: StopFn | None = None

    @property
    def up(self) -> bool:
        return self.site is not None or (self.runner is None and self.stop is not None)


class SimServer:
    """The simulator's hosts, each on its own loopback port, sharing one ``Exchange``.

    Rules kept: every host binds port 0 unless ``ports`` pins it (tests run in parallel); a
    host's faults are read per request, so patching them takes effect at once; a host taken
    down stops listening (connections refused) and loses its open connections, then comes up
    again on the same port with its state and settings kept; stopping releases hung requests
    and disarms dead man's switches (their timers belong to this loop).

    Events: ``watch_status(callback)`` calls ``callback()`` after any host's system status
    changes (WS hosts push Kraken's status messages on it).
    """

    def __init__(
        self,
        exchange: Exchange,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        *,
        hosts: Sequence[HostSpec] | None = None,
        host_faults: Mapping[str, Faults] | None = None,
        ports: Mapping[str, int] | None = None,
        control: bool = False,
    ) -> None:
        """Configure, without binding.

        Args:
            exchange: The shared exchange.
            faults: Default faults, shared by every host without its own.
            host: Address to bind (the ``/_sim/`` control API exists only on loopback).
            hosts: Hosts to run; default ``HOSTS``.
            host_faults: Per-host faults by host name.
            ports: Fixed ports by host name (and ``control``); others bind port 0.
            control: Also run the control host (``endpoints["control"]``).
        """
        self.exchange = exchange
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.hosts = list(HOSTS if hosts is None else hosts)
        self.host_faults: dict[str, Faults] = dict(host_faults or {})
        self.ports = dict(ports or {})
        self.control = control
        self.endpoints: dict[str, str] = {}
        # The market activity the owner runs beside the server, if any (``/_sim/activity``).
        self.activity: MarketActivity | None = None
        self._running: dict[str, _Running] = {}
        self._control_runner: web.AppRunner | None = None
        self._status_callbacks: list[Callable[[], None]] = []
        for faults_ in (self.faults, *self.host_faults.values()):
            faults_.watch(self._status_changed)

    # ----------------------------------------------------------------------- faults

    def faults_for(self, name: str) -> Faults:
        """Return the faults in force for host ``name``.

        Args:
            name: Host name.

        Returns:
            Its own faults, else the default ones.
        """
        return self.host_faults.get(name, self.faults)

    def own_faults(self, name: str) -> Faults:
        """Return host ``name``'s own faults, creating them on first use.

        New own faults are all clear, but keep the system status in force: the status is
        Kraken's state, not a fault, and reading a host's faults must not change it.

        Args:
            name: Host name.

        Returns:
            Faults that affect that host only.
        """
        found = self.host_faults.get(name)
        if found is None:
            found = self.host_faults[name] = Faults(
                rng=random.Random(f"faults:{name}"), system_status=self.faults.system_status
            )
            found.watch(self._status_changed)
        return found

    def watch_status(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after the system status of any faults changes.

        Args:
            callback: Quick, never raising; it reads the status in force itself.
        """
        self._status_callbacks.append(callback)

    def _status_changed(self, faults: Faults) -> None:
        for callback in list(self._status_callbacks):
            try:
                callback()
            except Exception:
                log.exception("status callback failed")

    # ----------------------------------------------------------------------- hosts

    def host_names(self) -> list[str]:
        """The names of the hosts this server runs (not the control host)."""
        return [spec.name for spec in self.hosts]

    def host_table(self) -> dict[str, dict[str, Any]]:
        """Every host: whether it is up, its port and its URLs.

        Returns:
            ``{name: {"up": bool, "port": int, "urls": {...}}}``.
        """
        table: dict[str, dict[str, Any]] = {}
        for spec in self.hosts:
            running = self._running.get(spec.name)
            port = running.port if running else 0
            table[spec.name] = {
                "up": bool(running and running.up),
                "port": port,
                "urls": spec.endpoints(self._addr(port)) if port else {},
            }
        return table

    def host_settings(self, name: str) -> HostSettings | None:
        """A host's own switches, if it has any.

        Args:
            name: Host name.

        Returns:
            The switches, or None.

        Raises:
            KeyError: No such host is running.
        """
        return self._running[name].ctx.settings

    def _addr(self, port: int) -> str:
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"

    async def start(self) -> dict[str, str]:
        """Bind every host (on its pinned port, else port 0) and start serving.

        Returns:
            Endpoint name to base URL, e.g. ``{"spot_rest": "http://127.0.0.1:PORT"}``.

        Raises:
            OSError: If a port cannot be bound (hosts already started are stopped).
        """
        try:
            for spec in self.hosts:
                ctx = HostContext(
                    name=spec.name,
                    exchange=self.exchange,
                    server=self,
                    bind_host=self.host,
                    closing=asyncio.Event(),
                    rng=random.Random(f"{self.exchange.seed}:host:{spec.name}"),
                )
                running = self._running[spec.name] = _Running(spec, ctx)
                await self._start_host(running)
                self.endpoints.update(spec.endpoints(self._addr(running.port)))
            if self.control:
                await self._start_control()
        except BaseException:
            await self.stop()
            raise
        log.info("simulator serving %s", self.endpoints)
        return dict(self.endpoints)

    async def _start_host(self, running: _Running) -> None:
        spec, ctx = running.spec, running.ctx
        if spec.start is not None:
            running.port, running.stop = await spec.start(ctx)
            return
        if spec.build is None:
            raise ValueError(f"host {spec.name} has neither build nor start")
        runner = web.AppRunner(spec.build(ctx), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        running.runner = runner
        await self._listen(running, self.ports.get(spec.name, 0))

    async def _listen(self, running: _Running, port: int) -> None:
        assert running.runner is not None
        site = web.TCPSite(running.runner, self.host, port, reuse_address=True)
        await site.start()
        running.site = site
        bound: int = running.runner.addresses[0][1]
        running.port = bound

    async def _start_control(self) -> None:
        host = ControlHost(self.exchange, self, random.Random(f"{self.exchange.seed}:host:{CONTROL}"))
        runner = web.AppRunner(host.app(), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        self._control_runner = runner
        site = web.TCPSite(runner, self.host, self.ports.get(CONTROL, 0), reuse_address=True)
        await site.start()
        port: int = runner.addresses[0][1]
        self.endpoints[CONTROL] = f"http://{self._addr(port)}"

    def _running_host(self, name: str) -> _Running:
        running = self._running.get(name)
        if running is None:
            raise KeyError(f"no host {name}")
        if running.runner is None:
            raise ValueError(f"host {name} binds itself; it cannot be taken down")
        return running

    async def stop_host(self, name: str) -> None:
        """Take a host down: stop listening (connections refused), cut its open connections.

        Hung requests on it are released; its state, faults and settings are kept. Idempotent.

        Args:
            name: Host name.

        Raises:
            KeyError: No such host.
            ValueError: The host binds itself (``HostSpec.start``).
        """
        running = self._running_host(name)
        site, running.site = running.site, None
        if site is None:
            return
        await site.stop()
        assert running.runner is not None
        server = running.runner.server
        for handler in server.connections if server is not None else ():
            transport = handler.transport
            if transport is not None:
                transport.abort()
        running.ctx.closing.set()
        log.info("host %s down (port %d)", name, running.port)

    async def start_host(self, name: str) -> None:
        """Bring a host that was taken down up again, on the same port. Idempotent.

        Args:
            name: Host name.

        Raises:
            KeyError: No such host.
            ValueError: The host binds itself (``HostSpec.start``).
            OSError: The port is taken meanwhile.
        """
        running = self._running_host(name)
        if running.site is not None:
            return
        running.ctx.closing = asyncio.Event()
        await self._listen(running, running.port)
        log.info("host %s up again (port %d)", name, running.port)

    async def stop(self) -> None:
        """Stop every host (idempotent): release hung requests, close ports, disarm timers."""
        running, self._running = list(self._running.values()), {}
        for host in running:
            host.ctx.closing.set()
        for host in reversed(running):
            try:
                if host.runner is not None:
                    await host.runner.cleanup()
                elif host.stop is not None:
                    await host.stop()
            except Exception:
                log.exception("stopping a host failed")
        control, self._control_runner = self._control_runner, None
        if control is not None:
            await control.cleanup()
        self.exchange.close()
        self.endpoints.clear()


class SimThread:
    """A ``SimServer`` plus ``MarketActivity`` on their own loop in a background thread.

    Demo mode uses it so the GUI's loop carries none of the simulator's load. After
    ``start()`` the exchange belongs to the simulator's loop: touch it only through ``call()``
    or ``submit()``.
    """

    def __init__(
        self,
        exchange: Exchange,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        activity_rate_per_s: float = 2.0,
        activity_seed: int = 0,
        hosts: Sequence[HostSpec] | None = None,
        ports: Mapping[str, int] | None = None,
        control: bool = False,
    ) -> None:
        """Configure, without starting.

        Args:
            exchange: The shared exchange (seeded by the caller).
            faults: Default faults for the hosts.
            host: Address to bind.
            activity_rate_per_s: Market activity rate; 0 disables it.
            activity_seed: Seeds the market activity's choices.
            hosts: Hosts to run; default ``HOSTS``.
            ports: Fixed ports by host name (and ``control``).
            control: Also run the control host.
        """
        self.exchange = exchange
        self.server = SimServer(exchange, faults, host, hosts=hosts, ports=ports, control=control)
        self.activity = MarketActivity(exchange, random.Random(activity_seed), activity_rate_per_s)
        self.server.activity = self.activity
        self.endpoints: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The simulator's loop (only valid while running)."""
        if self._loop is None:
            raise RuntimeError("simulator thread not started")
        return self._loop

    def start(self, timeout: float = 10.0) -> dict[str, str]:
        """Start the thread and block until every host is bound.

        Args:
            timeout: Seconds to wait for the ports.

        Returns:
            Endpoint name to base URL.

        Raises:
            RuntimeError: If already started, or start-up failed or timed out.
        """
        if self._thread is not None:
            raise RuntimeError("simulator thread already started")
        self._thread = threading.Thread(target=self._main, name="kraken-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if self._error is not None:
            self._thread.join(timeout)
            raise RuntimeError("simulator failed to start") from self._error
        return dict(self.endpoints)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (idempotent).

        Args:
            timeout: Seconds to wait for the thread.
        """
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("simulator thread did not stop within %.1f s", timeout)
            return
        self._thread = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the simulator's loop from any thread.

        Args:
            coro: The coroutine.

        Returns:
            A future with its result.
        """
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Call ``fn(*args)`` on the simulator's loop and wait for its result.

        Args:
            fn: A synchronous function, typically an ``Exchange`` method.
            args: Its arguments.
            timeout: Seconds to wait.

        Returns:
            What ``fn`` returned.
        """

        async def run() -> T:
            return fn(*args)

        return self.submit(run()).result(timeout)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() if it is still waiting
            self._error = self._error or exc
            log.exception("simulator thread failed")
        finally:
            try:
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._ready.set()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            self.endpoints = await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self.activity.start()
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.activity.stop()
            await self.server.stop()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and reap tasks still pending on a loop about to close."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
