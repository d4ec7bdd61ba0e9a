"""Evaluation: metrics from labels and predictions (pure numpy), and a model on a folder.

Conventions follow scikit-learn: the confusion matrix has true classes in rows and predicted
classes in columns; precision, recall or F1 with a zero denominator is 0.0.
"""

import os

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


def evaluate_folder(model, meta, data_root, batch_size=32, on_event=None, should_stop=None,
                    split=None, items=False):
    """Evaluate a bundle on a labelled folder: its test split if it has one, else all of it.

    The folder is indexed with the bundle's data configuration (so a flat folder the model
    was trained on yields the same held-out test split); its classes must be among the
    bundle's classes.

    Parameters
    ----------
    split : {None, "train", "validation", "test", "all"}
        None: ``"test"`` when the folder has test images, else ``"all"``.
    items : bool
        Also return one entry per image (for reviewing misclassified images).

    Returns
    -------
    dict
        :func:`napari_convnet.core.evaluation.evaluate_probabilities` output plus ``split``
        and ``data`` (the folder); with ``items``, ``items``: ``{"path", "slice_index",
        "true", "predicted", "confidence", "probabilities"}`` per image (class indices).
    """
    from napari_convnet.core._predict import data_config
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.pipeline import load_split
    from napari_convnet.core.prediction import predict_arrays

    names = list(meta["class_names"])
    index = index_folder(data_root, data_config(meta), on_event=on_event,
                         should_stop=should_stop)
    unknown = [n for n in index.class_names if n not in names]
    if unknown:
        raise DatasetError(
            f"{os.fspath(data_root)!r} has classes the model does not know: "
            f"{', '.join(unknown)}. The model knows: {', '.join(names)}."
        )
    if split is None:
        split = "test" if index.splits.get("test") else "all"
    splits = [s for s in index.splits if index.splits[s]] if split == "all" else [split]
    if any(not index.splits.get(s) for s in splits):
        raise DatasetError(f"{os.fspath(data_root)!r} has no {split!r} images. "
                           f"Its splits: {', '.join(index.splits)}; use 'all'.")
    parts = [load_split(index, s) for s in splits]
    x = np.concatenate([p[0] for p in parts])
    remap = np.array([names.index(n) for n in index.class_names], np.int64)
    y = remap[np.concatenate([p[1] for p in parts])]
    probs = predict_arrays(model, x, batch_size, on_event, should_stop)
    report = evaluate_probabilities(y, probs, names)
    report.update(split=split, data=os.fspath(data_root))
    if items:
        samples = [s for name in splits for s in index.splits[name]]
        report["items"] = [
            {"path": s.path, "slice_index": s.slice_index, "true": int(t),
             "predicted": int(p.argmax()), "confidence": float(p.max()),
             "probabilities": [float(v) for v in p]}
            for s, t, p in zip(samples, y, probs, strict=True)
        ]
    return report
