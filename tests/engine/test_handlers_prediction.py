"""Prediction requests served by a real engine child, with the current model loaded from a bundle.

The bundle (the hand-set stripe classifier of tests/_helpers_predict.py) is saved by a
subprocess: this pytest process must not import TensorFlow (see test_engine.py).
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import _helpers_predict
from _helpers_predict import mosaic, objects_scene, stripes
from napari_convnet.errors import JobError

START_TIMEOUT = 180


@pytest.fixture(scope="module")
def engine(engine, tmp_path_factory):
    """(the module's engine from conftest.py, path of the stripe bundle)."""
    path = tmp_path_factory.mktemp("model") / "stripes.keras"
    script = ("import runpy, sys; "
              "runpy.run_path(sys.argv[1])['save_stripe_bundle'](sys.argv[2])")
    subprocess.run([sys.executable, "-c", script, _helpers_predict.__file__, str(path)],
                   check=True, timeout=START_TIMEOUT,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return engine, path


def test_requests_without_a_model_say_what_to_do(engine):
    eng, _ = engine  # fresh: nothing trained or loaded yet
    with pytest.raises(JobError, match="no current model") as info:
        eng.call("classify_image", timeout=60, image=np.zeros((16, 16)))
    assert info.value.user_error


def test_image_stack_tiles_objects_and_folder(engine, tmp_path):
    eng, path = engine
    eng.call("load_model", timeout=60, path=str(path))
    one = eng.call("classify_image", timeout=60, image=stripes((16, 16), True))
    assert one["class_name"] == "vertical" and len(one["probabilities"]) == 2

    stack = np.stack([stripes((16, 16), i % 2 == 1, seed=i) for i in range(5)])
    request = eng.submit("classify_stack", stack=stack, batch_size=2)
    events = list(request.events(timeout=60))
    assert request.result(60)["class_index"].tolist() == [0, 1, 0, 1, 0]
    assert [e["done"] for e in events] == [2, 4, 5] and events[0]["type"] == "progress"

    image, truth = mosaic(blocks=(2, 2), block=32)
    tiles = eng.call("tile_class_map", timeout=60, image=image, stride=8, min_confidence=0.5)
    assert (tiles["labels"] == truth + 1).mean() >= 0.9
    assert tiles["probabilities"].shape == (2, 64, 64)

    image, labels, classes = objects_scene()
    objects = eng.call("classify_objects", timeout=60, image=image, labels=labels, mode="patch")
    assert objects["class_index"].tolist() == [classes[i] for i in sorted(classes)]
    assert objects["class_labels"].shape == labels.shape

    for i in range(3):
        Image.fromarray((stripes((16, 16), i == 1, seed=i) * 255).astype(np.uint8)).save(
            tmp_path / f"img{i}.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    request = eng.submit("classify_folder", paths=[str(tmp_path)])
    messages = [e for e in request.events(timeout=60) if e["type"] == "message"]
    rows = request.result(60)
    assert [r["class_name"] for r in rows] == ["horizontal", "vertical", "horizontal"]
    assert set(rows[0]) == {"path", "slice", "class_name", "probability", "probabilities"}
    assert len(messages) == 1 and "broken.png" in messages[0]["text"]

    with pytest.raises(JobError, match="label image has shape") as info:
        eng.call("classify_objects", timeout=60, image=image, labels=labels[:10])
    assert info.value.user_error


def test_stop_returns_the_slices_done(engine):
    eng, path = engine
    eng.call("load_model", timeout=60, path=str(path))
    pair = np.stack([stripes((16, 16), False), stripes((16, 16), True)])
    stack = np.tile(pair, (10000, 1, 1))
    request = eng.submit("classify_stack", stack=stack, batch_size=16)
    next(iter(request.events(timeout=60)))
    started = time.monotonic()
    assert eng.stop_request(request, timeout=30)
    result = request.result(30)
    assert request.stopped and result["stopped"]
    assert 0 < len(result["class_index"]) < len(stack) and time.monotonic() - started < 30
