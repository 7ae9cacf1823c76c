"""A table view whose first columns stay on screen when it scrolls sideways.

Qt's "Frozen Column" example: a second view over the same model and selection model draws the
frozen columns on top of the table's left edge; the table scrolls underneath. Focus, keyboard,
selection and the header's column chooser all stay with the one real table.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractItemModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
)
from PySide6.QtGui import QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)


class _EdgeDelegate(QStyledItemDelegate):
    """Paints the one column that slides under the pinned part: only what shows right of the
    pinned edge, cut on the left with "…". Its tail alone would read as another number
    (``2.34448936`` showing as ``4448936``)."""

    def __init__(self, table: FrozenColumnsTable) -> None:
        super().__init__(table)
        self._table = table

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        edge = self._table.frozen_width()
        rect = option.rect
        if not rect.left() < edge:
            super().paint(painter, option, index)
            return
        if rect.right() <= edge:
            return  # wholly under the pinned part
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        visible = opt.rect
        visible.setLeft(edge)
        opt.rect = visible
        opt.textElideMode = Qt.TextElideMode.ElideLeft
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)


class FrozenColumnsTable(QTableView):
    """A QTableView with ``frozen`` logical columns pinned at its left edge, in that order.

    Rules kept: the frozen columns are always shown, always first, and cannot be moved away;
    their widths, the sort indicator, the row height and the vertical scroll position are one
    for both views; a right-click on the frozen part is the table's own context menu.
    """

    def __init__(self, frozen: Sequence[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frozen_columns = tuple(frozen)
        self.frozen = QTableView(self)
        self.frozen.setObjectName("frozen_columns")
        self.frozen.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frozen.verticalHeader().hide()
        self.frozen.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setFrameShape(QFrame.Shape.NoFrame)
        self.frozen.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.frozen.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.frozen.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.frozen.setWordWrap(False)
        self.frozen.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.frozen.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.frozen.customContextMenuRequested.connect(self._frozen_menu)
        self.frozen.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        fh = self.frozen.horizontalHeader()
        fh.setHighlightSections(False)
        fh.setSectionsMovable(False)
        fh.setSortIndicatorShown(True)
        fh.setSectionsClickable(True)
        self.separator = QFrame(self)
        self.separator.setObjectName("frozen_separator")
        self.separator.setFrameShape(QFrame.Shape.VLine)
        self.separator.setFrameShadow(QFrame.Shadow.Sunken)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.viewport().stackUnder(self.frozen)
        header = self.horizontalHeader()
        header.sectionResized.connect(self._main_resized)
        header.sectionMoved.connect(self._keep_frozen_first)
        header.sortIndicatorChanged.connect(self._main_sorted)
        fh.sectionResized.connect(self._frozen_resized)
        fh.sectionClicked.connect(self._frozen_clicked)
        # Only the column at the pinned edge gets the (Python) edge delegate: a delegate per cell
        # would cost a Python call for every cell painted.
        self._edge = _EdgeDelegate(self)
        self._edge_column = -1
        self.horizontalScrollBar().valueChanged.connect(self._update_edge)
        header.sectionResized.connect(self._update_edge)
        header.sectionMoved.connect(self._update_edge)
        self.verticalScrollBar().valueChanged.connect(self.frozen.verticalScrollBar().setValue)
        self.frozen.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self._syncing = False

    # --- model -----------------------------------------------------------------------------------

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        self.frozen.setModel(model)
        self.frozen.setSelectionModel(self.selectionModel())
        self.refresh_frozen()

    def setSelectionModel(self, selection: QItemSelectionModel) -> None:
        super().setSelectionModel(selection)
        if self.frozen.model() is selection.model():  # not yet while setModel is under way
            self.frozen.setSelectionModel(selection)

    def refresh_frozen(self) -> None:
        """Show only the pinned columns in the pinned view, in front, as wide as the table's."""
        model = self.model()
        if model is None:
            return
        fh = self.frozen.horizontalHeader()
        for col in range(model.columnCount()):
            self.frozen.setColumnHidden(col, col not in self.frozen_columns)
        for pos, col in enumerate(self.frozen_columns):
            if fh.visualIndex(col) != pos:
                fh.moveSection(fh.visualIndex(col), pos)
        self._keep_frozen_first()
        for col in self.frozen_columns:
            self.frozen.setColumnWidth(col, self.columnWidth(col))
        self.update_frozen_geometry()

    def setColumnHidden(self, column: int, hide: bool) -> None:
        """Hide or show a column; a pinned column always shows."""
        super().setColumnHidden(column, hide and column not in self.frozen_columns)

    # --- keeping the two views one ---------------------------------------------------------------

    def frozen_width(self) -> int:
        """How wide the pinned part is."""
        return sum(self.columnWidth(c) for c in self.frozen_columns if not self.isColumnHidden(c))

    def update_frozen_geometry(self) -> None:
        """Lay the pinned view over the table's left edge (after resizes)."""
        x = self.verticalHeader().width() + self.frameWidth()
        y = self.frameWidth()
        w = self.frozen_width()
        h = self.viewport().height() + self.horizontalHeader().height()
        self.frozen.setGeometry(x, y, w, h)
        self.separator.setGeometry(x + w - 1, y, 2, h)

    def _update_edge(self, *_args: object) -> None:
        column = self.horizontalHeader().logicalIndexAt(self.frozen_width())
        if self.horizontalScrollBar().value() == 0 or column in self.frozen_columns:
            column = -1
        if column == self._edge_column:
            return
        if self._edge_column >= 0:
            self.setItemDelegateForColumn(self._edge_column, None)  # type: ignore[arg-type]
        if column >= 0:
            self.setItemDelegateForColumn(column, self._edge)
        self._edge_column = column

    def set_row_height(self, height: int) -> None:
        """The height of every row, in both views."""
        self.verticalHeader().setDefaultSectionSize(height)
        self.frozen.verticalHeader().setDefaultSectionSize(height)

    def _main_resized(self, logical: int, _old: int, new: int) -> None:
        if logical in self.frozen_columns and not self._syncing:
            self._syncing = True
            try:
                self.frozen.setColumnWidth(logical, new)
            finally:
                self._syncing = False
        self.update_frozen_geometry()

    def _frozen_resized(self, logical: int, _old: int, new: int) -> None:
        # The trader drags a border in the pinned header: the table's own section follows.
        if logical in self.frozen_columns and not self._syncing:
            self._syncing = True
            try:
                self.horizontalHeader().resizeSection(logical, new)
            finally:
                self._syncing = False
            self.update_frozen_geometry()

    def _keep_frozen_first(self, *_args: object) -> None:
        header = self.horizontalHeader()
        if self._syncing:
            return
        self._syncing = True
        try:
            for pos, col in enumerate(self.frozen_columns):
                if header.visualIndex(col) != pos:
                    header.moveSection(header.visualIndex(col), pos)
                if self.isColumnHidden(col):
                    self.setColumnHidden(col, False)
        finally:
            self._syncing = False

    def _main_sorted(self, section: int, order: Qt.SortOrder) -> None:
        fh = self.frozen.horizontalHeader()
        fh.blockSignals(True)
        try:
            fh.setSortIndicator(section, order)
        finally:
            fh.blockSignals(False)
        fh.viewport().update()

    def _frozen_clicked(self, section: int) -> None:
        # Clicking a pinned header sorts as the table's own header would (the table's header is
        # covered there): same section -> flip the order, another -> ascending.
        header = self.horizontalHeader()
        if header.sortIndicatorSection() == section:
            flipped = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
            order = Qt.SortOrder.DescendingOrder if flipped else Qt.SortOrder.AscendingOrder
        else:
            order = Qt.SortOrder.AscendingOrder
        header.setSortIndicator(section, order)  # the table sorts on the indicator's signal

    def _frozen_menu(self, pos: QPoint) -> None:
        mapped = self.viewport().mapFromGlobal(self.frozen.viewport().mapToGlobal(pos))
        self.customContextMenuRequested.emit(mapped)

    # --- scrolling past the pinned part ------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.update_frozen_geometry()

    def updateGeometries(self) -> None:
        super().updateGeometries()
        if hasattr(self, "frozen"):
            self.update_frozen_geometry()

    def moveCursor(
        self, cursorAction: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier
    ) -> QModelIndex:
        current = super().moveCursor(cursorAction, modifiers)
        width = self.frozen_width()
        if (
            cursorAction == QAbstractItemView.CursorAction.MoveLeft
            and current.isValid()
            and current.column() not in self.frozen_columns
            and self.visualRect(current).left() < width
        ):
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() + self.visualRect(current).left() - width)
        return current

    def scrollTo(
        self,
        index: QModelIndex | QPersistentModelIndex,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        # Scrolling sideways to a pinned column would hide the rest for nothing: only rows.
        target = index if isinstance(index, QModelIndex) else self.model().index(index.row(), index.column())
        if target.isValid() and target.column() in self.frozen_columns:
            first = self.horizontalHeader().logicalIndexAt(self.frozen_width() + 1)
            if first >= 0:
                target = target.siblingAtColumn(first)
        super().scrollTo(target, hint)
