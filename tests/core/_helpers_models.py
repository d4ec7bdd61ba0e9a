"""Tiny synthetic datasets for the model/training/bundle/CLI tests (no downloads)."""

import numpy as np
from PIL import Image

CLASSES = ("horizontal", "vertical")


def stripes(n, size=16, seed=0):
    """``n`` images per class of horizontal vs vertical stripes with noise.

    Returns
    -------
    x : ndarray
        float32 (2n, size, size, 1) in [0, 1].
    y : ndarray
        int32 (2n,), 0 = horizontal, 1 = vertical.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label in (0, 1):
        for _ in range(n):
            period = rng.integers(3, 6)
            phase = rng.integers(0, period)
            line = ((np.arange(size) + phase) % period < period // 2 + 1).astype(np.float32)
            img = np.repeat(line[:, None], size, axis=1)
            if label:
                img = img.T
            img = np.clip(0.8 * img + 0.2 * rng.random((size, size)), 0, 1)
            xs.append(img[..., None])
            ys.append(label)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int32)


def write_stripes(root, n=16, size=16, seed=0):
    """Write :func:`stripes` as 8-bit PNGs into ``root/<class>/``; return ``root``."""
    x, y = stripes(n, size, seed)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[..., 0] * 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    return root
