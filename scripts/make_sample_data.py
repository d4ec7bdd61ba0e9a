"""Regenerate ``src/napari_convnet/sample_data/digits/<0..9>/*.png`` from scikit-learn's digits.

scikit-learn's ``load_digits`` (UCI optical digits, 8x8 pixels, 0..16 grey levels) ships with
scikit-learn, so the sample needs no download. Images are upscaled to 28x28 (MNIST's size, which
the course models expect) and written as 8-bit PNG class folders, 60 per class.

Usage: ``python scripts/make_sample_data.py [--per-class 60] [--size 28]``
"""

import argparse
import pathlib
import shutil

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "napari_convnet" / "sample_data" / "digits"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--size", type=int, default=28)
    args = parser.parse_args()
    digits = load_digits()
    if OUT.exists():
        shutil.rmtree(OUT)
    for label in range(10):
        folder = OUT / str(label)
        folder.mkdir(parents=True)
        # the first images of each class, in the data set's order: deterministic output
        for n, i in enumerate(np.flatnonzero(digits.target == label)[: args.per_class]):
            pixels = (digits.images[i] * (255 / 16)).round().astype(np.uint8)
            image = Image.fromarray(pixels).resize((args.size, args.size), Image.BILINEAR)
            image.save(folder / f"{label}_{n:03d}.png", optimize=True)
    total = sum(p.stat().st_size for p in OUT.rglob("*.png"))
    print(f"wrote {10 * args.per_class} images ({total / 1e3:.0f} kB) to {OUT}")


if __name__ == "__main__":
    main()
