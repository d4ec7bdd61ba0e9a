"""Resizing (N, Y, X, C) batches to the model input: fit by padding, cropping or stretching.

numpy only. The filter is PIL's antialiased bilinear, written as two matrix products so a
whole batch of images is resized at once.
"""

from __future__ import annotations

import functools

import numpy as np

from napari_convnet.errors import DatasetError


@functools.lru_cache(maxsize=64)
def _resize_weights(n_in, n_out):
    """(n_out, n_in) float32 weights of a triangle (bilinear) filter, widened when shrinking.

    The same filter as PIL's antialiased ``BILINEAR`` resize: each output pixel averages the
    input pixels within ``max(1, n_in / n_out)`` of its centre, weights normalised to 1.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    weights = np.maximum(0.0, 1 - np.abs(np.arange(n_in)[None, :] + 0.5 - centres[:, None])
                         / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _resize_planes(array, height, width):
    """Bilinear (antialiased when shrinking) resize of (N, Y, X, C) float32 to (N, h, w, C).

    Two matrix products (separable filter) for the whole batch: BLAS does the work.
    """
    n, y, x, c = array.shape
    if (y, x) == (height, width):
        return array
    planes = array[..., 0] if c == 1 else array.transpose(0, 3, 1, 2)  # (N, [C,] Y, X)
    m = n * c
    planes = np.ascontiguousarray(planes, np.float32).reshape(m * y, x)
    # two large products (X, then Y); many small batched products are several times slower
    cols = (planes @ _resize_weights(x, width).T).reshape(m, y, width)
    cols = np.ascontiguousarray(cols.transpose(1, 0, 2)).reshape(y, m * width)
    out = (_resize_weights(y, height) @ cols).reshape(height, n, c, width)
    return np.ascontiguousarray(out.transpose(1, 0, 3, 2))  # (N, h, w, C)


def fitted_size(shape, config):
    """(h, w) an image of (Y, X) ``shape`` is scaled to before padding or cropping.

    ``"stretch"``: ``image_size``; ``"pad"``: the largest size inside it (aspect kept);
    ``"crop"``: the smallest size covering it.
    """
    (height, width), (y, x) = config.image_size, shape
    if config.resize == "stretch":
        return height, width
    if config.resize == "pad":
        scale = min(height / y, width / x)
        return min(height, max(1, round(y * scale))), min(width, max(1, round(x * scale)))
    if config.resize == "crop":
        scale = max(height / y, width / x)
        return max(height, round(y * scale)), max(width, round(x * scale))
    raise DatasetError(
        f"`resize` must be 'pad', 'crop' or 'stretch'. Received: {config.resize!r}"
    )


def placement(config, shape):
    """Where :func:`fit_size` + :func:`pad_to` put an image of (Y, X) ``shape``.

    Along each axis a pixel ``p`` of the original image lands at model-input coordinate
    ``(p + 0.5) * factor - 0.5 + offset`` (used to map Grad-CAM back onto the image).

    Returns
    -------
    factor, offset : ndarray
        float64 (2,) each.
    """
    (height, width), (y, x) = config.image_size, shape
    h, w = fitted_size(shape, config)
    sign = -1 if config.resize == "crop" else 1
    offset = sign * (abs(height - h) // 2), sign * (abs(width - w) // 2)
    return np.array([h / y, w / x]), np.array(offset, float)


def fit_size(array, config):
    """Scale (N, Y, X, C) so it fits (pad), covers (crop) or equals (stretch) ``image_size``.

    Returns float32 (N, h, w, C) with ``h <= H and w <= W`` for ``"pad"`` (padding comes after
    normalisation, see :func:`pad_to`) and ``(h, w) == (H, W)`` otherwise.
    """
    height, width = config.image_size
    h, w = fitted_size(array.shape[1:3], config)
    array = _resize_planes(array.astype(np.float32, copy=False), h, w)
    if config.resize == "crop":
        top, left = (h - height) // 2, (w - width) // 2
        array = array[:, top:top + height, left:left + width]
    return array


def pad_to(array, image_size):
    """Centre (N, h, w, C) in zeros of (N, H, W, C); a no-op when it already has that size."""
    height, width = image_size
    n, h, w, c = array.shape
    if (h, w) == (height, width):
        return array
    out = np.zeros((n, height, width, c), np.float32)
    top, left = (height - h) // 2, (width - w) // 2
    out[:, top:top + h, left:left + w] = array
    return out
