"""Measuring the fixed intensity levels of ``"dataset"`` normalisation on a training split.

``"dataset"`` normalisation maps, per channel, a low and a high intensity to 0 and 1 with one
affine mapping for everything the model ever sees: training images, validation, a file, a
napari layer, each tile of a tiled map, each object crop. The levels are the
``config.percentiles`` (default 1 and 99.8 %) of the training images' pixels after the stack
rule and channel conversion, measured once here and stored in the bundle.

The mapping is affine and the resize filter's weights sum to 1, so normalising before or after
resizing gives the same numbers: the levels are measured at each file's own resolution.
numpy only.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from napari_convnet import options
from napari_convnet.core.images import prepare, to_syxc
from napari_convnet.core.reading import describe_error, read_raw
from napari_convnet.errors import DatasetError, JobStopped

_CHUNK = 16


def _spread(paths, count):
    """At most ``count`` of ``paths``, evenly spaced (every class of a sorted split appears)."""
    if len(paths) <= count:
        return list(paths)
    picks = np.linspace(0, len(paths) - 1, count).round().astype(int)
    return [paths[i] for i in np.unique(picks)]


def _pixels(stack, config, name):
    """(P, C) float32 pixels of one file's prepared planes, on a grid of at most
    :data:`~napari_convnet.options.LEVEL_PIXELS_PER_IMAGE` points per file."""
    planes = prepare(stack, config, name)
    n, y, x, c = planes.shape
    step = max(1, math.ceil(math.sqrt(n * y * x / options.LEVEL_PIXELS_PER_IMAGE)))
    return np.asarray(planes[:, ::step, ::step], np.float32).reshape(-1, c)


def measure_levels(paths, config, decoded=None, on_event=None, should_stop=None):
    """Per-channel (low, high) intensities of ``config.percentiles`` over training images.

    Parameters
    ----------
    paths : sequence of str
        The training split's files. At most ``LEVEL_PIXELS / LEVEL_PIXELS_PER_IMAGE`` of them
        (see :mod:`napari_convnet.options`), evenly spread, are measured on a grid of pixels.
    config : DataConfig
        ``channel_axis``, ``stack_rule``, ``channels`` (resolved) and ``percentiles``.
    decoded : dict of str to ndarray, optional
        (S, Y, X, C) arrays already decoded (by indexing); others are read from disk.
    on_event : callable, optional
        Receives ``{"type": "progress", "stage": "measuring intensities", "done", "total"}``.
    should_stop : callable, optional
        Returning True raises :class:`~napari_convnet.errors.JobStopped`.

    Returns
    -------
    tuple of (float, float)
        One (low, high) pair per channel, low < high (a constant channel gets a tiny span).

    Raises
    ------
    DatasetError
        No paths, or a file that cannot be read any more (it was readable while indexing).
    """
    if not paths:
        raise DatasetError("Cannot measure intensity levels: the training split has no images.")
    decoded = decoded or {}
    chosen = _spread(list(paths), max(1, options.LEVEL_PIXELS // options.LEVEL_PIXELS_PER_IMAGE))

    def measure(path):
        stack = decoded.get(path)
        if stack is None:
            try:
                raw, axes = read_raw(path)
            except Exception as exc:  # decoders raise many types: the user needs path and reason
                raise DatasetError(
                    f"Cannot read image {os.fspath(path)!r} to measure intensity levels: "
                    f"{describe_error(exc)}"
                ) from exc
            stack = to_syxc(raw, axes, config.channel_axis)
        return _pixels(stack, config, repr(os.fspath(path)))

    parts, done = [], 0
    chunks = [chosen[i:i + _CHUNK] for i in range(0, len(chosen), _CHUNK)]
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for chunk in chunks:
            if should_stop is not None and should_stop():
                raise JobStopped("Measuring intensity levels was stopped.")
            parts += pool.map(measure, chunk)
            done += len(chunk)
            if on_event is not None:
                on_event({"type": "progress", "stage": "measuring intensities", "done": done,
                          "total": len(chosen)})
    pixels = np.concatenate(parts)
    low, high = np.percentile(pixels, config.percentiles, axis=0).astype(np.float64)
    levels = []
    for lo, hi in zip(low.tolist(), high.tolist(), strict=True):
        if not hi > lo:  # a constant channel: keep the mapping defined, its values map to ~0
            hi = lo + max(abs(lo) * 1e-6, 1e-6)
        levels.append((lo, hi))
    return tuple(levels)
