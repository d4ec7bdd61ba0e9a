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
    data = tmp_path / "data"
    _folder(data)
    # a current model in the engine, trained on the same folder (as the Train dock would)
    get_engine().call("train", timeout=300, root=str(data), preset="dense-2x10",
                      data_config={"image_size": [12, 12], "normalization": "range"},
                      train_config={"epochs": 8, "batch_size": 4, "learning_rate": 0.05},
                      out=str(tmp_path / "models" / "m.keras"))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Evaluate")
    widget.folder.value = data
    widget.evaluate_button.clicked()
    qtbot.waitUntil(lambda: widget.report is not None, timeout=START_MS)
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

    stem = widget.export_report(str(tmp_path))
    saved = json.loads(open(stem + ".json").read())
    assert saved["confusion_matrix"] == report["confusion_matrix"]
    assert os.path.getsize(stem + ".png") > 1000
