"""Preprocess single images (numpy only: no TensorFlow); files are read by :mod:`.reading`.

Every image goes through the same steps in training and in prediction:

1. decode the file (PIL for PNG/JPEG/BMP, tifffile for TIFF) to a raw array;
2. lay it out as ``(S, Y, X, C)``: S stack slices (Z and T flattened), C channels;
3. apply the stack rule (``max`` projection, ``middle`` slice, or keep every slice);
4. convert channels when a channel count is asked for (grey -> N repeats, N -> grey mean);
5. scale to the model input size, normalise, then pad (``resize="pad"``) so padding is 0.

Steps 1-4 are :func:`prepare` (per file), step 5 is :func:`finish` (per model input: an image,
a tile of a tiled map, an object crop). Every path of the package goes through these two, so
the model sees the same numbers for the same pixels wherever they come from.

The functions take any object with :class:`~napari_convnet.core.data_config.DataConfig`'s
attributes, so this module does not import ``data`` (which imports this one).
"""

from __future__ import annotations

import os

import numpy as np

from napari_convnet.core.reading import MAX_PIXELS, check_plane, describe_error, layout, read_raw
from napari_convnet.core.resize import fit_size, pad_to
from napari_convnet.errors import DatasetError

_RANGE_EPS = 1e-12

def to_syxc(array, axes=None, channel_axis=None):
    """Rearrange a raw array to (S, Y, X, C), S = all stack slices, C = channels (>= 1)."""
    if array.ndim == 2 and axes is None and channel_axis is None and 0 < array.size <= MAX_PIXELS:
        return array[None, :, :, None]  # the common case, without layout's work
    stack, y, x, c = layout(array.shape, axes, channel_axis)
    check_plane(array.shape[y], array.shape[x], f"an image of shape {array.shape}")
    order = (*stack, y, x) + ((c,) if c is not None else ())
    out = np.transpose(array, order)
    if c is None:
        out = out[..., None]
    return out.reshape((-1, *out.shape[-3:]))


def reduce_stack(stack, rule):
    """Apply the stack rule to an (S, Y, X, C) array -> (N, Y, X, C), N = 1 unless ``"slices"``."""
    if stack.shape[0] == 1 or rule == "slices":
        return stack
    if rule == "max":
        return stack.max(axis=0, keepdims=True)
    if rule == "middle":
        return stack[stack.shape[0] // 2][None]
    raise DatasetError(f"`stack_rule` must be 'max', 'middle' or 'slices'. Received: {rule!r}")


def convert_channels(array, channels, name="image"):
    """Convert the last axis of (..., C) to ``channels``: grey repeats, anything -> grey by mean."""
    have = array.shape[-1]
    if channels is None or have == channels:
        return array
    if have == 1:
        return np.repeat(array, channels, axis=-1)
    if channels == 1:
        return array.mean(axis=-1, keepdims=True, dtype=np.float32)
    raise DatasetError(
        f"Cannot convert {name} from {have} to {channels} channels: only grey -> N channels and "
        f"N channels -> grey are defined. Set `channels` to {have} or convert the file."
    )


def normalize(array, config):
    """Normalise one image by ``config.normalization``; returns float32 of the same shape.

    ``"dataset"`` maps each channel's ``config.levels`` (low, high) to 0 and 1, the same
    mapping for every image; ``"percentile"`` maps the ``config.percentiles`` (default 1 and
    99.8 %) of the image's own pixels to 0 and 1; ``"range"`` divides integers by their dtype's
    maximum (255, 65535...) and leaves floats as they are; ``"none"`` only casts. Neither
    mapping clips: bright outliers stay > 1.
    """
    return normalize_each(np.asarray(array)[None], config)[0]


def normalize_each(batch, config):
    """:func:`normalize` applied to each sample of (N, ..., C) at once; float32 (N, ..., C)."""
    rule = config.normalization
    if rule == "range":
        if np.issubdtype(batch.dtype, np.integer):
            return batch.astype(np.float32) / np.float32(np.iinfo(batch.dtype).max)
        return batch.astype(np.float32)
    batch = batch.astype(np.float32, copy=False)
    if rule == "none":
        return batch
    if rule == "dataset":
        return _apply_levels(batch, config.levels)
    if rule != "percentile":
        raise DatasetError(
            "`normalization` must be 'dataset', 'percentile', 'range' or 'none'. "
            f"Received: {rule!r}"
        )
    lo, hi = percentiles(batch, config.percentiles).T
    shape = (-1,) + (1,) * (batch.ndim - 1)
    span = np.maximum(hi - lo, _RANGE_EPS).astype(np.float32)
    return (batch - lo.astype(np.float32).reshape(shape)) / span.reshape(shape)


def _apply_levels(batch, levels):
    """(x - low) / (high - low) per channel (last axis) of float32 ``batch``."""
    if levels is None:
        raise DatasetError(
            "normalization='dataset' needs the intensity `levels` measured on training images, "
            "and this configuration has none. Index the training folder with it (index_folder "
            "measures them) or use a model bundle, which stores them."
        )
    low, high = np.asarray(levels, np.float32).T
    if batch.shape[-1] != len(low):
        raise DatasetError(
            f"The dataset levels are for {len(low)} channel(s) but the image has "
            f"{batch.shape[-1]}. Convert the image to {len(low)} channel(s)."
        )
    return (batch - low) / (high - low)


def percentiles(batch, q):
    """``np.percentile`` (linear method) of each sample, by partial sorting (3x faster).

    Parameters
    ----------
    batch : ndarray
        (N, ...) samples.
    q : sequence of float
        Percentiles in [0, 100].

    Returns
    -------
    ndarray
        float64 (N, len(q)).
    """
    flat = batch.reshape(batch.shape[0], -1)
    position = np.asarray(q, np.float64) / 100 * (flat.shape[1] - 1)
    lo = np.floor(position).astype(np.intp)
    hi = np.minimum(lo + 1, flat.shape[1] - 1)
    part = np.partition(flat, np.unique(np.concatenate([lo, hi])), axis=1)
    low, high = part[:, lo].astype(np.float64), part[:, hi].astype(np.float64)
    return low + (high - low) * (position - lo)


def check_finite(array, name="image"):
    """Refuse float pixels that are NaN or inf (they would make every prediction NaN)."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise DatasetError(
            f"{name} contains NaN or inf values, which would give NaN results. Replace them "
            "first (e.g. numpy.nan_to_num, or a fill in napari/Fiji) or remove the image."
        )


def prepare(stack, config, name="image"):
    """Per-file steps: stack rule, then :func:`prepare_planes`.

    Parameters
    ----------
    stack : ndarray
        (S, Y, X, C) of any numeric dtype.

    Returns
    -------
    ndarray
        (N, Y, X, C), the file's dtype (float32 after range normalisation or a grey mean).
    """
    _check_numeric(stack, name)
    return prepare_planes(reduce_stack(stack, config.stack_rule), config, name)


def prepare_planes(planes, config, name="image"):
    """Per-pixel steps on (N, Y, X, C) planes: NaN/inf check, channel conversion and
    ``"range"`` normalisation. The planes may come from many files (one slice each).

    Returns
    -------
    ndarray
        (N, Y, X, C), the planes' dtype (float32 after range normalisation or a grey mean).
    """
    _check_numeric(planes, name)
    if planes.dtype == np.bool_:
        planes = planes.astype(np.uint8)
    check_finite(planes, name)
    planes = convert_channels(planes, config.channels, name)
    if config.normalization == "range":
        # range divides by the dtype maximum, which resizing (float32) would lose
        planes = normalize_each(planes, config)
    return planes


def _check_numeric(array, name):
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise DatasetError(f"{name} has a non-numeric dtype {array.dtype}; expected an image.")


def finish(batch, config):
    """Per-sample steps on (N, Y, X, C) of one size: fit, normalisation, pad.

    The one place where a model input is made from prepared pixels (see :func:`prepare`):
    training, validation, files, layers, stack slices, tiles, object crops and Grad-CAM all
    end here. Percentiles are taken on the resized image (same statistics, a fraction of the
    cost); normalising before padding makes padding 0 = the low level. Returns float32
    (N, H, W, C).
    """
    return pad_to(normalize_samples(fit_size(batch, config), config), config.image_size)


def normalize_samples(batch, config):
    """The per-sample normalisation of (N, Y, X, C) prepared planes (``"dataset"`` or
    ``"percentile"``; ``"range"`` is applied by :func:`prepare_planes`, which needs the dtype).

    Used by :func:`finish` and, without resizing, for feature maps of a whole image.
    Returns float32 (N, Y, X, C).
    """
    if config.normalization in ("dataset", "percentile"):
        return normalize_each(batch, config)
    return batch.astype(np.float32, copy=False)


def preprocess_syxc(stack, config, name="image"):
    """Stack rule, channel conversion, resize and normalisation of an (S, Y, X, C) array.

    Returns
    -------
    ndarray
        float32 (N, H, W, C), N = 1 unless ``config.stack_rule == "slices"``.
    """
    return finish(prepare(stack, config, name), config)


def preprocess_array(array, config, channel_axis=None):
    """Preprocess a raw array exactly as training images are preprocessed.

    Parameters
    ----------
    array : array_like
        (Y, X), (Y, X, C), (C, Y, X), (Z, Y, X), (Z, Y, X, C), (T, Z, C, Y, X)... any numeric dtype.
    config : DataConfig
        Rules to apply (image size, channels, stack rule, resize, normalisation).
    channel_axis : int, optional
        Overrides ``config.channel_axis``; both None = detect (a first or last axis of size <= 4).

    Returns
    -------
    ndarray
        float32 (N, H, W, C), N = 1 unless ``config.stack_rule == "slices"``.
    """
    array = np.asarray(array)
    axis = config.channel_axis if channel_axis is None else channel_axis
    return preprocess_syxc(to_syxc(array, channel_axis=axis), config)


def read_image(path, config, slice_index=None):
    """Read and preprocess one image file.

    Parameters
    ----------
    path : str or os.PathLike
    config : DataConfig
    slice_index : int, optional
        With ``stack_rule="slices"``, return only this slice (N = 1).

    Returns
    -------
    ndarray
        float32 (N, H, W, C), N = 1 unless ``config.stack_rule == "slices"``.

    Raises
    ------
    DatasetError
        If the file cannot be decoded or contains NaN/inf, with the path and the reason.
    """
    try:
        raw, axes = read_raw(path)
    except Exception as exc:  # decoders raise many types; the user needs the path and the reason
        raise DatasetError(f"Cannot read image {os.fspath(path)!r}: {describe_error(exc)}") from exc
    stack = to_syxc(raw, axes, config.channel_axis)
    if slice_index is not None and config.stack_rule == "slices":
        stack = stack[slice_index:slice_index + 1]
    check_finite(stack, f"Image {os.fspath(path)!r}")
    return preprocess_syxc(stack, config, name=repr(os.fspath(path)))
