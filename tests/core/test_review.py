"""Evaluation items, confusion-matrix cells and reversible relabelling."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from napari_convnet.core import review
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.evaluation import evaluate_folder
from napari_convnet.errors import DatasetError

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _brightness_model():
    """A real Keras model with set weights: class "light" when the mean intensity > 0.5."""
    import keras

    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.layers[-1].set_weights([np.array([[-20.0, 20.0]], "float32"),
                                  np.array([10.0, -10.0], "float32")])
    return model


def _folder(root):
    # "dark" and "light" classes; two light images are deliberately filed as dark
    rng = np.random.default_rng(0)
    for name, n in (("dark", 6), ("light", 6)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            value = 20 if name == "dark" else 230
            img = np.full((12, 12), value, np.uint8) + rng.integers(0, 5, (12, 12), np.uint8)
            Image.fromarray(img).save(root / name / f"{name}{i}.png")
    for i in range(2):
        Image.fromarray(np.full((12, 12), 230, np.uint8)).save(root / "dark" / f"wrong{i}.png")


META = {"class_names": ["dark", "light"],
        "data_config": DataConfig(image_size=(12, 12), normalization="range").to_dict()}


def test_items_and_metrics_match_scikit_learn(tmp_path):
    _folder(tmp_path / "d")
    report = evaluate_folder(_brightness_model(), META, tmp_path / "d", items=True)
    items = report["items"]
    assert report["split"] == "all" and len(items) == 14
    y_true = [i["true"] for i in items]
    y_pred = [i["predicted"] for i in items]
    assert report["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(report["confusion_matrix"],
                                  sklearn_metrics.confusion_matrix(y_true, y_pred))
    p, r, f, s = sklearn_metrics.precision_recall_fscore_support(y_true, y_pred)
    for k, name in enumerate(["dark", "light"]):
        assert report["per_class"][name]["precision"] == pytest.approx(p[k])
        assert report["per_class"][name]["recall"] == pytest.approx(r[k])
        assert report["per_class"][name]["f1"] == pytest.approx(f[k])
        assert report["per_class"][name]["support"] == s[k]
    wrong = review.cell_items(items, 0, 1)
    assert sorted(os.path.basename(i["path"]) for i in wrong) == ["wrong0.png", "wrong1.png"]


def test_relabel_moves_logs_and_undoes(tmp_path):
    _folder(tmp_path / "d")
    root = tmp_path / "d"
    src = root / "dark" / "wrong0.png"
    before = src.read_bytes()
    entry = review.relabel(str(src), str(root), "light", ["dark", "light"])
    assert not src.exists() and (root / "light" / "wrong0.png").read_bytes() == before
    assert entry["from_class"] == "dark" and entry["to_class"] == "light"
    copied = review.relabel(str(root / "dark" / "wrong1.png"), str(root), "light",
                            ["dark", "light"], copy=True)
    assert (root / "dark" / "wrong1.png").exists() and os.path.exists(copied["target"])
    log = [json.loads(line) for line in (root / review.LOG_NAME).read_text().splitlines()]
    assert [e["action"] for e in log] == ["move", "copy"]

    assert review.undo_last(str(root))["action"] == "copy"
    assert not os.path.exists(copied["target"]) and (root / "dark" / "wrong1.png").exists()
    assert review.undo_last(str(root))["action"] == "move"
    assert src.read_bytes() == before and not (root / "light" / "wrong0.png").exists()
    assert review.undo_last(str(root)) is None


def test_relabel_never_overwrites_and_refuses_unknown_class(tmp_path):
    _folder(tmp_path / "d")
    root = tmp_path / "d"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "light" / "wrong0.png")
    entry = review.relabel(str(root / "dark" / "wrong0.png"), str(root), "light",
                           ["dark", "light"])
    assert entry["target"].endswith("wrong0-1.png")
    with pytest.raises(DatasetError, match="Unknown class 'cat'"):
        review.relabel(str(root / "dark" / "wrong1.png"), str(root), "cat", ["dark", "light"])
