"""The global panic hotkey: a key combination heard while another application has the focus (pynput).

pynput listens on its own thread (X11: the RECORD extension; Windows: a low-level keyboard hook;
macOS: a Quartz event tap, once the app is allowed under Privacy & Security > Accessibility). Its
callbacks never touch Qt: they emit a signal that Qt delivers, queued, on the GUI thread.

Wayland lets no client hear keys meant for another one, by design: under a Wayland session the
hotkey is not registered, and the settings say so ("not registered: Wayland"); the desktop's own
shortcut settings can run ``kraken-cancel kill`` instead.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication

log = logging.getLogger("app.ui.hotkey")

MODIFIERS = {"ctrl": "<ctrl>", "alt": "<alt>", "shift": "<shift>", "meta": "<cmd>"}
# Keys that may stand alone (nobody types them in a text): the rest need a modifier, or typing
# in another application would fire the kill switch.
LONE_KEYS = {f"f{n}" for n in range(1, 25)} | {"pause", "scrolllock", "print"}
NAMED_KEYS = {
    **{f"f{n}": f"<f{n}>" for n in range(1, 21)},
    "pause": "<pause>",
    "scrolllock": "<scroll_lock>",
    "print": "<print_screen>",
    "esc": "<esc>",
    "space": "<space>",
    "del": "<delete>",
    "ins": "<insert>",
    "home": "<home>",
    "end": "<end>",
    "pgup": "<page_up>",
    "pgdown": "<page_down>",
    "backspace": "<backspace>",
    "return": "<enter>",
    "enter": "<enter>",
    "tab": "<tab>",
    "up": "<up>",
    "down": "<down>",
    "left": "<left>",
    "right": "<right>",
}


READY_WAIT_S = 5.0


class HotkeyError(ValueError):
    """A key combination that cannot be a global hotkey (the text says why)."""


@dataclass(frozen=True, slots=True)
class HotkeyStatus:
    """Whether the hotkey is heard now, and the words for the settings dialog."""

    registered: bool
    text: str


OFF = HotkeyStatus(False, "off")


def to_pynput(portable: str) -> str:
    """Qt's portable key text (``Ctrl+Alt+Shift+K``) as pynput's (``<ctrl>+<alt>+<shift>+k``).

    Raises:
        HotkeyError: empty, more than one chord, an unknown key, or a plain key with no modifier.
    """
    text = portable.strip()
    if not text:
        raise HotkeyError("no key combination")
    if "," in text:
        raise HotkeyError("one key combination only (no sequence of chords)")
    parts = [p.strip() for p in text.split("+")]
    if any(not p for p in parts):
        raise HotkeyError(f"cannot read {portable!r}")
    *mods, key = parts
    out: list[str] = []
    for m in mods:
        name = MODIFIERS.get(m.lower())
        if name is None:
            raise HotkeyError(f"{m!r} is not a modifier (Ctrl, Alt, Shift, Meta)")
        out.append(name)
    if len(set(out)) != len(out):
        raise HotkeyError(f"a modifier twice in {portable!r}")
    k = key.lower()
    if k in MODIFIERS:
        raise HotkeyError("a modifier alone cannot be the hotkey")
    if not mods and k not in LONE_KEYS:
        raise HotkeyError(f"{key} alone would fire while typing elsewhere: add Ctrl, Alt or Shift")
    if len(k) == 1 and k.isprintable():
        out.append(k)
    elif k in NAMED_KEYS:
        out.append(NAMED_KEYS[k])
    else:
        raise HotkeyError(f"{key} cannot be a global hotkey")
    return "+".join(out)


def platform_block(
    environ: Mapping[str, str] | None = None, platform: str | None = None, qt_platform: str = ""
) -> str | None:
    """Why this session cannot have a global hotkey (``"Wayland"``, ``"no X display"``), or None."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if not plat.startswith("linux"):
        return None
    if (
        qt_platform.startswith("wayland")
        or env.get("XDG_SESSION_TYPE") == "wayland"
        or env.get("WAYLAND_DISPLAY")
    ):
        return "Wayland"
    if not env.get("DISPLAY"):
        return "no X display"
    return None


def _x11_preflight() -> Callable[[], None]:
    """Open the X display and check it has RECORD (what pynput listens with).

    Returns:
        What closes the display: call it once the listener is ready. (Closing it first could
        leave the server with no client, and an X server with none resets, dropping the
        listener's connections as they open: seen with a bare Xvfb.)

    Raises:
        HotkeyError: no RECORD extension.
    """
    import Xlib.display  # python-xlib, pynput's own dependency on Linux

    display = Xlib.display.Display()
    if not display.has_extension("RECORD"):
        display.close()
        raise HotkeyError("the X server has no RECORD extension")
    return display.close  # type: ignore[no-any-return]


class GlobalHotkey(QObject):
    """One global key combination; ``activated`` on the GUI thread each time it is pressed.

    Signals:
        activated(): the combination was pressed (in any application).
        status_changed(object): a new ``HotkeyStatus`` (registering, registered, not registered).

    Rules kept: registering happens off the GUI thread (opening the display may take a moment);
    a result or a key press from a registration that was replaced meanwhile is ignored (each
    registration has a generation); a listener that dies says so in the status; ``unregister``
    stops the listener.
    """

    activated = Signal()
    status_changed = Signal(object)
    _registered = Signal(int, object, object)  # generation, HotkeyStatus, listener or None
    _pressed = Signal(int)
    _died = Signal(int, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        block: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(parent)
        # Qt's platform name too: a Wayland session may leave XDG_SESSION_TYPE unset.
        self._block = block or (lambda: platform_block(qt_platform=QGuiApplication.platformName()))
        self._generation = 0
        self._listener: Any = None
        self.combination = ""
        self.status = OFF
        queued = Qt.ConnectionType.QueuedConnection
        self._registered.connect(self._on_registered, queued)
        self._pressed.connect(self._on_pressed, queued)
        self._died.connect(self._on_died, queued)

    def register(self, portable: str) -> None:
        """Listen for ``portable`` (Qt's words, e.g. ``Ctrl+Alt+Shift+K``) instead of anything before."""
        self.unregister()
        gen = self._generation
        self.combination = portable
        try:
            combo = to_pynput(portable)
        except HotkeyError as e:
            self._set_status(HotkeyStatus(False, f"not registered: {e}"))
            return
        blocked = self._block()
        if blocked is not None:
            self._set_status(HotkeyStatus(False, f"not registered: {blocked}"))
            return
        self._set_status(HotkeyStatus(False, "registering…"))
        threading.Thread(
            target=self._register_off_thread, args=(gen, portable, combo), name="hotkey-register", daemon=True
        ).start()

    def unregister(self) -> None:
        """Stop listening (the status goes back to "off")."""
        self._generation += 1
        listener, self._listener = self._listener, None
        if listener is not None:
            _stop(listener)
        self._set_status(OFF)

    # --- off the GUI thread -----------------------------------------------------------------------

    def _register_off_thread(self, gen: int, portable: str, combo: str) -> None:
        try:
            from pynput import keyboard

            keys = keyboard.HotKey.parse(combo)
            close_display = _x11_preflight() if sys.platform.startswith("linux") else lambda: None
            try:
                listener = _make_listener(
                    keyboard,
                    keys,
                    lambda: self._emit(self._pressed, gen),
                    lambda why: self._emit(self._died, gen, why),
                )
                listener.start()
                _wait_ready(listener)
            finally:
                close_display()
        except Exception as e:  # anything the platform says: shown, never raised into Qt
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("global hotkey %s not registered: %s", portable, why)
            self._registered.emit(gen, HotkeyStatus(False, f"not registered: {why}"), None)
            return
        if getattr(listener, "IS_TRUSTED", True) is False:  # macOS: not allowed to monitor keys
            listener.stop()
            why = "allow the console under Privacy & Security > Accessibility"
            self._registered.emit(gen, HotkeyStatus(False, f"not registered: {why}"), None)
            return
        self._registered.emit(gen, HotkeyStatus(True, f"registered: {portable}"), listener)

    def _emit(self, signal: Any, *args: Any) -> None:
        """Emit from the listener's thread; a console already gone (quitting) is not an error."""
        try:
            signal.emit(*args)
        except RuntimeError:
            log.debug("the hotkey's owner is gone; %s dropped", args)

    # --- back on the GUI thread ---------------------------------------------------------------------

    def _on_registered(self, gen: int, status: HotkeyStatus, listener: Any) -> None:
        if gen != self._generation:  # replaced or unregistered meanwhile
            if listener is not None:
                _stop(listener)
            return
        self._listener = listener
        if status.registered:
            log.info("global hotkey %s", status.text)
        self._set_status(status)

    def _on_pressed(self, gen: int) -> None:
        if gen == self._generation and self.status.registered:
            log.warning("global hotkey %s pressed", self.combination)
            self.activated.emit()

    def _on_died(self, gen: int, why: str) -> None:
        if gen == self._generation:
            self._listener = None
            log.error("the global hotkey's listener stopped: %s", why)
            self._set_status(HotkeyStatus(False, f"not registered: the listener stopped ({why})"))

    def _set_status(self, status: HotkeyStatus) -> None:
        if status != self.status:
            self.status = status
            self.status_changed.emit(status)


def _wait_ready(listener: Any, within_s: float = READY_WAIT_S) -> None:
    """Wait until the listener hears keys (pynput's ``wait()``), at most ``within_s``.

    ``wait()`` has no timeout and never returns for a listener whose thread died before it was
    ready: it runs in a throwaway daemon thread, and a listener not ready in time is stopped.

    Raises:
        HotkeyError: the listener died or did not get ready in time.
    """
    waiter = threading.Thread(target=listener.wait, name="hotkey-ready", daemon=True)
    waiter.start()
    waiter.join(within_s)
    if waiter.is_alive() or not listener.is_alive():
        if listener.is_alive():  # (a dead one needs no stop; stopping it would wait for ever)
            _stop(listener, 0.2)
        raise HotkeyError("the key listener did not start")


def _stop(listener: Any, wait_s: float = 1.0) -> None:
    """Stop a listener and wait (briefly) for its thread, so it never outlives its display."""
    try:
        listener.stop()
        listener.join(wait_s)
    except Exception as e:  # pynput re-raises the thread's error at join: already reported
        log.info("the hotkey's listener stopped with: %s", e)


def _make_listener(
    keyboard: Any, keys: list[Any], pressed: Callable[[], None], died: Callable[[str], None]
) -> Any:
    """A pynput keyboard listener that calls ``pressed`` when ``keys`` are all down."""
    hotkey = keyboard.HotKey(keys, pressed)

    class Listener(keyboard.Listener):  # type: ignore[misc]
        stopping = False

        def run(self) -> None:
            try:
                super().run()
            except Exception as e:  # the thread would die with a traceback nobody reads
                if not self.stopping:  # stopped on purpose: whatever the display says, it is over
                    died(str(e) or type(e).__name__)

        def stop(self) -> None:
            self.stopping = True
            super().stop()

    listener: Any = None

    def on_press(key: Any, injected: bool = False) -> None:
        hotkey.press(listener.canonical(key))

    def on_release(key: Any, injected: bool = False) -> None:
        hotkey.release(listener.canonical(key))

    listener = Listener(on_press=on_press, on_release=on_release)
    return listener
