"""Model bundles: round trip, embedded metadata, atomic writes, refusing unsafe or foreign files."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest

from napari_convnet.core import bundle
from napari_convnet.core.bundle import load_bundle, read_meta, save_bundle
from napari_convnet.core.presets import build_model
from napari_convnet.errors import ModelError


def _meta(shape=(12, 12, 1), classes=("a", "b")):
    return {"class_names": list(classes), "input_shape": list(shape),
            "data_config": {"image_size": list(shape[:2]), "channels": shape[2]},
            "preset": "vgg1", "preset_options": {"batchnorm": True, "augment": "microscopy"},
            "history": {"loss": [0.5, 0.4]}, "seed": 3}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("vgg1", (12, 12, 1), 2, batchnorm=True, augment="microscopy")


def test_round_trip_identical_predictions(tmp_path, model):
    path = tmp_path / "m.keras"
    written = save_bundle(model, path, _meta())
    loaded, meta = load_bundle(path)
    x = np.random.default_rng(1).random((5, 12, 12, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert meta == written and meta["class_names"] == ["a", "b"]
    assert meta["format"] == bundle.FORMAT and "keras" in meta["versions"] and meta["created"]
    with zipfile.ZipFile(path) as zf:  # one file: the metadata is inside the .keras zip
        assert bundle.META_MEMBER in zf.namelist()
    assert read_meta(path) == meta
    assert os.listdir(tmp_path) == ["m.keras"]


def test_save_failure_leaves_old_file_intact(tmp_path, model, monkeypatch):
    path = tmp_path / "m.keras"
    save_bundle(model, path, _meta())
    before = path.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(ModelError, match="simulated.*previous file is unchanged"):
        save_bundle(model, path, {**_meta(), "seed": 4})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]  # no temporary file left behind


_KILLED_SAVE = textwrap.dedent("""
    import os, sys, zipfile
    from napari_convnet.core.bundle import save_bundle
    from napari_convnet.core.presets import build_model
    real = zipfile.ZipFile.writestr
    def die(self, *a, **k):
        if a and a[0] == "napari_convnet.json":
            os.kill(os.getpid(), 9)  # a crash halfway: the model is written, the meta not
        return real(self, *a, **k)
    zipfile.ZipFile.writestr = die
    model = build_model("dense-2x10", (12, 12, 1), 2)
    save_bundle(model, sys.argv[1], {"class_names": ["a", "b"], "input_shape": [12, 12, 1],
                                     "data_config": {}})
""")


def test_killed_save_leaves_old_file_intact(tmp_path, model):
    path = tmp_path / "m.keras"
    save_bundle(model, path, _meta())
    before = path.read_bytes()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert path.read_bytes() == before
    load_bundle(path)


def test_lambda_layer_refused(tmp_path):
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inputs))
    unsafe = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(outputs))
    path = tmp_path / "unsafe.keras"
    save_bundle(unsafe, path, {"class_names": ["a", "b"], "input_shape": [4, 4, 1],
                               "data_config": {}})
    with pytest.raises(ModelError, match="Lambda layer.*arbitrary code"):
        load_bundle(path)


def test_foreign_keras_file(tmp_path, model):
    path = tmp_path / "plain.keras"
    model.save(path)
    with pytest.raises(ModelError, match="not a napari-convnet bundle.*class names"):
        load_bundle(path)
    with pytest.warns(UserWarning, match="no napari-convnet metadata"):
        _, meta = load_bundle(path, allow_foreign=True)
    assert meta["class_names"] == ["class_0", "class_1"] and meta["inferred"]


@pytest.mark.parametrize("content, match", [
    (b"not a zip at all", "not a model bundle"),
    (None, "does not exist"),
])
def test_not_a_bundle(tmp_path, content, match):
    path = tmp_path / "x.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=match):
        load_bundle(path)


def test_zip_without_model(tmp_path):
    path = tmp_path / "x.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelError, match="not a Keras model"):
        load_bundle(path)


def test_metadata_must_match_model(tmp_path, model):
    with pytest.raises(ModelError, match="2 outputs"):
        save_bundle(model, tmp_path / "m.keras", _meta(classes=("a", "b", "c")))
    with pytest.raises(ModelError, match="input_shape"):
        save_bundle(model, tmp_path / "m.keras", _meta(shape=(16, 16, 1)))
    with pytest.raises(ModelError, match="lacks class_names"):
        save_bundle(model, tmp_path / "m.keras", {"input_shape": [12, 12, 1]})
    with pytest.raises(ModelError, match="must end in '.keras'"):
        save_bundle(model, tmp_path / "m.h5", _meta())
    with pytest.raises(ModelError, match="JSON"):
        save_bundle(model, tmp_path / "m.keras", {**_meta(), "x": object()})
    assert not list(tmp_path.iterdir())
    json.dumps(_meta())
