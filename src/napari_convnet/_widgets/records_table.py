"""A sortable, read-only table of dict rows with CSV export; emits the clicked row's record."""

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from napari_convnet.csvfile import write_csv


class RecordsTable(QTableWidget):
    """One row per record; ``row_for(record)`` gives the cell texts (dict keyed by columns).

    Signals
    -------
    selection(list)
        The selected records, whenever the selection changes.
    record_clicked(object)
        The record of a clicked row.
    """

    selection = Signal(list)
    record_clicked = Signal(object)

    def __init__(self, columns, row_for=None):
        super().__init__(0, len(columns))
        self.columns = tuple(columns)
        self.row_for = row_for or (lambda record: record)
        self.setHorizontalHeaderLabels(self.columns)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSortingEnabled(True)
        self.setMinimumHeight(140)
        self.records = []
        self.itemSelectionChanged.connect(lambda: self.selection.emit(self.selected_records()))
        self.cellClicked.connect(self._clicked)

    def set_records(self, records):
        """Show ``records``, one row each (sorting is kept working on the new rows)."""
        self.records = list(records)
        self.setSortingEnabled(False)
        self.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            values = self.row_for(record)
            for col, key in enumerate(self.columns):
                value = values.get(key, "")
                item = QTableWidgetItem()
                # numbers sort as numbers
                item.setData(Qt.ItemDataRole.DisplayRole,
                             value if isinstance(value, int | float) else str(value))
                item.setData(Qt.ItemDataRole.UserRole, row)
                self.setItem(row, col, item)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()

    def record_at(self, row):
        """Record shown in table row ``row`` (after sorting)."""
        return self.records[self.item(row, 0).data(Qt.ItemDataRole.UserRole)]

    def selected_records(self):
        """Records of the selected rows, in their original order."""
        rows = {self.item(i.row(), 0).data(Qt.ItemDataRole.UserRole)
                for i in self.selectionModel().selectedRows()}
        return [self.records[r] for r in sorted(rows)]

    def _clicked(self, row, column):
        self.record_clicked.emit(self.record_at(row))

    def export_csv(self, path, extra=None):
        """Write every record as a CSV row: the columns, plus ``extra`` {name: fn(record)}.

        Cells follow :mod:`napari_convnet.csvfile` (names byte for byte, no formulas); the file
        is replaced atomically. Raises ``ConvnetError`` with the reason when it cannot be.
        """
        extra = extra or {}
        rows = ([self.row_for(record).get(k, "") for k in self.columns]
                + [fn(record) for fn in extra.values()] for record in self.records)
        write_csv(path, [[*self.columns, *extra], *rows])
