"""Draw docs/images/preparation.png: how one image reaches the model, from real photographs.

Indexes a folder of 32x32 crops of scikit-image's brick, grass and gravel photographs with the
default configuration (size and levels taken from the data), then shows a 96x96 test image,
its normalised version, one tile of a tiled map, and the numbers the model sees in it, next to
what per-image ``percentile`` normalisation would give the same pixels.

Usage: .venv/bin/python scripts/preparation_figure.py [OUT.png]
"""

import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from napari_convnet.core import images  # noqa: E402
from napari_convnet.core.data import index_folder  # noqa: E402
from napari_convnet.core.data_config import DataConfig

SIZE = 32
TILE_AT = (40, 8)  # (y, x) of the tile shown: inside the brick, whose contrast is low


def _training_folder(root):
    rng = np.random.default_rng(0)
    for name in ("brick", "grass", "gravel"):
        photo = getattr(skimage.data, name)()[:, :256]  # left halves only
        os.makedirs(os.path.join(root, name))
        for i in range(40):
            y, x = rng.integers(0, photo.shape[0] - SIZE), rng.integers(0, photo.shape[1] - SIZE)
            Image.fromarray(photo[y:y + SIZE, x:x + SIZE]).save(
                os.path.join(root, name, f"{name}_{i:03d}.png"))
    return root


def _test_image():
    """96x96 uint8: brick on the left, gravel on the right (right halves of the photos)."""
    brick, gravel = skimage.data.brick()[380:476, 300:348], skimage.data.gravel()[100:196, 400:448]
    return np.concatenate([brick, gravel], axis=1)


def main(out):
    with tempfile.TemporaryDirectory() as tmp:
        config = index_folder(_training_folder(os.path.join(tmp, "data")), DataConfig()).config
    (low, high), = config.levels
    image = _test_image()
    y, x = TILE_AT
    tile = images.finish(image[None, y:y + SIZE, x:x + SIZE, None], config)[0, ..., 0]
    per_image = DataConfig(image_size=config.image_size, normalization="percentile")
    stretched = images.finish(image[None, y:y + SIZE, x:x + SIZE, None], per_image)[0, ..., 0]
    whole = images.normalize_samples(image[None, ..., None], config)[0, ..., 0]

    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6), constrained_layout=True)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title(f"1. the image (uint8, {image.min()}–{image.max()})")
    axes[1].imshow(whole, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"2. dataset levels {low:.0f}–{high:.0f} → 0–1")
    for ax in axes[:2]:
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), SIZE, SIZE, fill=False, color="orange", lw=2))
    axes[2].imshow(tile, cmap="gray", vmin=0, vmax=1)
    axes[2].set_title(f"3. one {SIZE}×{SIZE} tile = a model input")
    axes[3].imshow(stretched, cmap="gray", vmin=0, vmax=1)
    axes[3].set_title("4. percentile instead: stretched alone")
    axes[4].axis("off")
    corner = slice(14, 18)
    rows = [" ".join(f"{v:5.2f}" for v in r) for r in tile[corner, corner]]
    alt = [" ".join(f"{v:5.2f}" for v in r) for r in stretched[corner, corner]]
    axes[4].text(0, 1, "5. numbers the model sees\n(4×4 pixels at the tile's centre)\n\n"
                 "dataset (default): the same\nin a training image, a tile, a crop\n"
                 + "\n".join(rows) + "\n\npercentile: this tile stretched\non its own\n"
                 + "\n".join(alt), family="monospace", fontsize=9, va="top",
                 transform=axes[4].transAxes)
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(out, dpi=100)
    print(f"wrote {out} (levels {low:.1f}-{high:.1f}, auto size {config.image_size})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/images/preparation.png")
