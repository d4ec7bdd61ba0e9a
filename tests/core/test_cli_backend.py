"""``napari-convnet --backend``: train and predict on JAX from the command line; clear refusals.

Each command runs in its own process (a backend is chosen before Keras is imported).
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from _textures import crops, texture_folder
from napari_convnet.cli import main


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "napari_convnet.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_train_and_predict_on_jax(tmp_path):
    from PIL import Image

    data = texture_folder(tmp_path / "data", size=32, per_class=24, names=("brick", "grass"))
    out = tmp_path / "m.keras"
    run = _cli("--backend", "jax", "train", data, "--preset", "vgg1", "--epochs", "6",
               "--batch-size", "8", "--out", out)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "on CPU (Keras backend JAX)" in run.stdout
    record = json.loads((tmp_path / "m.run.json").read_text())
    assert record["versions"]["backend"] == "jax" and record["versions"]["jax"]
    assert record["result"]["gpus"] == [] and record["result"]["peak_gpu_memory_bytes"] is None
    images = []
    for name in ("brick", "grass"):
        for i, crop in enumerate(crops(name, 32, 2, half="right", seed=3)):
            images.append(tmp_path / f"{name}{i}.png")
            Image.fromarray(crop).save(images[-1])
    table = tmp_path / "rows.csv"
    run = _cli("predict", out, *images, "--csv", table, env={"KERAS_BACKEND": "jax"})
    assert run.returncode == 0, run.stderr[-2000:]
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    truth = ["brick", "brick", "grass", "grass"]
    assert sum(row["predicted"] == want for row, want in zip(rows, truth, strict=True)) >= 3


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_info_on_jax():
    run = _cli("--backend", "jax", "info")
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(None, 1) for line in run.stdout.splitlines() if " " in line)
    assert lines["Backend"].startswith("JAX 0.") and lines["Device"] == "CPU"
    assert lines["GPUs"] == "none (training runs on the CPU)"


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="PyTorch is here")
def test_a_backend_that_is_not_installed_names_its_pip_command(capsys):
    assert main(["--backend", "torch", "presets"]) == 2
    err = capsys.readouterr().err
    assert "The Keras backend 'torch' is not installed. Install it with: pip install torch" in err


def test_keras_already_running_on_another_backend_is_said(capsys):
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    if importlib.util.find_spec(other) is None:
        pytest.skip(f"{other} is not installed")
    assert main(["--backend", other, "presets"]) == 2
    assert f"start a new one to use {other}" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_mirrored_on_jax_is_data_parallel_on_two_devices(tmp_path):
    """keras.distribution.DataParallel over two CPU devices (as over two GPUs); one texture
    file less, so the last batch does not split evenly."""
    data = texture_folder(tmp_path / "data", size=32, per_class=27, names=("brick", "grass"))
    next((tmp_path / "data" / "brick").iterdir()).unlink()
    run = _cli("--backend", "jax", "train", data, "--preset", "vgg1", "--epochs", "4",
               "--batch-size", "8", "--strategy", "mirrored", "--out", tmp_path / "m.keras",
               env={"JAX_PLATFORMS": "cpu",
                    "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((tmp_path / "m.run.json").read_text())
    assert record["result"]["replicas"] == 2
    assert max(record["result"]["history"]["val_accuracy"]) >= 0.75


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_a_tensorflow_strategy_on_jax_is_said(tmp_path):
    data = texture_folder(tmp_path / "data", size=32, per_class=8, names=("brick", "grass"))
    run = _cli("--backend", "jax", "train", data, "--preset", "vgg1", "--epochs", "1",
               "--strategy", "multiworker", "--out", tmp_path / "m.keras")
    assert run.returncode == 2 and "needs the TensorFlow backend" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "m.keras").exists()


@pytest.mark.skipif(os.path.exists("/proc/driver/nvidia"), reason="an NVIDIA driver is here")
def test_auto_without_a_gpu_driver_is_tensorflow_without_importing_the_others():
    script = ("import sys; from napari_convnet import backends; "
              "print(backends.resolve(None), backends.resolve('auto'), "
              "'jax' in sys.modules or 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PATH"] = os.defpath  # no nvidia-smi
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.stdout.split() == ["tensorflow", "tensorflow", "False"], run.stderr
