"""The Evaluate dock in a real viewer: metrics, clickable confusion matrix, reversible moves."""

import json
import os

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PIL import Image

from napari_convnet.engine import get_engine

START_MS = 240_000


def _folder(root):
    rng = np.random.default_rng(0)
    for name, value in (("dark", 30), ("light", 220)):
        (root / name).mkdir(parents=True)
        for i in range(10):
            img = np.full((12, 12), value, np.int32) + rng.integers(-20, 20, (12, 12))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    for i in range(3):  # light images filed as dark: what a review should find
        Image.fromarray(np.full((12, 12), 225, np.uint8)).save(root / "dark" / f"odd{i}.png")


def _click(canvas, true_class, predicted_class):
    x, y = canvas.ax.transData.transform((predicted_class, true_class))
    MouseEvent("button_press_event", canvas, x, y, button=1)._process()


def test_evaluate_click_cell_move_and_undo(make_napari_viewer, qtbot, tmp_path):
    viewer, widget, data = _trained_and_evaluated(make_napari_viewer, qtbot, tmp_path)
    report = widget.report
    assert report["n_samples"] == 23 and report["class_names"] == ["dark", "light"]
    assert "accuracy" in widget.metrics.value and "precision" in widget.metrics.value
    assert widget.new_class.choices == ("dark", "light"), widget.new_class.choices

    # every cell: clicking opens exactly that cell's files, most confident first
    for t in range(2):
        for p in range(2):
            cell = [i for i in report["items"] if i["true"] == t and i["predicted"] == p]
            expected = sorted(cell, key=lambda i: -i["confidence"])
            if not expected:
                continue
            _click(widget.matrix, t, p)
            name = f"review: {report['class_names'][t]} → {report['class_names'][p]}"
            qtbot.waitUntil(lambda name=name: name in viewer.layers, timeout=60_000)
            layer = viewer.layers[name]
            assert layer.metadata["paths"] == [i["path"] for i in expected]
            assert layer.data.shape[0] == len(expected)

    # move the first image of the cell on screen to the other class, then undo
    widget.folder.value = data
    item = widget.current_item()
    assert item is not None
    widget.new_class.value = "light" if item["true"] == 0 else "dark"
    before = open(item["path"], "rb").read()
    widget.move_button.clicked()
    qtbot.waitUntil(lambda: not os.path.exists(item["path"]), timeout=30_000)
    (entry,) = [json.loads(line) for line in (data / ".napari-convnet-moves.jsonl").open()]
    moved = entry["target"]
    assert os.path.dirname(moved) == str(data / widget.new_class.value)
    assert open(moved, "rb").read() == before
    widget.undo_button.clicked()
    qtbot.waitUntil(lambda: os.path.exists(item["path"]), timeout=30_000)
    assert not os.path.exists(moved) and open(item["path"], "rb").read() == before

    # the report goes where the dock says: next to the evaluated bundle, never into the data
    models = tmp_path / "models"
    assert widget.export_to.value == (f"Writes m.evaluation.json, .csv and .png in {models}, "
                                      "next to m.keras."), widget.export_to.value
    stem = widget.export_report()
    assert stem == str(models / "m.evaluation")
    saved = json.loads(open(stem + ".json").read())
    assert saved["confusion_matrix"] == report["confusion_matrix"]
    assert saved["model"] == str(models / "m.keras")
    assert os.path.getsize(stem + ".png") > 1000 and os.path.getsize(stem + ".csv") > 0
    assert not [p for p in data.rglob("*") if "evaluation" in p.name]
    # a second export keeps the first, and the label named the new files before
    assert "m.evaluation-2.json" in widget.export_to.value
    assert widget.export_report() == str(models / "m.evaluation-2")
    assert json.loads(open(stem + ".json").read()) == saved


def _trained_and_evaluated(make_napari_viewer, qtbot, tmp_path):
    """A viewer with the Evaluate dock and a report of a model trained on ``_folder``.

    The model is the engine's current one, trained on the same folder (as the Train dock
    would) and saved to ``tmp_path/models/m.keras``.
    """
    data = tmp_path / "data"
    _folder(data)
    get_engine().call("train", timeout=300, root=str(data), preset="dense-2x10",
                      data_config={"image_size": [12, 12], "normalization": "range"},
                      train_config={"epochs": 8, "batch_size": 4, "learning_rate": 0.05},
                      out=str(tmp_path / "models" / "m.keras"))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Evaluate")
    widget.folder.value = data
    widget.evaluate_button.clicked()
    qtbot.waitUntil(lambda: widget.report is not None, timeout=START_MS)
    return viewer, widget, data


def test_review_moves_the_file_on_screen_beside_a_4d_layer(make_napari_viewer, qtbot, tmp_path):
    viewer, widget, data = _trained_and_evaluated(make_napari_viewer, qtbot, tmp_path)
    # the Inspect dock's kernels layer (filters, in_channels, kh, kw) is open, its filter
    # slider away from 0: the viewer has 4 axes, the review stack's images are on axis 1
    viewer.add_image(np.random.default_rng(0).normal(size=(8, 3, 5, 5)), name="kernels: conv")
    viewer.dims.set_current_step(0, 6)
    report = widget.report
    cells = {}
    for item in report["items"]:
        cells.setdefault((item["true"], item["predicted"]), []).append(item)
    (t, p), cell = max(cells.items(), key=lambda kv: len(kv[1]))
    assert len(cell) >= 8, cells.keys()
    _click(widget.matrix, t, p)
    name = f"review: {report['class_names'][t]} → {report['class_names'][p]}"
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=60_000)
    stack = viewer.layers[name]
    paths = stack.metadata["paths"]
    assert viewer.dims.ndim == 4 and stack.ndim == 3
    assert viewer.layers.index(stack) == len(viewer.layers) - 1  # opened on top
    assert os.path.basename(paths[0]) in widget.move_button.text  # opened at its first image

    k = 3
    viewer.dims.set_current_step(1, k)  # the review stack's slider
    target = os.path.basename(paths[k])
    other = "dark" if report["class_names"][t] == "light" else "light"
    widget.new_class.value = other
    assert widget.move_button.text == f"Move {target} to {other}", widget.move_button.text
    assert paths[k] in widget.on_screen.value and f"image {k + 1} of {len(paths)}" in \
        widget.on_screen.value
    assert widget.current_item()["path"] == paths[k]
    widget.copy.value = True
    assert widget.move_button.text == f"Copy {target} to {other}"
    widget.copy.value = False
    before = open(paths[k], "rb").read()
    widget.move_button.clicked()
    qtbot.waitUntil(lambda: not os.path.exists(paths[k]), timeout=30_000)
    assert [os.path.exists(path) for path in paths] == [i != k for i in range(len(paths))]
    (entry,) = [json.loads(line) for line in (data / ".napari-convnet-moves.jsonl").open()]
    assert entry["source"] == paths[k]
    assert open(entry["target"], "rb").read() == before
    # the line is refreshed when the engine's answer reaches the dock, after the file is gone
    qtbot.waitUntil(lambda: "no longer there" in widget.on_screen.value, timeout=30_000)

    # hidden, or covered by another layer: the dock says so and moves nothing
    viewer.dims.set_current_step(1, k + 1)
    stack.visible = False
    assert "hidden" in widget.on_screen.value and widget.current_item() is None
    widget.move_button.clicked()
    stack.visible = True
    assert os.path.basename(paths[k + 1]) in widget.move_button.text
    viewer.layers.move(viewer.layers.index(stack), 0)
    assert "drawn over" in widget.on_screen.value and widget.current_item() is None
    qtbot.wait(500)
    assert all(os.path.exists(path) for path in paths if path != paths[k])

    # the dock closed: it no longer follows the viewer
    viewer.layers.move(viewer.layers.index(stack), len(viewer.layers))
    shown = widget.on_screen.value
    viewer.window.remove_dock_widget(widget.native)
    viewer.dims.set_current_step(1, 0)
    assert widget.on_screen.value == shown
