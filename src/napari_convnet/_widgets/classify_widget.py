"""The Classify dock: apply the current model to what is open in napari.

Modes: the selected image (its current slice), every slice of a stack, a tiled class map of a
large image, the objects of a Labels layer, or a folder of files. Results go to a sortable
table (click a row to jump to the slice or object; export as CSV) and to layers.
"""

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)
from napari.layers import Labels
from napari.utils.notifications import show_error, show_info

from napari_convnet import help_text, options
from napari_convnet._layers import (
    add_or_update,
    class_map_layers,
    object_class_layer,
    object_features,
)
from napari_convnet._widgets import tasks
from napari_convnet._widgets._on_screen import plane_at_sliders, show_plane, slider_index
from napari_convnet._widgets._pickers import follow_selection, input_images, input_layers
from napari_convnet._widgets._sections import ScrollingDock, explain, qt_section
from napari_convnet._widgets.plot_style import follow_theme
from napari_convnet._widgets.records_table import RecordsTable
from napari_convnet._widgets.stack_plot import StackPlot
from napari_convnet._widgets.tasks import EngineTask, error_message
from napari_convnet.errors import ConvnetError

MODES = ("image", "stack", "tiled class map", "objects", "folder")
COLUMNS = ("item", "class", "probability")


class ClassifyWidget(ScrollingDock):
    """Classify images, stacks, tiles or objects with the engine's current model."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.mode = ComboBox(value="image", choices=MODES, label="Mode")
        self.image_layer = ComboBox(choices=lambda w: input_images(self.viewer),
                                    label="Image layer",
                                    tooltip="The image to classify: follows the layer selected "
                                            "in the layer list; the plugin's results are not "
                                            "offered")
        self.labels_layer = ComboBox(choices=lambda w: self._labels_layers(), label="Labels layer",
                                     tooltip="Segmented objects (objects mode): a Labels layer "
                                             "of the image's height and width")
        self.folder = FileEdit(mode="d", label="Folder")
        self.stride = SpinBox(value=0, min=0, max=options.STRIDE[1],
                              label="Stride (0 = half a tile)")
        self.min_confidence = FloatSpinBox(value=0.0, min=options.MIN_CONFIDENCE[0],
                                           max=options.MIN_CONFIDENCE[1], step=0.05,
                                           label="Min. confidence")
        self.run_button = PushButton(text="Classify")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.status = Label(value="Uses the current model (train or load one in the Train dock).")
        self.status.native.setWordWrap(True)
        self.current_slice = Label(value="")
        self.table = RecordsTable(COLUMNS)
        self.plot = follow_theme(StackPlot(), napari_viewer)
        self.export_button = PushButton(text="Export table as CSV…")
        self.body.extend([self.mode, self.image_layer, self.labels_layer, self.folder, self.stride,
                     self.min_confidence,
                     Container(widgets=[self.run_button, self.stop_button],
                               layout="horizontal", labels=False),
                     self.status, self.current_slice, qt_section(self.table),
                     qt_section(self.plot), self.export_button])
        self.task = None
        self.result = None
        self.result_mode = None
        self.source = None
        self.result_source = None  # the layer the table's rows are about
        explain(self, help_text.CLASSIFY)
        self.mode.changed.connect(self._mode_changed)
        self.image_layer.changed.connect(lambda *_: self.labels_layer.reset_choices())
        self.run_button.changed.connect(self.run)
        self.stop_button.changed.connect(self.stop)
        self.export_button.changed.connect(self._export)
        self.table.record_clicked.connect(self.jump_to)
        if napari_viewer is not None:
            napari_viewer.dims.events.current_step.connect(self._follow_slider)
            unfollow = [follow_selection(napari_viewer, self.image_layer),
                        follow_selection(napari_viewer, self.labels_layer,
                                         lambda v: self._labels_layers())]
            self.native.destroyed.connect(lambda *_: [stop() for stop in unfollow])
        self.reset_choices()
        self._mode_changed()

    # -- options ------------------------------------------------------------------------
    def _labels_layers(self):
        """Labels layers that can hold objects: not the plugin's class maps, and (when an image
        is chosen) of its height and width."""
        layers = input_layers(self.viewer, Labels)
        image = self.image_layer.value if self.viewer is not None else None
        if image is None:
            return layers
        shape = tuple(image.data.shape[-3:-1] if image.rgb else image.data.shape[-2:])
        return [layer for layer in layers if tuple(layer.data.shape[-2:]) == shape]

    def _mode_changed(self):
        mode = self.mode.value
        self.image_layer.visible = mode != "folder"
        self.labels_layer.visible = mode == "objects"
        self.folder.visible = mode == "folder"
        self.stride.visible = self.min_confidence.visible = mode == "tiled class map"
        self.plot.setVisible(mode == "stack")

    # -- running ------------------------------------------------------------------------
    def request(self):
        """The engine request for the chosen mode: ``(op, kwargs, source layer)``."""
        mode = self.mode.value
        if mode == "folder":
            return "classify_folder", {"paths": [str(self.folder.value)]}, None
        layer = self.image_layer.value
        if layer is None:
            raise ValueError("Open an image layer first, and choose it in 'Image layer'.")
        if mode == "stack":
            if layer.data.ndim < (4 if layer.rgb else 3):
                raise ValueError(f"{layer.name!r} has no stack axis: use the 'image' mode.")
            return "classify_stack", {"stack": np.array(layer.data)}, layer
        image, channel_axis = plane_at_sliders(self.viewer, layer)
        if mode == "image":
            return "classify_image", {"image": image, "channel_axis": channel_axis}, layer
        if mode == "tiled class map":
            stride = int(self.stride.value) or None
            return "tile_class_map", {"image": image, "stride": stride,
                                      "min_confidence": float(self.min_confidence.value),
                                      "channel_axis": channel_axis}, layer
        labels = self.labels_layer.value
        if labels is None:
            raise ValueError("Open a Labels layer of segmented objects and choose it.")
        label_data, _ = plane_at_sliders(self.viewer, labels)
        return "classify_objects", {"image": image, "labels": label_data,
                                    "channel_axis": channel_axis}, labels

    def run(self):
        """Send the chosen mode's request to the engine."""
        try:
            op, kwargs, source = self.request()
        except ValueError as exc:
            show_error(str(exc))
            return
        self.source = source
        self.run_button.enabled, self.stop_button.enabled = False, True
        self.status.value = "classifying…"
        self.task = EngineTask(op, kwargs, "Classifying", owner=self, on_error=self._failed,
                               on_result=lambda r, s: self._show(self.mode.value, r, s),
                               on_finished=self._done)

    def stop(self):
        """Stop classifying (results so far are kept); a frozen engine is terminated."""
        if self.task is not None:
            self.task.stop(tasks.STOP_TIMEOUT_S)
            self.status.value = "Stopping…"

    def _done(self):
        self.run_button.enabled, self.stop_button.enabled = True, False

    def _failed(self, exc):
        message = error_message(exc)
        self.status.value = message.splitlines()[0]
        show_error(message)

    # -- results ------------------------------------------------------------------------
    def _show(self, mode, result, stopped):
        self.result, self.result_mode, self.result_source = result, mode, self.source
        rows = getattr(self, f"_rows_{mode.replace(' ', '_')}")(result)
        self.table.set_records(rows)
        self.status.value = f"{len(rows)} result(s){' (stopped early)' if stopped else ''}."
        self._follow_slider()

    def _rows_image(self, result):
        layer = self.source
        layer.metadata["convnet"] = {k: result[k] for k in
                                     ("class_name", "probability", "probabilities")}
        return [{"item": layer.name, "class": result["class_name"],
                 "probability": round(result["probability"], 4)}]

    def _rows_stack(self, result):
        probs = np.asarray(result["probabilities"])
        self.source.metadata["convnet"] = {"predicted": list(result["predicted"]),
                                           "probabilities": probs.tolist(),
                                           "class_names": list(result["class_names"])}
        self.plot.show_stack(probs, result["class_names"])
        return [{"item": i, "class": name, "probability": round(float(p.max()), 4), "slice": i}
                for i, (name, p) in enumerate(zip(result["predicted"], probs, strict=True))]

    def _rows_tiled_class_map(self, result):
        for layer_data in class_map_layers(result, self.source):
            add_or_update(self.viewer, layer_data)
        labels = np.asarray(result["labels"])
        best = np.asarray(result["probabilities"]).max(axis=0)
        names = ["unlabelled", *result["class_names"]]
        rows = []
        for value in np.unique(labels):
            where = labels == value
            rows.append({"item": f"{100 * where.mean():.1f} % of the image",
                         "class": names[value],
                         "probability": round(float(best[where].mean()), 4)})
        return rows

    def _rows_objects(self, result):
        self.source.features = object_features(result)
        add_or_update(self.viewer, object_class_layer(result, self.source))
        probs = np.asarray(result["probabilities"])
        centroids = result.get("centroids")
        return [{"item": int(i), "class": name, "probability": round(float(p.max()), 4),
                 "label": int(i), "centroid": None if centroids is None else list(centroids[k])}
                for k, (i, name, p) in enumerate(zip(result["label_ids"], result["predicted"],
                                                     probs, strict=True))]

    def _rows_folder(self, result):
        return [{"item": r["path"] if r.get("slice") is None else f"{r['path']} [{r['slice']}]",
                 "class": r["class_name"], "probability": round(r["probability"], 4),
                 "path": r["path"]} for r in result]

    def jump_to(self, record):
        """Show the clicked row: its slice (stack mode) or its object (objects mode)."""
        if self.viewer is None:
            return
        if "slice" in record:
            if self.result_source in self.viewer.layers:
                show_plane(self.viewer, self.result_source, record["slice"])
        elif record.get("centroid") is not None and self.result_source is not None:
            self.result_source.selected_label = record["label"]
            world = np.asarray(self.result_source.data_to_world(record["centroid"]))
            self.viewer.camera.center = tuple(world[-2:])

    def _follow_slider(self, event=None):
        if self.result_mode != "stack" or self.viewer is None:
            self.current_slice.value = ""
            return
        # the stack's own slider: beside a layer of more axes it is not the viewer's axis 0
        index, reason = slider_index(self.viewer, self.result_source)
        if index is None:
            self.current_slice.value = reason
            return
        (index,) = index
        predicted = self.result["predicted"]
        if index < len(predicted):
            p = float(np.max(self.result["probabilities"][index]))
            self.current_slice.value = f"slice {index}: {predicted[index]} ({100 * p:.1f} %)"
            self.plot.mark(index)
        else:
            self.current_slice.value = f"slice {index}: not classified (stopped early)."

    def _export(self):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self.native, "Export results", "results.csv",
                                              "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path):
        """Write the results table (with all class probabilities when known) as CSV."""
        try:
            self.table.export_csv(path)
        except ConvnetError as exc:
            show_error(str(exc))
            return
        show_info(f"Wrote {path}")
