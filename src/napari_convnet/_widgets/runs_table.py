"""The table of runs: the course's comparison table, built from run records.

"Baseline 75.5 %, + Dropout 77.7 %, …": one row per run (this session's and those found next
to the data), sortable; selecting rows overlays their curves; exportable as CSV.
"""

import os

from napari_convnet._widgets.records_table import RecordsTable

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


class RunsTable(RecordsTable):
    """Sortable table of run records; ``selection`` emits the selected records."""

    def __init__(self):
        super().__init__(COLUMNS, run_row)

    def export_csv(self, path):
        """Write every run as a CSV row (the columns shown, plus the bundle path)."""
        super().export_csv(path, {"model": lambda record: record.get("model") or ""})
