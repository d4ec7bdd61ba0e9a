"""The Classify dock in a real viewer: image, stack, tiled class map, objects, folder.

The current model is the hand-set stripe classifier of tests/_helpers_predict.py (no
training, deterministic), saved by a subprocess (no TensorFlow in this process) and loaded
into the shared engine as a user would load a bundle.
"""

import csv

import numpy as np
import pytest
from PIL import Image

from _helpers_predict import mosaic, objects_scene, stripes
from napari_convnet.engine import get_engine

START_MS = 240_000


@pytest.fixture
def dock(make_napari_viewer, stripe_model):
    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Classify")
    return viewer, widget


def _run(qtbot, widget, mode):
    widget.mode.value = mode
    widget.run_button.clicked()
    qtbot.waitUntil(lambda: not widget.run_button.enabled, timeout=2000)
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=START_MS)


def test_image_and_stack_follow_the_slider(dock, qtbot, tmp_path):
    viewer, widget = dock
    layer = viewer.add_image(stripes((16, 16), True), name="one")
    widget.image_layer.value = layer
    _run(qtbot, widget, "image")
    assert layer.metadata["convnet"]["class_name"] == "vertical"
    assert widget.table.rowCount() == 1

    truth = [i % 2 == 1 for i in range(6)]
    stack = viewer.add_image(np.stack([stripes((16, 16), v, seed=i)
                                       for i, v in enumerate(truth)]), name="stack")
    widget.reset_choices()
    widget.image_layer.value = stack
    _run(qtbot, widget, "stack")
    assert widget.table.rowCount() == 6
    assert stack.metadata["convnet"]["predicted"] == [
        "vertical" if v else "horizontal" for v in truth]
    viewer.dims.set_current_step(0, 3)
    assert widget.current_slice.value.startswith("slice 3: vertical")
    # clicking a row jumps to its slice
    row = next(r for r in range(6) if widget.table.record_at(r)["slice"] == 4)
    widget.table.cellClicked.emit(row, 0)
    assert viewer.dims.current_step[0] == 4

    out = tmp_path / "stack.csv"
    widget.export_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {r["class"] for r in rows} == {"horizontal", "vertical"}


def test_the_stack_is_read_on_its_own_axis_beside_a_4d_layer(dock, qtbot):
    viewer, widget = dock
    # the Inspect dock's kernels layer (filters, in_channels, kh, kw), its filter slider away
    # from 0: the viewer has 4 axes and the stack's images are on axis 1
    viewer.add_image(np.random.default_rng(0).normal(size=(8, 3, 5, 5)), name="kernels: conv")
    viewer.dims.set_current_step(0, 6)
    truth = [i % 2 == 1 for i in range(8)]
    # first image at world 2: the slider's step on axis 1 is not the slice index either
    stack = viewer.add_image(np.stack([stripes((16, 16), v, seed=i)
                                       for i, v in enumerate(truth)]), name="stack",
                             translate=(2, 0, 0))
    widget.image_layer.value = stack
    k = 5
    viewer.dims.set_point(1, 2 + k)
    widget.mode.value = "image"
    _, kwargs, _ = widget.request()
    assert type(kwargs["image"]) is np.ndarray and np.array_equal(kwargs["image"], stack.data[k])
    assert not np.shares_memory(kwargs["image"], stack.data)

    _run(qtbot, widget, "stack")
    assert widget.current_slice.value.startswith(f"slice {k}: vertical"), \
        widget.current_slice.value
    row = next(r for r in range(8) if widget.table.record_at(r)["slice"] == 2)
    widget.table.cellClicked.emit(row, 0)
    assert viewer.dims.point[1] == 2 + 2 and viewer.dims.current_step[0] == 6
    assert widget.current_slice.value.startswith("slice 2: horizontal")


def test_tiled_class_map_matches_the_mosaic_and_overlays_the_image(dock, qtbot):
    viewer, widget = dock
    image, truth = mosaic(blocks=(2, 3), block=48)
    layer = viewer.add_image(image, name="mosaic", scale=(0.5, 0.5), translate=(10, 20))
    widget.image_layer.value = layer
    _run(qtbot, widget, "tiled class map")
    labels = viewer.layers["classes: mosaic"]
    probs = viewer.layers["probabilities: mosaic"]
    assert labels.data.shape == image.shape and probs.data.shape == (2, *image.shape)
    assert list(labels.scale) == [0.5, 0.5] and list(labels.translate) == [10, 20]
    inner = np.zeros_like(truth, bool)
    for by in range(2):
        for bx in range(3):
            inner[by * 48 + 8:(by + 1) * 48 - 8, bx * 48 + 8:(bx + 1) * 48 - 8] = True
    agree = (labels.data[inner] == truth[inner] + 1).mean()
    assert agree >= 0.9, agree
    assert list(labels.features["class"]) == ["unlabelled", "horizontal", "vertical"]


def test_objects_get_a_class_each_in_the_labels_features(dock, qtbot):
    viewer, widget = dock
    image, labels, truth = objects_scene()
    viewer.add_image(image, name="cells")
    seg = viewer.add_labels(labels, name="segmentation")
    widget.reset_choices()
    widget.image_layer.value = viewer.layers["cells"]
    widget.labels_layer.value = seg
    _run(qtbot, widget, "objects")
    features = seg.features
    got = dict(zip(features["index"], features["class"], strict=True))
    assert got == {i: ["horizontal", "vertical"][c] for i, c in truth.items()}
    coloured = viewer.layers["object classes: segmentation"].data
    for label_id, cls in truth.items():
        assert set(np.unique(coloured[labels == label_id])) == {cls + 1}
    row = next(r for r in range(widget.table.rowCount())
               if widget.table.record_at(r)["label"] == 5)
    widget.table.cellClicked.emit(row, 0)
    assert seg.selected_label == 5


def test_folder_mode_lists_every_image(dock, qtbot, tmp_path):
    viewer, widget = dock
    for i, vertical in enumerate([True, False, True]):
        img = (stripes((16, 16), vertical, seed=i) * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    widget.folder.value = tmp_path
    _run(qtbot, widget, "folder")
    rows = sorted((widget.table.record_at(r) for r in range(3)), key=lambda r: r["path"])
    assert [r["class"] for r in rows] == ["vertical", "horizontal", "vertical"]
