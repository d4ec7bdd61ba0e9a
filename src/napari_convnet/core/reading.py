"""Read image files into raw numpy arrays, with cheap header checks (no TensorFlow).

PIL decodes PNG/JPEG/BMP, tifffile decodes TIFF. Sizes are checked from the header before
decoding, so a huge or damaged file costs neither memory nor a traceback: it raises
:class:`UnreadableFile` (or a DatasetError) whose message is the whole reason.
Preprocessing of the decoded arrays is in :mod:`napari_convnet.core.images`.
"""

from __future__ import annotations

import os
import stat
import struct
import threading
import zlib

import numpy as np
from PIL import Image

from napari_convnet.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
# A leading/trailing axis this small is taken for channels when no metadata says otherwise;
# (5, 64, 64) is therefore read as 5 Z slices. Pass channel_axis to override.
_MAX_AUTO_CHANNELS = 4
#: Largest image plane (Y x X pixels) read or preprocessed: 2**27, e.g. 11585 x 11585. A
#: larger plane is refused before decoding; resizing or tiling it would need several GiB
#: (float32 copies, per-class maps). Checked on the header, so a huge file costs no memory.
MAX_PIXELS = 2**27


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG (colour type, bit depth) -> (PIL raw mode, PIL image mode decoded into, channels kept)
# for the layouts read without PIL's plugin machinery (see read_png); the image modes share
# memory with a numpy array (Image.frombuffer), 4 bytes per pixel for colour
_SIMPLE_PNGS = {(0, 8): ("L", "L", 1), (0, 16): ("I;16B", "I;16", 1),
                (2, 8): ("RGB", "RGBX", 3), (6, 8): ("RGBA", "RGBA", 4), (4, 8): ("LA", "RGBA", 2)}
_CHUNK_HEAD, _CRC = struct.Struct(">I4s"), struct.Struct(">I")  # chunk length and type; CRC
_IHDR = struct.Struct(">IIBBBBB")  # width, height, bit depth, colour type, methods, interlace
_PNG_DTYPES = {"L": np.uint8, "I;16": np.uint16, "RGBX": np.uint8, "RGBA": np.uint8}


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
    tiff = path.lower().endswith(_TIFF_SUFFIXES)
    try:  # the common case first, in one open and read
        array = None if tiff else read_png(path)
    except OSError:
        if not os.path.isdir(path):
            raise
        array = None  # said below
    if array is not None:
        return array, None
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile("is a folder, not an image file")
    if info.st_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    if tiff:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                _check_one_image(tif)
                series = tif.series[0]
                _, y, x, _ = layout(series.shape, series.axes)
                check_plane(series.shape[y], series.shape[x])
                return series.asarray(), series.axes
        except tifffile.TiffFileError:
            pass  # a PNG/JPEG saved with a .tif name: let PIL try before giving up
        array = read_png(path)
        if array is not None:
            return array, None
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:  # PIL's own limit (above MAX_PIXELS)
        raise UnreadableFile(_too_large_text(str(exc))) from None
    with im:
        check_plane(im.size[1], im.size[0])
        im.load()
        return _pil_to_array(im), None


def _check_one_image(tif):
    """Refuse a TIFF whose pages are not one image (e.g. pages of different shapes).

    tifffile groups the pages into one series per image; reading only the first series would
    silently drop the others. Reduced-resolution pages (pyramids, thumbnails) do not count.
    """
    full = [s for s in tif.series if not s.keyframe.subfiletype & 1]
    if len(full) < 2:
        return
    shapes = ["x".join(map(str, s.shape)) for s in full]
    if len(set(shapes)) == 1:
        what = f"{len(full)} separate images ({shapes[0]} each)"
    else:
        what = f"pages of different shapes ({', '.join(shapes[:4])}{', ...' * (len(full) > 4)})"
    raise UnreadableFile(f"TIFF with {what}: only the first would be read; save each image as "
                         "its own file")


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


def read_png(path):
    """Read a common PNG in one file read: chunks verified, pixels decoded by PIL's zlib decoder.

    Indexing reads every file, so per-file overhead counts: this skips PIL's plugin machinery
    (Image.open, np.asarray), which costs several times the decoding of a small image. The
    pixels are exactly PIL's (the same decoder, unfiltering and de-interlacing, run through
    public Pillow calls: see :func:`_decode_into`).

    Returns
    -------
    ndarray or None
        For 8-bit grey/RGB(A)/grey+alpha and 16-bit grey PNGs without palette or transparency
        chunks: uint8 or uint16 (Y, X) or (Y, X, 3), alpha dropped as :func:`read_raw` does.
        None for any other file (not a PNG, palette, 1/2/4-bit...), which PIL reads.

    Raises
    ------
    UnreadableFile
        For a truncated or damaged PNG, or one too large (see :func:`check_plane`).
    """
    data = _read_if_png(path)
    if data is None:
        return None
    # a dozen struct reads instead of PIL's plugin machinery
    pos, header, pixels, view = 8, None, [], memoryview(data)  # slices of a view: no copies
    while True:
        kind, reason = None, None
        if pos + 12 > len(data):
            reason = f"truncated file ({len(data)} bytes, no IEND chunk)"
        else:
            length, kind = _CHUNK_HEAD.unpack_from(data, pos)
            end = pos + 12 + length
            if end > len(data):
                reason = f"truncated file ({kind.decode('latin-1')} chunk cut short)"
            elif zlib.crc32(view[pos + 4:end - 4]) != _CRC.unpack_from(data, end - 4)[0]:
                reason = f"damaged file (CRC error in {kind.decode('latin-1')} chunk)"
        if reason is not None:
            if pixels and kind != b"IDAT":
                return None  # damage after the pixel data (no IEND, a bad trailer): PIL decides
            raise UnreadableFile(reason)
        if kind == b"IHDR":
            if length < 13:
                raise UnreadableFile("damaged file (IHDR chunk too short)")
            width, height, depth, color, compression, filtering, interlace = _IHDR.unpack_from(
                data, pos + 8)
            check_plane(height, width)
            layout_ = _SIMPLE_PNGS.get((color, depth))
            standard = compression == 0 and filtering == 0 and interlace in (0, 1)
            header = (height, width, interlace) if layout_ and standard else None
        elif kind == b"IDAT":
            pixels.append(view[pos + 8:end - 4])
        elif kind in (b"tRNS", b"PLTE"):
            return None  # transparency or palette: leave the colour handling to PIL
        elif kind == b"IEND":
            break
        pos = end
    if header is None:
        return None
    (height, width, interlace), (raw_mode, mode, channels) = header, layout_
    out = np.empty((height, width, 4) if mode in ("RGBX", "RGBA") else (height, width),
                   _PNG_DTYPES[mode])
    try:
        _decode_into(out, mode, raw_mode, interlace,
                     pixels[0] if len(pixels) == 1 else b"".join(pixels))
    except ValueError as exc:  # "not enough image data" / "cannot decode image data"
        raise UnreadableFile(f"damaged file (pixel data: {exc})") from None
    if channels == 1:
        return out
    if channels == 2:
        return out[..., 0].copy()  # grey of grey+alpha (PIL's LA is stored as L, L, L, A)
    return np.ascontiguousarray(out[..., :3])  # RGB of RGBX/RGBA


def _read_if_png(path):
    """The bytes of a file that starts like a PNG, else None (only its first 64 KiB read).

    Unbuffered system calls: Python's buffered file object costs more than reading a small file.
    """
    # binary on Windows; a FIFO must not block the open (it is no PNG: read_raw says why)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _FIRST_READ)
        if not data.startswith(_PNG_SIGNATURE):
            return None  # never read a large TIFF whole just to look at it
        parts = [data]
        while part := os.read(fd, 1 << 24):  # to the end, also where a read comes back short
            parts.append(part)
        return data if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


_FIRST_READ = 1 << 16


def _decode_into(out, mode, raw_mode, interlace, pixels):
    """Decode PNG pixel data (zlib stream) into ``out``, (Y, X) or (Y, X, 4), in place.

    Public Pillow calls only: ``Image.frombuffer`` maps an Image onto a numpy array and its
    ``frombytes(pixels, "zip", ...)`` runs PIL's PNG decoder (unfiltering, de-interlacing)
    into it. Mapping costs as much as decoding a small image, so for small images each thread
    keeps its mapped scratch arrays of the last few (mode, size) and copies the pixels out.
    """
    size = (out.shape[1], out.shape[0])
    if out.nbytes <= _SCRATCH_BYTES:
        cache = _scratch_images()
        entry = cache.get((mode, size))
        if entry is None:
            if len(cache) >= _SCRATCH_SIZES:
                del cache[next(iter(cache))]  # the oldest
            scratch = np.empty_like(out)
            entry = cache[mode, size] = (scratch, _mapped(mode, size, scratch))
        scratch, image = entry
    else:
        scratch, image = out, _mapped(mode, size, out)
    image.frombytes(pixels, "zip", raw_mode, interlace)  # ValueError for damaged data
    if not image.readonly:  # a Pillow that copied the buffer before writing: copy back
        out[...] = np.asarray(image).reshape(out.shape)
    elif scratch is not out:
        out[...] = scratch


def _mapped(mode, size, array):
    # shares array's memory: the decoder writes straight into the array
    return Image.frombuffer(mode, size, array, "raw", mode, 0, 1)


def _scratch_images():
    """This thread's {(mode, size): (scratch array, Image mapped onto it)}."""
    try:
        return _SCRATCH.images
    except AttributeError:
        _SCRATCH.images = {}
        return _SCRATCH.images


_SCRATCH = threading.local()
_SCRATCH_BYTES = 1 << 16  # images up to 128x128 RGB(A): larger ones are mapped each time
_SCRATCH_SIZES = 8  # (mode, size) pairs kept per thread


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
