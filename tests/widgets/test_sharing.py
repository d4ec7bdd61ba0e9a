"""The Train step's import and export sections, in a napari window with a real engine.

A "notebook" model (plain Keras, trained on texture crops / 255, ending in logits, saved as a
legacy .h5) is made by a subprocess: TensorFlow must not load in this process. Imported in the
Workflow dock, its kernels and feature maps appear as layers and it evaluates on a folder;
then it is exported as ONNX and as a bioimage.io package.
"""

import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from tests import _textures

from napari_convnet.engine import get_engine

START_MS = 240_000


@pytest.fixture
def notebook_h5(tmp_path):
    folder = _textures.texture_folder(tmp_path / "textures", 32, 20, half="right")
    path = tmp_path / "notebook.h5"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import keras, numpy as np
        from tests import _textures
        x = np.stack([c for i, n in enumerate(_textures.TEXTURES)
                      for c in _textures.crops(n, 32, 60, "left", i)])[..., None] / 255.0
        y = np.repeat(np.arange(3), 60)
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((32, 32, 1)),
                              keras.layers.Conv2D(16, 3, activation="relu", name="conv1"),
                              keras.layers.MaxPooling2D(),
                              keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, epochs=12, batch_size=16, verbose=0)
        m.save({str(path)!r})
    """)
    get_engine().start()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"})
    return path, folder


def _section(train, name):
    return next(w for w in train.body if type(w).__name__ == name)


def test_notebook_model_imported_inspected_evaluated_and_exported(make_napari_viewer, qtbot,
                                                                  notebook_h5, tmp_path):
    path, folder = notebook_h5
    get_engine().restart()  # a fresh engine: no model of an earlier test
    get_engine().wait_ready(START_MS / 1000)
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-convnet", "Workflow")
    train = dock.train
    qtbot.waitUntil(lambda: train.model_checked, timeout=START_MS)
    sharing, export = _section(train, "ImportSection"), _section(train, "ExportSection")
    assert not sharing.unfolded and not export.unfolded
    sharing.unfold()

    sharing.source.value = path
    qtbot.waitUntil(lambda: sharing.described is not None, timeout=START_MS)
    assert "logits (a softmax will be added)" in sharing.found.value
    assert "3 classes" in sharing.found.value
    assert not sharing.low.visible  # percentiles only matter for percentile normalisation

    # the preview shows an open image before and after the stated preprocessing
    image = _textures.crops("grass", 48, 1, "right", 5)[0]
    layer = viewer.add_image(image, name="grass")
    sharing.reset_choices()
    sharing.preview_button.clicked()
    qtbot.waitUntil(lambda: sharing.preview._pair is not None, timeout=60_000)
    raw, prepared, _ = sharing.preview._pair
    assert prepared.shape == (32, 32, 1) and prepared.max() <= 1.0 < raw.max()

    sharing.class_names.value = "brick, grass, gravel"
    sharing.import_button.clicked()
    qtbot.waitUntil(lambda: train.current is not None, timeout=60_000)
    meta = train.current["meta"]
    assert meta["class_names"] == ["brick", "grass", "gravel"]
    assert train.current["path"].endswith("notebook-imported.keras")
    assert "softmax was added" in sharing.found.value
    assert "imported keras_hdf5" in train.status.value

    # its kernels and feature maps in napari (the Inspect step reads the new model itself)
    inspect = dock.inspect
    qtbot.waitUntil(lambda: bool(inspect.model_layers), timeout=60_000)
    before = len(viewer.layers)
    inspect.kernels_button.clicked()
    qtbot.waitUntil(lambda: len(viewer.layers) > before, timeout=60_000)
    inspect.reset_choices()
    inspect.image_layer.value = layer
    inspect.maps_layer.value = "conv1"
    count = len(viewer.layers)
    inspect.maps_button.clicked()
    qtbot.waitUntil(lambda: len(viewer.layers) > count, timeout=60_000)
    maps = viewer.layers[-1]
    assert maps.data.shape[-2:] == (46, 46)  # conv1 (3x3, valid) on the 48x48 image

    # it evaluates on a labelled folder
    train.data.folder.value = folder
    dock.evaluate.folder.value = folder
    dock.evaluate.evaluate_button.clicked()
    qtbot.waitUntil(lambda: dock.evaluate.report is not None, timeout=120_000)
    assert dock.evaluate.report["accuracy"] > 0.5  # three classes: chance is 0.33

    # export: ONNX checked on the data folder, then a bioimage.io package tested by bioimageio
    export.unfold()
    export.out.value = tmp_path / "shared.onnx"
    export.export_button.clicked()
    qtbot.waitUntil(lambda: export.result.value.startswith("Wrote"), timeout=120_000)
    assert "onnxruntime matches Keras within" in export.result.value
    export.out.value = tmp_path / "shared.zip"
    export.authors.value = "A. Microscopist, B. Facility"
    export.result.value = ""
    export.export_button.clicked()
    qtbot.waitUntil(lambda: export.result.value.startswith("Wrote"), timeout=240_000)
    assert "bioimage.io test passed" in export.result.value
    with zipfile.ZipFile(tmp_path / "shared.zip") as zf:
        assert "rdf.yaml" in zf.namelist()
        probabilities = np.load(zf.open("test_output.npy"))
    assert probabilities.shape == (3, 3)
