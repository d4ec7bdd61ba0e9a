"""The ConvNet dock in a real napari viewer, talking to a real engine child."""

import importlib.util
import os
import signal
import sys

import npe2
import numpy as np
import pytest

from napari_convnet.engine.client import CRASHED, READY

START_TIMEOUT_MS = 180_000


def _manifest_widgets():
    manifest = npe2.PluginManifest.from_distribution("napari-convnet")
    return [w.display_name for w in manifest.contributions.widgets]


def test_engine_dock_shows_device_and_survives_a_killed_engine(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "ConvNet")
    assert "starting" in widget._state.value or widget.engine.state == READY
    qtbot.waitUntil(lambda: widget.engine.state == READY, timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "CPU" in widget._device.value or "GPU" in widget._device.value,
                    timeout=2000)
    assert "TensorFlow" in widget._device.value

    # kill the engine: napari stays up, the dock says so and offers a restart
    os.kill(widget.engine.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: widget.engine.state == CRASHED, timeout=30_000)
    qtbot.waitUntil(lambda: widget._restart.native.isVisibleTo(widget.native), timeout=2000)
    assert "killed by SIGKILL" in widget._error.value
    viewer.add_image(np.arange(4.0).reshape(2, 2))  # napari still renders

    widget._restart.clicked()
    qtbot.waitUntil(lambda: widget.engine.state == READY, timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget._restart.native.isVisibleTo(widget.native), timeout=2000)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_backend_box_restarts_the_engine_on_jax_and_back(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "ConvNet")
    qtbot.waitUntil(lambda: widget.engine.state == READY, timeout=START_TIMEOUT_MS)
    first = widget.engine.pid
    try:
        widget._backend.value = "jax"
        qtbot.waitUntil(lambda: widget.engine.state == READY and widget.engine.pid != first,
                        timeout=START_TIMEOUT_MS)
        qtbot.waitUntil(lambda: "JAX" in widget._device.value, timeout=2000)
        assert widget.engine.info["backend"] == "jax" and "CPU only" in widget._device.value
    finally:  # the other widget tests share this engine: back to TensorFlow
        widget._backend.value = "tensorflow"
        qtbot.waitUntil(lambda: widget.engine.state == READY
                        and widget.engine.info["backend"] == "tensorflow",
                        timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "TensorFlow" in widget._device.value, timeout=2000)


def test_every_widget_opens_without_tensorflow_in_napari(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    names = _manifest_widgets()
    assert "ConvNet" in names
    for name in names:
        viewer.window.add_plugin_dock_widget("napari-convnet", name)
    viewer.add_image(np.arange(4.0).reshape(2, 2))
    qtbot.wait(200)
    loaded = {m.split(".")[0] for m in sys.modules}
    assert "tensorflow" not in loaded and "keras" not in loaded
