"""Activity: one row per action (expand: its orders, then their steps), outside changes and notes."""

from __future__ import annotations

import csv
import enum
import io
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.core.ledger import CancelState
from app.core.orders import Order, OrderKey
from app.desk.coordinator import LedgerEntry
from app.desk.desk import OutsideChange
from app.desk.killswitch import KillPhase, KillState
from app.ui import theme
from app.ui.widgets import ask_csv_path

Index = QModelIndex | QPersistentModelIndex

NODE_ROLE = Qt.ItemDataRole.UserRole + 10
"""The node behind a row (``ActionNode``, ``OrderNode``, ``StepNode`` or ``NoteNode``)."""

PROBLEM_STATES = frozenset(
    {CancelState.FAILED, CancelState.REJECTED, CancelState.UNKNOWN, CancelState.WAITING}
)
IN_FLIGHT = frozenset({CancelState.QUEUED, CancelState.SENT, CancelState.ACKNOWLEDGED})
# What an action's summary says first: what needs the trader, then what is still moving, then
# what ended well.
SUMMARY_ORDER = (
    "rejected",
    "failed",
    "unknown",
    "waiting",
    "in flight",
    "filled",
    "partially filled",
    "expired",
    "gone",
    "already gone",
    "cancelled",
)
STATE_CHOICES = (
    "cancelled",
    "already gone",
    "filled",
    "rejected",
    "failed",
    "unknown",
    "waiting",
    "in flight",
)
"""The state filter's choices (an order's state word; "in flight" is queued, sent or acknowledged)."""

ACCOUNT_INTENT = "cancel all on "  # how the desk words a cancel of whole accounts (CancelIntent.describe)
TOP_LIMIT = 500  # top-level rows kept (actions, outside groups, notes); the oldest leave first
ORDER_LIMIT = 50_000  # order rows kept over all actions; whole actions leave, oldest first
OUTSIDE_GROUP_S = 5.0  # outside changes on one account this close together share one row

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_DISPLAY = Qt.ItemDataRole.DisplayRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole


class ActivityColumn(enum.IntEnum):
    """Activity's columns; each level fills them with what it has."""

    WHAT = 0  # action: what was asked; order: its id; step: the state it moved to
    TIME = enum.auto()  # action: when it started; order: its last move; step: when
    ACCOUNT = enum.auto()
    SYMBOL = enum.auto()
    ORDERS = enum.auto()  # action: how many orders
    OUTCOME = enum.auto()  # action: the summary; order: its final state (reason); step: the reason
    TOOK = enum.auto()  # action: to the last ending; order: queued to final; step: since queued


ACTIVITY_HEADERS: dict[ActivityColumn, str] = {
    ActivityColumn.WHAT: "What",
    ActivityColumn.TIME: "Time",
    ActivityColumn.ACCOUNT: "Account",
    ActivityColumn.SYMBOL: "Symbol",
    ActivityColumn.ORDERS: "Orders",
    ActivityColumn.OUTCOME: "Outcome",
    ActivityColumn.TOOK: "Took",
}
ACTIVITY_TIPS: dict[ActivityColumn, str] = {
    ActivityColumn.WHAT: "The action (expand: its orders; expand an order: its steps)",
    ActivityColumn.TOOK: "From the action's start to its last order's ending",
}


class Kind(enum.StrEnum):
    """What a row is."""

    ACTION = "action"  # one cancel action (one attempt id)
    KILL = "kill switch"  # one press of the kill switch (its waves' orders together)
    OUTSIDE = "outside"  # orders filled or ended by something other than the console
    NOTE = "note"  # a line of text (previous session, recovery, a venue problem)
    ORDER = "order"
    STEP = "step"


def intent_text(intent: str | None, account_name: Callable[[str], str]) -> str:
    """What the trader asked, with account names for the account ids the desk's words carry
    (``cancel all on demo-spot`` -> ``cancel all on Demo Spot``)."""
    if not intent:
        return ""
    if intent.startswith(ACCOUNT_INTENT):
        ids = intent.removeprefix(ACCOUNT_INTENT).split(", ")
        return ACCOUNT_INTENT + ", ".join(account_name(a) for a in ids)
    return intent


def state_word(state: CancelState) -> str:
    """The word the state filter and summaries use ("in flight" for queued, sent, acknowledged)."""
    return "in flight" if state in IN_FLIGHT else state.value


def fmt_took(seconds: float | None) -> str:
    """``312 ms``, ``4.2 s``, ``3 min 05 s``; blank when unknown."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s:02d} s"


class Node:
    """A row of the tree. ``pos`` is the row under the parent (for top rows: an increasing
    sequence number; the row is counted from the newest)."""

    __slots__ = ("children", "kind", "nid", "parent", "pos")

    def __init__(self, nid: int, parent: Node | None, pos: int, kind: Kind) -> None:
        self.nid = nid
        self.parent = parent
        self.pos = pos
        self.kind = kind
        self.children: list[Node] = []


class StepNode(Node):
    """One ledger move of one order (or one outside change)."""

    __slots__ = ("at", "latency_ms", "reason", "state", "word")

    def __init__(
        self,
        nid: int,
        parent: Node,
        pos: int,
        word: str,
        state: CancelState | None,
        reason: str | None,
        at: float,
        latency_ms: float | None,
    ) -> None:
        super().__init__(nid, parent, pos, Kind.STEP)
        self.word = word
        self.state = state
        self.reason = reason
        self.at = at
        self.latency_ms = latency_ms


class OrderNode(Node):
    """One order of an action: its latest state; its steps are its children."""

    __slots__ = ("attempt", "first_at", "order", "reason", "state", "updated_at", "word")

    def __init__(self, nid: int, parent: Node, pos: int, order: Order, at: float) -> None:
        super().__init__(nid, parent, pos, Kind.ORDER)
        self.order = order
        self.state: CancelState | None = None
        self.word = ""
        self.reason: str | None = None
        self.first_at = at
        self.updated_at = at
        self.attempt = ""

    @property
    def problem(self) -> bool:
        """Failed, rejected, unknown or waiting."""
        return self.state in PROBLEM_STATES

    @property
    def final(self) -> bool:
        """Nothing more will happen on its own (outside changes are final)."""
        return self.state is None or self.state.is_final

    def outcome(self) -> str:
        """``rejected (EOrder:Unknown order)``; a reason that says its state stands alone
        (``waiting: Kraken's rate limit, ~3 s``, as ``Outcome`` words it)."""
        if not self.reason:
            return self.word
        if self.reason.startswith(f"{self.word}: "):
            return self.reason
        return f"{self.word} ({self.reason})"


class ActionNode(Node):
    """A cancel action, a kill switch press, or a run of outside changes; orders are children."""

    __slots__ = (
        "accounts",
        "at",
        "attempts",
        "counts",
        "ended_at",
        "extra",
        "kill",
        "orders",
        "settled",
        "symbols",
        "title",
        "took_s",
    )

    def __init__(self, nid: int, pos: int, kind: Kind, title: str, at: float) -> None:
        super().__init__(nid, None, pos, kind)
        self.title = title
        self.at = at
        self.attempts: set[str] = set()
        self.accounts: dict[str, None] = {}
        self.symbols: dict[str, None] = {}
        self.orders: dict[OrderKey, OrderNode] = {}
        self.counts: Counter[str] = Counter()
        self.ended_at: float | None = None
        self.settled = False
        self.took_s: float | None = None
        self.extra = ""  # e.g. "12 more not yet listed (cancel-all)"
        self.kill: KillState | None = None

    @property
    def problems(self) -> int:
        """Orders that ended failed, rejected or unknown, or are waiting."""
        return sum(self.counts[s.value] for s in PROBLEM_STATES)

    @property
    def in_flight(self) -> int:
        """Orders still on their way."""
        return self.counts["in flight"]

    def summary(self) -> str:
        """``5 rejected · 995 cancelled``, problems first; a kill switch adds its phase."""
        parts = [f"{self.counts[w]:,} {w}" for w in SUMMARY_ORDER if self.counts[w]]
        parts += [f"{n:,} {w}" for w, n in self.counts.items() if n and w not in SUMMARY_ORDER]
        if self.extra:
            parts.append(self.extra)
        text = " · ".join(parts)
        if self.kind is Kind.KILL and self.kill is not None:
            text = text or ("nothing was open" if self.kill.waves else "nothing sent yet")
            text += f" — {kill_phase_text(self.kill)}"
        elif not text:
            text = "nothing to cancel" if self.settled else "sending…"
        return text


class NoteNode(Node):
    """A line of text: the previous session's cancels, a recovery, a venue problem."""

    __slots__ = ("account", "at", "label", "problem", "text")

    def __init__(
        self, nid: int, pos: int, text: str, at: float, label: str, account: str | None, problem: bool
    ) -> None:
        super().__init__(nid, None, pos, Kind.NOTE)
        self.text = text
        self.at = at
        self.label = label
        self.account = account
        self.problem = problem


def kill_phase_text(state: KillState) -> str:
    """Where a kill switch is, in words: ``holding flat until 14:03:05``, ``waiting for Futures``."""
    if state.phase is KillPhase.HOLDING and state.hold_until:
        text = f"holding flat until {theme.fmt_time(state.hold_until)}"
    elif state.phase is KillPhase.CANCELLING:
        text = "cancelling"
    else:
        text = state.phase.value
    if state.pending:
        text += f"; waiting for {', '.join(state.pending)}"
    if state.problems:
        text += f"; {len(state.problems)} problem{'s' if len(state.problems) != 1 else ''}"
    return text


class ActivityModel(QAbstractItemModel):
    """Activity as a tree: actions (newest first) > their orders > each order's steps.

    Rules kept:
    - row-level signals only, never a reset: a new action, outside group or note is inserted at
      the top; its new orders are appended under it in one run; an order's new steps are
      appended under it; changed rows emit ``dataChanged`` for themselves (and their action);
      the oldest top rows leave from the bottom when over ``TOP_LIMIT`` rows or ``ORDER_LIMIT``
      orders;
    - a node's row never changes once given (top rows are counted from the newest, and only the
      oldest leave), so ``parent()`` is a dictionary look-up, whatever the size;
    - the model reads no desk: the bridge hands it ledger entries, names actions
      (``name_action``), and tells it of kill switches, outside changes and notes.
    """

    def __init__(
        self,
        *,
        limit: int = TOP_LIMIT,
        order_limit: int = ORDER_LIMIT,
        account_name: Callable[[str], str] | None = None,
        market_name: Callable[[Order], str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.limit = limit
        self._market_name = market_name or (lambda order: order.symbol)
        self.order_limit = order_limit
        self._account_name = account_name or (lambda account_id: account_id)
        self._ids = itertools.count(1)
        self._seq = itertools.count(0)
        self._nodes: dict[int, Node] = {}
        self._top: list[Node] = []  # oldest first
        self._by_attempt: dict[str, ActionNode] = {}
        self._titles: dict[str, tuple[str, ActionNode | None]] = {}  # attempt -> (title, group)
        self._kills: dict[int, ActionNode] = {}
        self._outside: dict[str, ActionNode] = {}  # account -> its latest outside group
        self._order_rows = 0
        self._bold: QFont | None = None

    # --- Qt API -------------------------------------------------------------------------------

    def _top_row(self, node: Node) -> int:
        return self._top[-1].pos - node.pos

    def _row_of(self, node: Node) -> int:
        return self._top_row(node) if node.parent is None else node.pos

    def node(self, index: Index) -> Node | None:
        """The node behind ``index`` (None for the invisible root)."""
        if not index.isValid():
            return None
        return self._nodes.get(int(index.internalId()))

    def index_of(self, node: Node, column: int = 0) -> QModelIndex:
        """The index of ``node``'s row."""
        return self.createIndex(self._row_of(node), column, node.nid)

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(ActivityColumn) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= len(self._top):
                return QModelIndex()
            return self.createIndex(row, column, self._top[len(self._top) - 1 - row].nid)
        p = self._nodes.get(int(parent.internalId()))
        if p is None or parent.column() != 0 or row >= len(p.children):
            return QModelIndex()
        return self.createIndex(row, column, p.children[row].nid)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        node = self._nodes.get(int(index.internalId()))
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(self._row_of(node.parent), 0, node.parent.nid)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._top)
        if parent.column() != 0:
            return 0
        node = self._nodes.get(int(parent.internalId()))
        return 0 if node is None else len(node.children)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(ActivityColumn)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(ActivityColumn):
            return None
        col = ActivityColumn(section)
        if role == _DISPLAY:
            return ACTIVITY_HEADERS[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return ACTIVITY_TIPS.get(col, ACTIVITY_HEADERS[col])
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (ActivityColumn.ORDERS, ActivityColumn.TOOK):
            return _RIGHT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        col = ActivityColumn(index.column())
        if role == _DISPLAY:
            return self.text(node, col)
        if role == NODE_ROLE:
            return node
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node, col)
        if role == _FOREGROUND:
            return self._color(node, col)
        if role == Qt.ItemDataRole.FontRole:
            return self._font(node, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (ActivityColumn.ORDERS, ActivityColumn.TOOK):
            return _RIGHT
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # --- what each cell says --------------------------------------------------------------------

    def text(self, node: Node, col: ActivityColumn) -> str:
        """The cell's text (also what Copy and the CSV export write)."""
        if isinstance(node, ActionNode):
            return self._action_text(node, col)
        if isinstance(node, OrderNode):
            return self._order_text(node, col)
        if isinstance(node, StepNode):
            return self._step_text(node, col)
        if isinstance(node, NoteNode):
            # A labelled note ("back", "skipped") reads label first, its text in the wide Outcome
            # column: "back" | … | "while away (76 s): 3 new, 31 gone, Kraken's switch fired at …".
            if col is ActivityColumn.WHAT:
                return node.label or node.text
            if col is ActivityColumn.OUTCOME and node.label:
                return node.text
            if col is ActivityColumn.TIME:
                return theme.fmt_time(node.at)
            if col is ActivityColumn.ACCOUNT and node.account:
                return self._account_name(node.account)
        return ""

    def _action_text(self, node: ActionNode, col: ActivityColumn) -> str:
        match col:
            case ActivityColumn.WHAT:
                return intent_text(node.title, self._account_name)
            case ActivityColumn.TIME:
                return theme.fmt_time(node.at)
            case ActivityColumn.ACCOUNT:
                names = [self._account_name(a) for a in node.accounts]
                return ", ".join(names) if len(names) <= 3 else f"{len(names)} accounts"
            case ActivityColumn.SYMBOL:
                syms = list(node.symbols)
                return ", ".join(syms) if len(syms) <= 2 else f"{len(syms)} symbols"
            case ActivityColumn.ORDERS:
                return f"{len(node.children):,}"
            case ActivityColumn.OUTCOME:
                return node.summary()
            case ActivityColumn.TOOK:
                return fmt_took(node.took_s)
        return ""

    def _order_text(self, node: OrderNode, col: ActivityColumn) -> str:
        match col:
            case ActivityColumn.WHAT:
                return node.order.order_id
            case ActivityColumn.TIME:
                return theme.fmt_clock(node.updated_at)
            case ActivityColumn.ACCOUNT:
                return self._account_name(node.order.account_id)
            case ActivityColumn.SYMBOL:
                return self._market_name(node.order)
            case ActivityColumn.OUTCOME:
                return node.outcome()
            case ActivityColumn.TOOK:
                return fmt_took(node.updated_at - node.first_at) if node.final and node.children else ""
        return ""

    def _step_text(self, node: StepNode, col: ActivityColumn) -> str:
        match col:
            case ActivityColumn.WHAT:
                return node.word
            case ActivityColumn.TIME:
                return theme.fmt_clock(node.at)
            case ActivityColumn.OUTCOME:
                extra = f"round trip {node.latency_ms:.1f} ms" if node.latency_ms is not None else ""
                return "; ".join(p for p in (node.reason or "", extra) if p)
            case ActivityColumn.TOOK:
                first = node.parent.first_at if isinstance(node.parent, OrderNode) else node.at
                return f"+{fmt_took(node.at - first)}" if node.pos else ""
        return ""

    def _tooltip(self, node: Node, col: ActivityColumn) -> str | None:
        if isinstance(node, ActionNode):
            ids = ", ".join(sorted(node.attempts))
            return f"{node.title}: {node.summary()}" + (f"\nattempt {ids}" if ids else "")
        if isinstance(node, OrderNode):
            o = node.order
            parts = [f"{o.order_id} ({o.symbol} {o.side.value})", node.outcome()]
            if o.client_id:
                parts.append(f"client id {o.client_id}")
            if node.attempt:
                parts.append(f"attempt {node.attempt}")
            return "\n".join(parts)
        text = self.text(node, col)
        return text or None

    def _color(self, node: Node, col: ActivityColumn) -> Any:
        if isinstance(node, OrderNode) and col in (ActivityColumn.OUTCOME, ActivityColumn.WHAT):
            return state_color(node.state, node.word) if col is ActivityColumn.OUTCOME else None
        if isinstance(node, StepNode) and col is ActivityColumn.WHAT:
            return state_color(node.state, node.word)
        if isinstance(node, ActionNode) and col is ActivityColumn.OUTCOME:
            if node.problems:
                return theme.qcolor("failed")
            if node.in_flight or (node.kind is Kind.KILL and node.kill is not None and node.kill.pending):
                return theme.qcolor("in_flight")
            return theme.qcolor("good" if node.kind is not Kind.OUTSIDE else "filled")
        if (
            isinstance(node, NoteNode)
            and col in (ActivityColumn.WHAT, ActivityColumn.OUTCOME)
            and node.problem
        ):
            return theme.qcolor("failed")
        return None

    def _font(self, node: Node, col: ActivityColumn) -> QFont | None:
        if isinstance(node, OrderNode):
            strong = col is ActivityColumn.OUTCOME and node.final
        elif isinstance(node, StepNode):
            strong = col is ActivityColumn.WHAT and node.state is not None and node.state.is_final
        elif isinstance(node, ActionNode):
            strong = (col is ActivityColumn.OUTCOME and not node.in_flight) or (
                col is ActivityColumn.WHAT and node.kind is Kind.KILL
            )
        else:
            strong = False
        if not strong:
            return None
        if self._bold is None:
            self._bold = QFont()
            self._bold.setBold(True)
        return self._bold

    # --- reading back ---------------------------------------------------------------------------

    def top_nodes(self) -> list[Node]:
        """Top rows, newest first."""
        return list(reversed(self._top))

    def action(self, attempt: str) -> ActionNode | None:
        """The row an attempt's orders are under (its own, or its kill switch's)."""
        return self._by_attempt.get(attempt)

    def latest(self) -> Node | None:
        """The top row (the newest)."""
        return self._top[-1] if self._top else None

    def order_rows(self) -> int:
        """Order rows held over every action."""
        return self._order_rows

    # --- feeding ----------------------------------------------------------------------------------

    def name_action(self, attempt: str, title: str, *, kill: int | None = None) -> None:
        """Say what an attempt is (before or after its first entries); ``kill``: it is a wave of
        that kill switch (``start_kill``), whose row it joins."""
        group = self._kills.get(kill) if kill is not None else None
        self._titles[attempt] = (title, group)
        node = self._by_attempt.get(attempt)
        if node is not None and group is None and node.kind is Kind.ACTION and node.title != title:
            node.title = title
            self._changed(node, ActivityColumn.WHAT)

    def add_entries(self, entries: Sequence[LedgerEntry]) -> None:
        """Ledger moves, in the order they happened: new actions on top, new orders appended under
        their action in one run, each order's new steps appended under it."""
        if not entries:
            return
        new_orders: dict[int, tuple[ActionNode, dict[OrderKey, tuple[Order, float]]]] = {}
        steps: list[tuple[LedgerEntry, ActionNode]] = []
        for e in entries:
            action = self._by_attempt.get(e.attempt)
            if action is None:
                action = self._new_action(e.attempt, e.at)
            steps.append((e, action))
            if e.order.key not in action.orders:
                fresh = new_orders.setdefault(action.nid, (action, {}))[1]
                fresh.setdefault(e.order.key, (e.order, e.at))
        for action, fresh in new_orders.values():
            self._append_orders(action, list(fresh.values()))
        touched: dict[int, ActionNode] = {}
        changed_orders: dict[int, OrderNode] = {}
        for e, action in steps:
            node = action.orders[e.order.key]
            self._add_step(node, e.state.value, e.state, e.reason, e.at, e.latency_ms)
            self._set_order_state(action, node, e.state, e.reason, e.at, e.order, e.attempt)
            changed_orders[node.nid] = node
            touched[action.nid] = action
        self._emit_orders_changed(changed_orders.values())
        for action in touched.values():
            self._refresh_action(action)
        self._trim()

    def settle(self, attempt: str, *, unlisted: int = 0, took_s: float | None = None) -> None:
        """The action ended (its report): its summary is final, with what cancel-all added."""
        action = self._by_attempt.get(attempt)
        if action is None:
            return
        if action.kind is Kind.ACTION:
            action.settled = True
            if unlisted:
                action.extra = f"{unlisted:,} more not yet listed (cancel-all)"
            if took_s is not None and action.took_s is None:
                action.took_s = took_s
        self._refresh_action(action)

    def start_kill(self, kill_id: int, accounts: Sequence[str], at: float) -> None:
        """A kill switch was pressed: one row that its waves' orders join."""
        node = self._new_top(Kind.KILL, "kill switch", at)
        node.accounts = dict.fromkeys(accounts)
        self._kills[kill_id] = node

    def update_kill(self, kill_id: int, state: KillState, at: float) -> None:
        """The kill switch moved on (a wave, an account waiting or back, its end)."""
        node = self._kills.get(kill_id)
        if node is None:
            return
        node.kill = state
        node.extra = f"{state.unlisted:,} not yet listed" if state.unlisted else ""
        if state.phase in (KillPhase.DONE, KillPhase.STOPPED):
            node.settled = True
            node.took_s = (node.ended_at or at) - node.at
        self._refresh_action(node)

    def add_outside(self, change: OutsideChange, at: float) -> None:
        """An order filled or left by something other than the console (see ``add_outside_many``)."""
        self.add_outside_many([(change, at)])

    def add_outside_many(self, changes: Sequence[tuple[OutsideChange, float]]) -> None:
        """Orders filled or left by something other than the console, oldest first: each joins
        its account's outside row if that is recent (``OUTSIDE_GROUP_S``), else starts a new one
        on top.

        Rules: one batch is one insertion per outside row for its new orders (each with its first
        step already in place), one change per row touched and one trim. A busy market sends
        hundreds a second; an insertion and two changes each kept the GUI loop busy for most of
        a second per second (bench 3, stalls sampled).
        """
        fresh: dict[int, tuple[ActionNode, list[OrderNode]]] = {}  # group nid -> its new nodes
        pending: set[int] = set()  # new nodes not in the tree yet
        changed: dict[int, OrderNode] = {}
        touched: dict[int, ActionNode] = {}
        for change, at in changes:
            group = self._outside.get(change.account_id)
            if (
                group is None
                or at - (group.ended_at or group.at) > OUTSIDE_GROUP_S
                or group.nid not in self._nodes
            ):
                self._insert_fresh(fresh, pending)  # rows begun before it stay below it
                group = self._new_top(Kind.OUTSIDE, "outside the console", at)
                group.accounts[change.account_id] = None
                self._outside[change.account_id] = group
            touched[group.nid] = group
            node = group.orders.get(change.order.key)
            if node is None:
                _, new = fresh.setdefault(group.nid, (group, []))
                node = OrderNode(next(self._ids), group, len(group.children) + len(new), change.order, at)
                new.append(node)
                group.orders[change.order.key] = node
                pending.add(node.nid)
            if node.nid in pending:  # not in the tree yet: its step goes in with it
                node.children.append(
                    StepNode(
                        next(self._ids), node, len(node.children), change.what, None, change.reason, at, None
                    )
                )
            else:
                self._add_step(node, change.what, None, change.reason, at, None)
                changed[node.nid] = node
            old = node.word
            if old:
                group.counts[old] -= 1
            node.word, node.reason, node.updated_at, node.order = change.what, change.reason, at, change.order
            group.counts[change.what] += 1
            group.ended_at = at
        self._insert_fresh(fresh, pending)
        if changed:
            self._emit_orders_changed(changed.values())
        for group in touched.values():
            self._refresh_action(group)
        self._trim()

    def _insert_fresh(self, fresh: dict[int, tuple[ActionNode, list[OrderNode]]], pending: set[int]) -> None:
        """Put the new order nodes of ``add_outside_many`` in the tree, one insertion per row."""
        for group, nodes in fresh.values():
            first = len(group.children)
            self.beginInsertRows(self.index_of(group), first, first + len(nodes) - 1)
            for node in nodes:
                stack: list[Node] = [node]
                while stack:
                    n = stack.pop()
                    self._nodes[n.nid] = n
                    stack.extend(n.children)
                group.children.append(node)
                group.symbols.setdefault(self._market_name(node.order), None)
            self._order_rows += len(nodes)
            self.endInsertRows()
        fresh.clear()
        pending.clear()

    def add_note(
        self,
        text: str,
        at: float,
        *,
        label: str = "",
        account: str | None = None,
        problem: bool = False,
    ) -> None:
        """Put a line of text on top (the previous session's cancels, a recovery, a problem)."""
        node = NoteNode(next(self._ids), next(self._seq), text, at, label, account, problem)
        self._insert_top(node)
        self._trim()

    # --- internals ----------------------------------------------------------------------------------

    def _new_action(self, attempt: str, at: float) -> ActionNode:
        title, group = self._titles.pop(attempt, ("cancel", None))
        if group is not None and group.nid in self._nodes:
            node = group
        else:
            node = self._new_top(Kind.ACTION, title, at)
        node.attempts.add(attempt)
        self._by_attempt[attempt] = node
        return node

    def _new_top(self, kind: Kind, title: str, at: float) -> ActionNode:
        node = ActionNode(next(self._ids), next(self._seq), kind, title, at)
        self._insert_top(node)
        return node

    def _insert_top(self, node: Node) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._nodes[node.nid] = node
        self._top.append(node)
        self.endInsertRows()

    def _append_orders(self, action: ActionNode, orders: Sequence[tuple[Order, float]]) -> None:
        first = len(action.children)
        parent = self.index_of(action)
        self.beginInsertRows(parent, first, first + len(orders) - 1)
        for i, (order, at) in enumerate(orders):
            node = OrderNode(next(self._ids), action, first + i, order, at)
            self._nodes[node.nid] = node
            action.children.append(node)
            action.orders[order.key] = node
            action.accounts.setdefault(order.account_id, None)
            action.symbols.setdefault(self._market_name(order), None)
        self._order_rows += len(orders)
        self.endInsertRows()

    def _add_step(
        self,
        node: OrderNode,
        word: str,
        state: CancelState | None,
        reason: str | None,
        at: float,
        latency_ms: float | None,
    ) -> None:
        row = len(node.children)
        self.beginInsertRows(self.index_of(node), row, row)
        step = StepNode(next(self._ids), node, row, word, state, reason, at, latency_ms)
        self._nodes[step.nid] = step
        node.children.append(step)
        self.endInsertRows()

    def _set_order_state(
        self,
        action: ActionNode,
        node: OrderNode,
        state: CancelState,
        reason: str | None,
        at: float,
        order: Order,
        attempt: str,
    ) -> None:
        if node.word:
            action.counts[node.word] -= 1
        node.state, node.reason, node.updated_at, node.attempt = state, reason, at, attempt
        node.order = order
        node.word = state_word(state)
        action.counts[node.word] += 1
        if state.is_final:
            action.ended_at = max(action.ended_at or at, at)

    def _emit_orders_changed(self, nodes: Iterable[OrderNode]) -> None:
        by_parent: dict[int, list[int]] = {}
        parents: dict[int, Node] = {}
        for n in nodes:
            assert n.parent is not None
            by_parent.setdefault(n.parent.nid, []).append(n.pos)
            parents[n.parent.nid] = n.parent
        last = len(ActivityColumn) - 1
        for pid, rows in by_parent.items():
            parent = self.index_of(parents[pid])
            rows.sort()
            start = prev = rows[0]
            for r in [*rows[1:], None]:
                if r is not None and r == prev + 1:
                    prev = r
                    continue
                self.dataChanged.emit(self.index(start, 0, parent), self.index(prev, last, parent))
                if r is not None:
                    start = prev = r

    def _refresh_action(self, action: ActionNode) -> None:
        if action.kind is Kind.ACTION and action.children and not action.in_flight and action.ended_at:
            action.took_s = max(action.took_s or 0.0, action.ended_at - action.at)
        elif action.kind is Kind.OUTSIDE and action.ended_at:
            action.took_s = None
        self._changed(action, None)

    def _changed(self, node: Node, col: ActivityColumn | None) -> None:
        if node.nid not in self._nodes:
            return
        first = 0 if col is None else int(col)
        last = len(ActivityColumn) - 1 if col is None else int(col)
        self.dataChanged.emit(self.index_of(node, first), self.index_of(node, last))

    def _trim(self) -> None:
        while len(self._top) > 1 and (len(self._top) > self.limit or self._order_rows > self.order_limit):
            row = len(self._top) - 1
            self.beginRemoveRows(QModelIndex(), row, row)
            node = self._top.pop(0)
            self._forget(node)
            self.endRemoveRows()

    def _forget(self, node: Node) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            self._nodes.pop(n.nid, None)
            stack.extend(n.children)
            if isinstance(n, OrderNode):
                self._order_rows -= 1
        if isinstance(node, ActionNode):
            for attempt in node.attempts:
                if self._by_attempt.get(attempt) is node:
                    del self._by_attempt[attempt]
            for kid, k in list(self._kills.items()):
                if k is node:
                    del self._kills[kid]
            for acc, g in list(self._outside.items()):
                if g is node:
                    del self._outside[acc]


def state_color(state: CancelState | None, word: str) -> Any:
    """Final states strongest: cancelled green, filled blue, refused or failed red, unknown violet,
    already gone plain text; in flight dim; waiting amber. Outside changes by their word."""
    if state is None:
        return theme.qcolor({"filled": "filled", "partially filled": "filled"}.get(word, "text"))
    name = {
        CancelState.CANCELLED: "good",
        CancelState.ALREADY_GONE: "text",
        CancelState.FILLED: "filled",
        CancelState.REJECTED: "failed",
        CancelState.FAILED: "failed",
        CancelState.UNKNOWN: "unknown",
        CancelState.WAITING: "in_flight",
    }.get(state, "dim")
    return theme.qcolor(name)


class ActivityFilter(QSortFilterProxyModel):
    """Activity's filters: problems only, account, state, and an id (order, client or attempt id).

    Rules kept: the filters choose orders (and notes); an action shows when one of its orders
    does, and an order shows with all its steps; with no filter every row shows at once.
    """

    def __init__(self, source: ActivityModel) -> None:
        super().__init__(source)
        self._source = source
        self.problems_only = False
        self.account: str | None = None
        self.state: str | None = None
        self.text = ""
        self.setSourceModel(source)
        self.setDynamicSortFilter(True)

    @property
    def filtering(self) -> bool:
        """Whether any filter is on."""
        return self.problems_only or self.account is not None or self.state is not None or bool(self.text)

    def set_filters(
        self,
        *,
        problems_only: bool | None = None,
        account: str | bool | None = False,
        state: str | bool | None = False,
        text: str | None = None,
    ) -> None:
        """Change some filters (``False`` for account/state: leave as is; None: any)."""
        self.beginFilterChange()
        if problems_only is not None:
            self.problems_only = problems_only
        if account is not False:
            self.account = account if isinstance(account, str) else None
        if state is not False:
            self.state = state if isinstance(state, str) else None
        if text is not None:
            self.text = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self.filtering:
            return True
        node = self._source.node(self._source.index(source_row, 0, source_parent))
        if isinstance(node, OrderNode):
            return self._order_matches(node)
        if isinstance(node, StepNode):
            return True  # shown with its order
        if isinstance(node, NoteNode):
            return (
                (not self.problems_only or node.problem)
                and (self.account is None or node.account == self.account)
                and self.state is None
                and (not self.text or self.text in node.text.casefold())
            )
        if isinstance(node, ActionNode):
            return self._action_matches(node)
        return False

    def _action_matches(self, node: ActionNode) -> bool:
        """An action shows when one of its orders does (an attempt id shows all of them).

        Not Qt's recursive filtering: that re-asks every sibling of every changed order, and a
        1,000-order cancel then took 30 s under a filter. The model re-announces an action with
        each batch of its orders' moves, so the answer here is asked again when it can change.
        """
        if self.account is not None and self.account not in node.accounts:
            return False
        if self.problems_only and not node.problems:
            return False
        if self.state is not None and not node.counts[self.state]:
            return False
        if self.text or (self.account is not None and len(node.accounts) > 1):
            return any(isinstance(o, OrderNode) and self._order_matches(o) for o in node.children)
        return True

    def _order_matches(self, node: OrderNode) -> bool:
        o = node.order
        if self.problems_only and not node.problem:
            return False
        if self.account is not None and o.account_id != self.account:
            return False
        if self.state is not None and node.word != self.state:
            return False
        if self.text:
            return (
                self.text in o.order_id.casefold()
                or (o.client_id is not None and self.text in o.client_id.casefold())
                or self.text in node.attempt.casefold()  # an attempt id shows all its orders
            )
        return True


def _rows(model: QAbstractItemModel, parent: QModelIndex, depth: int) -> Iterator[tuple[int, QModelIndex]]:
    for r in range(model.rowCount(parent)):
        idx = model.index(r, 0, parent)
        yield depth, idx
        yield from _rows(model, idx, depth + 1)


CSV_HEADER = (
    "level",
    "kind",
    *(h.lower() for h in ACTIVITY_HEADERS.values()),
    "when",
    "attempt",
    "client_id",
)


def csv_rows(view_model: QAbstractItemModel, source: ActivityModel) -> Iterator[list[str]]:
    """Every row the filter shows (at every level, expanded or not), as CSV fields."""
    for depth, idx in _rows(view_model, QModelIndex(), 0):
        node = idx.data(NODE_ROLE)
        if not isinstance(node, Node):
            continue
        cells = [source.text(node, c) for c in ActivityColumn]
        at = getattr(node, "updated_at", None) or getattr(node, "at", None)
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int((at % 1) * 1000):03d}"
            if at
            else ""
        )
        attempt = ""
        client = ""
        if isinstance(node, ActionNode):
            attempt = " ".join(sorted(node.attempts))
        elif isinstance(node, OrderNode):
            attempt, client = node.attempt, node.order.client_id or ""
        yield [str(depth), node.kind.value, *cells, when, attempt, client]


def write_csv(path: Path, view_model: QAbstractItemModel, source: ActivityModel) -> int:
    """Write the rows the filter shows to ``path`` (UTF-8 CSV); returns how many."""
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for row in csv_rows(view_model, source):
            w.writerow(row)
            n += 1
    return n


def rows_as_text(indexes: Sequence[QModelIndex], source: ActivityModel) -> str:
    """Rows as tab-separated text, indented by level (for the clipboard)."""
    out = io.StringIO()
    for idx in indexes:
        node = idx.data(NODE_ROLE)
        if not isinstance(node, Node):
            continue
        depth, p = 0, node.parent
        while p is not None:
            depth, p = depth + 1, p.parent
        cells = [source.text(node, c) for c in ActivityColumn]
        out.write("  " * depth + "\t".join(c for c in cells) + "\n")
    return out.getvalue()


class ActivityPanel(QWidget):
    history_asked = Signal(str, str)

    """The Activity dock's content: filters above the tree, Copy and Export CSV beside them.

    Signals:
        history_asked(str, str): (account id, order id) of an order row double-clicked or
            Enter pressed on: the window opens History on it.

    Rules kept: filters act on the proxy only (the model keeps everything); nothing here opens a
    modal loop (the CSV file dialog is opened with ``open()``).
    """

    history_asked = Signal(str, str)

    def __init__(
        self,
        model: ActivityModel,
        accounts: Callable[[], list[tuple[str, str]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._accounts = accounts
        self.proxy = ActivityFilter(model)
        self.view = QTreeView()
        self.view.setObjectName("activity_tree")
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAllColumnsShowFocus(True)
        self.view.setWordWrap(False)
        self.view.header().setStretchLastSection(False)
        self.view.header().setSectionsMovable(False)
        # The outcome takes the room the window has (it says the most); the rest keep their widths.
        self.view.header().setSectionResizeMode(ActivityColumn.OUTCOME, QHeaderView.ResizeMode.Stretch)

        self.problems = QToolButton()
        self.problems.setObjectName("activity_problems")
        self.problems.setText("Problems only")
        self.problems.setCheckable(True)
        self.problems.setToolTip("Only orders that failed, were rejected, are unknown or waiting")
        self.account = QComboBox()
        self.account.setObjectName("activity_account")
        self.account.setToolTip("Only this account's orders")
        self.state = QComboBox()
        self.state.setObjectName("activity_state")
        self.state.addItem("Any state", None)
        for word in STATE_CHOICES:
            self.state.addItem(word, word)
        self.search = QLineEdit()
        self.search.setObjectName("activity_search")
        self.search.setPlaceholderText("Order, client or attempt id")
        self.search.setClearButtonEnabled(True)
        self.copy = QToolButton()
        self.copy.setObjectName("activity_copy")
        self.copy.setText("Copy")
        self.copy.setToolTip("Copy the selected rows as text (all shown rows when none is selected)")
        self.export = QToolButton()
        self.export.setObjectName("activity_export")
        self.export.setText("Export CSV…")
        self.export.setToolTip("Save every row the filters show, at every level, as CSV")
        self.count = QLabel()
        self.count.setObjectName("activity_count")

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.setSpacing(6)
        for w in (self.problems, self.account, self.state):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        bar.addWidget(self.copy)
        bar.addWidget(self.export)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addLayout(bar)
        box.addWidget(self.view, 1)

        self._shown_accounts: list[tuple[str, str]] | None = None
        self.refresh_accounts()
        # Under a filter, the match count follows new moves (counted a moment later, in one go).
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(200)
        self._recount.timeout.connect(self._say_count)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.dataChanged):
            signal.connect(lambda *_a: self._recount.start() if self.proxy.filtering else None)
        self.problems.toggled.connect(lambda on: self._filter(problems_only=on))
        self.account.activated.connect(lambda _i: self._filter(account=self.account.currentData()))
        self.state.activated.connect(lambda _i: self._filter(state=self.state.currentData()))
        self.search.textChanged.connect(lambda text: self._filter(text=text))
        self.copy.clicked.connect(self.copy_rows)
        self.export.clicked.connect(self.ask_export)
        copy = QAction("Copy", self.view)
        copy.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_rows)
        self.view.addAction(copy)
        self.view.activated.connect(self._activated)
        self._dialog: QFileDialog | None = None
        self.apply_widths()

    def _activated(self, index: QModelIndex) -> None:
        node = index.data(NODE_ROLE)
        if isinstance(node, StepNode):
            node = node.parent
        if isinstance(node, OrderNode):
            self.history_asked.emit(node.order.account_id, node.order.order_id)

    def refresh_accounts(self) -> None:
        """Fill the account filter from the desk's accounts (keeping the choice); a no-op when
        they did not change (the desk announces every count change, several times a second)."""
        accounts = self._accounts()
        if accounts == self._shown_accounts:
            return
        self._shown_accounts = accounts
        current = self.account.currentData()
        self.account.blockSignals(True)
        self.account.clear()
        self.account.addItem("All accounts", None)
        for aid, name in accounts:
            self.account.addItem(name, aid)
        i = self.account.findData(current)
        self.account.setCurrentIndex(max(i, 0))
        self.account.blockSignals(False)

    def apply_widths(self) -> None:
        """Column widths for the current font: the outcome gets the room, times stay narrow."""
        fm = self.view.fontMetrics()
        pad = 18
        for col, sample in {
            ActivityColumn.WHAT: "O3KZ5Q-ABCDE-FGHIJK1 cancel all on Main spot",
            ActivityColumn.TIME: "00:00:00.000",
            ActivityColumn.ACCOUNT: "Demo Futures",
            ActivityColumn.SYMBOL: "BTC/USD perp",
            ActivityColumn.ORDERS: "10,000",
            ActivityColumn.OUTCOME: "5 rejected · 995 cancelled · 12 more not yet listed (cancel-all)",
            ActivityColumn.TOOK: "+00.0 s",
        }.items():
            self.view.header().resizeSection(col, fm.horizontalAdvance(sample) + pad)

    def _filter(self, **changes: Any) -> None:
        self.proxy.set_filters(**changes)
        if self.proxy.filtering:
            self.view.expandRecursively(QModelIndex(), 1)  # show the orders that matched
        else:
            self.view.collapseAll()
        self._say_count()

    def _say_count(self) -> None:
        self._recount.stop()
        if not self.proxy.filtering:
            self.count.setText("")
            return
        shown = 0
        for r in range(self.proxy.rowCount()):
            top = self.proxy.index(r, 0)
            shown += sum(
                1
                for k in range(self.proxy.rowCount(top))
                if isinstance(self.proxy.index(k, 0, top).data(NODE_ROLE), OrderNode)
            )
        self.count.setText(f"{shown:,} order{'s' if shown != 1 else ''} match")

    def copy_rows(self) -> str:
        """Copy the selected rows (or every shown top row) as text; returns what was copied."""
        rows = self.view.selectionModel().selectedRows(0)
        if not rows:
            rows = [self.proxy.index(r, 0) for r in range(self.proxy.rowCount())]
        rows.sort(key=lambda i: self._visual_key(i))
        text = rows_as_text(rows, self.model)
        QGuiApplication.clipboard().setText(text)
        return text

    def _visual_key(self, index: QModelIndex) -> tuple[int, ...]:
        path: list[int] = []
        while index.isValid():
            path.append(index.row())
            index = index.parent()
        return tuple(reversed(path))

    def ask_export(self) -> None:
        """Export CSV…: a file dialog (not modal), then ``export_csv``."""
        self._dialog = ask_csv_path(self, "Activity", "activity", self.export_csv)

    def export_csv(self, path: Path) -> int:
        """Write the rows the filters show to ``path``; returns how many."""
        return write_csv(path, self.proxy, self.model)
