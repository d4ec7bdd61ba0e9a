"""The Inspect dock's results where the user looks (issue 18): kernels in view, re-runs that
replace their layer, named sliders, pickers that follow the selection, messages about the
dock's own controls.

The stripe model (tests/_helpers_predict.py) has one 4-filter convolution; a vgg1 with
augmentation and dropout, trained one epoch through the engine, has the layers a user's
model has (``augment_*``, ``block1_dropout``, two 32-filter convolutions and a pooling).
"""

import numpy as np
import pytest

from _helpers_folders import stripes_folder
from _helpers_predict import stripes
from napari_convnet._layers import OUTPUT_KEY
from napari_convnet._widgets.messages import dock_message
from napari_convnet.engine import get_engine

START_MS = 240_000


def _dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Inspect")
    qtbot.waitUntil(lambda: bool(widget.model_layers), timeout=START_MS)
    return viewer, widget


def _click(qtbot, widget, button, done="Showing"):
    """Click ``button`` and wait until the dock's status says the result is shown."""
    widget.status.value = ""
    button.clicked()
    qtbot.waitUntil(lambda: widget.status.value != "", timeout=120_000)
    assert widget.status.value.startswith(done), widget.status.value


def _in_view(viewer, layer):
    """Fraction of the canvas's (Y, X) view that ``layer``'s world extent covers (0: unseen)."""
    canvas = np.array(viewer.screenshot(canvas_only=True, flash=False).shape[:2], float)
    centre = np.array(viewer.camera.center[-2:])
    half = canvas / 2 / viewer.camera.zoom
    low, high = layer.extent.world[:, -2:]
    overlap = np.minimum(high, centre + half) - np.maximum(low, centre - half)
    return float(np.prod(np.clip(overlap, 0, None)) / np.prod(2 * half))


def _outputs(viewer, kind):
    return [layer for layer in viewer.layers if layer.metadata.get(OUTPUT_KEY) == kind]


@pytest.fixture(scope="module")
def vgg_model(tmp_path_factory):
    """Path of a vgg1 (augmentation, dropout) trained 1 epoch on 20×20 stripes."""
    root = tmp_path_factory.mktemp("vgg")
    stripes_folder(root / "stripes", n=12, size=20)
    get_engine().call("train", timeout=300, root=str(root / "stripes"), preset="vgg1",
                      preset_options={"augment": True, "dropout": True},
                      data_config={"image_size": [20, 20]},
                      train_config={"epochs": 1, "batch_size": 8},
                      out=str(root / "vgg1.keras"))
    return root / "vgg1.keras"


def test_kernels_grid_beside_the_image_and_in_view(make_napari_viewer, qtbot, vgg_model):
    get_engine().call("load_model", timeout=300, path=str(vgg_model))
    viewer, widget = _dock(make_napari_viewer, qtbot)
    names = [r["name"] for r in widget.model_layers]
    assert any("augment" in n for n in names) and "block1_dropout" in names
    # only layers each action works on: convolutions for kernels, spatial maps for maps
    assert widget.layer.choices == ("block1_conv1", "block1_conv2")
    maps_choices = widget.maps_layer.choices
    assert "block1_pool" in maps_choices and "block1_conv1" in maps_choices
    assert not [c for c in maps_choices if "augment" in c or "dropout" in c], maps_choices

    # alone in the viewer: 32 kernels of 3×3 → a 6×6 grid, the view fitted to it
    assert widget.layer.value == "block1_conv1" and widget.montage.value
    _click(qtbot, widget, widget.kernels_button)
    kernels = viewer.layers["kernels: block1_conv1"]
    assert kernels.data.shape == (23, 23) and np.isnan(kernels.data[3]).all()
    assert tuple(kernels.axis_labels) == ("y", "x")
    assert _in_view(viewer, kernels) > 0.2

    # beside a 600×400 image: scaled to its height, to its right, both in view
    image = viewer.add_image(stripes((600, 400), True), name="photo")
    _click(qtbot, widget, widget.kernels_button)
    assert len(_outputs(viewer, "kernels")) == 1
    (y0, x0), (y1, x1) = kernels.extent.world[:, -2:]
    assert y0 == pytest.approx(0) and y1 == pytest.approx(599)
    assert x0 > image.extent.world[1, -1]
    assert _in_view(viewer, kernels) > 0.05 and _in_view(viewer, image) > 0.1

    # "all layers" twice: the same three layers, one visible, the filter slider named
    widget.all_layers.value = True
    assert not widget.maps_layer.visible
    _click(qtbot, widget, widget.maps_button, done="3 feature-map layers")
    maps = _outputs(viewer, "feature maps")
    assert len(maps) == 3 and [m.visible for m in maps] == [True, False, False]
    assert viewer.dims.axis_labels[0] == "filter"
    count = len(viewer.layers)
    _click(qtbot, widget, widget.maps_button, done="3 feature-map layers")
    assert len(viewer.layers) == count and _outputs(viewer, "feature maps") == maps


def test_grad_cam_replaces_its_layer_per_image(make_napari_viewer, qtbot, stripe_model):
    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    viewer, widget = _dock(make_napari_viewer, qtbot)
    image = viewer.add_image(stripes((40, 40), True), name="vertical")
    _click(qtbot, widget, widget.maps_button)
    for target in ("horizontal", "vertical"):
        widget.target_class.value = target
        _click(qtbot, widget, widget.gradcam_button)
        cams = _outputs(viewer, "Grad-CAM")
        assert len(cams) == 1 and cams[0].name.startswith(f"Grad-CAM: {target} (")
        assert cams[0].metadata["class_name"] == target and cams[0].visible
    # only the newest result over the image is visible: additive layers do not pile up
    assert not _outputs(viewer, "feature maps")[0].visible
    assert widget.image_layer.value == image


def test_maps_of_a_stack_plane_sit_on_that_plane(make_napari_viewer, qtbot, stripe_model):
    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    viewer, widget = _dock(make_napari_viewer, qtbot)
    stack = viewer.add_image(np.stack([stripes((20, 20), i % 2 == 1) for i in range(5)]),
                             name="stack", axis_labels=("slice", "y", "x"))
    viewer.dims.set_point(0, 3)
    _click(qtbot, widget, widget.maps_button)
    maps = _outputs(viewer, "feature maps")[0]
    assert maps.data.shape == (4, 1, 18, 18)
    assert tuple(maps.axis_labels) == ("filter", "slice", "y", "x")
    assert list(maps.translate)[:2] == [0, 3] and maps.metadata["plane"] == [3]
    # the filter slider is the maps' own: the stack's slider still scrolls the stack
    assert viewer.dims.axis_labels[:2] == ("filter", "slice")
    assert stack.ndim == 3 and viewer.dims.ndim == 4


def test_image_picker_follows_the_selection(make_napari_viewer, qtbot, stripe_model):
    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    viewer = make_napari_viewer()
    first = viewer.add_image(stripes((20, 20), True), name="first")
    second = viewer.add_image(stripes((20, 20), False), name="second")
    viewer.add_points([[1, 1]])  # the selected layer is no image: the newest image is picked
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Inspect")
    assert widget.image_layer.value == second
    viewer.layers.selection.active = first
    assert widget.image_layer.value == first
    qtbot.waitUntil(lambda: bool(widget.model_layers), timeout=START_MS)
    _click(qtbot, widget, widget.maps_button)
    _click(qtbot, widget, widget.gradcam_button)
    # the dock's own results are never offered as inputs, and adding them keeps the choice
    assert widget.image_layer.value == first
    assert set(widget.image_layer.choices) == {first, second}
    viewer.layers.selection.active = second
    assert widget.image_layer.value == second
    viewer.layers.remove(second)
    assert widget.image_layer.value == first


def test_messages_name_the_docks_controls():
    message = dock_message(
        "The model takes 3 channel(s) but the image of shape (8, 8, 4) has 4 "
        "(channel_axis=-1). Pass channel_axis= the axis that holds the channels, or give an "
        "image with 3 channel(s) (or 1, which is repeated).")
    assert "channel_axis=" not in message and "'Image layer'" in message
    assert message.startswith("The model takes 3 channel(s)")
    message = dock_message("Feature maps of 3 layer(s) for a 9000x9000 image need about 9.1 "
                           "GiB (limit 4 GiB). Crop the image, or choose fewer or later "
                           "(smaller) layers.")
    assert "'Feature maps of'" in message and "9.1 GiB" in message
