"""Classify preprocessed arrays, raw images, stacks and image files with a model bundle.

Raw inputs are preprocessed with the bundle's own data configuration (the rules the model
was trained with), so the same image gives the same answer in napari, on the command line and
in a notebook. Tiled class maps live in :mod:`.tiling`, objects of a label image in
:mod:`.objects`, evaluating on a labelled folder in :mod:`.evaluation`; they share the
helpers of :mod:`._predict`.

Stopping: :func:`predict_arrays` raises :class:`~napari_convnet.errors.JobStopped`; the
functions for stacks, tiles, objects and files return what they classified so far with
``"stopped": True`` (the engine hands that partial result to the GUI).
"""

import dataclasses

import numpy as np

from napari_convnet.core._predict import (
    check_channels,
    data_config,
    predict_batch,
    predict_chunks,
    single_image,
    summarize,
)
from napari_convnet.core.reading import check_plane
from napari_convnet.core.walk import find_images
from napari_convnet.errors import DatasetError, JobStopped, ModelError

# napari stacks of colour images are (N, Y, X, C); a last axis this small is taken for channels
_MAX_STACK_CHANNELS = 4


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
    from napari_convnet.core.images import preprocess_array

    x = preprocess_array(array, data_config(meta), channel_axis=channel_axis)
    return predict_arrays(model, x, batch_size)


def _stack_slices(stack, channel_axis):
    """(N, Y, X, C) view of a (T/Z, Y, X[, C]) stack; leading axes are flattened to N."""
    stack = np.asarray(stack)
    if stack.ndim < 3:
        raise DatasetError(
            f"A stack needs (N, Y, X) or (N, Y, X, C) axes. Received shape {stack.shape}; "
            "classify one 2D image with classify_image."
        )
    if channel_axis is None and stack.ndim >= 4 and stack.shape[-1] <= _MAX_STACK_CHANNELS:
        channel_axis = -1
    if channel_axis is None:
        check_plane(*stack.shape[-2:], name=f"a stack of shape {stack.shape}")
        return stack.reshape((-1, *stack.shape[-2:], 1))
    if not -stack.ndim <= channel_axis < stack.ndim or channel_axis % stack.ndim == 0:
        raise DatasetError(
            f"`channel_axis` must be an axis of the stack after the first (slice) axis. "
            f"Received: channel_axis={channel_axis} for a stack of shape {stack.shape}"
        )
    moved = np.moveaxis(stack, channel_axis, -1)
    check_plane(*moved.shape[-3:-1], name=f"a stack of shape {stack.shape}")
    return moved.reshape((-1, *moved.shape[-3:]))


def classify_image(model, meta, image, channel_axis=None):
    """Classify one raw 2D image (a napari image layer's data) with the bundle's preprocessing.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``, ``class_names``).
    image : array_like
        (Y, X), (Y, X, C) or (C, Y, X), any numeric dtype.
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``; None = detect.

    Returns
    -------
    dict
        ``class_index`` (int), ``class_name`` (str), ``probability`` (float) and
        ``probabilities`` (list of K floats, in ``class_names`` order).

    Raises
    ------
    DatasetError
        A stack, or channels the model cannot take (the message says what to do).
    """
    from napari_convnet.core.images import finish

    config = data_config(meta)
    x = finish(single_image(image, config, channel_axis)[None], config)
    p = predict_batch(model, x, 1)[0]
    index = int(p.argmax())
    return {"class_index": index, "class_name": list(meta["class_names"])[index],
            "probability": float(p[index]), "probabilities": p.tolist()}


def classify_stack(model, meta, stack, channel_axis=None, batch_size=32, on_event=None,
                   should_stop=None):
    """Classify every slice of a stack in batches, whatever the bundle's stack rule.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata.
    stack : array_like
        (N, Y, X) grey or (N, Y, X, C) with C <= 4; more leading axes (T, Z, Y, X) are
        flattened to N in C order. Any numeric dtype.
    channel_axis : int, optional
        The channel axis when it is not last (e.g. 1 for (N, C, Y, X)); never the first axis.
    batch_size : int
    on_event, should_stop : callable, optional
        ``{"type": "progress", "stage": "classifying slices", "done", "total"}`` per batch;
        a stop returns the slices classified so far.

    Returns
    -------
    dict
        See :func:`summarize`: ``class_index`` (N,), ``class_names``, ``probabilities``
        float32 (N, K), ``probability`` (N,), ``predicted`` (N class names), ``stopped``.
        After a stop N is the number of slices done (the first ones).
    """
    from napari_convnet.core.images import finish, prepare

    config = data_config(meta)
    slices = _stack_slices(stack, channel_axis)
    check_channels(slices.shape[-1], config, np.shape(stack), channel_axis)
    per_slice = dataclasses.replace(config, stack_rule="slices")

    def make_batch(start, stop):
        return finish(prepare(slices[start:stop], per_slice, "stack"), config)

    probs, stopped = predict_chunks(model, len(slices), make_batch, batch_size,
                                    "classifying slices", on_event, should_stop)
    return summarize(probs, list(meta["class_names"]), stopped)


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
        "error"}`` for files that could not be read (skipped); ``stopped``: True when
        ``should_stop`` ended the run early (``rows`` then hold the files done so far).
    """
    from napari_convnet.core.images import read_image

    config = data_config(meta)
    names = list(meta["class_names"])
    files = find_images(paths)
    rows, errors, pending = [], [], []

    def flush():
        if not pending:
            return
        x = np.concatenate([images for _, images in pending])
        probs = predict_arrays(model, x, batch_size)
        i = 0
        for path, images in pending:
            for s in range(len(images)):
                p = probs[i]
                rows.append({"path": path, "slice": s if len(images) > 1 else None,
                             "predicted": names[int(p.argmax())],
                             "probability": float(p.max()), "probabilities": p.tolist()})
                i += 1
        pending.clear()

    stopped = False
    for done, path in enumerate(files, 1):
        if should_stop is not None and should_stop():
            stopped = True
            break
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
    return {"class_names": names, "rows": rows, "errors": errors, "stopped": stopped}
