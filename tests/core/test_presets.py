"""Model presets: the course's parameter counts, options, size checks, transfer models."""

import keras
import numpy as np
import pytest

from napari_convnet.core import _transfer
from napari_convnet.core.presets import (
    build_model,
    count_params,
    list_presets,
    min_input_size,
    preset_info,
)
from napari_convnet.errors import ModelError


@pytest.mark.parametrize("name, shape, expected", [
    ("dense-2x10", (28, 28, 1), 7960),
    ("dense-3x15", (28, 28, 1), 12175),
    ("course-cnn", (28, 28, 1), 7135),
    ("vgg3", (32, 32, 3), 435882),
])
def test_course_parameter_counts(name, shape, expected):
    info = preset_info(name, shape, 10)
    assert info["trainable_params"] == expected
    assert info["total_params"] == expected


def test_course_cnn_layer_table_matches_course_summary():
    layers = preset_info("course-cnn", (28, 28, 1), 10)["layers"]
    shapes = {row["name"]: row["output_shape"] for row in layers}
    assert shapes["conv1"] == [None, 26, 26, 16]
    assert shapes["pool2"] == [None, 5, 5, 16]
    assert shapes["flatten"] == [None, 144]
    assert [row["params"] for row in layers if row["params"]] == [160, 2320, 2320, 2175, 160]


def test_vgg_options_keep_course_structure():
    base = build_model("vgg3", (32, 32, 3), 10)
    full = build_model("vgg3", (32, 32, 3), 10, dropout=True, batchnorm=True, l2=1e-4,
                       augment=True)
    names = [layer.name for layer in full.layers]
    for expected in ("augment_shift", "augment_flip", "block1_dropout", "block3_dropout",
                     "fc1_dropout", "block2_bn2", "fc1_bn"):
        assert expected in names
    assert full.get_layer("block3_dropout").rate == 0.4
    assert full.get_layer("fc1_bn").momentum == 0.9  # converges within a few small epochs
    assert len(full.losses) == 7  # one L2 term per conv (6) and for Dense(128)
    # batchnorm adds gamma/beta (trainable) and moving stats (not trainable) only
    trainable, frozen = count_params(full)
    assert trainable == count_params(base)[0] + frozen
    assert frozen == 2 * (2 * (32 + 64 + 128) + 128)


def test_augmentation_is_identity_at_inference():
    model = build_model("dense-2x10", (12, 12, 1), 2, augment="microscopy")
    x = np.random.default_rng(0).random((4, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model.predict(x, verbose=0), rtol=1e-6)
    assert "augment_transpose" in [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", ["course-cnn", "vgg1", "vgg2", "vgg3"])
def test_minimum_input_size_builds_and_one_less_fails(name):
    size = min_input_size(name)
    build_model(name, (size, size, 1), 2)
    with pytest.raises(ModelError, match=f"at least {size}x{size}"):
        build_model(name, (size - 1, size + 5, 1), 2)


def test_unknown_preset_lists_names():
    with pytest.raises(ModelError, match="course-cnn") as info:
        build_model("resnet", (28, 28, 1), 2)
    assert "Unknown preset 'resnet'" in str(info.value)
    assert list_presets()[:3] == ["dense-2x10", "dense-3x15", "course-cnn"]


@pytest.mark.parametrize("kwargs, match", [
    ({"dropout": True}, "does not take option"),
    ({"augment": "sideways"}, "augment"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ModelError, match=match):
        build_model("course-cnn", (28, 28, 1), 2, **kwargs)


def test_bad_shape_and_classes():
    with pytest.raises(ModelError, match="input_shape"):
        build_model("vgg1", (32, 32), 2)
    with pytest.raises(ModelError, match="num_classes"):
        build_model("vgg1", (32, 32, 1), 1)


def test_transfer_grayscale_adapter_is_fixed_and_repeats_channels():
    model = build_model("vgg16", (32, 32, 1), 3, weights="random")
    adapter = model.get_layer("channel_adapter")
    assert not adapter.trainable
    kernel, bias = adapter.get_weights()
    np.testing.assert_allclose(kernel[0, 0, 0], [255.0, 255.0, 255.0])
    np.testing.assert_allclose(bias, [-103.939, -116.779, -123.68], rtol=1e-5)
    assert not model.get_layer("vgg16_backbone").trainable
    assert count_params(model)[0] == 512 * 3 + 3  # only the classifier head trains


def test_transfer_n_channels_fine_tune_top_layers():
    model = build_model("mobilenetv2", (32, 40, 5), 2, weights="random", fine_tune=4)
    assert model.get_layer("channel_adapter").trainable
    backbone = model.get_layer("mobilenetv2_backbone")
    trainable = [layer.name for layer in backbone.layers if layer.trainable]
    assert trainable == [layer.name for layer in backbone.layers[-4:]]
    assert model.output_shape == (None, 2)


def test_transfer_without_offline_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelError) as info:
        build_model("vgg16", (32, 32, 3), 2)
    text = str(info.value)
    assert _transfer.weights_file_name("vgg16") in text and "weights=PATH" in text
    with pytest.raises(ModelError, match="not found"):
        build_model("mobilenetv2", (32, 32, 3), 2, weights=str(tmp_path / "nope.h5"))


def test_transfer_loads_weights_from_cache(tmp_path, monkeypatch):
    # a "cached" legacy .h5 file written from a random backbone, as keras.applications
    # files are: loading it must reproduce that backbone's weights
    h5py = pytest.importorskip("h5py")

    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(32, 32, 3))
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / _transfer.weights_file_name("mobilenetv2")
    # the layout of the downloaded weights-only files (HDF5, Keras 2): the layers with
    # weights in order, each a group listing its weights' dataset names in order
    with h5py.File(path, "w") as f:
        layers = [layer for layer in source.layers if layer.weights]
        f.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.1.0"
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, value in zip(names, layer.get_weights(), strict=True):
                group.create_dataset(name, data=value)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    model = build_model("mobilenetv2", (32, 32, 3), 2)
    got = model.get_layer("mobilenetv2_backbone").get_weights()
    expected = source.get_weights()
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_too_small_for_transfer():
    with pytest.raises(ModelError, match="at least 32x32"):
        build_model("mobilenetv2", (28, 28, 1), 2, weights="random")
