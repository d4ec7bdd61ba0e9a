"""The Inspect dock: learned kernels, feature maps and Grad-CAM of the current model as layers.

What the user sees (the layers are built in :mod:`napari_convnet._layers`):

- "Show kernels" adds a grid montage of the chosen convolution's kernels, scaled to the
  height of the open images and placed to their right, and fits the view to both; "as a
  stack" gives (input channel, filter, y, x) on named sliders instead.
- Feature maps and heatmaps are placed (scale/translate) exactly over the image they were
  computed on, on its plane when it is a stack. Re-running replaces a result: one Grad-CAM
  layer per image (renamed for the class), one maps layer per model layer and image. Only the
  newest result over an image stays visible (additive blending of several turns it white);
  "all layers" shows the first layer's maps and hides the others, ready to be toggled.
- The image picker follows the layer selected in the layer list (see
  :mod:`napari_convnet._widgets._pickers`); the model-layer pickers offer only layers the
  action works on: convolutions for kernels, layers with spatial output for feature maps,
  never augmentation, dropout or preprocessing layers.
"""

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Label, PushButton
from napari.utils.notifications import show_error

from napari_convnet import help_text
from napari_convnet._layers import (
    OUTPUT_KEY,
    add_or_update,
    feature_maps_layer,
    grad_cam_layer,
    kernels_layer,
)
from napari_convnet._widgets._on_screen import plane_at_sliders, slider_index
from napari_convnet._widgets._pickers import follow_selection, input_images
from napari_convnet._widgets._sections import ScrollingDock, explain
from napari_convnet._widgets.tasks import EngineTask, error_message

PREDICTED = "(predicted class)"
#: Layer types with nothing to show at inference: augmentation (``Random*``), dropout and
#: noise (inactive outside training), and preprocessing that only rescales pixels.
_SKIPPED_PREFIXES = ("Random",)
_SKIPPED_PARTS = ("Dropout", "Noise")
_SKIPPED_TYPES = ("Rescaling", "Normalization", "Resizing", "CenterCrop", "RandAugment",
                  "AugMix", "MixUp", "CutMix", "Solarization", "AutoContrast", "Equalization",
                  "InputLayer")
#: Inspect results drawn over an image with additive blending: one visible at a time.
_OVERLAYS = ("feature maps", "Grad-CAM")


def shows_something(row):
    """True for a list_layers row whose output is worth looking at (see ``_SKIPPED_*``)."""
    kind = row["type"]
    return not (kind.startswith(_SKIPPED_PREFIXES) or kind in _SKIPPED_TYPES
                or any(part in kind for part in _SKIPPED_PARTS))


def kernel_rows(rows):
    """Layers whose kernels the engine can show: the convolutions."""
    return [r for r in rows if r["kind"] == "conv"]


def map_rows(rows):
    """Layers with spatial (batch, h, w, channels) output, augmentation and dropout left out."""
    return [r for r in rows if r["spatial"] and shows_something(r)]


class InspectWidget(ScrollingDock):
    """Look inside the current model with the image open in napari."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.model_layers = []  # list_layers rows of the current model
        self.class_names = []
        self.refresh_button = PushButton(text="Read the current model's layers")
        self.layer = ComboBox(choices=self._kernel_names, label="Kernels of")
        self.montage = CheckBox(value=True, text="as a grid montage (else a stack on sliders)")
        self.kernels_button = PushButton(text="Show kernels")
        self.image_layer = ComboBox(choices=lambda w: input_images(self.viewer),
                                    label="Image layer")
        self.maps_layer = ComboBox(choices=self._map_names, label="Feature maps of")
        self.all_layers = CheckBox(value=False, text="all convolution and pooling layers")
        self.maps_button = PushButton(text="Show feature maps")
        self.target_class = ComboBox(choices=self._class_choices, label="Grad-CAM class")
        self.gradcam_button = PushButton(text="Show Grad-CAM")
        self.status = Label(value="Train or load a model, then read its layers.")
        self.status.native.setWordWrap(True)
        self.body.extend([self.refresh_button, self.layer, self.montage, self.kernels_button,
                          self.image_layer, self.maps_layer, self.all_layers, self.maps_button,
                          self.target_class, self.gradcam_button, self.status])
        explain(self, help_text.INSPECT)
        self.task = None
        self.refresh_button.changed.connect(self.refresh)
        self.kernels_button.changed.connect(self.show_kernels)
        self.maps_button.changed.connect(self.show_feature_maps)
        self.gradcam_button.changed.connect(self.show_grad_cam)
        self.all_layers.changed.connect(lambda v: setattr(self.maps_layer, "visible", not v))
        if napari_viewer is not None:
            unfollow = follow_selection(napari_viewer, self.image_layer)
            self.native.destroyed.connect(lambda *args: unfollow())
        self.refresh()

    # -- choices --------------------------------------------------------------------------
    def _kernel_names(self, widget=None):
        return [r["name"] for r in kernel_rows(self.model_layers)]

    def _map_names(self, widget=None):
        return [r["name"] for r in map_rows(self.model_layers)]

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
        self.maps_layer.reset_choices()
        convs = self._kernel_names()
        for combo in (self.layer, self.maps_layer):
            first = next((c for c in convs if c in combo.choices), None)
            if first is not None:
                combo.value = first
        self.status.value = f"{len(rows)} layers, {len(convs)} convolutions."

    def _image(self):
        """``(layer, plane, image, channel_axis)`` of the image layer at the sliders."""
        layer = self.image_layer.value
        if layer is None:
            raise ValueError("Open an image layer and choose it in 'Image layer'.")
        image, channel_axis = plane_at_sliders(self.viewer, layer)
        leading = layer.data.ndim - (3 if layer.rgb else 2)
        plane = slider_index(self.viewer, layer, leading)[0] if leading > 0 else ()
        return layer, plane, image, channel_axis

    def show_kernels(self):
        """Add the chosen convolution's kernels beside the open images and fit the view."""
        name = self.layer.value
        if name is None:
            show_error("The model has no convolution layers: there are no kernels to show.")
            return
        self._run("kernels", {"layer": name}, lambda k, s: self._kernels_read(name, k),
                  "Reading kernels")

    def _kernels_read(self, name, kernels):
        if self.viewer is None:
            return
        shown = [layer for layer in self.viewer.layers  # the scene the kernels go beside
                 if layer.metadata.get(OUTPUT_KEY) != "kernels"
                 and not layer.name.startswith("kernels:")]
        beside = None
        if shown:
            corners = np.concatenate([layer.extent.world[:, -2:] for layer in shown])
            beside = np.array([corners.min(axis=0), corners.max(axis=0)])
        layer = self._add(kernels_layer(kernels, name, self.montage.value, beside))
        self._only_visible([layer], "kernels")
        self.viewer.reset_view()

    def show_feature_maps(self):
        """Feature maps of the chosen layer (or of all conv/pool layers) over the image."""
        try:
            source, plane, image, channel_axis = self._image()
        except ValueError as exc:
            show_error(str(exc))
            return
        kwargs = {"image": image, "channel_axis": channel_axis}
        if self.all_layers.value:
            self._run("all_feature_maps", kwargs,
                      lambda results, s: self._maps_read(results, source, plane),
                      "Computing feature maps")
            return
        if self.maps_layer.value is None:
            show_error("The model has no layer with spatial feature maps to show.")
            return
        self._run("feature_maps", {**kwargs, "layer": self.maps_layer.value},
                  lambda r, s: self._maps_read([r], source, plane), "Computing feature maps")

    def _maps_read(self, results, source, plane):
        layers = [self._add(feature_maps_layer(r, source, plane)) for r in results]
        if layers:
            self._only_visible(layers[:1], *_OVERLAYS, source=source.name)
        if len(layers) > 1:
            self.status.value = (f"{len(layers)} feature-map layers; showing {layers[0].name!r}:"
                                 " toggle the others' eye in the layer list.")

    def show_grad_cam(self):
        """Grad-CAM heatmap for the chosen (or predicted) class, blended over the image."""
        try:
            source, plane, image, channel_axis = self._image()
        except ValueError as exc:
            show_error(str(exc))
            return
        target = self.target_class.value
        index = None if target in (None, PREDICTED) else self.class_names.index(target)
        self._run("grad_cam", {"image": image, "class_index": index,
                               "channel_axis": channel_axis},
                  lambda r, s: self._grad_cam_read(r, source, plane), "Computing Grad-CAM")

    def _grad_cam_read(self, result, source, plane):
        match = {OUTPUT_KEY: "Grad-CAM", "source": source.name}
        layer = self._add(grad_cam_layer(result, source, plane), match)
        if layer is not None:
            self._only_visible([layer], *_OVERLAYS, source=source.name)

    def _add(self, layer_data, match=None):
        if self.viewer is None:
            return None
        layer = add_or_update(self.viewer, layer_data, match)
        layer.visible = True
        self.status.value = f"Showing {layer.name!r}."
        return layer

    def _only_visible(self, keep, *kinds, source=None):
        """Hide this dock's other results of ``kinds`` (over ``source`` when given).

        Compared with ``!=``, not ``is``: a plugin's viewer may hand out proxies of a layer.
        """
        for layer in self.viewer.layers:
            if (layer.metadata.get(OUTPUT_KEY) in kinds and all(layer != k for k in keep)
                    and (source is None or layer.metadata.get("source") == source)):
                layer.visible = False
