"""Evaluation metrics (pure numpy) against scikit-learn."""

import json

import numpy as np
import pytest

from napari_convnet.core.evaluation import (
    classification_report,
    confusion_matrix,
    evaluate_probabilities,
)
from napari_convnet.errors import DatasetError
from napari_convnet.reports import format_report

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    y_pred[y_pred == 3] = 2  # class 3 is never predicted: precision 0/0 -> 0
    names = ["w", "x", "y", "z"]
    report = classification_report(y_true, y_pred, names)
    expected = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=range(4))
    np.testing.assert_array_equal(report["confusion_matrix"], expected)
    assert report["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
    p, r, f, s = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=range(4), zero_division=0)
    for i, name in enumerate(names):
        row = report["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i]))
    assert report["macro_avg"]["f1"] == pytest.approx(f.mean())
    json.dumps(report)


def test_probabilities_and_text():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    report = evaluate_probabilities([0, 1, 1], probs, ["cat", "dog"])
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["confusion_matrix"] == [[1, 0], [1, 1]]
    assert report["mean_confidence"] == pytest.approx((0.9 + 0.8 + 0.6) / 3)
    text = format_report(report)
    assert "accuracy 66.7 % on 3 images" in text and "dog" in text and "(1)" in text


def test_empty_and_bad_input():
    assert classification_report([], [], ["a", "b"])["accuracy"] == 0.0
    with pytest.raises(DatasetError, match="outside"):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(DatasetError, match="same length"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(DatasetError, match="integer"):
        confusion_matrix([0.5], [0], 2)
    with pytest.raises(DatasetError, match="shape"):
        evaluate_probabilities([0], np.ones((1, 3)), ["a", "b"])
