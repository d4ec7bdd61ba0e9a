"""Tiled class maps: classify a large image tile by tile and average overlapping tiles per pixel.

Tiles have the model's input size and are cut from the image at its own resolution (the image
is never resized), so a model trained on 64×64 crops sees 64×64 crops at the same scale.

Each tile is made into a model input by :func:`napari_convnet.core.images.finish`, exactly as
a training image was, so a tile gets the numbers the same pixels would get as a training
image. With ``"dataset"`` normalisation (the default) that is one fixed mapping for the whole
image. With ``"percentile"`` each tile is stretched on its own, as each training image was: an
empty background tile then shows its noise at full contrast and may get a confident class;
``min_confidence`` leaves such pixels unlabelled.

Averaging is exact and cheap: each tile's probabilities are constant over the tile, so the
image splits into rectangular cells covered by the same set of tiles. Sums are taken per cell
(two small matrix products) and expanded to pixels only at the end; memory is bounded by the
(K, Y, X) output, whatever the number of tiles.
"""

import numpy as np

from napari_convnet import options
from napari_convnet.core._predict import data_config, predict_chunks, single_image
from napari_convnet.errors import DatasetError, shorten


def _check_stride(stride, tile):
    """(sy, sx) from None (half the tile), an int or a pair; each in 1..tile size."""
    if stride is None:
        return tuple(max(1, t // 2) for t in tile)
    pair = (stride, stride) if np.ndim(stride) == 0 else tuple(stride)
    ok = len(pair) == 2 and all(
        options.within(s, (options.STRIDE[0], min(t, options.STRIDE[1])), integer=True)
        for s, t in zip(pair, tile, strict=True)
    )
    if not ok:
        raise DatasetError(
            f"`stride` must be an int or two ints between {options.STRIDE[0]} and the tile size "
            f"{tile} (the model input), so tiles overlap or touch. Received: "
            f"stride={shorten(repr(stride))}"
        )
    return tuple(int(s) for s in pair)


def grid(length, tile, stride):
    """Tile positions along one axis so every pixel is covered, borders as often as the middle.

    Returns
    -------
    before, after : int
        Padding added before and after the axis.
    count : int
        Number of tiles; tile k covers padded pixels ``[k * stride, k * stride + tile)``.
    """
    before = tile - stride
    count = max(0, -(-(length + tile - 2 * stride) // stride)) + 1
    after = (count - 1) * stride + tile - length - before
    return before, after, count


def _cells(length, tile, stride, before, count):
    """Split an axis into runs of pixels covered by the same tiles.

    Returns
    -------
    lengths : ndarray
        int (I,) run lengths, summing to ``length``.
    cover : ndarray
        float32 (I, count): 1 where tile k covers run i.
    """
    starts = np.arange(count) * stride - before
    edges = np.unique(np.clip(np.concatenate([starts, starts + tile, [0, length]]), 0, length))
    cover = (starts[None] <= edges[:-1, None]) & (edges[:-1, None] < starts[None] + tile)
    return np.diff(edges), cover.astype(np.float32)


def tile_class_map(model, meta, image, stride=None, min_confidence=0.0, channel_axis=None,
                   batch_size=64, on_event=None, should_stop=None):
    """Classify an image in overlapping tiles of the model input size; a class per pixel.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``, ``class_names``, ``input_shape``).
    image : array_like
        One 2D image: (Y, X), (Y, X, C) or (C, Y, X), any numeric dtype, any size (smaller
        than a tile is padded).
    stride : int or (int, int), optional
        Step between tiles in pixels, 1..tile size; default half the tile. Smaller strides
        give smoother maps for (tile / stride)² times the predictions.
    min_confidence : float
        Pixels whose largest averaged probability is below this are left unlabelled (0).
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``; None = detect.
    batch_size : int
        Tiles per prediction batch.
    on_event, should_stop : callable, optional
        ``{"type": "progress", "stage": "classifying tiles", "done", "total"}`` per batch.
        A stop returns the map of the tiles done so far (tiles go row by row; pixels no
        finished tile covers are 0 with probabilities 0) and ``stopped=True``.

    Returns
    -------
    dict
        ``labels``: uint16 (Y, X), 0 = unlabelled, ``i + 1`` = ``class_names[i]``;
        ``probabilities``: float32 (K, Y, X), tile probabilities averaged per pixel;
        ``class_names``; ``tile`` (H, W); ``stride`` (sy, sx); ``tiles`` (number predicted);
        ``stopped`` (bool).

    Raises
    ------
    DatasetError
        A stack, channels the model cannot take, a bad stride or threshold.
    """
    from napari_convnet.core.images import finish

    options.check("min_confidence", min_confidence, options.MIN_CONFIDENCE, DatasetError)
    config = data_config(meta)
    names = list(meta["class_names"])
    tile = tuple(int(v) for v in meta["input_shape"][:2])
    steps = _check_stride(stride, tile)
    prepared = single_image(image, config, channel_axis)
    shape = prepared.shape[:2]
    plan = [grid(n, t, s) for n, t, s in zip(shape, tile, steps, strict=True)]
    padded = np.pad(prepared, [(b, a) for b, a, _ in plan] + [(0, 0)], mode="reflect")
    rows, cols = plan[0][2], plan[1][2]

    def make_batch(start, stop):
        ky, kx = np.divmod(np.arange(start, stop), cols)
        y0, x0 = ky * steps[0], kx * steps[1]
        # one fancy index gathers the whole batch: (B, 1, 1) + (1, H, 1) offsets
        yy = y0[:, None, None] + np.arange(tile[0])[None, :, None]
        xx = x0[:, None, None] + np.arange(tile[1])[None, None, :]
        return finish(padded[yy, xx], config)

    probs, stopped = predict_chunks(model, rows * cols, make_batch, batch_size,
                                    "classifying tiles", on_event, should_stop)
    done = len(probs)
    weight = np.zeros(rows * cols, np.float32)
    weight[:done] = 1
    full = np.zeros((rows * cols, len(names)), np.float32)
    full[:done] = probs
    (len_y, cover_y), (len_x, cover_x) = (
        _cells(n, t, s, b, c) for n, t, s, (b, _, c) in zip(shape, tile, steps, plan, strict=True)
    )
    # per cell: sum over covering tiles of probabilities, and how many finished tiles cover it
    sums = np.einsum("ik,klc,jl->cij", cover_y, full.reshape(rows, cols, -1), cover_x,
                     optimize=True)
    counts = cover_y @ weight.reshape(rows, cols) @ cover_x.T
    mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    best = mean.max(axis=0)
    cell_labels = (mean.argmax(axis=0) + 1).astype(np.uint16)
    cell_labels[(counts == 0) | (best < min_confidence)] = 0
    return {
        "labels": np.repeat(np.repeat(cell_labels, len_y, axis=0), len_x, axis=1),
        "probabilities": np.repeat(np.repeat(mean.astype(np.float32), len_y, axis=1),
                                   len_x, axis=2),
        "class_names": names,
        "tile": tile,
        "stride": steps,
        "tiles": done,
        "stopped": stopped,
    }
