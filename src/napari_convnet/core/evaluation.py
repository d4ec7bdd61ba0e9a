"""Evaluation metrics from labels and predictions (pure numpy, no Keras).

Conventions follow scikit-learn: the confusion matrix has true classes in rows and predicted
classes in columns; precision, recall or F1 with a zero denominator is 0.0.
"""

import numpy as np

from napari_convnet.errors import DatasetError


def _labels(values, name, num_classes):
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise DatasetError(
            f"`{name}` must be a 1-D array of integer class indices. "
            f"Received: shape={arr.shape}, dtype={arr.dtype}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise DatasetError(
            f"`{name}` holds class indices outside 0..{num_classes - 1}: "
            f"min={arr.min()}, max={arr.max()}"
        )
    return arr.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes):
    """Count predictions per (true class, predicted class).

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
    num_classes : int

    Returns
    -------
    ndarray
        int64 (num_classes, num_classes); ``cm[i, j]`` = samples of class i predicted as j.
    """
    t = _labels(y_true, "y_true", num_classes)
    p = _labels(y_pred, "y_pred", num_classes)
    if t.shape != p.shape:
        raise DatasetError(
            f"`y_true` and `y_pred` must have the same length. Received: {t.size} and {p.size}"
        )
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def _ratio(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class_metrics(cm):
    """Precision, recall, F1 and support per class from a confusion matrix.

    Parameters
    ----------
    cm : ndarray, shape (K, K)

    Returns
    -------
    dict of str to ndarray
        ``precision``, ``recall``, ``f1`` (float64 (K,)) and ``support`` (int64 (K,)).
    """
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    precision = _ratio(tp, cm.sum(axis=0))
    recall = _ratio(tp, cm.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1,
            "support": cm.sum(axis=1).astype(np.int64)}


def classification_report(y_true, y_pred, class_names):
    """Accuracy, per-class metrics and confusion matrix as one JSON-able dict.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
        Class indices into ``class_names``.
    class_names : sequence of str

    Returns
    -------
    dict
        ``accuracy`` (float), ``n_samples`` (int), ``class_names`` (list),
        ``confusion_matrix`` (list of lists of int, true classes in rows),
        ``per_class`` ({name: {"precision", "recall", "f1", "support"}}), and
        ``macro_avg`` / ``weighted_avg`` ({"precision", "recall", "f1"}).
    """
    names = [str(n) for n in class_names]
    cm = confusion_matrix(y_true, y_pred, len(names))
    m = per_class_metrics(cm)
    n = int(cm.sum())
    support = m["support"]
    weights = support / n if n else np.zeros(len(names))
    keys = ("precision", "recall", "f1")
    return {
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "n_samples": n,
        "class_names": names,
        "confusion_matrix": cm.tolist(),
        "per_class": {
            name: {**{k: float(m[k][i]) for k in keys}, "support": int(support[i])}
            for i, name in enumerate(names)
        },
        "macro_avg": {k: float(m[k].mean()) for k in keys},
        "weighted_avg": {k: float((m[k] * weights).sum()) for k in keys},
    }


def evaluate_probabilities(y_true, probabilities, class_names):
    """:func:`classification_report` of the arg-max of predicted probabilities.

    Parameters
    ----------
    y_true : array_like of int, shape (N,)
    probabilities : array_like of float, shape (N, K)
    class_names : sequence of str, length K

    Returns
    -------
    dict
        As :func:`classification_report`, plus ``mean_confidence`` (mean top probability).
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(class_names):
        raise DatasetError(
            f"`probabilities` must have shape (N, {len(class_names)}). Received: {probs.shape}"
        )
    report = classification_report(y_true, probs.argmax(axis=1), class_names)
    report["mean_confidence"] = float(probs.max(axis=1).mean()) if len(probs) else 0.0
    return report


def format_report(report):
    """Plain-text table of a :func:`classification_report` (for the terminal)."""
    names = report["class_names"]
    width = max(12, *(len(n) for n in names))
    lines = [f"accuracy {report['accuracy']:.4f} on {report['n_samples']} images", "",
             f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        r = report["per_class"][name]
        lines.append(f"{name:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  "
                     f"{r['f1']:5.3f}  {r['support']:7d}")
    avg = report["macro_avg"]
    lines.append(f"{'macro avg':<{width}}  {avg['precision']:9.3f}  {avg['recall']:6.3f}  "
                 f"{avg['f1']:5.3f}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cell = max(5, *(len(str(v)) for row in report["confusion_matrix"] for v in row))
    lines.append(" " * width + "  " + " ".join(f"{i:>{cell}}" for i in range(len(names))))
    for i, (name, row) in enumerate(zip(names, report["confusion_matrix"], strict=True)):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row) + f"  ({i})")
    return "\n".join(lines)
