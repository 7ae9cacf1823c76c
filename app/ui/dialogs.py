"""Dialogs: cancel confirmations, the Accounts dialog (keys to the OS keychain only), shortcuts help."""

# Every dialog is shown with ``open()`` (window-modal, no nested event loop) and answers through
# its accepted/rejected/finished signals: ``exec()`` inside a coroutine would re-enter the qasync
# loop (qasync's documentation).

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.accounts import AccountSpec, KeyCheck, Transport
from app.core.errors import KeychainError
from app.core.orders import VenueKind
from app.desk.keys import RECOMMENDATION
from app.desk.keys import warnings as key_warnings
from app.desk.venues import DESCRIPTORS, EndpointRole, descriptor
from app.logsafe import register_secret
from app.ui import theme
from app.ui.bridge import DeskBridge

log = logging.getLogger("app.ui.dialogs")


# --- the accounts store the composition root provides ----------------------------------------


@runtime_checkable
class AccountsStore(Protocol):
    """Where accounts are kept; provided by the composition root (``app.__main__``).

    ``list`` reads the config file (no keychain) and is called on the GUI thread. ``save`` and
    ``remove`` may block on the OS keychain (D-Bus): the UI calls them through
    ``asyncio.to_thread`` and they must not touch the desk. Secrets go to the keychain only;
    a missing or locked keychain raises ``KeychainError`` (never a plaintext fallback).
    """

    def list(self) -> list[AccountSpec]:
        """Every configured account."""
        ...

    def keychain_problem(self) -> str | None:
        """Why keys cannot be saved now (no usable keychain, or it is locked), or None.

        May block (D-Bus, an unlock prompt): the dialog calls it in a worker thread as it opens.
        """
        ...

    def save(self, spec: AccountSpec, api_key: str | None, secret: str | None) -> None:
        """Store ``spec`` (config) and, when both are given, the key pair (keychain only).

        ``None`` for both keeps the stored key (an edit of the name or endpoints).

        Raises:
            KeychainError: the keychain is missing, locked or refused.
        """
        ...

    def remove(self, account_id: str) -> None:
        """Forget an account: its config entry and its keychain entry.

        Raises:
            KeychainError: the keychain is missing, locked or refused.
        """
        ...

    def check(self, spec: AccountSpec, api_key: str, secret: str) -> Awaitable[KeyCheck]:
        """Probe what a key may do (a throwaway venue, closed afterwards)."""
        ...

    def connect(self, spec: AccountSpec) -> Awaitable[None]:
        """(Re)connect a saved account on the desk with its stored key.

        Raises:
            KeychainError: the key cannot be read.
            ValueError: the venue is not supported by this version.
        """
        ...


def describe_key_check(check: KeyCheck, venue: VenueKind | None = None) -> str:
    """One line per capability, then the venue's notes, warnings, and our recommendation."""

    def yn(value: bool | None) -> str:
        return {True: "yes", False: "no", None: "could not tell"}[value]

    lines = [
        f"Query open orders: {yn(check.can_query)}",
        f"Cancel orders: {yn(check.can_cancel)}",
        f"WebSocket access: {yn(check.can_websocket)}",
        f"Place orders: {yn(check.can_trade)}",
        f"Withdraw funds: {yn(check.can_withdraw)}",
        f"Query funds: {yn(check.can_query_funds)}",
    ]
    lines.extend(check.notes)
    lines.extend(w for w in key_warnings(check, venue) if w != RECOMMENDATION)
    lines.append(RECOMMENDATION)
    return "\n".join(lines)


# --- confirmations -----------------------------------------------------------------------------


class ConfirmCancelDialog(QDialog):
    """Asks before a cancel that may touch more than one order.

    Rules kept: Enter confirms (the default button is "Cancel orders"), Esc keeps the orders;
    shown with ``open()`` only; the text says how many orders, where, and for cancel-all forms
    that orders placed since the last refresh go too. An ``alternative`` (e.g. "Cancel all on
    account" when the selection is everything on it) is a third button, never the default;
    choosing it emits ``alternative_chosen`` and closes with ``ALTERNATIVE``.
    """

    ALTERNATIVE = 2
    alternative_chosen = Signal()

    def __init__(
        self,
        title: str,
        headline: str,
        details: Sequence[str],
        *,
        confirm_text: str = "Cancel orders",
        danger: bool = False,
        alternative: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("confirm_cancel_dialog")
        layout = QVBoxLayout(self)
        self.headline = QLabel(headline)
        self.headline.setObjectName("headline")
        font = self.headline.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        self.details = QLabel("\n".join(details))
        self.details.setObjectName("details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        buttons = QDialogButtonBox()
        self.keep_button = buttons.addButton("Keep orders (Esc)", QDialogButtonBox.ButtonRole.RejectRole)
        self.confirm_button = buttons.addButton(
            f"{confirm_text} (Enter)", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.keep_button.setAutoDefault(False)
        self.keep_button.setDefault(False)
        self.alternative_button: QPushButton | None = None
        if alternative is not None:
            alt = buttons.addButton(alternative, QDialogButtonBox.ButtonRole.ActionRole)
            alt.setObjectName("alternative")
            alt.setAutoDefault(False)
            alt.setDefault(False)
            alt.clicked.connect(self._alternative)
            self.alternative_button = alt
        self.confirm_button.setDefault(True)
        self.confirm_button.setAutoDefault(True)
        if danger:
            self.confirm_button.setStyleSheet(theme.danger_button_style())
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.confirm_button.setFocus()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.confirm_button.setFocus()

    def _alternative(self) -> None:
        self.alternative_chosen.emit()
        self.done(self.ALTERNATIVE)


class ShortcutsDialog(QDialog):
    """Lists the keyboard shortcuts (Help > Keyboard shortcuts)."""

    def __init__(self, shortcuts: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcuts_dialog")
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(shortcuts), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, what) in enumerate(shortcuts):
            native = QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText) or keys
            self.table.setItem(row, 0, QTableWidgetItem(native))
            self.table.setItem(row, 1, QTableWidgetItem(what))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 420)


# --- accounts ------------------------------------------------------------------------------------

TRANSPORT_LABELS: dict[Transport, str] = {
    Transport.WS_V2: "WebSocket v2",
    Transport.WS_V1: "WebSocket v1 (legacy)",
    Transport.REST: "REST",
}


def new_account_id(name: str, taken: set[str]) -> str:
    """A stable id from a name: lowercase, dashes, unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "account"
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


class AccountEditDialog(QDialog):
    """Adds or edits one account: name, venue, key pair, Spot transports, optional endpoints.

    Rules kept: the secret field is a password field; the secret is validated (Spot and Futures:
    standard base64 of 64 bytes) before the dialog accepts; when editing, empty key fields keep
    the stored key; the key and secret are handed over once (``take_credentials``) and the
    fields are cleared, so they live no longer than needed; nothing here logs them.
    """

    def __init__(
        self,
        *,
        spec: AccountSpec | None = None,
        taken_names: Collection[str] = (),
        taken_ids: Collection[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("account_edit_dialog")
        self._spec = spec
        self._taken_names = {n.casefold() for n in taken_names}
        self._taken_ids = set(taken_ids)
        self.setWindowTitle("Edit account" if spec else "Add account")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_edit = QLineEdit(spec.name if spec else "")
        self.name_edit.setObjectName("name")
        form.addRow("Name", self.name_edit)
        self.venue_combo = QComboBox()
        self.venue_combo.setObjectName("venue")
        for kind, desc in DESCRIPTORS.items():
            self.venue_combo.addItem(desc.label, kind)
        if spec is not None:
            self.venue_combo.setCurrentIndex(list(DESCRIPTORS).index(spec.venue))
            self.venue_combo.setEnabled(False)  # another venue is another account
        form.addRow("Venue", self.venue_combo)
        keep = "leave empty to keep the stored key" if spec else ""
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("api_key")
        self.key_edit.setPlaceholderText(keep or "API key")
        form.addRow("API key", self.key_edit)
        self.secret_edit = QLineEdit()
        self.secret_edit.setObjectName("secret")
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText(keep or "private key (secret)")
        form.addRow("Secret", self.secret_edit)
        self.stream_combo = QComboBox()
        self.cancel_combo = QComboBox()
        for combo, current in (
            (self.stream_combo, spec.stream_transport if spec else Transport.WS_V2),
            (self.cancel_combo, spec.cancel_transport if spec else Transport.WS_V2),
        ):
            for t, label in TRANSPORT_LABELS.items():
                combo.addItem(label, t)
            combo.setCurrentIndex(list(TRANSPORT_LABELS).index(current))
        self.stream_label = QLabel("Stream orders via")
        self.cancel_label = QLabel("Cancel via")
        form.addRow(self.stream_label, self.stream_combo)
        form.addRow(self.cancel_label, self.cancel_combo)
        layout.addLayout(form)
        self.endpoints_box = QGroupBox("Endpoints (optional: empty means Kraken's production hosts)")
        self.endpoints_form = QFormLayout(self.endpoints_box)
        self.endpoint_edits: dict[EndpointRole, QLineEdit] = {}
        layout.addWidget(self.endpoints_box)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setDefault(True)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAutoDefault(False)  # Enter in any field saves; Esc cancels
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.venue_combo.currentIndexChanged.connect(self._venue_changed)
        self._venue_changed()
        self._credentials: tuple[str, str] | None = None
        self.resize(560, 0)

    # Combo item data would come back as plain str (Qt stores a StrEnum as a string): map by index.
    @property
    def venue(self) -> VenueKind:
        """The venue chosen."""
        return list(DESCRIPTORS)[max(0, self.venue_combo.currentIndex())]

    @property
    def stream_transport(self) -> Transport:
        """Spot: the transport chosen to stream orders."""
        return list(TRANSPORT_LABELS)[max(0, self.stream_combo.currentIndex())]

    @property
    def cancel_transport(self) -> Transport:
        """Spot: the transport chosen to cancel."""
        return list(TRANSPORT_LABELS)[max(0, self.cancel_combo.currentIndex())]

    def _venue_changed(self) -> None:
        spot = self.venue is VenueKind.SPOT
        for w in (self.stream_label, self.stream_combo, self.cancel_label, self.cancel_combo):
            w.setVisible(spot)
        while self.endpoints_form.rowCount():
            self.endpoints_form.removeRow(0)
        self.endpoint_edits.clear()
        for role in descriptor(self.venue).roles:
            edit = QLineEdit(self._spec.endpoints.get(role.value, "") if self._spec else "")
            edit.setObjectName(f"endpoint_{role.value}")
            edit.setPlaceholderText(role.production)
            self.endpoint_edits[role] = edit
            self.endpoints_form.addRow(role.label, edit)
        # The endpoint fields are made after the buttons: put Tab back in the order on screen.
        chain = [
            self.name_edit,
            self.venue_combo,
            self.key_edit,
            self.secret_edit,
            self.stream_combo,
            self.cancel_combo,
            *self.endpoint_edits.values(),
            self.save_button,
            self.cancel_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def validate(self) -> str | None:
        """What is wrong with the form, or None when it can be saved."""
        name = self.name_edit.text().strip()
        if not name:
            return "Give the account a name."
        own = self._spec.name.casefold() if self._spec else None
        if name.casefold() in self._taken_names and name.casefold() != own:
            return f"An account called {name!r} exists already."
        key, secret = self.key_edit.text().strip(), self.secret_edit.text().strip()
        if self._spec is None or key or secret:
            if not key:
                return "Enter the API key."
            if not secret:
                return "Enter the secret (private key)."
            problem = descriptor(self.venue).check_secret(secret)
            if problem is not None:
                return problem
        for role, edit in self.endpoint_edits.items():
            url = edit.text().strip()
            problem = role.check_url(url) if url else None
            if problem is not None:
                return problem
        return None

    def accept(self) -> None:
        """Accept only a valid form; the credentials are taken from the fields."""
        problem = self.validate()
        if problem is not None:
            self.error_label.setText(problem)
            self.error_label.show()
            return
        key, secret = self.key_edit.text().strip(), self.secret_edit.text().strip()
        register_secret(key, secret)  # kept out of every log line from now on (app.logsafe)
        self._credentials = (key, secret) if key and secret else None
        self.key_edit.clear()
        self.secret_edit.clear()
        super().accept()

    def result_spec(self) -> AccountSpec:
        """The account as entered (call after ``accepted``)."""
        name = self.name_edit.text().strip()
        endpoints = {r.value: e.text().strip() for r, e in self.endpoint_edits.items() if e.text().strip()}
        spot = self.venue is VenueKind.SPOT
        if self._spec is not None:
            return replace(
                self._spec,
                name=name,
                endpoints=endpoints,
                stream_transport=self.stream_transport if spot else self._spec.stream_transport,
                cancel_transport=self.cancel_transport if spot else self._spec.cancel_transport,
            )
        return AccountSpec(
            account_id=new_account_id(name, self._taken_ids),
            name=name,
            venue=self.venue,
            endpoints=endpoints,
            stream_transport=self.stream_transport if spot else Transport.WS_V2,
            cancel_transport=self.cancel_transport if spot else Transport.WS_V2,
        )

    def take_credentials(self) -> tuple[str, str] | None:
        """The entered (key, secret), once; None when the stored key is kept."""
        creds, self._credentials = self._credentials, None
        return creds


class AccountsDialog(QDialog):
    """Lists, adds, edits and removes accounts, through the composition root's ``AccountsStore``.

    Signals:
        busy_changed(bool): a save, check or removal is running.

    Rules kept: keychain failures are shown as they are, with what to do, and nothing is saved
    elsewhere; after a save the key is probed and what it can do is shown; blocking keychain
    calls run in a worker thread; every coroutine runs through the bridge (kept, reported).
    """

    busy_changed = Signal(bool)

    def __init__(self, store: AccountsStore, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accounts_dialog")
        self.setWindowTitle("Accounts")
        self._store = store
        self._bridge = bridge
        self._editor: AccountEditDialog | None = None
        self._confirm: QMessageBox | None = None
        self._specs: list[AccountSpec] = []
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.list = QListWidget()
        self.list.setObjectName("accounts_list")
        row.addWidget(self.list, 1)
        side = QVBoxLayout()
        self.add_button = QPushButton("Add…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        for b in (self.add_button, self.edit_button, self.remove_button):
            b.setAutoDefault(False)
            side.addWidget(b)
        side.addStretch(1)
        row.addLayout(side)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.add_button.clicked.connect(self.add_account)
        self.edit_button.clicked.connect(self.edit_account)
        self.remove_button.clicked.connect(self.remove_account)
        self.list.itemDoubleClicked.connect(lambda _item: self.edit_account())
        self.list.currentRowChanged.connect(self._selection_changed)
        self.resize(620, 380)
        self.reload()
        self.keychain_problem: str | None = None
        if not self._specs:
            # A first account is the only thing to do here: Enter/Space adds it.
            self.add_button.setFocus()
            self.add_button.setDefault(True)
            self.status.setText("No accounts yet. Add… asks for a name, the venue, the API key and secret.")
        # Before the trader types a key: is there a keychain to put it in?
        self.keychain_checked = self._bridge.run(
            self.check_keychain(), "keychain-check", what="checking the keychain"
        )

    async def check_keychain(self) -> str | None:
        """Ask the store whether keys can be saved; if not, say why and disable Add.

        Returns:
            The problem, or None when the keychain is usable.
        """
        problem = await asyncio.to_thread(self._store.keychain_problem)
        self.keychain_problem = problem
        try:
            self.add_button.setEnabled(problem is None)
            if problem is not None:
                self.add_button.setToolTip("No usable keychain: API keys cannot be stored.")
                self._show(f"Keys cannot be saved: {problem}", error=True)
        except RuntimeError:  # the dialog was closed (and deleted) while the keychain answered
            pass
        return problem

    def reload(self) -> None:
        """Re-read the accounts from the store."""
        self._specs = list(self._store.list())
        current = self.current_spec()
        self.list.clear()
        for spec in self._specs:
            item = QListWidgetItem(f"{spec.name}  —  {descriptor(spec.venue).label}  ({spec.account_id})")
            item.setData(Qt.ItemDataRole.UserRole, spec.account_id)
            self.list.addItem(item)
            if current is not None and spec.account_id == current.account_id:
                self.list.setCurrentItem(item)
        self._selection_changed()

    def current_spec(self) -> AccountSpec | None:
        """The selected account."""
        item = self.list.currentItem() if hasattr(self, "list") else None
        if item is None:
            return None
        aid = item.data(Qt.ItemDataRole.UserRole)
        return next((s for s in self._specs if s.account_id == aid), None)

    def _selection_changed(self, *_args: object) -> None:
        has = self.current_spec() is not None
        self.edit_button.setEnabled(has)
        self.remove_button.setEnabled(has)

    def _show(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #c0392b;" if error else "")
        self.status.setText(text)

    # --- add / edit ----------------------------------------------------------------------------

    def add_account(self) -> None:
        """Open the editor for a new account."""
        self._open_editor(None)

    def edit_account(self) -> None:
        """Open the editor for the selected account."""
        spec = self.current_spec()
        if spec is not None:
            self._open_editor(spec)

    def _open_editor(self, spec: AccountSpec | None) -> None:
        editor = AccountEditDialog(
            spec=spec,
            taken_names={s.name for s in self._specs},
            taken_ids={s.account_id for s in self._specs},
            parent=self,
        )
        self._editor = editor
        editor.accepted.connect(lambda: self._editor_accepted(editor))
        editor.finished.connect(editor.deleteLater)
        editor.open()

    def _editor_accepted(self, editor: AccountEditDialog) -> None:
        spec = editor.result_spec()
        creds = editor.take_credentials()
        self._bridge.run(self.save_and_check(spec, creds), "account-save", what=f"saving {spec.name}")

    async def save_and_check(self, spec: AccountSpec, creds: tuple[str, str] | None) -> KeyCheck | None:
        """Save (keychain first), reconnect on the desk, then probe the key and show what it can do.

        Returns:
            The key check, or None when nothing was saved or the key was not re-entered.
        """
        self.busy_changed.emit(True)
        try:
            self._show(f"Saving {spec.name}…")
            key, secret = creds if creds else (None, None)
            try:
                # A closure, not to_thread(save, spec, key, secret): qasync's executor logs the
                # arguments it is given at DEBUG level, and the secret must never reach a log.
                await asyncio.to_thread(lambda: self._store.save(spec, key, secret))
            except KeychainError as e:
                self._show(f"Not saved: {e}", error=True)
                return None
            self.reload()
            try:
                await self._store.connect(spec)
            except (KeychainError, ValueError) as e:
                self._show(f"Saved, but not connected: {e}", error=True)
                return None
            if creds is None:
                self._show(f"Saved {spec.name}.")
                return None
            self._show(f"Saved {spec.name}. Checking what the key can do…")
            check = await self._store.check(spec, creds[0], creds[1])
            text = f"Saved {spec.name}.\n{describe_key_check(check, spec.venue)}"
            self._show(text, error=check.can_cancel is False)
            return check
        finally:
            self.busy_changed.emit(False)

    # --- remove ----------------------------------------------------------------------------------

    def remove_account(self) -> None:
        """Ask, then remove the selected account (config, keychain entry, desk connection)."""
        spec = self.current_spec()
        if spec is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Remove account",
            f"Remove {spec.name}? Its key is deleted from the keychain and its orders leave the table "
            "(they stay open on Kraken).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self._confirm = box

        def answered(_result: int) -> None:
            if box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes:
                self._bridge.run(self.remove(spec), "account-remove", what=f"removing {spec.name}")

        box.finished.connect(answered)
        box.finished.connect(box.deleteLater)
        box.open()

    async def remove(self, spec: AccountSpec) -> bool:
        """Remove ``spec`` from the store (keychain included) and from the desk.

        Returns:
            True when removed.
        """
        self.busy_changed.emit(True)
        try:
            try:
                await asyncio.to_thread(self._store.remove, spec.account_id)
            except KeychainError as e:
                self._show(f"Not removed: {e}", error=True)
                return False
            if spec.account_id in self._bridge.desk.venues:
                await self._bridge.desk.remove_account(spec.account_id)
            self.reload()
            self._show(f"Removed {spec.name}.")
            return True
        finally:
            self.busy_changed.emit(False)
