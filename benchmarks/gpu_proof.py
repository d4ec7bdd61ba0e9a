"""Proof on a real GPU: the plugin trains on it through PyTorch and JAX, as fast as plain Keras.

For each installed backend of ``--backends`` (default ``torch jax``), each in its own process
(one Keras backend per process), through ``bench_train.py``:

1. ``course-cnn`` and ``vgg3 --batchnorm --augment`` on ``--images`` Fashion-MNIST images
   (default 60,000) on the GPU: samples/s through the plugin vs a plain ``model.fit`` of the
   same model in the same process (goal >= 0.95), the device actually used, peak GPU memory;
   again with mixed precision;
2. the same on the CPU (``--cpu-images``, default 6,000: the GPU hidden from the backend),
   for the GPU / CPU speed-up;
3. a bundle trained on the GPU predicts the same (to 1e-5) in a process that sees no GPU.

Prints one table and writes every figure to ``--out`` (JSON). Data: the four Fashion-MNIST
``*-ubyte.gz`` files in ``FASHION_MNIST`` (default Debian's /usr/share/datasets/fashion-mnist).
Run: ``python benchmarks/gpu_proof.py [--out gpu_proof.json]``; about 10 minutes on one
H100-class GPU.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
#: How each backend is kept off the GPU for the CPU figures.
CPU_ONLY = {"torch": {"CUDA_VISIBLE_DEVICES": ""}, "jax": {"JAX_PLATFORMS": "cpu"},
            "tensorflow": {"CUDA_VISIBLE_DEVICES": ""}}
MODELS = (("course-cnn", []), ("vgg3", ["--batchnorm", "--augment"]))

_PREDICT = """
import json, sys
import numpy as np
from napari_convnet import backends
backends.select(sys.argv[1])
from napari_convnet.core.bundle import load_bundle
from napari_convnet.core.devices import device_name
from napari_convnet.core.prediction import predict_arrays
model, meta = load_bundle(sys.argv[2])
x = np.load(sys.argv[3])
print(json.dumps({"device": device_name(), "probabilities": predict_arrays(model, x, 64).tolist()}))
"""

_TRAIN = """
import json, sys
import numpy as np
from napari_convnet import backends
backends.select(sys.argv[1])
sys.path.insert(0, sys.argv[4])
from bench_train import load_fashion, write_folder
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.devices import device_name
from napari_convnet.core.prediction import predict_arrays
from napari_convnet.core.training import TrainConfig, train_from_folder
images, labels = load_fashion("train", 6000)
data = write_folder(sys.argv[2] + "/data", images, labels)
model, meta, _ = train_from_folder(data, "course-cnn", DataConfig(image_size=(28, 28)),
                                   TrainConfig(epochs=2, batch_size=64),
                                   out=sys.argv[2] + "/gpu.keras")
x = (load_fashion("test", 256)[0][..., None] / 255.0).astype(np.float32)
np.save(sys.argv[3], x)
print(json.dumps({"device": device_name(), "probabilities": predict_arrays(model, x, 64).tolist()}))
"""


def _run(args, env=None):
    child = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                           env={**os.environ, **(env or {})}, timeout=3600)
    if child.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{child.stderr[-3000:]}")
    return child.stdout


def bench(backend, preset, extra, images, epochs, env=None):
    """One bench_train run; its JSON figures."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        _run([os.path.join(HERE, "bench_train.py"), "--backend", backend, "--preset", preset,
              *extra, "--images", str(images), "--epochs", str(epochs), "--batch-size", "128",
              "--repeats", "1", "--json", out.name], env)
        with open(out.name) as fh:
            return json.load(fh)


def bundle_on_cpu(backend):
    """Train on the GPU, predict there and in a process without a GPU; the largest difference."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        gpu = json.loads(_run(["-c", _TRAIN, backend, tmp, x, HERE]).splitlines()[-1])
        cpu = json.loads(_run(["-c", _PREDICT, backend, os.path.join(tmp, "gpu.keras"), x],
                              CPU_ONLY[backend]).splitlines()[-1])
    diff = float(np.abs(np.asarray(gpu["probabilities"]) - cpu["probabilities"]).max())
    return {"trained_on": gpu["device"], "predicted_on": cpu["device"], "max_abs_diff": diff}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "jax"])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--cpu-images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="gpu_proof.json")
    args = parser.parse_args()
    results = []
    for backend in args.backends:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend}: not installed, skipped")
            continue
        for preset, extra in MODELS:
            row = {"backend": backend, "model": " ".join([preset, *extra])}
            row["gpu"] = bench(backend, preset, extra, args.images, args.epochs)
            row["gpu_mixed"] = bench(backend, preset, [*extra, "--mixed-precision"],
                                     args.images, args.epochs)
            row["cpu"] = bench(backend, preset, extra, args.cpu_images, 2, CPU_ONLY[backend])
            results.append(row)
            print(json.dumps(row))
        results.append({"backend": backend, "bundle": bundle_on_cpu(backend)})
        print(json.dumps(results[-1]))
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print("\n| backend | model | device | GPU samples/s | ours / plain fit | mixed precision "
          "samples/s | peak GPU MiB (fp32 / mixed) | CPU samples/s | GPU / CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in results:
        if "bundle" in row:
            b = row["bundle"]
            print(f"| {row['backend']} | bundle trained on {b['trained_on']}, predicted on "
                  f"{b['predicted_on']} | max difference {b['max_abs_diff']:.1e} |")
            continue
        g, m, c = row["gpu"], row["gpu_mixed"], row["cpu"]
        print(f"| {row['backend']} | {row['model']} | {g['device']} | "
              f"{g['ours_samples_per_s']:,.0f} | {g['ratio_wall']:.3f} | "
              f"{m['ours_samples_per_s']:,.0f} (ratio {m['ratio_wall']:.3f}) | "
              f"{(g['peak_gpu_memory_bytes'] or 0) / 2**20:,.0f} / "
              f"{(m['peak_gpu_memory_bytes'] or 0) / 2**20:,.0f} | "
              f"{c['ours_samples_per_s']:,.0f} | "
              f"{g['ours_samples_per_s'] / c['ours_samples_per_s']:.1f}x |")


if __name__ == "__main__":
    main()
