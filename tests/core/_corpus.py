"""Generators of the bad-input corpus (docs/hardening.md): damaged, odd and hostile files.

Everything is written into a folder the test gives (``tmp_path``), small and fast: the
20000 x 20000 images are a sparse TIFF (8 KiB on disk) and a PNG whose zlib stream repeats
one compressed block (400 KiB). Only numpy, PIL and tifffile at module level.
"""

import os
import struct
import zlib

import numpy as np
import tifffile
from PIL import Image

SIZE = 20  # model input and image size of the good images
HUGE = 20000
CLASSES = ("a", "b")


def _image(label, seed, size=SIZE):
    """A grey stripe image: rows for class 0, columns for class 1 (learnable, never flat)."""
    rng = np.random.default_rng(seed)
    line = (np.arange(size) % 4 < 2).astype(np.float32)
    img = np.repeat(line[:, None], size, axis=1)
    img = img.T if label else img
    return (0.8 * img + 0.2 * rng.random((size, size))).astype(np.float32)


def png8(path, label=0, seed=0, size=SIZE):
    """A good 8-bit grey PNG."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray((_image(label, seed, size) * 255).astype(np.uint8)).save(path)
    return path


def dataset(root, n=4, classes=CLASSES):
    """``root/<class>/img<i>.png``: ``n`` good 20x20 PNGs per class; returns ``root``."""
    for label, name in enumerate(classes):
        for i in range(n):
            png8(os.path.join(root, name, f"img{i}.png"), label, seed=10 * label + i)
    return root


def truncated_png(path):
    """A PNG cut in the middle of its image data."""
    png8(path)
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    return path


def truncated_tiff(path):
    """A TIFF whose strip data ends early (the header promises more bytes)."""
    tifffile.imwrite(path, (_image(0, 1) * 65535).astype(np.uint16))
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    return path


def text_as_tif(path):
    """A text file named ``.tif``."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("sample,class\nimg0,a\nthis is not an image\n")
    return path


def zero_bytes(path):
    """An empty (0-byte) file."""
    open(path, "wb").close()
    return path


def float_tiff(path, bad=None):
    """A float32 TIFF; ``bad`` = ``"nan"`` or ``"inf"`` puts that value in some pixels."""
    img = _image(1, 2).copy()
    if bad == "nan":
        img[3:6, 4] = np.nan
    elif bad == "inf":
        img[0, :5] = np.inf
        img[1, :5] = -np.inf
    tifffile.imwrite(path, img)
    return path


def huge_tiff(path):
    """A 20000 x 20000 uint8 TIFF (400 MB of pixels), written sparse: no pixel data on disk."""
    tifffile.imwrite(path, shape=(HUGE, HUGE), dtype=np.uint8)
    return path


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path):
    """A valid 20000 x 20000 8-bit grey PNG of zeros, 400 KiB.

    Built from one raw-deflate block of 500 rows, compressed once and repeated: a full flush
    resets the compressor, so the same input gives the same bytes again.
    """
    rows = 500
    block = b"\x00" * ((HUGE + 1) * rows)  # filter byte + pixels per row
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # final empty block
    adler = 1
    for _ in range(HUGE // rows):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\x01" + piece * (HUGE // rows) + end + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", HUGE, HUGE, 8, 0, 0, 0, 0)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
                 + _png_chunk(b"IEND", b""))
    return path


def one_pixel(path, value=128):
    """A 1 x 1 8-bit PNG."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((1, 1), value, np.uint8)).save(path)
    return path


def rgb_png(path, seed=3):
    """A 20 x 20 RGB PNG."""
    img = (_image(0, seed) * 255).astype(np.uint8)
    Image.fromarray(np.stack([img, img[::-1], img.T], axis=-1)).save(path)
    return path


def bit_depths(folder, label):
    """One image of each pixel type: 1-bit, 8- and 16-bit PNG, 16-bit, int32, float32 TIFF."""
    os.makedirs(folder, exist_ok=True)
    img = _image(label, 5)
    Image.fromarray(img > 0.5).save(os.path.join(folder, "bits1.png"))
    Image.fromarray((img * 255).astype(np.uint8)).save(os.path.join(folder, "bits8.png"))
    Image.fromarray((img * 65535).astype(np.uint16)).save(os.path.join(folder, "bits16.png"))
    tifffile.imwrite(os.path.join(folder, "bits16.tif"), (img * 65535).astype(np.uint16))
    tifffile.imwrite(os.path.join(folder, "int32.tif"), (img * 1e6).astype(np.int32))
    tifffile.imwrite(os.path.join(folder, "float32.tif"), img)
    return folder


def symlink_loop(folder):
    """``folder/loop -> folder`` (and a link to its parent): walking with links never ends."""
    os.symlink(".", os.path.join(folder, "loop"))
    os.symlink("..", os.path.join(folder, "up"))
    return folder


def tiny_model(channels=1, lambda_layer=False):
    """A small Keras model on (SIZE, SIZE, channels) (2 classes), optionally with a Lambda."""
    import keras

    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Conv2D(2, 3, name="conv1")(inputs)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="code")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def foreign_keras(path):
    """A plain ``.keras`` file saved by Keras itself: no napari-convnet metadata."""
    tiny_model().save(path)
    return path


def lambda_keras(path):
    """A bundle (with metadata) whose model has a Lambda layer, i.e. stored Python code."""
    from napari_convnet.core.bundle import save_bundle

    meta = {"class_names": list(CLASSES), "input_shape": [SIZE, SIZE, 1],
            "data_config": {"image_size": [SIZE, SIZE], "channels": 1}}
    save_bundle(tiny_model(lambda_layer=True), path, meta)
    return path


def truncated_keras(path, good):
    """The first half of the good bundle ``good``: a cut zip."""
    with open(good, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    return path


def random_keras(path, n=4096, seed=0):
    """Random bytes named ``.keras``."""
    with open(path, "wb") as fh:
        fh.write(np.random.default_rng(seed).bytes(n))
    return path


def digest(path):
    """Bytes of a file (None when absent): compare before and after a failed run."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        return fh.read()
