"""The Inspect dock in a real viewer: kernels, feature maps over the image, Grad-CAM.

The current model is the hand-set stripe classifier (tests/_helpers_predict.py): its first
convolution holds known derivative kernels, so what the dock shows can be checked exactly.
"""

import numpy as np

from _helpers_predict import stripes
from napari_convnet.engine import get_engine

START_MS = 240_000


def test_kernels_feature_maps_and_grad_cam(make_napari_viewer, qtbot, stripe_model):
    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Inspect")
    qtbot.waitUntil(lambda: bool(widget.model_layers), timeout=START_MS)
    conv = widget.layer.value
    assert conv is not None and "conv" in conv
    assert widget.target_class.choices[1:] == ("horizontal", "vertical")

    # kernels as a stack: (in_channels, filters, kh, kw), the d/dy kernel first, centred
    # colormap, sliders named
    widget.montage.value = False
    widget.kernels_button.clicked()
    name = f"kernels: {conv}"
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=60_000)
    kernels = viewer.layers[name]
    assert kernels.data.shape == (1, 4, 3, 3)
    assert tuple(kernels.axis_labels) == ("input channel", "filter", "y", "x")
    expected = np.zeros((3, 3))
    expected[2, 1], expected[0, 1] = 1, -1
    np.testing.assert_array_equal(kernels.data[0, 0], expected)
    assert list(kernels.contrast_limits) == [-1.0, 1.0]

    # feature maps of vertical stripes, placed over an image layer with its own scale/offset
    image = viewer.add_image(stripes((40, 40), True), name="vertical", scale=(2, 2),
                             translate=(5, 7))
    assert widget.image_layer.value == image  # the picker follows the new (selected) image
    widget.maps_button.clicked()
    name = f"maps: {conv} (vertical)"
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=60_000)
    maps = viewer.layers[name]
    assert maps.data.shape == (4, 38, 38)  # 3×3 'valid' convolution
    assert maps.axis_labels[0] == "filter"
    assert list(maps.scale) == [1, 2, 2] and list(maps.translate) == [0, 7, 9]
    # vertical stripes change along X only: the d/dx maps (2, 3) carry the energy
    energy = np.abs(maps.data).mean(axis=(1, 2))
    assert energy[2] > 5 * energy[0] and energy[3] > 5 * energy[1]
    # re-running updates the same layer
    widget.maps_button.clicked()
    qtbot.waitUntil(lambda: widget.task.worker.is_running is False, timeout=60_000)
    qtbot.wait(200)
    assert sum(layer.name.startswith("maps:") for layer in viewer.layers) == 1

    widget.gradcam_button.clicked()
    qtbot.waitUntil(lambda: any(layer.name.startswith("Grad-CAM") for layer in viewer.layers),
                    timeout=60_000)
    cam = next(layer for layer in viewer.layers if layer.name.startswith("Grad-CAM"))
    assert "vertical" in cam.name and "%" in cam.name
    assert cam.data.shape == (40, 40) and list(cam.scale) == [2, 2]
    assert 0.0 <= cam.data.min() and cam.data.max() <= 1.0
