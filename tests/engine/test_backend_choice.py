"""The engine child runs on the Keras backend it is given (the ConvNet dock's Backend box)."""

import importlib.util

import numpy as np
import pytest

from _textures import crops, texture_folder
from napari_convnet.engine import Engine
from napari_convnet.errors import EngineError

START_TIMEOUT = 180


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_engine_on_jax_trains_classifies_and_explains(tmp_path):
    """The dock's requests on a JAX engine: train on photographs, classify, Grad-CAM."""
    data = texture_folder(tmp_path / "data", size=32, per_class=24, names=("brick", "grass"))
    engine = Engine(backend="jax")
    try:
        info = engine.wait_ready(START_TIMEOUT)
        assert info["backend"] == "jax" and info["jax"].count(".") >= 2
        assert info["device"] == "CPU" and info["gpus"] == [] and "tensorflow" not in info
        trained = engine.call("train", timeout=600, root=str(data), preset="vgg1",
                              out=str(tmp_path / "jax.keras"),
                              data_config={"image_size": [32, 32], "validation_split": 0.25},
                              train_config={"epochs": 6, "batch_size": 8, "seed": 1})
        assert trained["meta"]["versions"]["backend"] == "jax"
        assert max(trained["meta"]["history"]["val_accuracy"]) >= 0.8
        grass = crops("grass", 32, 1, half="right", seed=4)[0]  # held out, (32, 32) uint8
        assert engine.call("classify_image", image=grass, timeout=60)["class_name"] == "grass"
        cam = engine.call("grad_cam", image=crops("brick", 64, 1, half="right")[0], timeout=60)
        assert cam["heatmap"].shape == (64, 64) and np.ptp(cam["heatmap"]) > 0.5
    finally:
        engine.shutdown()


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="PyTorch is installed here")
def test_a_backend_that_is_not_installed_fails_the_start_with_its_pip_command():
    engine = Engine(backend="torch")
    try:
        with pytest.raises(EngineError, match=r"'torch' is not installed.*pip install torch"):
            engine.wait_ready(START_TIMEOUT)
    finally:
        engine.shutdown()
