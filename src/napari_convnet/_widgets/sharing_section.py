"""The Train step's "Share and import models" sections: a Keras classifier from elsewhere in
(with its class names and preprocessing, previewed on an open image), the current model out as
a bioimage.io package or an ONNX file. Each action is one engine request."""

import os

from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, Label, LineEdit, PushButton, SpinBox
from napari.utils.notifications import show_error, show_info

from napari_convnet import class_list, help_text, options
from napari_convnet._widgets._on_screen import plane_at_sliders
from napari_convnet._widgets._pickers import follow_selection, input_images
from napari_convnet._widgets._sections import Folded, explain, qt_section
from napari_convnet._widgets.plot_style import follow_theme
from napari_convnet._widgets.preview_plot import PreviewPlot
from napari_convnet._widgets.tasks import EngineTask, error_message
from napari_convnet.errors import ConvnetError
from napari_convnet.filenames import free_bundle_path


class ImportSection(Folded):
    """Import a ``.keras``, ``.h5`` or bioimage.io package as the current model."""

    def __init__(self, train):
        super().__init__("Import a Keras model (.keras, .h5, bioimage.io)", [])
        self.train = train
        self.viewer = train.viewer
        self.source = FileEdit(mode="r", filter="*.keras *.h5 *.zip", label="Model file")
        self.found = Label(value="Choose a .keras, .h5 or bioimage.io .zip file.")
        self.found.native.setWordWrap(True)
        self.class_names = LineEdit(value="", label="Class names")
        self.normalization = ComboBox(value=options.IMPORT_NORMALIZATION,
                                      choices=list(options.NORMALIZATIONS),
                                      label="Normalization")
        low, high = options.PERCENTILES
        self.low = FloatSpinBox(value=low, min=0, max=100, step=0.1, label="Low percentile")
        self.high = FloatSpinBox(value=high, min=0, max=100, step=0.1, label="High percentile")
        self.resize = ComboBox(value=options.DATA_DEFAULTS["resize"],
                               choices=list(options.RESIZE_MODES), label="Resize")
        side = options.IMAGE_SIDE
        self.any_height = SpinBox(value=64, min=side[0], max=side[1], visible=False,
                                  label="Height (any-size model)")
        self.any_width = SpinBox(value=64, min=side[0], max=side[1], visible=False,
                                 label="Width (any-size model)")
        self.image_layer = ComboBox(choices=lambda w: input_images(self.viewer),
                                    label="Preview on")
        self.preview_button = PushButton(text="Preview preprocessing")
        self.preview = follow_theme(PreviewPlot(), self.viewer)
        self.preview.setVisible(False)
        self.import_button = PushButton(text="Import as the current model")
        self.content.extend([
            self.source, self.found, self.class_names, self.normalization, self.low, self.high,
            self.resize, self.any_height, self.any_width, self.image_layer, self.preview_button,
            qt_section(self.preview), self.import_button])
        explain(self, help_text.IMPORT)
        self.described = None
        self.task = None
        self.source.changed.connect(self.describe)
        self.normalization.changed.connect(self._normalization_changed)
        self._normalization_changed(self.normalization.value)
        self.preview_button.changed.connect(self.show_preview)
        self.import_button.changed.connect(self.start_import)
        if self.viewer is not None:
            self.native.destroyed.connect(follow_selection(self.viewer, self.image_layer))

    def _normalization_changed(self, value):
        for widget in (self.low, self.high):
            widget.visible = value == "percentile"

    def preprocessing(self):
        """The preprocessing stated in the section (DataConfig fields)."""
        out = {"normalization": self.normalization.value, "resize": self.resize.value,
               "percentiles": (self.low.value, self.high.value)}
        shape = (self.described or {}).get("input_shape") or [None, None, None]
        if shape[0] is None or shape[1] is None:
            out["image_size"] = (self.any_height.value, self.any_width.value)
        return out

    def describe(self, *_):
        """Ask the engine what the chosen file holds; fill the class names of a package."""
        path = str(self.source.value)
        if not os.path.isfile(path):
            return
        self.found.value = "Reading the model…"
        self.task = EngineTask("describe_import", {"path": path}, "Reading the model",
                               on_result=self._described, on_error=self._failed, owner=self)

    def _described(self, described, stopped):
        self.described = described
        h, w, c = described["input_shape"]
        size = f"{h}x{w}" if h and w else "any size"
        output = {"probabilities": "probabilities",
                  "logits": "logits (a softmax will be added)",
                  "sigmoid": "one sigmoid unit (it becomes two classes)"}[described["output"]]
        self.found.value = (f"{described['format']}: input {size} x {c} channel(s), "
                            f"{described['classes']} classes, output {output}.")
        for widget in (self.any_height, self.any_width):
            widget.visible = not (h and w)
        if described.get("class_names"):
            self.class_names.value = ", ".join(described["class_names"])
        pre = described.get("preprocessing") or {}
        if pre.get("normalization") in options.NORMALIZATIONS:
            self.normalization.value = pre["normalization"]
        if pre.get("percentiles"):
            self.low.value, self.high.value = pre["percentiles"]
        if pre.get("resize") in options.RESIZE_MODES:
            self.resize.value = pre["resize"]

    def _failed(self, exc):
        message = error_message(exc)
        self.found.value = message.splitlines()[0]
        show_error(message)

    def show_preview(self, *_):
        """Show the chosen image before and after the stated preprocessing."""
        layer = self.image_layer.value
        if layer is None or self.described is None:
            show_error("Choose a model file and open an image to preview on.")
            return
        image, channel_axis = plane_at_sliders(self.viewer, layer)
        shape = list(self.described["input_shape"])
        pre = self.preprocessing()
        if "image_size" in pre:
            shape[:2] = pre["image_size"]
        if channel_axis is not None:
            pre["channel_axis"] = channel_axis

        def shown(prepared, stopped):
            self.preview.setVisible(True)
            self.preview.show_pair(image, prepared, self.normalization.value)

        self.task = EngineTask("preview_import", {"image": image, "input_shape": shape,
                                                  "preprocessing": pre},
                               "Preparing the preview", on_result=shown,
                               on_error=self._failed, owner=self)

    def start_import(self, *_):
        """Import the file as a bundle beside it (a free name) and make it the current model."""
        path = str(self.source.value)
        try:
            names = class_list.parse(self.class_names.value) if self.class_names.value else None
        except ConvnetError as exc:
            show_error(str(exc))
            return
        stem = os.path.splitext(path)[0]
        out = free_bundle_path(f"{stem}-imported.keras")
        self.task = EngineTask(
            "import_model", {"path": path, "out": out, "class_names": names,
                             "preprocessing": self.preprocessing()},
            "Importing the model", on_result=self._imported, on_error=self._failed, owner=self)

    def _imported(self, described, stopped):
        self.train._loaded(described, stopped)
        notes = described["meta"]["imported"]["notes"]
        self.found.value = f"Imported as {described['path']}." + "".join(
            f" {n}" for n in notes)
        show_info(self.found.value)


class ExportSection(Folded):
    """Write the current model as a bioimage.io package (.zip) or an ONNX file (.onnx)."""

    def __init__(self, train):
        super().__init__("Export: bioimage.io package or ONNX", [])
        self.train = train
        self.out = FileEdit(mode="w", filter="*.zip *.onnx", label="Export to")
        self.model_name = LineEdit(value="", label="Model name")
        self.model_description = LineEdit(value="", label="Description")
        self.authors = LineEdit(value="", label="Authors")
        self.license = LineEdit(value="CC-BY-4.0", label="Licence")
        self.cite = LineEdit(value="", label="Cite as")
        self.export_button = PushButton(text="Export…")
        self.result = Label(value="")
        self.result.native.setWordWrap(True)
        self.content.extend([
            self.out, self.model_name, self.model_description, self.authors, self.license,
            self.cite, self.export_button, self.result])
        explain(self, help_text.EXPORT)
        self.task = None
        self.export_button.changed.connect(self.start_export)

    def start_export(self, *_):
        """Export the current model to the chosen file (its suffix says which format)."""
        path = str(self.out.value)
        if self.train.current is None:
            show_error("There is no current model: train, load or import one first.")
            return
        if not path.endswith((".zip", ".onnx")):
            show_error("Choose a file ending in .zip (bioimage.io package) or .onnx.")
            return
        data = self.train.data.root if self.train.data.root not in ("", ".") else None
        if path.endswith(".onnx"):
            self.task = EngineTask("export_onnx", {"path": path, "data": data},
                                   "Exporting ONNX", on_result=self._onnx_done,
                                   on_error=self._failed, owner=self)
            return
        meta = self.train.current["meta"]
        info = {"name": self.model_name.value or f"{meta.get('preset') or 'Keras'} classifier",
                "description": self.model_description.value or "Image classifier of "
                + ", ".join(meta["class_names"]) + ", trained with napari-convnet.",
                "authors": [a.strip() for a in self.authors.value.split(",") if a.strip()],
                "license": self.license.value}
        if self.cite.value:
            info["cite"] = self.cite.value
        self.result.value = "Writing and testing the package…"
        self.task = EngineTask("export_bioimageio", {"path": path, "info": info, "data": data},
                               "Exporting to bioimage.io", on_result=self._package_done,
                               on_error=self._failed, owner=self, bar_now=True)

    def _onnx_done(self, result, stopped):
        checked = (f" onnxruntime matches Keras within {result['max_difference']:.1e} on "
                   f"{result['checked']} training images." if result["checked"] else
                   " (not checked: the data folder is not here)")
        self.result.value = f"Wrote {result['path']}.{checked}"
        show_info(self.result.value)

    def _package_done(self, result, stopped):
        self.result.value = (f"Wrote {result['path']}: weights {', '.join(result['weights'])}; "
                             f"bioimage.io test {result['test']}."
                             + "".join(f" {n}" for n in result["notes"]))
        show_info(self.result.value)

    def _failed(self, exc):
        message = error_message(exc)
        self.result.value = message.splitlines()[0]
        show_error(message)
