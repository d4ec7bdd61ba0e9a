"""Real pixels for preparation tests: crops of scikit-image's bundled texture photographs.

``brick``, ``grass`` and ``gravel`` ship inside scikit-image (no download). Training crops come
from the left half of each photo and test images from the right half, so no test pixel was
seen in training. numpy and scikit-image only (no Keras at import).
"""

import os

import numpy as np
from PIL import Image

TEXTURES = ("brick", "grass", "gravel")


def photo(name):
    """uint8 (512, 512) photograph ``name`` of scikit-image's bundled data."""
    import skimage.data

    return getattr(skimage.data, name)()


def crops(name, size, count, half="left", seed=0):
    """``count`` uint8 (size, size) crops at random places of one half of photo ``name``."""
    image = photo(name)
    width = image.shape[1] // 2
    part = image[:, :width] if half == "left" else image[:, width:]
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, part.shape[0] - size + 1, count)
    xs = rng.integers(0, part.shape[1] - size + 1, count)
    return [np.ascontiguousarray(part[y:y + size, x:x + size]) for y, x in zip(ys, xs, strict=True)]


def write_folder(root, per_class):
    """Write ``{class: [uint8 images]}`` as ``root/<class>/<class>_NNN.png``; return ``root``."""
    for name, images in per_class.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(os.path.join(root, name, f"{name}_{i:03d}.png"))
    return str(root)


def texture_folder(root, size=32, per_class=40, half="left", seed=0, names=TEXTURES):
    """A labelled folder of texture crops, one class per photograph."""
    return write_folder(root, {n: crops(n, size, per_class, half, seed + i)
                               for i, n in enumerate(names)})


def mosaic(blocks, block, half="right", seed=0, names=TEXTURES):
    """A (rows * block, cols * block) uint8 mosaic of texture crops, and its truth.

    Returns
    -------
    image : ndarray
        uint8 (Y, X).
    truth : ndarray
        int (rows, cols): the class index of each block.
    pieces : list of ndarray
        The uint8 (block, block) crops, row by row.
    """
    rows, cols = blocks
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.arange(rows * cols) % len(names)).reshape(rows, cols)
    pieces = [crops(names[k], block, 1, half, seed=seed * 1000 + i)[0]
              for i, k in enumerate(truth.ravel())]
    image = np.block([[pieces[r * cols + c] for c in range(cols)] for r in range(rows)])
    return image, truth, pieces


class RecordingModel:
    """Stands in for a Keras classifier and keeps every batch that reaches it.

    Prediction code only calls ``input_shape``, ``output_shape`` and ``predict_on_batch``,
    so this shows exactly which numbers a model would see on each path.
    """

    def __init__(self, input_shape, classes):
        self.input_shape = (None, *input_shape)
        self.output_shape = (None, classes)
        self.batches = []

    def predict_on_batch(self, x):
        self.batches.append(np.array(x, copy=True))
        k = self.output_shape[-1]
        return np.full((len(x), k), 1 / k, np.float32)

    def seen(self):
        """float32 (N, H, W, C): every sample that reached the model, in order."""
        return np.concatenate(self.batches)
