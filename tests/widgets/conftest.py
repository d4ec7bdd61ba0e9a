"""Widget tests run in their own pytest process, under Xvfb, with a real engine child.

They must never share a process with TensorFlow (segfault beside Mesa OpenGL), so they
refuse to run if a core test already imported it.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

CORE_TESTS = os.path.join(os.path.dirname(__file__), os.pardir, "core")


def pytest_collection_modifyitems(config, items):
    if "tensorflow" in sys.modules:
        skip = pytest.mark.skip(reason="TensorFlow is loaded in this process: run tests/widgets "
                                "in its own pytest run (see README)")
        for item in items:
            if "tests/widgets" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _shutdown_shared_engine():
    yield
    from napari_convnet.engine import get_engine

    get_engine().shutdown()


@pytest.fixture(scope="session")
def stripe_model(tmp_path_factory):
    """Path of a bundle of the hand-set stripe classifier (tests/core/_helpers_predict.py).

    Saved by a subprocess: TensorFlow must not load in this process. The shared engine starts
    meanwhile.
    """
    from napari_convnet.engine import get_engine

    path = tmp_path_factory.mktemp("model") / "stripes.keras"
    get_engine().start()
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from _helpers_predict import save_stripe_bundle; save_stripe_bundle(sys.argv[2])")
    subprocess.run([sys.executable, "-c", script, CORE_TESTS, str(path)], check=True,
                   timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return path


def _stripes(root, n=24, size=20):
    """Two classes a CNN learns in a few epochs: horizontal vs vertical stripes, noisy."""
    rng = np.random.default_rng(1)
    for name, axis in (("horizontal", 0), ("vertical", 1)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            phase = rng.integers(0, 4)
            line = (np.arange(size) + phase) % 4 < 2
            img = np.repeat(line[:, None], size, 1) if axis == 0 else np.repeat(line[None], size, 0)
            img = img * 180 + rng.integers(0, 60, (size, size))
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i:02d}.png")


@pytest.fixture
def open_train_dock(make_napari_viewer, tmp_path):
    """``open_train_dock()`` -> (viewer, Train dock) set to train on a stripes folder."""

    def open_dock():
        viewer = make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
        _stripes(tmp_path / "stripes")
        widget.data.folder.value = tmp_path / "stripes"
        widget.data.image_height.value = widget.data.image_width.value = 20
        widget.preset.value = "course-cnn"
        widget.batch_size.value = 8
        return viewer, widget

    return open_dock
