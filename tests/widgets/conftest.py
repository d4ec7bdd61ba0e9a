"""Widget tests run in their own pytest process, under Xvfb, with a real engine child.

They must never share a process with TensorFlow (segfault beside Mesa OpenGL), so they
refuse to run if a core test already imported it.
"""

import os
import subprocess
import sys

import pytest

import _helpers_predict
from _helpers_folders import stripes_folder


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
    """Path of a bundle of the hand-set stripe classifier (tests/_helpers_predict.py).

    Saved by a subprocess: TensorFlow must not load in this process. The shared engine starts
    meanwhile.
    """
    from napari_convnet.engine import get_engine

    path = tmp_path_factory.mktemp("model") / "stripes.keras"
    get_engine().start()
    script = ("import runpy, sys; "
              "runpy.run_path(sys.argv[1])['save_stripe_bundle'](sys.argv[2])")
    subprocess.run([sys.executable, "-c", script, _helpers_predict.__file__, str(path)],
                   check=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return path


@pytest.fixture
def open_train_dock(make_napari_viewer, tmp_path):
    """``open_train_dock()`` -> (viewer, Train dock) set to train on a stripes folder."""

    def open_dock():
        viewer = make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
        stripes_folder(tmp_path / "stripes", n=24, size=20)
        widget.data.folder.value = tmp_path / "stripes"
        widget.data.image_height.value = widget.data.image_width.value = 20
        widget.preset.value = "course-cnn"
        widget.batch_size.value = 8
        return viewer, widget

    return open_dock
