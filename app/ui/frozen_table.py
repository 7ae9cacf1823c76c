"""A table view whose first columns stay on screen when it scrolls sideways.

A second view over the same model and selection model shows the pinned columns in a margin
left of the table's own viewport (``setViewportMargins``); the table shows every other column
and scrolls them alone. Nothing is painted twice and no column slides under another. Focus,
keyboard and the column chooser stay with the one real table.
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
from PySide6.QtGui import QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)


class _CutDelegate(QStyledItemDelegate):
    """Paints a column the table's edges cut: what shows, with "…" where it is cut. Cut by an
    edge alone, ``14,323.38 USD`` would read ``14,32`` (right edge) or ``323.38 USD`` (left)."""

    def __init__(self, table: QTableView) -> None:
        super().__init__(table)
        self._table = table

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        edge = self._table.viewport().width()
        rect = option.rect
        if rect.left() >= 0 and rect.right() < edge:
            super().paint(painter, option, index)
            return
        # Only the rectangle and the elide side change: the base paint fills in the rest in C++
        # (initStyleOption from Python cost a quarter of a millisecond a cell, on every repaint).
        opt = QStyleOptionViewItem(option)
        visible = opt.rect
        if visible.left() < 0:
            visible.setLeft(0)
            opt.textElideMode = Qt.TextElideMode.ElideLeft
        else:
            visible.setRight(edge - 1)
            opt.textElideMode = Qt.TextElideMode.ElideRight
        opt.rect = visible
        super().paint(painter, opt, index)


class FrozenColumnsTable(QTableView):
    """A QTableView with ``frozen`` logical columns pinned at its left edge, in that order.

    Rules kept: the pinned columns are always shown, in the pinned view only (hidden in the
    table itself), in their order; the sort indicator, the row height and the vertical scroll
    position are one for both views; a right-click on the pinned part is the table's own
    context menu; ``column_width`` / ``set_column_width`` reach a column wherever it shows.
    """

    def __init__(self, frozen: Sequence[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cut = _CutDelegate(self)
        self._cut_columns: set[int] = set()
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
        fh.setStretchLastSection(False)
        self.separator = QFrame(self)
        self.separator.setObjectName("frozen_separator")
        self.separator.setFrameShape(QFrame.Shape.VLine)
        self.separator.setFrameShadow(QFrame.Shadow.Plain)
        self.separator.setForegroundRole(QPalette.ColorRole.Mid)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # Sideways by whole columns (the left edge cuts none, but on the last page); a column
        # an edge cuts says so (``_CutDelegate``).
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        header = self.horizontalHeader()
        header.sortIndicatorChanged.connect(self._main_sorted)
        self.horizontalScrollBar().valueChanged.connect(self._update_cut)
        header.sectionResized.connect(self._update_cut)
        header.sectionMoved.connect(self._update_cut)
        fh.sectionResized.connect(self._frozen_resized)
        fh.sectionClicked.connect(self._frozen_clicked)
        self.verticalScrollBar().valueChanged.connect(self.frozen.verticalScrollBar().setValue)
        self.frozen.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)

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
        """The pinned columns in the pinned view only, in their order (after a restored layout)."""
        model = self.model()
        if model is None:
            return
        fh = self.frozen.horizontalHeader()
        for col in range(model.columnCount()):
            pinned = col in self.frozen_columns
            self.frozen.setColumnHidden(col, not pinned)
            super().setColumnHidden(col, pinned or self.isColumnHidden(col))
        for pos, col in enumerate(self.frozen_columns):
            if fh.visualIndex(col) != pos:
                fh.moveSection(fh.visualIndex(col), pos)
        self.updateGeometries()

    def setColumnHidden(self, column: int, hide: bool) -> None:
        """Hide or show a column; a pinned column always shows (in the pinned part)."""
        super().setColumnHidden(column, hide or column in self.frozen_columns)

    def column_shown(self, column: int) -> bool:
        """Whether ``column`` shows, in the table or in the pinned part."""
        return column in self.frozen_columns or not self.isColumnHidden(column)

    def column_width(self, column: int) -> int:
        """How wide ``column`` is, wherever it shows."""
        if column in self.frozen_columns:
            return self.frozen.columnWidth(column)
        return self.horizontalHeader().sectionSize(column)

    def set_column_width(self, column: int, width: int) -> None:
        """Make ``column`` ``width`` wide, wherever it shows."""
        if column in self.frozen_columns:
            self.frozen.setColumnWidth(column, width)
        else:
            self.horizontalHeader().resizeSection(column, width)

    # --- keeping the two views one ---------------------------------------------------------------

    def frozen_width(self) -> int:
        """How wide the pinned part is."""
        return sum(self.frozen.columnWidth(c) for c in self.frozen_columns)

    def updateGeometries(self) -> None:
        super().updateGeometries()
        if not hasattr(self, "frozen"):
            return
        # QTableView's own margins leave room for its headers; ours adds the pinned part.
        header = self.horizontalHeader()
        left = (
            self.verticalHeader().width() if self.verticalHeader().isVisible() else 0
        ) + self.frozen_width()
        top = header.height() if header.isVisible() else 0
        self.setViewportMargins(left, top, 0, 0)
        vg = self.viewport().geometry()
        header.setGeometry(vg.left(), vg.top() - top, vg.width(), top)
        self.frozen.horizontalHeader().setFixedHeight(top)
        x = vg.left() - self.frozen_width()
        self.frozen.setGeometry(x, vg.top() - top, self.frozen_width(), vg.height() + top)
        self.separator.setGeometry(vg.left() - 1, vg.top() - top, 2, vg.height() + top)
        self._update_cut()

    def _update_cut(self, *_args: object) -> None:
        header = self.horizontalHeader()
        width = self.viewport().width()
        cut: set[int] = set()
        left = header.logicalIndexAt(0)
        if left >= 0 and header.sectionViewportPosition(left) < 0:
            cut.add(left)  # the last page of a per-column scroll can start inside a column
        right = header.logicalIndexAt(width - 1)
        if right >= 0 and header.sectionViewportPosition(right) + header.sectionSize(right) > width:
            cut.add(right)
        if cut == self._cut_columns:
            return
        for column in self._cut_columns - cut:
            self.setItemDelegateForColumn(column, None)  # type: ignore[arg-type]
        for column in cut - self._cut_columns:
            self.setItemDelegateForColumn(column, self._cut)
        self._cut_columns = cut

    def update_frozen_geometry(self) -> None:
        """Lay the pinned part out again (after its widths changed)."""
        self.updateGeometries()

    def set_row_height(self, height: int) -> None:
        """The height of every row, in both views."""
        self.verticalHeader().setDefaultSectionSize(height)
        self.frozen.verticalHeader().setDefaultSectionSize(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.updateGeometries()

    def _frozen_resized(self, _logical: int, _old: int, _new: int) -> None:
        self.updateGeometries()

    def _main_sorted(self, section: int, order: Qt.SortOrder) -> None:
        fh = self.frozen.horizontalHeader()
        fh.blockSignals(True)
        try:
            fh.setSortIndicator(section, order)
        finally:
            fh.blockSignals(False)
        fh.viewport().update()

    def _frozen_clicked(self, section: int) -> None:
        # Clicking a pinned header sorts as the table's own header would: the same section
        # flips the order, another sorts ascending (the table sorts on its indicator's signal).
        header = self.horizontalHeader()
        if header.sortIndicatorSection() == section:
            flipped = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
            order = Qt.SortOrder.DescendingOrder if flipped else Qt.SortOrder.AscendingOrder
        else:
            order = Qt.SortOrder.AscendingOrder
        header.setSortIndicator(section, order)

    def _frozen_menu(self, pos: QPoint) -> None:
        # The row under the pointer, in the table's own coordinates (left of its viewport).
        mapped = self.viewport().mapFromGlobal(self.frozen.viewport().mapToGlobal(pos))
        self.customContextMenuRequested.emit(QPoint(0, mapped.y()))
