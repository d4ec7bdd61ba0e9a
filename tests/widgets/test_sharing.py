"""The Train step's import and export sections, in a napari window with a real engine.

A "notebook" model (plain Keras, trained on texture crops / 255, ending in logits, saved as
tf.keras-style .h5) is made by a subprocess: TensorFlow must not load in this process.
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
    folder = _textures.texture_folder(tmp_path / "textures", 32, 20)
    path = tmp_path / "notebook.h5"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import keras, numpy as np
        from tests import _textures
        x = np.stack([c for i, n in enumerate(_textures.TEXTURES)
                      for c in _textures.crops(n, 32, 40, "left", i)])[..., None] / 255.0
        y = np.repeat(np.arange(3), 40)
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(8, 3, name="conv1"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, epochs=3, verbose=0)
        m.save({str(path)!r})
    """)
    get_engine().start()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"})
    return path, folder


def test_import_preview_and_export_from_the_train_step(make_napari_viewer, qtbot, notebook_h5,
                                                       tmp_path):
    path, folder = notebook_h5
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    sharing = next(w for w in train.body if type(w).__name__ == "ImportSection")
    export = next(w for w in train.body if type(w).__name__ == "ExportSection")
    assert not sharing.unfolded and not export.unfolded
    sharing.unfold()

    sharing.source.value = path
    qtbot.waitUntil(lambda: sharing.described is not None, timeout=START_MS)
    assert "logits (a softmax will be added)" in sharing.found.value
    assert "3 classes" in sharing.found.value

    # the preview shows an open image before and after the stated preprocessing
    image = _textures.crops("grass", 48, 1, "right", 5)[0]
    viewer.add_image(image, name="grass")
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

    # export: ONNX checked on the data folder, then a bioimage.io package tested by bioimageio
    train.data.folder.value = folder
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
    probabilities = np.load(zipfile.ZipFile(tmp_path / "shared.zip").open("test_output.npy"))
    assert probabilities.shape == (3, 3)
