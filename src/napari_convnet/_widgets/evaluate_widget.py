"""The Evaluate dock: metrics and confusion matrix of the current model on a folder; open the
images of a matrix cell as a stack; move mislabelled files to the right class (undoable).

A review action acts on the image on screen, and says which before the click: the file name
is in the button, updated as the slider moves (``_on_screen.shown_plane`` reads the slider of
the review stack itself, whatever other layers and axes are open).
"""

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

from napari_convnet import help_text
from napari_convnet._layers import add_or_update, review_layer
from napari_convnet._widgets._on_screen import show_plane, shown_plane
from napari_convnet._widgets._sections import (
    ScrollingDock,
    explain,
    qt_section,
    when_removed,
)
from napari_convnet._widgets.confusion import ConfusionCanvas
from napari_convnet._widgets.plot_style import follow_theme
from napari_convnet._widgets.tasks import EngineTask, error_message
from napari_convnet.atomic import write_text
from napari_convnet.csvfile import write_csv
from napari_convnet.errors import ConvnetError
from napari_convnet.filenames import report_stem
from napari_convnet.reports import format_report

_SPLITS = ("auto (test split, else all)", "all", "test", "validation", "train")
_MOVE_TEXT = "Move the image on screen"
_EXPORT_TEXT = "Export report next to the model"


def _short(name, width=28):
    """``name`` cut in the middle to ``width`` characters (a button must not widen the dock)."""
    return name if len(name) <= width else f"{name[: width // 2 - 1]}…{name[-(width // 2):]}"


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
        self.matrix = follow_theme(ConfusionCanvas(), napari_viewer)
        self.cell = Label(value="")
        # choices from a callable: napari calls reset_choices() on every layer change, which
        # would wipe choices set as a plain list
        self.new_class = ComboBox(choices=self._class_choices, label="Right class")
        self.copy = CheckBox(value=False, text="copy instead of move")
        self.on_screen = Label(value="")
        self.move_button = PushButton(text=_MOVE_TEXT)
        self.undo_button = PushButton(text="Undo last move")
        self.export_button = PushButton(text=_EXPORT_TEXT)
        self.export_to = Label(value="")
        explain(self, help_text.EVALUATE)
        self.body.extend([self.folder, self.split, self.evaluate_button, self.metrics,
                     self.normalised, qt_section(self.matrix), self.cell, self.new_class, self.copy,
                     self.on_screen,
                     Container(widgets=[self.move_button, self.undo_button],
                               layout="horizontal", labels=False),
                     self.export_button, self.export_to])
        for label in (self.cell, self.on_screen, self.export_to):
            label.native.setWordWrap(True)
        self.task = None
        self.cell_layer = None
        self.evaluate_button.changed.connect(self.evaluate)
        self.normalised.changed.connect(self._renormalise)
        self.matrix.cell_clicked.connect(self.open_cell)
        self.move_button.changed.connect(self.move_current)
        self.undo_button.changed.connect(self.undo)
        self.export_button.changed.connect(self.export_report)
        self.new_class.changed.connect(self._show_target)
        self.copy.changed.connect(self._show_target)
        self._viewer_events = []
        if self.viewer is not None:
            dims, layers = self.viewer.dims.events, self.viewer.layers.events
            self._viewer_events = [dims.point, dims.ndisplay, dims.order, layers.inserted,
                                   layers.removed, layers.moved, layers.reordered,
                                   self.viewer.grid.events.enabled]
            for emitter in self._viewer_events:
                emitter.connect(self._show_target)
            when_removed(self.native, self.disconnect_viewer)
        self._show_target()
        self._show_export_target()

    def disconnect_viewer(self):
        """Stop following the viewer's slider and layers (the dock was closed)."""
        for emitter in self._viewer_events:
            emitter.disconnect(self._show_target)
        self._viewer_events = []
        self._watch(None)

    def _watch(self, layer):
        """Follow the visibility of the review stack ``layer`` (None: of none)."""
        if self.cell_layer is not None:
            self.cell_layer.events.visible.disconnect(self._show_target)
        self.cell_layer = layer
        if layer is not None:
            layer.events.visible.connect(self._show_target)

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

    def _show_report(self, report, stopped):
        self.report = report
        self.metrics.value = format_report(report, matrix=False)
        self.matrix.show_matrix(report["confusion_matrix"], report["class_names"],
                                self.normalised.value)
        self.new_class.reset_choices()
        self.cell.value = "Click a cell of the matrix to open its images."
        self._show_target()
        self._show_export_target()

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
            layer = add_or_update(self.viewer, review_layer(result, names, title))
            # on top and visible: opening a cell shows it, even over the Inspect dock's layers
            self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))
            layer.visible = True
            self._watch(layer)
            show_plane(self.viewer, layer, 0)
        self.cell.value = f"{len(result['items'])} image(s) {title}, most confident first."
        self._show_target()

    def review_target(self):
        """The review item of the image on screen, or ``(None, reason)``.

        Returns
        -------
        tuple
            ``(item, index, None)`` with the item dict (``path``, ``true``, ``predicted``,
            ``confidence``) of plane ``index`` of the review stack, or ``(None, None,
            reason)``: a sentence saying why no review image is on screen.
        """
        if self.viewer is None:
            return None, None, "This dock has no viewer."
        index, reason = shown_plane(self.viewer, self.cell_layer)
        if reason is not None:
            return None, None, reason
        items = self.cell_layer.metadata.get("items", [])
        if index >= len(items):
            return None, None, "The review stack has no file for this image: open the cell again."
        return items[index], index, None

    def current_item(self):
        """The review item of the image on screen, or None (:meth:`review_target` says why)."""
        return self.review_target()[0]

    def _show_target(self, event=None):
        """Name the file the review buttons act on (or why none) in the button and its label."""
        item, index, reason = self.review_target()
        verb = "Copy" if self.copy.value else "Move"
        if item is None:
            self.move_button.text = _MOVE_TEXT if verb == "Move" else "Copy the image on screen"
            self.on_screen.value = reason if self.report is not None else ""
            return
        name = os.path.basename(item["path"])
        names = self.report["class_names"] if self.report else []
        true, predicted = (names[i] if 0 <= i < len(names) else str(i)
                           for i in (item["true"], item["predicted"]))
        self.move_button.text = f"{verb} {_short(name)} to {self.new_class.value}"
        gone = "" if os.path.exists(item["path"]) else " It is no longer there (moved?)."
        self.on_screen.value = (
            f"On screen: image {index + 1} of {len(self.cell_layer.metadata['items'])}, "
            f"{item['path']} (labelled {true}, predicted {predicted}, "
            f"{100 * item['confidence']:.0f} %).{gone}")

    def move_current(self):
        """Move (or copy) the image on screen to the chosen class folder."""
        item, _, reason = self.review_target()
        if item is None:
            show_error(f"Nothing was moved. {reason}")
            return
        self.task = EngineTask(
            "relabel", {"path": item["path"], "root": self.root,
                        "new_class": self.new_class.value, "copy": bool(self.copy.value)},
            "Moving file", owner=self, on_error=self._failed, on_result=self._moved)

    def _moved(self, entry, stopped):
        text = (f"{'Copied' if entry['action'] == 'copy' else 'Moved'} "
                f"{os.path.basename(entry['source'])}: {entry['from_class']} → "
                f"{entry['to_class']} ({entry['target']}). Retrain with 'Continue training' "
                "in the Train dock.")
        self.cell.value = text
        show_info(text)
        self._show_target()

    def undo(self):
        """Undo the last logged move or copy in the data folder."""
        self.task = EngineTask("undo_relabel", {"root": self.root}, "Undoing", owner=self,
                               on_error=self._failed, on_result=self._undone)

    def _undone(self, entry, stopped):
        self.cell.value = ("Nothing to undo." if entry is None else
                           f"Undone: {os.path.basename(entry['source'])} is back in "
                           f"{entry['from_class']}.")
        self._show_target()

    def export_stem(self):
        """``(stem, None)``: the report files are ``stem`` + .json/.csv/.png; or ``(None, why)``.

        The stem is ``NAME.evaluation`` beside the evaluated bundle ``NAME.keras`` (numbered
        when a report of that model is already there: an earlier report is kept).
        """
        if self.report is None:
            return None, "Evaluate a model first."
        model = self.report.get("model")
        if not model:
            return None, ("The evaluated model was never saved, so there is nothing to put the "
                          "report next to: save it in the Train dock, then evaluate again.")
        return report_stem(model), None

    def _show_export_target(self):
        stem, reason = self.export_stem()
        if stem is None:
            self.export_to.value = reason if self.report is not None else ""
            return
        folder, name = os.path.split(stem)
        self.export_to.value = (f"Writes {name}.json, .csv and .png in {folder}, next to "
                                f"{os.path.basename(self.report['model'])}.")

    def export_report(self):
        """Write the report as JSON, per-class CSV and the matrix PNG next to the model.

        Returns
        -------
        str or None
            The stem of the files written (see :meth:`export_stem`), or None.
        """
        stem, reason = self.export_stem()
        if stem is None:
            show_error(f"No report was written. {reason}")
            return None
        folder = os.path.dirname(stem)
        try:
            write_text(stem + ".json", json.dumps(self.report, indent=1), "the report")
            write_csv(stem + ".csv", [["class", "precision", "recall", "f1", "support"], *(
                [name, r["precision"], r["recall"], r["f1"], r["support"]]
                for name, r in self.report["per_class"].items())], "the report")
            self.matrix.export_png(stem + ".png")
        except ConvnetError as exc:
            show_error(f"Could not write the report to {folder}: {exc}")
            return None
        show_info(f"Wrote {stem}.json, .csv and .png")
        self._show_export_target()
        return stem
