"""The Evaluate dock: metrics and confusion matrix of the current model on a folder; open the
images of a matrix cell as a stack; move mislabelled files to the right class (undoable)."""

import csv
import json
import os

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    PushButton,
    TextEdit,
)
from napari.utils.notifications import show_error, show_info

from napari_convnet._layers import add_or_update, review_layer
from napari_convnet._widgets._jobs import EngineTask, error_message
from napari_convnet._widgets._sections import ScrollingDock, qt_section
from napari_convnet._widgets.confusion import ConfusionCanvas

_SPLITS = ("auto (test split, else all)", "all", "test", "validation", "train")


def format_metrics(report):
    """Per-class precision/recall/F1/support as aligned text."""
    names = report["class_names"]
    width = max(8, *(len(n) for n in names))
    lines = [f"accuracy {100 * report['accuracy']:.1f} % on {report['n_samples']} images "
             f"({report['split']})", "",
             f"{'class':<{width}}  precision  recall   f1     support"]
    for name in names:
        r = report["per_class"][name]
        lines.append(f"{name:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  "
                     f"{r['f1']:5.3f}  {r['support']:7d}")
    return "\n".join(lines)


class EvaluateWidget(ScrollingDock):
    """Evaluate the current model; review and fix the misclassified images."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.report = None
        self.folder = FileEdit(mode="d", label="Data folder")
        self.split = ComboBox(value=_SPLITS[0], choices=_SPLITS, label="Images")
        self.evaluate_button = PushButton(text="Evaluate current model")
        self.metrics = TextEdit(value="", label="Metrics")
        self.metrics.read_only = True
        self.normalised = CheckBox(value=False, text="row-normalised matrix")
        self.matrix = ConfusionCanvas()
        self.cell = Label(value="")
        # choices from a callable: napari calls reset_choices() on every layer change, which
        # would wipe choices set as a plain list
        self.new_class = ComboBox(choices=self._class_choices, label="Right class")
        self.copy = CheckBox(value=False, text="copy instead of move")
        self.move_button = PushButton(text="Move the current image there")
        self.undo_button = PushButton(text="Undo last move")
        self.export_button = PushButton(text="Export report next to the model")
        self.extend([self.folder, self.split, self.evaluate_button, self.metrics,
                     self.normalised, qt_section(self.matrix), self.cell, self.new_class, self.copy,
                     Container(widgets=[self.move_button, self.undo_button],
                               layout="horizontal", labels=False),
                     self.export_button])
        self.cell.native.setWordWrap(True)
        self.task = None
        self.cell_layer = None
        self.model_path = None
        self.evaluate_button.changed.connect(self.evaluate)
        self.normalised.changed.connect(self._renormalise)
        self.matrix.cell_clicked.connect(self.open_cell)
        self.move_button.changed.connect(self.move_current)
        self.undo_button.changed.connect(self.undo)
        self.export_button.changed.connect(self.export_report)

    @property
    def root(self):
        """The chosen data folder as a string."""
        return str(self.folder.value)

    def _class_choices(self, widget=None):
        return list(self.report["class_names"]) if self.report else []

    def _failed(self, exc):
        message = error_message(exc)
        self.cell.value = message.splitlines()[0]
        show_error(message)

    def evaluate(self):
        """Evaluate the engine's current model on the folder."""
        split = None if self.split.value == _SPLITS[0] else self.split.value
        self.evaluate_button.enabled = False
        self.task = EngineTask("evaluate", {"root": self.root, "split": split}, "Evaluating",
                               on_result=self._show_report, on_error=self._failed,
                               on_finished=lambda: setattr(self.evaluate_button, "enabled",
                                                           True), owner=self)
        EngineTask("current_model", {}, "Model", owner=self,
                   on_result=lambda d, s: setattr(self, "model_path", (d or {}).get("path")))

    def _show_report(self, report, stopped):
        self.report = report
        self.metrics.value = format_metrics(report)
        self.matrix.show_matrix(report["confusion_matrix"], report["class_names"],
                                self.normalised.value)
        self.new_class.reset_choices()
        self.cell.value = "Click a cell of the matrix to open its images."

    def _renormalise(self):
        if self.report is not None:
            self.matrix.show_matrix(self.report["confusion_matrix"], self.report["class_names"],
                                    self.normalised.value)

    def open_cell(self, true_class, predicted_class):
        """Open the images of one matrix cell as a stack layer, most confident first."""
        if self.report is None:
            return
        self.task = EngineTask(
            "cell_images", {"true_class": true_class, "predicted_class": predicted_class},
            "Reading images", owner=self, on_error=self._failed,
            on_result=lambda r, s: self._add_cell(r, true_class, predicted_class))

    def _add_cell(self, result, true_class, predicted_class):
        names = self.report["class_names"]
        title = f"{names[true_class]} → {names[predicted_class]}"
        if not result["items"]:
            self.cell.value = f"No image is {title}."
            return
        if self.viewer is not None:
            self.cell_layer = add_or_update(self.viewer, review_layer(result, names, title))
            self.viewer.dims.set_current_step(0, 0)
        self.cell.value = f"{len(result['items'])} image(s) {title}, most confident first."

    def current_item(self):
        """The review item shown at the viewer's current slice, or None."""
        layer = self.cell_layer
        if layer is None or self.viewer is None or layer not in self.viewer.layers:
            return None
        items = layer.metadata.get("items", [])
        index = self.viewer.dims.current_step[0]
        return items[index] if 0 <= index < len(items) else None

    def move_current(self):
        """Move (or copy) the image at the current slice to the chosen class folder."""
        item = self.current_item()
        if item is None:
            show_error("Open a cell of the matrix first, then choose the image with the slider.")
            return
        self.task = EngineTask(
            "relabel", {"path": item["path"], "root": self.root,
                        "new_class": self.new_class.value, "copy": bool(self.copy.value)},
            "Moving file", owner=self, on_error=self._failed, on_result=self._moved)

    def _moved(self, entry, stopped):
        text = (f"{'Copied' if entry['action'] == 'copy' else 'Moved'} "
                f"{os.path.basename(entry['source'])}: {entry['from_class']} → "
                f"{entry['to_class']}. Retrain with 'Continue training' in the Train dock.")
        self.cell.value = text
        show_info(text)

    def undo(self):
        """Undo the last logged move or copy in the data folder."""
        self.task = EngineTask("undo_relabel", {"root": self.root}, "Undoing", owner=self,
                               on_error=self._failed, on_result=self._undone)

    def _undone(self, entry, stopped):
        self.cell.value = ("Nothing to undo." if entry is None else
                           f"Undone: {os.path.basename(entry['source'])} is back in "
                           f"{entry['from_class']}.")

    def export_report(self, folder=None):
        """Write the report as JSON, per-class CSV and the matrix PNG next to the model."""
        if self.report is None:
            show_error("Evaluate first.")
            return None
        folder = folder or (os.path.dirname(self.model_path) if self.model_path else self.root)
        stem = os.path.join(folder, "evaluation")
        try:
            with open(stem + ".json", "w", encoding="utf-8") as fh:
                json.dump(self.report, fh, indent=1)
            with open(stem + ".csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(["class", "precision", "recall", "f1", "support"])
                for name, r in self.report["per_class"].items():
                    writer.writerow([name, r["precision"], r["recall"], r["f1"], r["support"]])
            self.matrix.export_png(stem + ".png")
        except OSError as exc:
            show_error(f"Could not write the report to {folder}: {exc}")
            return None
        show_info(f"Wrote {stem}.json, .csv and .png")
        return stem
