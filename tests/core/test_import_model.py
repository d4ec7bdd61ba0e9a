"""Importing Keras classifiers made elsewhere (a notebook, tf.keras / Keras 2), and ONNX out.

The "notebook" models are plain Keras models trained here on crops of scikit-image's texture
photographs divided by 255, as the course's notebooks do; the test images are crops of the
other half of each photograph.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from tests import _textures

from napari_convnet.core.bundle import load_bundle
from napari_convnet.core.evaluation import evaluate_folder
from napari_convnet.core.gradcam import grad_cam
from napari_convnet.core.images import read_image
from napari_convnet.core.inspection import feature_maps, kernels
from napari_convnet.core.prediction import classify_image
from napari_convnet.core.sharing import onnx_export
from napari_convnet.core.sharing.importing import import_model
from napari_convnet.core.training import TrainConfig, train_from_folder
from napari_convnet.errors import ModelError

NAMES = list(_textures.TEXTURES)
SIZE = 32


def _arrays(half, per_class, seed):
    x, y = [], []
    for label, name in enumerate(NAMES):
        crops = _textures.crops(name, SIZE, per_class, half, seed + label)
        x += crops
        y += [label] * len(crops)
    return np.stack(x)[..., None], np.asarray(y)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """A course-style CNN trained in plain Keras on x / 255, ending in logits."""
    root = tmp_path_factory.mktemp("notebook")
    x, y = _arrays("left", 60, 0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(len(NAMES), name="logits"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x / 255.0, y, epochs=12, batch_size=16, verbose=0)
    model.save(root / "notebook.keras")
    model.save(root / "notebook.h5")
    test = _textures.texture_folder(root / "test", SIZE, 20, half="right", seed=7)
    return model, root, test


def _probabilities(model, folder):
    """The notebook's own answer on the folder's images: softmax(model(x / 255))."""
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files)
    from PIL import Image

    x = np.stack([np.asarray(Image.open(p)) for p in paths])[..., None] / 255.0
    return paths, keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x, verbose=0)))


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_notebook_model_becomes_a_bundle(notebook, tmp_path, suffix):
    model, root, test = notebook
    out = tmp_path / "imported.keras"
    _, meta = import_model(root / f"notebook.{suffix}", out, class_names=",".join(NAMES))
    assert meta["imported"]["format"] == {"keras": "keras_v3", "h5": "keras_hdf5"}[suffix]
    assert any("logits" in note for note in meta["imported"]["notes"])
    assert meta["data_config"]["normalization"] == "range"
    bundle_model, bundle_meta = load_bundle(out)
    assert bundle_meta["class_names"] == NAMES
    paths, expected = _probabilities(model, test)
    x = np.concatenate([read_image(p, _config(bundle_meta)) for p in paths])
    got = bundle_model.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    report = evaluate_folder(bundle_model, bundle_meta, test)
    assert report["accuracy"] > 0.6  # three classes: chance is 0.33
    np.testing.assert_array_equal(kernels(bundle_model, "conv1"),
                                  np.transpose(model.get_layer("conv1").kernel, (3, 2, 0, 1)))
    image = _textures.crops("brick", 48, 1, "right", 3)[0]
    maps = feature_maps(bundle_model, bundle_meta, image, "conv2")
    assert maps["maps"].shape[0] == 16 and maps["input_shape"] == (48, 48)
    # an image of another size is fitted by the stated resize rule (pad: the same as padding
    # it by hand to 48 x 48 and shrinking, as the notebook would have to)
    answer = classify_image(bundle_model, bundle_meta, image)
    assert answer["class_name"] in NAMES and abs(sum(answer["probabilities"]) - 1) < 1e-5
    cam = grad_cam(bundle_model, bundle_meta, image)
    assert cam["heatmap"].shape == (48, 48) and cam["layer"] == "conv2"
    assert 0 <= cam["heatmap"].min() and cam["heatmap"].max() <= 1


def _config(meta):
    from napari_convnet.core._predict import data_config

    return data_config(meta)


def test_keras2_h5_from_tf_keras(tmp_path):
    """A legacy .h5 written by tf.keras (Keras 2), as the course's notebooks wrote them."""
    pytest.importorskip("tf_keras")
    path = tmp_path / "course.h5"
    script = textwrap.dedent(f"""
        import numpy as np, tf_keras as k2
        k2.utils.set_random_seed(1)
        m = k2.Sequential([k2.layers.Conv2D(8, 3, activation="relu", input_shape=(16, 16, 1)),
                           k2.layers.MaxPooling2D(), k2.layers.Flatten(),
                           k2.layers.Dense(2, activation="softmax")])
        m.save({str(path)!r})
        x = np.linspace(0, 1, 256, dtype="float32").reshape(1, 16, 16, 1)
        np.save({str(tmp_path / "expected.npy")!r}, m.predict(x, verbose=0))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                   env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    model, meta = import_model(path, tmp_path / "course.keras", class_names=["a", "b"],
                               preprocessing={"normalization": "none"})
    assert meta["imported"]["notes"] == []
    x = np.linspace(0, 1, 256, dtype="float32").reshape(1, 16, 16, 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(tmp_path / "expected.npy"),
                               atol=1e-6)
    assert kernels(load_bundle(tmp_path / "course.keras")[0], "conv2d").shape == (8, 1, 3, 3)


def test_imported_model_continues_training(notebook, tmp_path):
    _, root, test = notebook
    imported = tmp_path / "imported.keras"
    import_model(root / "notebook.keras", imported, class_names=NAMES)
    train = _textures.texture_folder(tmp_path / "train", SIZE, 12, half="left", seed=3)
    model, meta, result = train_from_folder(
        train, model=str(imported), train_config=TrainConfig(epochs=1, batch_size=8),
        out=tmp_path / "continued.keras")
    assert meta["epochs"] == 1 and meta["class_names"] == NAMES
    assert meta["imported"]["format"] == "keras_v3"
    assert os.path.isfile(tmp_path / "continued.keras")


def test_one_sigmoid_unit_is_two_classes(tmp_path):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.save(tmp_path / "binary.keras")
    imported, meta = import_model(tmp_path / "binary.keras", tmp_path / "b.keras",
                                  class_names=["negative", "positive"],
                                  preprocessing={"normalization": "none"})
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    p = model.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(imported.predict(x, verbose=0), np.stack([1 - p, p], 1),
                               atol=1e-6)
    assert "sigmoid" in meta["imported"]["notes"][0]


def test_any_size_model_needs_and_uses_a_size(tmp_path):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalMaxPooling2D()(x))
    keras.Model(inputs, outputs).save(tmp_path / "fcn.keras")
    with pytest.raises(ModelError, match="any size: give the size"):
        import_model(tmp_path / "fcn.keras", tmp_path / "o.keras", class_names="a,b")
    model, meta = import_model(tmp_path / "fcn.keras", tmp_path / "o.keras", class_names="a,b",
                               preprocessing={"image_size": (40, 30)})
    assert meta["input_shape"] == [40, 30, 3] and model.input_shape == (None, 40, 30, 3)
    assert "40x30" in meta["imported"]["notes"][0]


def _save(model, path):
    model.save(path)
    return path


@pytest.mark.parametrize("make, match", [
    (lambda: keras.Model([a := keras.Input((8, 8, 1)), b := keras.Input((8, 8, 1))],
                         keras.layers.Dense(2)(keras.layers.Flatten()(
                             keras.layers.Concatenate()([a, b])))),
     "2 input"),
    (lambda: keras.Model(a := keras.Input((8, 8, 1)),
                         [keras.layers.Dense(2)(f := keras.layers.Flatten()(a)),
                          keras.layers.Dense(3)(f)]),
     "2 output"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)]),
     "not a class vector"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(4, activation="sigmoid")]),
     "multi-label"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(3, activation="relu")]),
     "neither probabilities nor logits"),
    (lambda: keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)]),
     "batch of images"),
])
def test_models_that_are_not_image_classifiers_are_refused(tmp_path, make, match):
    path = _save(make(), tmp_path / "m.keras")
    with pytest.raises(ModelError, match=match):
        import_model(path, tmp_path / "o.keras", class_names="a,b,c,d")
    assert not os.path.exists(tmp_path / "o.keras")


def test_lambda_layers_stay_refused(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Lambda(lambda t: t * 2),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    path = _save(model, tmp_path / "lambda.keras")
    with pytest.raises(ModelError, match="Lambda layer.*arbitrary code"):
        import_model(path, tmp_path / "o.keras", class_names="a,b")


def test_class_names_must_match_the_outputs(notebook, tmp_path):
    _, root, _ = notebook
    with pytest.raises(ModelError, match="3 classes but 2 class names"):
        import_model(root / "notebook.keras", tmp_path / "o.keras", class_names="a,b")
    with pytest.raises(ModelError, match="give the model's class names"):
        import_model(root / "notebook.keras", tmp_path / "o.keras")
    names = tmp_path / "classes.txt"
    names.write_text("brick\n\ngrass\ngravel\n")
    _, meta = import_model(root / "notebook.keras", tmp_path / "o.keras", class_names=names)
    assert meta["class_names"] == NAMES


def test_onnx_gives_the_keras_probabilities_on_a_test_folder(notebook, tmp_path):
    pytest.importorskip("onnxruntime")
    if keras.backend.backend() != "tensorflow":
        pytest.importorskip("jax2onnx" if keras.backend.backend() == "jax" else "onnxscript")
    _, root, test = notebook
    model, meta = import_model(root / "notebook.keras", tmp_path / "b.keras", class_names=NAMES)
    path = onnx_export.export_onnx(model, tmp_path / "model.onnx")
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(test) for f in files)
    x = np.concatenate([read_image(p, _config(meta)) for p in paths])
    got = onnx_export.onnx_probabilities(path, x)
    assert got.shape == (len(paths), 3)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=onnx_export.TOLERANCE)
    assert onnx_export.check(model, path, x) <= 1e-4
