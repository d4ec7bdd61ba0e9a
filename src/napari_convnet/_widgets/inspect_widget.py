"""The Inspect dock: learned kernels, feature maps and Grad-CAM of the current model as layers.

Feature maps and heatmaps are placed (scale/translate) exactly over the image they were
computed on; re-running updates the layer of the same name instead of adding another.
"""

from magicgui.widgets import CheckBox, ComboBox, Label, PushButton
from napari.layers import Image
from napari.utils.notifications import show_error

from napari_convnet._layers import (
    add_or_update,
    feature_maps_layer,
    grad_cam_layer,
    kernels_layer,
)
from napari_convnet._widgets._on_screen import plane_at_sliders
from napari_convnet._widgets._sections import ScrollingDock
from napari_convnet._widgets.tasks import EngineTask, error_message

PREDICTED = "(predicted class)"


class InspectWidget(ScrollingDock):
    """Look inside the current model with the image open in napari."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.model_layers = []  # list_layers rows of the current model
        self.class_names = []
        self.refresh_button = PushButton(text="Read the current model's layers")
        self.layer = ComboBox(choices=self._layer_names, label="Model layer")
        self.montage = CheckBox(value=False, text="kernels as a grid montage")
        self.kernels_button = PushButton(text="Show kernels")
        self.image_layer = ComboBox(choices=self._image_layers, label="Image layer")
        self.all_layers = CheckBox(value=False, text="all convolution and pooling layers")
        self.maps_button = PushButton(text="Show feature maps")
        self.target_class = ComboBox(choices=self._class_choices, label="Grad-CAM class")
        self.gradcam_button = PushButton(text="Show Grad-CAM")
        self.status = Label(value="Train or load a model, then read its layers.")
        self.status.native.setWordWrap(True)
        self.body.extend([self.refresh_button, self.layer, self.montage, self.kernels_button,
                     self.image_layer, self.all_layers, self.maps_button, self.target_class,
                     self.gradcam_button, self.status])
        self.task = None
        self.refresh_button.changed.connect(self.refresh)
        self.kernels_button.changed.connect(self.show_kernels)
        self.maps_button.changed.connect(self.show_feature_maps)
        self.gradcam_button.changed.connect(self.show_grad_cam)
        if napari_viewer is not None:
            napari_viewer.layers.events.inserted.connect(lambda e: self.image_layer.reset_choices())
            napari_viewer.layers.events.removed.connect(lambda e: self.image_layer.reset_choices())
        self.refresh()

    # -- choices --------------------------------------------------------------------------
    def _layer_names(self, widget=None):
        return [r["name"] for r in self.model_layers
                if r["kind"] in ("conv", "pool") or r["spatial"]]

    def _image_layers(self, widget=None):
        return [] if self.viewer is None else [
            layer for layer in self.viewer.layers
            if isinstance(layer, Image) and not layer.name.startswith(("maps:", "kernels:",
                                                                       "Grad-CAM:"))]

    def _class_choices(self, widget=None):
        return [PREDICTED, *self.class_names]

    # -- requests -----------------------------------------------------------------------
    def _run(self, op, kwargs, on_result, description):
        self.task = EngineTask(op, kwargs, description, owner=self, on_result=on_result,
                               on_error=self._failed)

    def _failed(self, exc):
        message = error_message(exc)
        self.status.value = message.splitlines()[0]
        show_error(message)

    def refresh(self):
        """Read the current model's layers (through nested models) and class names."""
        self._run("current_model", {}, self._model_read, "Reading model")

    def _model_read(self, described, stopped):
        if described is None:
            self.status.value = "No current model: train or load one in the Train dock."
            return
        self.class_names = list(described["meta"]["class_names"])
        self.target_class.reset_choices()
        self._run("list_layers", {}, self._layers_read, "Reading layers")

    def _layers_read(self, rows, stopped):
        self.model_layers = rows
        self.layer.reset_choices()
        convs = [r["name"] for r in rows if r["kind"] == "conv"]
        if convs:
            self.layer.value = convs[0]
        self.status.value = f"{len(rows)} layers, {len(convs)} convolutions."

    def _image(self):
        layer = self.image_layer.value
        if layer is None:
            raise ValueError("Open an image layer and choose it in 'Image layer'.")
        return layer, *plane_at_sliders(self.viewer, layer)

    def show_kernels(self):
        """Add the chosen convolution layer's kernels as an image layer."""
        name = self.layer.value
        self._run("kernels", {"layer": name},
                  lambda k, s: self._add(kernels_layer(k, name, self.montage.value)),
                  "Reading kernels")

    def show_feature_maps(self):
        """Feature maps of the chosen layer (or of all conv/pool layers) over the image."""
        try:
            source, image, channel_axis = self._image()
        except ValueError as exc:
            show_error(str(exc))
            return
        if self.all_layers.value:
            self._run("all_feature_maps", {"image": image, "channel_axis": channel_axis},
                      lambda results, s: [self._add(feature_maps_layer(r, source))
                                          for r in results], "Computing feature maps")
        else:
            self._run("feature_maps", {"image": image, "layer": self.layer.value,
                                       "channel_axis": channel_axis},
                      lambda r, s: self._add(feature_maps_layer(r, source)),
                      "Computing feature maps")

    def show_grad_cam(self):
        """Grad-CAM heatmap for the chosen (or predicted) class, blended over the image."""
        try:
            source, image, channel_axis = self._image()
        except ValueError as exc:
            show_error(str(exc))
            return
        target = self.target_class.value
        index = None if target in (None, PREDICTED) else self.class_names.index(target)
        self._run("grad_cam", {"image": image, "class_index": index,
                               "channel_axis": channel_axis},
                  lambda r, s: self._add(grad_cam_layer(r, source)), "Computing Grad-CAM")

    def _add(self, layer_data):
        if self.viewer is not None:
            layer = add_or_update(self.viewer, layer_data)
            self.status.value = f"Showing {layer.name!r}."
