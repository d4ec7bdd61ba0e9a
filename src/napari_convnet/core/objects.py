"""Classify the objects of a label image (e.g. segmented cells): one prediction per label id.

Each object becomes one model input, preprocessed like a training image (so a model trained on
single-cell crops sees single-cell crops):

- ``"bbox"``: its bounding box, widened by ``padding`` × its height/width on each side and
  clipped to the image, then fitted to the model input by the bundle's ``resize`` rule (pad,
  crop or stretch) and normalised on its own;
- ``"patch"``: a patch of the model input size centred on its centroid, at the image's own
  resolution (reflected past the image border), normalised on its own.

Neighbouring objects inside a crop are kept: the model sees what a training crop would show.
"""

import numpy as np

from napari_convnet import options
from napari_convnet.core._predict import data_config, predict_chunks, single_image, summarize
from napari_convnet.errors import DatasetError

MODES = ("bbox", "patch")
# label ids up to this are mapped with a lookup table; larger ids go through np.unique
_LOOKUP_MAX = 1 << 24


def _check_labels(labels, shape, image_shape):
    labels = np.asarray(labels)
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(
            "`labels` must be a 2D integer label image (0 = background, 1.. = objects). "
            f"Received: shape {labels.shape}, dtype {labels.dtype}."
        )
    if labels.shape != tuple(shape):
        raise DatasetError(
            f"The label image has shape {labels.shape} but the image has {tuple(shape)} "
            f"pixels (Y, X) (image shape {tuple(image_shape)}). Give the labels segmented "
            "from this image, or pass channel_axis= if the image axes were misread."
        )
    if labels.size and labels.min() < 0:
        raise DatasetError(f"Label ids must be >= 0 (0 = background). Received min "
                           f"{labels.min()}.")
    return labels


def object_table(labels):
    """Bounding boxes and centroids of every object of a label image.

    Parameters
    ----------
    labels : ndarray
        int (Y, X); 0 is background.

    Returns
    -------
    ids : ndarray
        int64 (M,) label ids, ascending.
    boxes : ndarray
        int64 (M, 4): ``y0, x0, y1, x1`` (end exclusive).
    centroids : ndarray
        float64 (M, 2): mean (y, x) of the object's pixels.
    where : tuple of ndarray
        ``(pixels, object)``: flat indices of the foreground pixels and their object index
        (row of ``ids``), for painting per-object values back into an image.
    """
    flat = labels.ravel()
    pixels = np.flatnonzero(flat)
    found = flat[pixels].astype(np.int64)
    if found.size and found.max() <= _LOOKUP_MAX:
        present = np.bincount(found)
        ids = np.flatnonzero(present)
        lookup = np.zeros(len(present), np.int64)
        lookup[ids] = np.arange(len(ids))
        member = lookup[found]
    else:
        ids, member = np.unique(found, return_inverse=True)
    y, x = np.divmod(pixels, labels.shape[1])
    m = len(ids)
    boxes = np.empty((m, 4), np.int64)
    boxes[:, :2] = np.iinfo(np.int64).max
    boxes[:, 2:] = -1
    np.minimum.at(boxes[:, 0], member, y)
    np.minimum.at(boxes[:, 1], member, x)
    np.maximum.at(boxes[:, 2], member, y + 1)
    np.maximum.at(boxes[:, 3], member, x + 1)
    size = np.bincount(member, minlength=m)
    centroids = np.stack([np.bincount(member, y, m), np.bincount(member, x, m)], axis=1)
    return ids.astype(np.int64), boxes, centroids / np.maximum(size, 1)[:, None], (pixels, member)


def classify_objects(model, meta, image, labels, mode="bbox", padding=0.1, channel_axis=None,
                     batch_size=64, on_event=None, should_stop=None):
    """Classify each object of a label image from its crop of ``image``.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``, ``class_names``, ``input_shape``).
    image : array_like
        One 2D image: (Y, X), (Y, X, C) or (C, Y, X), any numeric dtype.
    labels : array_like
        int (Y, X) label image: 0 = background, each other id one object (need not be
        contiguous).
    mode : {"bbox", "patch"}
        Crop per object (see the module notes).
    padding : float
        ``"bbox"`` only: margin added on each side, as a fraction of the box height/width
        (within :data:`napari_convnet.options.PADDING`).
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``; None = detect.
    batch_size : int
    on_event, should_stop : callable, optional
        ``{"type": "progress", "stage": "classifying objects", "done", "total"}`` per batch.
        A stop returns the objects done so far (lowest ids first) and ``stopped=True``; the
        others are 0 in ``class_labels``.

    Returns
    -------
    dict
        ``label_ids`` int64 (M,); ``class_index`` int64 (M,); ``class_names``;
        ``probabilities`` float32 (M, K); ``probability`` float32 (M,); ``predicted`` (M
        class names); ``centroids`` float64 (M, 2) (y, x); ``boxes`` int64 (M, 4)
        ``y0, x0, y1, x1``; ``class_labels`` uint16 (Y, X): each object's pixels hold its
        class index + 1, background 0; ``stopped`` (bool).

    Raises
    ------
    DatasetError
        Labels that do not match the image, a stack, channels the model cannot take, a bad
        mode or padding.
    """
    from napari_convnet.core.images import finish

    if mode not in MODES:
        raise DatasetError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    options.check("padding", padding, options.PADDING, DatasetError)
    config = data_config(meta)
    prepared = single_image(image, config, channel_axis)
    labels = _check_labels(labels, prepared.shape[:2], np.shape(image))
    ids, boxes, centroids, (pixels, member) = object_table(labels)
    height, width = (int(v) for v in meta["input_shape"][:2])

    if mode == "bbox":
        margin = np.round((boxes[:, 2:] - boxes[:, :2]) * padding).astype(np.int64)
        lo = np.maximum(boxes[:, :2] - margin, 0)
        hi = np.minimum(boxes[:, 2:] + margin, prepared.shape[:2])

        def make_batch(start, stop):
            # crops differ in size, so each is fitted on its own
            return np.concatenate([
                finish(prepared[lo[i, 0]:hi[i, 0], lo[i, 1]:hi[i, 1]][None], config)
                for i in range(start, stop)
            ])
    else:
        pad = ((height, height), (width, width), (0, 0))
        source = np.pad(prepared, pad, mode="reflect")
        # the patch whose centre ((size - 1) / 2) is nearest the centroid: an object that fills
        # a patch-sized square gets exactly that square
        corner = np.floor(centroids - (np.array([height, width]) - 1) / 2 + 0.5).astype(np.int64)
        corner += [height, width]

        def make_batch(start, stop):
            yy = corner[start:stop, 0, None, None] + np.arange(height)[None, :, None]
            xx = corner[start:stop, 1, None, None] + np.arange(width)[None, None, :]
            return finish(source[yy, xx], config)

    probs, stopped = predict_chunks(model, len(ids), make_batch, batch_size,
                                    "classifying objects", on_event, should_stop)
    done = len(probs)
    result = summarize(probs, list(meta["class_names"]), stopped)
    paint = np.zeros(len(ids), np.uint16)
    paint[:done] = result["class_index"] + 1
    class_labels = np.zeros(labels.size, np.uint16)
    class_labels[pixels] = paint[member]
    result.update(label_ids=ids[:done], centroids=centroids[:done], boxes=boxes[:done],
                  class_labels=class_labels.reshape(labels.shape))
    return result
