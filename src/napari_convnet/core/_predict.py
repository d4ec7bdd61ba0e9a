"""Helpers shared by :mod:`.prediction`, :mod:`.tiling` and :mod:`.objects`.

The bundle's data configuration, one raw 2D image laid out for the model, and batched
prediction that prepares the next batch while the model runs on the current one.
"""

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from napari_convnet import options
from napari_convnet.errors import DatasetError, ModelError


def data_config(meta):
    """The bundle's :class:`~napari_convnet.core.data_config.DataConfig`, size and channels filled
    from the model.

    Bundles written by training always name their input size and channel count; hand-made
    metadata may leave them None (``auto``), and the model input then decides (so images are
    converted to it).
    """
    from napari_convnet.core.data_config import DataConfig

    config = DataConfig.from_dict(meta["data_config"])
    shape = meta.get("input_shape")
    if config.channels is None and shape:
        config = dataclasses.replace(config, channels=int(shape[-1]))
    if config.image_size is None and shape:
        config = dataclasses.replace(config, image_size=(int(shape[0]), int(shape[1])))
    return config


def check_channels(have, config, shape, channel_axis=None):
    """Raise a DatasetError when an image with ``have`` channels cannot feed the model.

    Grey images are repeated and any channel count averages to grey, so only an N -> M
    conversion with N, M > 1 is refused (see :func:`~napari_convnet.core.images.convert_channels`).
    """
    want = config.channels
    if want is None or have in (want, 1) or want == 1:
        return
    axis = "detected" if channel_axis is None else f"channel_axis={channel_axis}"
    raise DatasetError(
        f"The model takes {want} channel(s) but the image of shape {tuple(shape)} has {have} "
        f"({axis}). Pass channel_axis= the axis that holds the channels, or give an image "
        f"with {want} channel(s) (or 1, which is repeated)."
    )


def single_image(image, config, channel_axis=None, name="image"):
    """One raw 2D image laid out as (Y, X, C), converted to the model's channels.

    Parameters
    ----------
    image : array_like
        (Y, X), (Y, X, C) or (C, Y, X), any numeric dtype.
    config : DataConfig
    channel_axis : int, optional
        Overrides ``config.channel_axis``; both None = detect (a first/last axis of size <= 4).

    Returns
    -------
    ndarray
        (Y, X, C) with C = ``config.channels``; float32 after ``"range"`` normalisation (already
        applied here, it needs the dtype), else the image's dtype. Percentiles are not applied.

    Raises
    ------
    DatasetError
        A stack (more than one 2D plane), or channels the model cannot take.
    """
    from napari_convnet.core.images import prepare, to_syxc

    image = np.asarray(image)
    axis = config.channel_axis if channel_axis is None else channel_axis
    syxc = to_syxc(image, channel_axis=axis)
    if syxc.shape[0] != 1:
        raise DatasetError(
            f"The {name} must be one 2D image (Y, X), (Y, X, C) or (C, Y, X). Received shape "
            f"{image.shape}, read as {syxc.shape[0]} planes of {syxc.shape[1:3]} with "
            f"{syxc.shape[3]} channel(s). Pass channel_axis= if an axis holds channels; "
            "classify a stack slice by slice with classify_stack."
        )
    check_channels(syxc.shape[-1], config, image.shape, axis)
    return prepare(syxc, dataclasses.replace(config, stack_rule="slices"), name)[0]


def predict_batch(model, x, full):
    """Predict one batch, padded to ``full`` samples so Keras does not retrace for a short tail."""
    n = len(x)
    if n < full:
        x = np.concatenate([x, np.zeros((full - n, *x.shape[1:]), x.dtype)])
    return np.asarray(model.predict_on_batch(x), np.float32)[:n]


def predict_chunks(model, total, make_batch, batch_size, stage, on_event=None,
                   should_stop=None):
    """Predict ``total`` samples built batch by batch, preparing the next batch meanwhile.

    Preprocessing (numpy, in a helper thread) overlaps with prediction (TensorFlow), which
    both release the GIL, so the model rarely waits for its input.

    Parameters
    ----------
    model : keras.Model
    total : int
    make_batch : callable
        ``make_batch(start, stop)`` -> float32 (stop - start, H, W, C) preprocessed samples.
    batch_size : int
    stage : str
        Stage name of the progress events.
    on_event, should_stop : callable, optional

    Returns
    -------
    probabilities : ndarray
        float32 (done, K); done < total after a stop.
    stopped : bool
    """
    options.check("batch_size", batch_size, options.PREDICT_BATCH_SIZE, ModelError,
                  integer=True)
    out = np.empty((total, int(model.output_shape[-1])), np.float32)
    full = batch_size if total > batch_size else total
    done, stopped = 0, False
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(make_batch, 0, min(batch_size, total)) if total else None
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            x = pending.result()
            if stop < total:
                pending = pool.submit(make_batch, stop, min(stop + batch_size, total))
            if should_stop is not None and should_stop():
                stopped = True
                break
            out[start:stop] = predict_batch(model, x, full)
            done = stop
            if on_event is not None:
                on_event({"type": "progress", "stage": stage, "done": done, "total": total})
    return out[:done], stopped


def summarize(probabilities, class_names, stopped=False):
    """Per-sample result arrays from (N, K) probabilities.

    Returns
    -------
    dict
        ``class_index`` int64 (N,), ``class_names`` (list), ``probabilities`` float32 (N, K),
        ``probability`` float32 (N,) of the predicted class, ``predicted`` (list of N class
        names) and ``stopped`` (bool).
    """
    index = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    return {
        "class_index": index.astype(np.int64),
        "class_names": list(class_names),
        "probabilities": probabilities,
        "probability": probabilities.max(axis=1) if len(probabilities) else
        np.zeros(0, np.float32),
        "predicted": [class_names[i] for i in index],
        "stopped": bool(stopped),
    }
