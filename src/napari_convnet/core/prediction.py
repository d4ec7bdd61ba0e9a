"""Classify preprocessed arrays, raw arrays and image files with a model bundle.

Raw inputs are preprocessed with the bundle's own data configuration (the rules the model
was trained with), so the same image gives the same answer in napari, on the command line and
in a notebook.
"""

import os

import numpy as np

from napari_convnet.errors import DatasetError, JobStopped, ModelError


def _data_config(meta):
    from napari_convnet.core.data import DataConfig

    return DataConfig.from_dict(meta["data_config"])


def predict_arrays(model, x, batch_size=32, on_event=None, should_stop=None):
    """Class probabilities of preprocessed images, in batches.

    Parameters
    ----------
    model : keras.Model
    x : ndarray
        float32 (N, H, W, C), preprocessed like the training data.
    batch_size : int
    on_event, should_stop : callable, optional
        ``{"type": "progress", "stage": "predicting", "done", "total"}`` events; a stop
        raises :class:`~napari_convnet.errors.JobStopped`.

    Returns
    -------
    ndarray
        float32 (N, K) probabilities (rows sum to 1).
    """
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(model.input_shape[1:])
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ModelError(
            f"The model takes images of shape (N, {', '.join(map(str, expected))}). "
            f"Received: {x.shape}. Preprocess raw images with classify_array or predict_files."
        )
    k = int(model.output_shape[-1])
    out = np.empty((len(x), k), np.float32)
    for start in range(0, len(x), batch_size):
        if should_stop is not None and should_stop():
            raise JobStopped("prediction stopped")
        stop = min(start + batch_size, len(x))
        out[start:stop] = np.asarray(model.predict_on_batch(x[start:stop]), np.float32)
        if on_event is not None:
            on_event({"type": "progress", "stage": "predicting", "done": stop, "total": len(x)})
    return out


def classify_array(model, meta, array, channel_axis=None, batch_size=32):
    """Preprocess a raw numpy/napari array with the bundle's rules and classify it.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``, ``class_names``).
    array : array_like
        One raw image: (Y, X), (Y, X, C), (C, Y, X) or a stack (Z, Y, X[, C]); any dtype.
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``.

    Returns
    -------
    ndarray
        float32 (N, K) probabilities; N = 1 unless the bundle uses ``stack_rule="slices"``.
    """
    from napari_convnet.core.data import preprocess_array

    x = preprocess_array(array, _data_config(meta), channel_axis=channel_axis)
    return predict_arrays(model, x, batch_size)


def find_images(paths):
    """Expand files and folders (recursively, sorted) into image file paths.

    Raises
    ------
    DatasetError
        A path that does not exist, or no image files at all.
    """
    from napari_convnet.core.data import IMAGE_SUFFIXES

    found = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(folder, f) for f in sorted(files)
                          if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise DatasetError(f"No such file or folder: {path!r}")
    if not found:
        raise DatasetError(
            f"No image files ({', '.join(IMAGE_SUFFIXES)}) in {[os.fspath(p) for p in paths]}."
        )
    return found


def predict_files(model, meta, paths, batch_size=32, on_event=None, should_stop=None):
    """Classify image files (or every image in folders), reading them batch by batch.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata.
    paths : sequence of str or os.PathLike
        Files and/or folders.
    batch_size : int

    Returns
    -------
    dict
        ``class_names``; ``rows``: one dict per image (per slice with ``stack_rule="slices"``)
        with ``path``, ``slice``, ``predicted`` (class name), ``probability`` (its
        probability) and ``probabilities`` (list of K floats); ``errors``: ``{"path",
        "error"}`` for files that could not be read (skipped).
    """
    from napari_convnet.core.data import read_image

    config = _data_config(meta)
    names = list(meta["class_names"])
    files = find_images(paths)
    rows, errors, pending = [], [], []

    def flush():
        if not pending:
            return
        x = np.concatenate([images for _, images in pending])
        probs = predict_arrays(model, x, batch_size, should_stop=should_stop)
        i = 0
        for path, images in pending:
            for s in range(len(images)):
                p = probs[i]
                rows.append({"path": path, "slice": s if len(images) > 1 else None,
                             "predicted": names[int(p.argmax())],
                             "probability": float(p.max()), "probabilities": p.tolist()})
                i += 1
        pending.clear()

    for done, path in enumerate(files, 1):
        try:
            pending.append((path, read_image(path, config)))
        except DatasetError as exc:
            errors.append({"path": path, "error": str(exc)})
        if sum(len(images) for _, images in pending) >= batch_size:
            flush()
        if on_event is not None:
            on_event({"type": "progress", "stage": "predicting", "done": done,
                      "total": len(files)})
    flush()
    return {"class_names": names, "rows": rows, "errors": errors}


def evaluate_folder(model, meta, data_root, batch_size=32, on_event=None, should_stop=None):
    """Evaluate a bundle on a labelled folder: its test split if it has one, else all of it.

    The folder is indexed with the bundle's data configuration (so a flat folder the model
    was trained on yields the same held-out test split); its classes must be among the
    bundle's classes.

    Returns
    -------
    dict
        :func:`napari_convnet.core.evaluation.evaluate_probabilities` output plus ``split``
        (``"test"`` or ``"all"``) and ``data`` (the folder).
    """
    from napari_convnet.core.data import index_folder, load_split
    from napari_convnet.core.evaluation import evaluate_probabilities

    names = list(meta["class_names"])
    index = index_folder(data_root, _data_config(meta), on_event=on_event,
                         should_stop=should_stop)
    unknown = [n for n in index.class_names if n not in names]
    if unknown:
        raise DatasetError(
            f"{os.fspath(data_root)!r} has classes the model does not know: "
            f"{', '.join(unknown)}. The model knows: {', '.join(names)}."
        )
    splits = ["test"] if index.splits.get("test") else [s for s in index.splits
                                                         if index.splits[s]]
    parts = [load_split(index, s) for s in splits]
    x = np.concatenate([p[0] for p in parts])
    remap = np.array([names.index(n) for n in index.class_names], np.int64)
    y = remap[np.concatenate([p[1] for p in parts])]
    probs = predict_arrays(model, x, batch_size, on_event, should_stop)
    report = evaluate_probabilities(y, probs, names)
    report.update(split="test" if splits == ["test"] else "all", data=os.fspath(data_root))
    return report
