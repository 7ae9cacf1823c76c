"""Desktop notifications: fills, cancels made elsewhere and cancels that end in trouble, told through the
tray (summarised in bursts), with an optional sound, and the order's row flashing in the table."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from app.core.ledger import CancelState
from app.core.orders import Order, OrderKey
from app.desk.coordinator import CancelReport, LedgerEntry
from app.desk.desk import OutsideChange
from app.desk.killswitch import KillPhase, KillState
from app.ui import theme
from app.ui.bridge import DeskBridge
from app.ui.layout import LayoutStore
from app.ui.models import OrdersTableModel
from app.ui.notify_policy import Message, Notice, NoticeKind, NoticePolicy

log = logging.getLogger("app.ui.notify")

BAD_STATES = (CancelState.FAILED, CancelState.REJECTED, CancelState.UNKNOWN)
MESSAGE_MS = 6000  # how long a tray message stays up (the desktop may choose otherwise)
DEFAULT_HOTKEY = "Ctrl+Alt+Shift+K"


@dataclass
class DesktopSettings:
    """What the trader chose in File > Notifications and hotkey (kept in the profile's layout.ini).

    Attributes:
        notify_*: raise a notification for that kind.
        sound: beep with each notification.
        flash_rows: highlight the order's row for a moment.
        hotkey_enabled: the global panic hotkey is on (off by default).
        hotkey: its key combination, in Qt's portable words (``Ctrl+Alt+Shift+K``).
        hotkey_direct: the hotkey presses the kill switch at once instead of asking first.
    """

    notify_filled: bool = True
    notify_partially_filled: bool = True
    notify_cancelled_elsewhere: bool = True
    notify_problem: bool = True
    sound: bool = False
    flash_rows: bool = True
    hotkey_enabled: bool = False
    hotkey: str = DEFAULT_HOTKEY
    hotkey_direct: bool = False

    def enabled(self) -> dict[NoticeKind, bool]:
        """Which kinds raise a notification."""
        return {
            NoticeKind.FILLED: self.notify_filled,
            NoticeKind.PARTIALLY_FILLED: self.notify_partially_filled,
            NoticeKind.CANCELLED_ELSEWHERE: self.notify_cancelled_elsewhere,
            NoticeKind.PROBLEM: self.notify_problem,
        }

    @classmethod
    def load(cls, store: LayoutStore) -> DesktopSettings:
        """Read from ``store`` (``settings/desktop/<name>``); an unreadable value keeps its default."""
        out = cls()
        for f in fields(cls):
            raw = store.value(f"settings/desktop/{f.name}")
            if raw is None:
                continue
            default = getattr(out, f.name)
            if isinstance(default, bool):
                if raw in (True, "true", "1", 1):
                    setattr(out, f.name, True)
                elif raw in (False, "false", "0", 0):
                    setattr(out, f.name, False)
            elif isinstance(raw, str) and raw.strip():
                setattr(out, f.name, raw.strip())
        return out

    def save(self, store: LayoutStore) -> None:
        """Write every value to ``store`` and to disk."""
        for f in fields(self):
            store.set(f"settings/desktop/{f.name}", getattr(self, f.name))
        store.sync()


class MessageSink(Protocol):
    """Where a notification goes (the tray icon; tests may give their own)."""

    def show_message(self, message: Message, ms: int) -> bool:
        """Show it; False when there is no tray to show it in."""
        ...


def describe_order(order: Order, symbol: str, *, partial: bool = False) -> str:
    """``buy 1.25 XBT/USD at 100.5`` (``buy 0.5 of 1.25 ...`` for a partial fill)."""
    qty = theme.fmt_decimal(order.quantity)
    size = f"{theme.fmt_decimal(order.filled)} of {qty}" if partial else qty
    price = order.price if order.price is not None else order.stop_price
    at = f" at {theme.fmt_decimal(price)}" if price is not None else ""
    return f"{order.side.value} {size} {symbol}{at}"


def notice_of_change(change: OutsideChange, account: str, symbol: str) -> Notice:
    """The notice for an order that filled or left the book by something other than the console."""
    if change.what == "filled":
        kind = NoticeKind.FILLED
    elif change.what == "partially filled":
        kind = NoticeKind.PARTIALLY_FILLED
    else:
        kind = NoticeKind.CANCELLED_ELSEWHERE
    detail_parts = []
    if kind is NoticeKind.CANCELLED_ELSEWHERE:
        detail_parts.append(change.what if change.what != "gone" else "left the book, reason not known")
    if change.reason:
        detail_parts.append(change.reason)
    what = describe_order(change.order, symbol, partial=kind is NoticeKind.PARTIALLY_FILLED)
    return Notice(kind, account, what, symbol, ": ".join(detail_parts) or None)


class Notifier(QObject):
    """Turns the bridge's events into notices, and the policy's messages into tray messages.

    Signals:
        notified(object): a ``Message`` was raised (shown in the tray when there is one).

    Rules kept: nothing here blocks or awaits; one single-shot timer wakes the policy when its
    next message is due; a cancel that ends with failed, rejected or unknown orders is one
    notice per action (the kill switch: one at its end, not one per wave); the rows of orders that
    filled partly, or whose cancel ended badly, flash (``OrdersTableModel.flash``: cheap, capped).
    """

    notified = Signal(object)

    def __init__(
        self,
        bridge: DeskBridge,
        settings: DesktopSettings,
        sink: MessageSink | None = None,
        *,
        symbol_of: Callable[[Order], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._model: OrdersTableModel = bridge.orders_model
        self.settings = settings
        self.sink = sink
        self._symbol_of = symbol_of or (lambda o: self._model.facts(o).symbol)
        self._clock = clock
        self.policy = NoticePolicy(clock, enabled=settings.enabled())
        self.sent: list[Message] = []  # every message raised this session (the last few hundred)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._due)
        bridge.outside_changed.connect(self._outside)
        bridge.cancel_settled.connect(self._settled)
        bridge.kill_changed.connect(self._kill_changed)
        bridge.ledger_transitioned.connect(self._ledger_moved)

    def apply(self, settings: DesktopSettings) -> None:
        """Use new settings (kinds switched off stop at once; what already waits is still told)."""
        self.settings = settings
        self.policy.enabled.update(settings.enabled())

    # --- events ----------------------------------------------------------------------------------

    def _outside(self, changes: list[OutsideChange]) -> None:
        flash: list[OrderKey] = []
        for change in changes:
            notice = notice_of_change(
                change, self._bridge.account_name(change.account_id), self._symbol_of(change.order)
            )
            if self.settings.flash_rows and self.policy.enabled.get(notice.kind, True):
                flash.append(change.order.key)  # a partial fill's row is still there
            self.policy.add(notice)
        self._schedule()  # once for the batch
        if flash:
            self._model.flash(flash)  # one change per run of rows, not one per order

    def _ledger_moved(self, entries: list[LedgerEntry]) -> None:
        if not (self.settings.flash_rows and self.settings.notify_problem):
            return
        bad = [e.order.key for e in entries if e.state in BAD_STATES]
        if bad:
            self._model.flash(bad)

    def _settled(self, report: CancelReport) -> None:
        kill = self._bridge.desk.kill
        if kill is not None and kill.running:
            return  # a wave of the kill switch: told once at its end
        bad = sum(report.counts.get(s, 0) for s in BAD_STATES)
        if not bad and not report.errors:
            return
        detail = report.summary()
        if report.errors:
            detail += f"; {report.errors[0]}"
        self.add(Notice(NoticeKind.PROBLEM, "", report.intent, detail=detail))

    def _kill_changed(self, state: KillState) -> None:
        if state.phase not in (KillPhase.DONE, KillPhase.STOPPED):
            return
        bad = any(state.counts.get(s, 0) for s in BAD_STATES) or bool(state.problems or state.pending)
        if not bad:
            return
        how = "stopped" if state.phase is KillPhase.STOPPED else "ended"
        detail = "; ".join((state.summary(), *state.problems))
        self.add(Notice(NoticeKind.PROBLEM, "", f"Kill switch {how}", detail=detail))

    # --- the policy's clock ------------------------------------------------------------------------

    def add(self, notice: Notice) -> None:
        """Give the policy a notice and wake it when its message is due."""
        if self.policy.add(notice):
            self._schedule()

    def _schedule(self) -> None:
        due = self.policy.due_at()
        if due is None:
            self._timer.stop()
            return
        self._timer.start(max(0, math.ceil((due - self._clock()) * 1000)))

    def _due(self) -> None:
        message = self.policy.take()
        if message is not None:
            self._raise(message)
        self._schedule()

    def _raise(self, message: Message) -> None:
        shown = self.sink.show_message(message, MESSAGE_MS) if self.sink is not None else False
        if self.settings.sound:
            QApplication.beep()
        log.info("notification%s: %s", "" if shown else " (no tray to show it)", message.title)
        self.sent.append(message)
        del self.sent[:-200]
        self.notified.emit(message)
