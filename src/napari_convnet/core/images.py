"""Read, decode and preprocess single images (numpy, PIL and tifffile only: no TensorFlow).

Every image goes through the same steps in training and in prediction:

1. decode the file (PIL for PNG/JPEG/BMP, tifffile for TIFF) to a raw array;
2. lay it out as ``(S, Y, X, C)``: S stack slices (Z and T flattened), C channels;
3. apply the stack rule (``max`` projection, ``middle`` slice, or keep every slice);
4. convert channels when a channel count is asked for (grey -> N repeats, N -> grey mean);
5. scale to the model input size, normalise, then pad (``resize="pad"``) so padding is 0.

The functions take any object with :class:`~napari_convnet.core.data.DataConfig`'s
attributes, so this module does not import ``data`` (which imports this one).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
from PIL import Image

from napari_convnet.core.resize import fit_size, pad_to
from napari_convnet.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
# A leading/trailing axis this small is taken for channels when no metadata says otherwise;
# (5, 64, 64) is therefore read as 5 Z slices. Pass channel_axis to override.
_MAX_AUTO_CHANNELS = 4
_RANGE_EPS = 1e-12
#: Largest image plane (Y x X pixels) read or preprocessed: 2**27, e.g. 11585 x 11585. A
#: larger plane is refused before decoding; resizing or tiling it would need several GiB
#: (float32 copies, per-class maps). Checked on the header, so a huge file costs no memory.
MAX_PIXELS = 2**27


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG pixel layouts (PIL raw modes) that TensorFlow's decode_png returns exactly as PIL does
# (lossless, same bit depth): raw mode -> (dtype, channels stored, channels after alpha drop)
# PNG (colour type, bit depth) -> PIL raw mode, for the layouts above
_PNG_MODES = {(0, 8): "L", (4, 8): "LA", (2, 8): "RGB", (6, 8): "RGBA", (0, 16): "I;16B"}
FAST_PNG_MODES = {"L": ("uint8", 1, 1), "LA": ("uint8", 2, 1), "RGB": ("uint8", 3, 3),
                  "RGBA": ("uint8", 4, 3), "I;16B": ("uint16", 1, 1)}


class UnreadableFile(OSError):
    """A file that is not worth handing to a decoder (its message is the whole reason)."""


def read_raw(path):
    """Decode an image file to a numpy array, plus the TIFF axes string when known.

    Parameters
    ----------
    path : str or os.PathLike
        Image file (PNG, JPEG, BMP or TIFF; the content decides, not the suffix).

    Returns
    -------
    array : ndarray
        As stored: uint8, uint16, int32, float32... of shape (Y, X), (Y, X, C), (C, Y, X),
        (Z, Y, X[, C]) and so on. Alpha channels of PNG/BMP images are dropped.
    axes : str or None
        tifffile's axes of the array (e.g. ``"ZCYX"``), None for non-TIFF files.

    Raises
    ------
    Exception
        Whatever the decoders raise for a damaged file; :func:`check_file` turns it into a reason.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UnreadableFile("is a folder, not an image file")
    if os.path.getsize(path) == 0:
        raise UnreadableFile("empty file (0 bytes)")
    if path.lower().endswith(_TIFF_SUFFIXES):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                _, y, x, _ = layout(series.shape, series.axes)
                check_plane(series.shape[y], series.shape[x])
                return series.asarray(), series.axes
        except tifffile.TiffFileError:
            pass  # a PNG/JPEG saved with a .tif name: let PIL try before giving up
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:  # PIL's own limit (above MAX_PIXELS)
        raise UnreadableFile(_too_large_text(str(exc))) from None
    with im:
        check_plane(im.size[1], im.size[0])
        im.load()
        return _pil_to_array(im), None


def _too_large_text(size):
    return (f"image too large ({size}; at most {MAX_PIXELS:,} pixels per plane): crop or "
            "downsample it first (e.g. in napari or Fiji)")


def check_plane(height, width, name=None):
    """Refuse an image plane with no pixels or more than :data:`MAX_PIXELS` pixels.

    Raises
    ------
    UnreadableFile
        Without ``name`` (reading a file: the caller adds the path).
    DatasetError
        With ``name`` (an array handed in), the message starting with it.
    """
    reason = None
    if height * width == 0:
        reason = f"image has no pixels ({height}x{width})"
    elif height * width > MAX_PIXELS:
        reason = _too_large_text(f"{height}x{width} pixels")
    if reason is None:
        return
    if name is None:
        raise UnreadableFile(reason)
    raise DatasetError(f"Cannot use {name}: {reason}.")


def png_header(path):
    """Verify a PNG's chunks (lengths, CRCs, IEND) without decoding its pixels.

    Returns
    -------
    tuple or None
        ``(height, width, raw_mode)`` for 8-bit grey/RGB(A) and 16-bit grey PNGs without
        transparency chunks (their pixels are then decoded in TensorFlow's parallel pipeline,
        identically to PIL); None for other files, which PIL decodes.

    Raises
    ------
    OSError
        For a truncated or damaged PNG, with the reason.
    """
    with open(path, "rb") as f:
        if f.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
            return None  # not a PNG: never read a large TIFF whole just to look at it
        data = _PNG_SIGNATURE + f.read()
    # a dozen struct reads instead of PIL's plugin machinery: indexing is per-file bound
    pos, header, mode = 8, None, None
    while True:
        if pos + 12 > len(data):
            raise UnreadableFile(f"truncated file ({len(data)} bytes, no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise UnreadableFile(f"truncated file ({kind.decode('latin-1')} chunk cut short)")
        if zlib.crc32(data[pos + 4:end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise UnreadableFile(f"damaged file (CRC error in {kind.decode('latin-1')} chunk)")
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack_from(">IIBB", data, pos + 8)
            check_plane(height, width)
            header = (height, width)
            mode = _PNG_MODES.get((color, depth))
        elif kind in (b"tRNS", b"PLTE"):
            mode = None  # transparency or palette: leave the colour handling to PIL
        elif kind == b"IEND":
            return (*header, mode) if header and mode else None
        pos = end


def _pil_to_array(im):
    mode = im.mode
    if mode in ("1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        # palette/1-bit/other colour spaces: give the model what the eye sees
        im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else
                        ("L" if mode == "1" else "RGB"))
        mode = im.mode
    array = np.asarray(im)
    if mode in ("RGBA", "LA", "RGBa", "La"):
        array = array[..., :-1]  # alpha is not image content
        if array.shape[-1] == 1:
            array = array[..., 0]
    return array


def layout(shape, axes=None, channel_axis=None):
    """Work out which axes of a raw array are stack, Y, X and channels.

    Parameters
    ----------
    shape : tuple of int
        Raw array shape, 2 to 6 dimensions.
    axes : str, optional
        tifffile axes (``S`` or ``C`` = channels, others before Y/X = stack).
    channel_axis : int, optional
        Forces the channel axis (may be negative); None detects it.

    Returns
    -------
    stack_axes : tuple of int
    y_axis, x_axis : int
    channel_axis : int or None
        None for single-channel images.
    """
    ndim = len(shape)
    if ndim < 2:
        raise DatasetError(f"An image needs at least 2 dimensions (Y, X). Received: shape={shape}")
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise DatasetError(
                "`channel_axis` must be an axis of the image. "
                f"Received: channel_axis={channel_axis} for an image of shape {shape}"
            )
        c = channel_axis % ndim
    elif axes and len(axes) == ndim and "Q" not in axes and "I" not in axes:
        # tifffile knows every axis: S = samples per pixel (RGB), C = channel planes
        has_s = "S" in axes and shape[axes.index("S")] > 1
        c = axes.index("S") if has_s else axes.index("C") if "C" in axes else None
    elif ndim == 2:
        c = None
    elif shape[-1] <= _MAX_AUTO_CHANNELS:
        c = ndim - 1  # (..., Y, X, C)
    elif shape[-3] <= _MAX_AUTO_CHANNELS:
        c = ndim - 3  # (C, Y, X), and ImageJ hyperstacks' (T, Z, C, Y, X)
    else:
        c = None  # (Z, Y, X): a grey stack
    rest = [i for i in range(ndim) if i != c]
    if len(rest) < 2:
        raise DatasetError(f"An image needs Y and X axes besides channels. Received: shape={shape}")
    return tuple(rest[:-2]), rest[-2], rest[-1], c


def to_syxc(array, axes=None, channel_axis=None):
    """Rearrange a raw array to (S, Y, X, C), S = all stack slices, C = channels (>= 1)."""
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

    ``"percentile"`` maps the ``config.percentiles`` (default 1 and 99.8 %) of all its pixels
    to 0 and 1 (not clipped: bright outliers stay > 1); ``"range"`` divides integers by their
    dtype's maximum (255, 65535...) and leaves floats as they are; ``"none"`` only casts.
    """
    return normalize_each(np.asarray(array)[None], config)[0]


def normalize_each(batch, config):
    """:func:`normalize` applied to each sample of (N, ...) at once; float32 (N, ...)."""
    rule = config.normalization
    if rule == "range":
        if np.issubdtype(batch.dtype, np.integer):
            return batch.astype(np.float32) / np.float32(np.iinfo(batch.dtype).max)
        return batch.astype(np.float32)
    batch = batch.astype(np.float32, copy=False)
    if rule == "none":
        return batch
    if rule != "percentile":
        raise DatasetError(
            f"`normalization` must be 'percentile', 'range' or 'none'. Received: {rule!r}"
        )
    lo, hi = percentiles(batch, config.percentiles).T
    shape = (-1,) + (1,) * (batch.ndim - 1)
    span = np.maximum(hi - lo, _RANGE_EPS).astype(np.float32)
    return (batch - lo.astype(np.float32).reshape(shape)) / span.reshape(shape)


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
    """Per-file steps: stack rule, channel conversion and ``"range"`` normalisation.

    Parameters
    ----------
    stack : ndarray
        (S, Y, X, C) of any numeric dtype.

    Returns
    -------
    ndarray
        (N, Y, X, C), the file's dtype (float32 after range normalisation or a grey mean).
    """
    if not np.issubdtype(stack.dtype, np.number) and stack.dtype != np.bool_:
        raise DatasetError(f"{name} has a non-numeric dtype {stack.dtype}; expected an image.")
    if stack.dtype == np.bool_:
        stack = stack.astype(np.uint8)
    check_finite(stack, name)
    stack = reduce_stack(stack, config.stack_rule)
    stack = convert_channels(stack, config.channels, name)
    if config.normalization == "range":
        # range divides by the dtype maximum, which resizing (float32) would lose
        stack = normalize_each(stack, config)
    return stack


def finish(batch, config):
    """Per-sample steps on (N, Y, X, C) of one size: fit, percentile normalisation, pad.

    Percentiles are taken on the resized image (same statistics, a fraction of the cost) and
    before padding, so padding is 0 = the low percentile. Returns float32 (N, H, W, C).
    """
    fitted = fit_size(batch, config)
    if config.normalization == "percentile":
        fitted = normalize_each(fitted, config)
    return pad_to(fitted, config.image_size)


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


def describe_error(exc):
    """A one-line reason for a decoding failure (no traceback)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    if isinstance(exc, UnreadableFile):
        return text
    if kind in ("UnidentifiedImageError",) or "cannot identify image file" in text:
        return "not an image file (unknown or damaged format)"
    if "truncated" in text.lower() or kind == "EOFError" or text.startswith("failed to read"):
        return f"truncated file ({text or kind})"
    if "broken" in text.lower():
        return f"damaged file ({text})"
    return f"{kind}: {text}" if text else kind
