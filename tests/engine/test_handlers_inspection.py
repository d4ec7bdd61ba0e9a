"""Inspection requests through a real engine child: layers, kernels, feature maps, Grad-CAM."""

import numpy as np
import pytest
from PIL import Image

from napari_convnet.errors import JobError

START_TIMEOUT = 180
LAYERS = ["conv1", "pool1", "conv2", "pool2", "conv3"]


@pytest.fixture(scope="module")
def engine(engine, tmp_path_factory):
    """The module's engine (conftest.py) with a course-cnn trained on dark vs light images."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name, value in (("dark", 40), ("light", 200)):
        (root / name).mkdir()
        for i in range(6):
            img = np.full((28, 28), value) + rng.integers(-30, 30, (28, 28))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    engine.call("train", timeout=START_TIMEOUT, root=str(root), preset="course-cnn",
                data_config={"image_size": [28, 28], "normalization": "range"},
                train_config={"epochs": 1, "batch_size": 4})
    return engine


def test_layers_and_kernels_of_the_current_model(engine):
    rows = engine.call("list_layers", timeout=60)
    assert [r["name"] for r in rows if r["kind"] in ("conv", "pool")] == LAYERS
    kernels = engine.call("kernels", timeout=60, layer="conv2")
    assert kernels.dtype == np.float32 and kernels.shape == (16, 16, 3, 3)
    with pytest.raises(JobError, match="no convolution kernels") as info:
        engine.call("kernels", timeout=60, layer="dense1")
    assert info.value.user_error and info.value.kind == "ModelError"


def test_feature_maps_of_one_and_all_layers(engine):
    image = np.random.default_rng(1).integers(0, 255, (100, 90), dtype=np.uint8)
    request = engine.submit("feature_maps", image=image, layer="pool1")
    events = list(request.events(timeout=60))
    result = request.result(timeout=60)
    assert result["maps"].shape == (16, 49, 44) and result["maps"].dtype == np.float32
    assert result["scale"] == (2.0, 2.0) and result["translate"] == (1.5, 1.5)
    assert result["input_shape"] == (100, 90)
    assert events[-1] == {"type": "progress", "stage": "feature maps", "done": 1, "total": 1}
    request = engine.submit("feature_maps", image=image, all=True)
    events = list(request.events(timeout=60))
    assert [r["layer"] for r in request.result(timeout=60)] == LAYERS
    assert len(events) == len(LAYERS) + 1


def test_grad_cam_on_the_image_size(engine):
    image = np.full((40, 60), 200, np.uint8)
    result = engine.call("grad_cam", timeout=60, image=image, class_index=1)
    assert result["heatmap"].shape == (40, 60) and result["heatmap"].dtype == np.float32
    assert result["class_name"] == "light" and result["layer"] == "conv3"
    assert 0 <= result["probability"] <= 1 and len(result["probabilities"]) == 2
