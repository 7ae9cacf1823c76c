"""The window's local socket: a second start brings this window forward; the command line acts on its desk.

One JSON object per line each way (``app.instance``). ``raise`` and ``ping`` are answered here;
every other command goes to the handler the composition root gives (``app.cli.DeskCommands``),
run as a bridge task on this window's desk, and its answer is written back when it ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app.ui.main_window import MainWindow

log = logging.getLogger("app.ui.instance")

CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST_BYTES = 64 << 10
PROTOCOL_VERSION = 1


class InstanceServer(QObject):
    """Listens on the profile's local socket while the window is open.

    Rules kept: only this user may connect (``UserAccessOption``); a request longer than 64 KiB
    or not JSON is refused and the connection closed; commands run through the bridge (held,
    reported), never blocking the GUI; a stale socket left by a killed console is replaced (the
    caller holds the profile lock, so nobody else owns it).
    """

    def __init__(self, window: MainWindow, address: str, handler: CommandHandler | None) -> None:
        super().__init__(window)
        self._window = window
        self._handler = handler
        self.address = address
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start listening; False (logged) when the socket cannot be made."""
        QLocalServer.removeServer(self.address)
        if not self.server.listen(self.address):
            log.error("cannot listen on %s: %s", self.address, self.server.errorString())
            return False
        log.info("listening for other starts and commands on %s", self.address)
        return True

    def close(self) -> None:
        """Stop listening (the socket file goes too)."""
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            if sock is None:
                return
            self._buffers[sock] = bytearray()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))

    def _forget(self, sock: QLocalSocket) -> None:
        self._buffers.pop(sock, None)
        sock.deleteLater()

    def _read(self, sock: QLocalSocket) -> None:
        buf = self._buffers.get(sock)
        if buf is None:
            return
        buf += bytes(sock.readAll().data())
        if len(buf) > MAX_REQUEST_BYTES:
            self._answer(sock, {"ok": False, "error": "request too long"})
            return
        if b"\n" not in buf:
            return
        line = bytes(buf[: buf.index(b"\n")])
        self._buffers[sock] = bytearray()  # one request per connection
        try:
            request = json.loads(line.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._answer(sock, {"ok": False, "error": "the request is not a JSON object"})
            return
        self._dispatch(sock, request)

    def _dispatch(self, sock: QLocalSocket, request: dict[str, Any]) -> None:
        cmd = request.get("cmd")
        if request.get("v") != PROTOCOL_VERSION:
            self._answer(sock, {"ok": False, "error": f"protocol version {request.get('v')!r} not spoken"})
        elif cmd == "ping":
            self._answer(sock, {"ok": True, "pid_kind": "window"})
        elif cmd == "raise":
            self.bring_forward()
            self._answer(sock, {"ok": True, "message": "the console window was brought forward"})
        elif self._handler is None:
            self._answer(sock, {"ok": False, "error": "this window takes no commands"})
        else:
            handler = self._handler

            async def run() -> None:
                try:
                    answer = await handler(request)
                except Exception as e:
                    log.exception("command %r failed", cmd)
                    why = f"{type(e).__name__}: {e}"
                    answer = {"ok": False, "error": f"the command failed in the window: {why}"}
                self._answer(sock, answer)

            log.info("running the command line's %r on this window's desk", cmd)
            self._window.bridge.run(run(), f"command-{cmd}", what=f"the command {cmd!r}")
            self._window.show_message(f"Running a command-line request: {cmd}…")

    def _answer(self, sock: QLocalSocket, answer: dict[str, Any]) -> None:
        if sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return
        sock.write((json.dumps(answer) + "\n").encode())
        sock.flush()
        sock.disconnectFromServer()

    def bring_forward(self) -> None:
        """Show, un-minimize, raise and activate the window."""
        w = self._window
        w.showNormal()
        w.raise_()
        w.activateWindow()
        w.show_message("Another start of the console was asked for: this window is the one running.")
