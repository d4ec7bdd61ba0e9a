"""The table of runs: the course's comparison table, built from run records.

"Baseline 75.5 %, + Dropout 77.7 %, …": one row per run (this session's and those found next
to the data), sortable; selecting rows overlays their curves; exportable as CSV.
"""

import csv
import os

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

COLUMNS = ("run", "preset", "options", "epochs", "best val accuracy", "seconds", "device",
           "started")


def options_text(preset_options):
    """Short text of the options that are switched on, e.g. ``"dropout, augment, l2=0.0001"``."""
    parts = []
    for key, value in (preset_options or {}).items():
        if value is True:
            parts.append(key)
        elif value not in (False, None, 0, 0.0, "", "imagenet"):
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "baseline"


def run_row(record):
    """One table row (dict keyed by COLUMNS) from a run record."""
    result = record.get("result") or {}
    metrics = record.get("metrics") or {}
    best = metrics.get("best_val_accuracy", result.get("best_val_accuracy"))
    model = record.get("model") or ""
    history = result.get("history") or {}
    return {
        "run": os.path.basename(model)[: -len(".keras")] if model.endswith(".keras") else model,
        "preset": record.get("preset") or "",
        "options": options_text(record.get("preset_options")),
        "epochs": result.get("initial_epoch", 0) + len(history.get("loss", [])),
        "best val accuracy": "" if best is None else f"{100 * best:.1f} %",
        "seconds": f"{result.get('seconds', 0):.1f}",
        "device": record.get("device") or "",
        "started": (record.get("started") or "")[:19].replace("T", " "),
    }


class RunsTable(QTableWidget):
    """Sortable table of run records; emits ``selection`` with the selected records."""

    selection = Signal(list)

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSortingEnabled(True)
        self.setMinimumHeight(140)
        self.records = []
        self.itemSelectionChanged.connect(self._emit_selection)

    def set_records(self, records):
        """Show ``records`` (run record dicts), one row each."""
        self.records = list(records)
        self.setSortingEnabled(False)
        self.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            values = run_row(record)
            for col, key in enumerate(COLUMNS):
                item = QTableWidgetItem(str(values[key]))
                item.setData(Qt.ItemDataRole.UserRole, row)
                self.setItem(row, col, item)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()

    def selected_records(self):
        """Records of the selected rows."""
        rows = {self.item(i.row(), 0).data(Qt.ItemDataRole.UserRole)
                for i in self.selectionModel().selectedRows()}
        return [self.records[r] for r in sorted(rows)]

    def _emit_selection(self):
        self.selection.emit(self.selected_records())

    def export_csv(self, path):
        """Write every run as a CSV row (the columns shown, plus the bundle path)."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([*COLUMNS, "model"])
            for record in self.records:
                values = run_row(record)
                writer.writerow([values[k] for k in COLUMNS] + [record.get("model") or ""])
