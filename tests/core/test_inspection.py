"""Inspection: layer listing, kernels, feature maps with their geometry, Grad-CAM."""

import keras
import numpy as np
import pytest

from napari_convnet.core import inspection, presets
from napari_convnet.core.data_config import DataConfig
from napari_convnet.errors import ModelError

BACKBONE = "mobilenetv2_backbone"


def _meta(shape, classes, **config):
    config = DataConfig(image_size=shape[:2], channels=shape[2],
                        **{"normalization": "percentile", **config})
    return {"class_names": [f"c{i}" for i in range(classes)], "input_shape": list(shape),
            "data_config": config.to_dict()}


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    return presets.build_model("course-cnn", (28, 28, 1), 2), _meta((28, 28, 1), 2,
                                                                     normalization="none")


@pytest.fixture(scope="module")
def mobile():
    keras.utils.set_random_seed(0)
    model = presets.build_model("mobilenetv2", (32, 32, 3), 3, weights="random")
    return model, _meta((32, 32, 3), 3, normalization="none")


def _fixed(layers, size=32):
    """A model of fixed-weight layers: (layer, kernel or None) pairs, biases 0."""
    inputs = keras.Input((size, size, 1))
    x = inputs
    for layer, kernel in layers:
        x = layer(x)
        if kernel is not None:
            layer.set_weights([kernel[:, :, None, None], np.zeros(1, "float32")])
    return keras.Model(inputs, x), _meta((size, size, 1), 2, normalization="none")


BOX = np.full((3, 3), 1 / 9, "float32")


def test_list_layers_goes_through_nested_models(cnn, mobile):
    rows = inspection.list_layers(cnn[0])
    assert [r["name"] for r in rows][:3] == ["conv1", "pool1", "conv2"]
    assert {r["name"]: r["kind"] for r in rows}["predictions"] == "dense"
    assert rows[0] == {"name": "conv1", "type": "Conv2D", "output_shape": [None, 26, 26, 16],
                       "kind": "conv", "params": 160, "spatial": True}
    names = [r["name"] for r in inspection.list_layers(mobile[0])]
    assert names[:2] == ["channel_adapter", f"{BACKBONE}/Conv1"]
    assert names[-2:] == ["avg_pool", "predictions"]
    assert sum(r["params"] for r in inspection.list_layers(mobile[0])) == \
        mobile[0].count_params()


def test_kernels_equal_the_layer_weights(cnn, mobile):
    model = cnn[0]
    k = inspection.kernels(model, "conv2")
    assert k.dtype == np.float32 and k.shape == (16, 16, 3, 3)
    weights = model.get_layer("conv2").get_weights()[0]  # (kh, kw, in, out)
    np.testing.assert_array_equal(k[5, 7], weights[:, :, 7, 5])
    depthwise = inspection.kernels(mobile[0], f"{BACKBONE}/expanded_conv_depthwise")
    assert depthwise.shape == (32, 1, 3, 3)
    with pytest.raises(ModelError, match="no convolution kernels.*conv1"):
        inspection.kernels(model, "dense1")
    with pytest.raises(ModelError, match="no layer 'nope'"):
        inspection.kernels(model, "nope")


def test_feature_maps_equal_a_keras_submodel_prediction(cnn, mobile):
    model, meta = cnn
    x = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    out = inspection.feature_maps(model, meta, x, "pool2")
    expected = keras.Model(model.input, model.get_layer("pool2").output).predict(
        x[None, ..., None], verbose=0)[0]
    assert out["maps"].dtype == np.float32 and out["maps"].shape == (16, 5, 5)
    np.testing.assert_allclose(np.moveaxis(out["maps"], 0, -1), expected, atol=1e-5)
    assert out["layer"] == "pool2" and out["input_shape"] == (28, 28)

    model, meta = mobile
    rgb = np.random.default_rng(2).random((32, 32, 3), dtype=np.float32)
    name = "block_1_expand_relu"
    out = inspection.feature_maps(model, meta, rgb, f"{BACKBONE}/{name}")
    backbone = model.get_layer(BACKBONE)
    adapted = model.get_layer("channel_adapter")(rgb[None])
    expected = keras.Model(backbone.input, backbone.get_layer(name).output)(adapted)[0]
    np.testing.assert_allclose(np.moveaxis(out["maps"], 0, -1), expected, atol=1e-4)


def test_geometry_of_valid_convolutions_and_pooling():
    model, _ = _fixed([(keras.layers.Conv2D(1, 3, name="box1"), BOX),
                       (keras.layers.MaxPooling2D(2, name="pool1"), None),
                       (keras.layers.Conv2D(1, 3, name="box2"), BOX),
                       (keras.layers.MaxPooling2D(2, name="pool2"), None)])
    geometry = {name: inspection.layer_geometry(model, name)
                for name in ("box1", "pool1", "box2", "pool2")}
    assert geometry == {"box1": ((1, 1), (1, 1)), "pool1": ((2, 2), (1.5, 1.5)),
                        "box2": ((2, 2), (3.5, 3.5)), "pool2": ((4, 4), (4.5, 4.5))}


def test_a_bright_square_lands_on_its_pixels_in_a_whole_image():
    model, meta = _fixed([(keras.layers.Conv2D(1, 3, name="box1"), BOX),
                          (keras.layers.MaxPooling2D(2, name="pool1"), None),
                          (keras.layers.Conv2D(1, 3, name="box2"), BOX),
                          (keras.layers.MaxPooling2D(2, name="pool2"), None)])
    image = np.zeros((64, 70), "float32")  # larger than the 32x32 input: whole-image maps
    image[36:39, 20:23] = 1  # centre (37, 21)
    for result in inspection.all_feature_maps(model, meta, image):
        maps = result["maps"][0]
        i, j = np.unravel_index(np.argmax(maps), maps.shape)
        (sy, sx), (ty, tx) = result["scale"], result["translate"]
        assert abs(ty + i * sy - 37) <= sy / 2 + 0.5, result["layer"]
        assert abs(tx + j * sx - 21) <= sx / 2 + 0.5, result["layer"]
    assert result["maps"].shape == (1, 14, 16)  # 64 -> 62 -> 31 -> 29 -> 14; 70 -> 16


@pytest.mark.parametrize(("size", "pixel"), [(32, (13, 7)), (31, (12, 6))])
def test_strided_same_padding_is_placed_exactly(size, pixel):
    delta = np.zeros((3, 3), "float32")
    delta[1, 1] = 1
    model, meta = _fixed([(keras.layers.Conv2D(1, 3, strides=2, padding="same",
                                               name="delta"), delta)])
    image = np.zeros((size, size), "float32")
    image[pixel] = 1
    result = inspection.feature_maps(model, meta, image, "delta")
    i, j = np.unravel_index(np.argmax(result["maps"][0]), result["maps"][0].shape)
    (sy, sx), (ty, tx) = result["scale"], result["translate"]
    assert (ty + i * sy, tx + j * sx) == pixel


def test_a_layer_that_needs_the_model_size_sees_the_image_resized_like_prediction():
    delta = np.zeros((3, 3), "float32")
    delta[1, 1] = 1
    model, meta = _fixed([(keras.layers.Resizing(16, 16, name="half"), None),
                          (keras.layers.Conv2D(1, 3, name="delta"), delta)])
    image = np.zeros((64, 64), "float32")
    image[20:24, 40:44] = 1  # centre (21.5, 41.5); 64 -> 32 (model input) -> 16 (Resizing)
    result = inspection.feature_maps(model, meta, image, "delta")
    assert result["maps"].shape == (1, 14, 14) and result["scale"] == (4.0, 4.0)
    i, j = np.unravel_index(np.argmax(result["maps"][0]), (14, 14))
    (sy, sx), (ty, tx) = result["scale"], result["translate"]
    assert (ty + i * sy, tx + j * sx) == (21.5, 41.5)


def test_feature_map_requests_that_cannot_work_are_refused(cnn, monkeypatch):
    model, meta = cnn
    image = np.zeros((40, 40), "uint8")
    with pytest.raises(ModelError, match="no spatial feature maps.*flatten"):
        inspection.feature_maps(model, meta, image, "dense1")
    any_channels = {**meta, "data_config": {**meta["data_config"], "channels": None}}
    # a colour image becomes grey for a grey model, as in prediction
    colour = inspection.feature_maps(model, any_channels, np.zeros((40, 40, 3)), "conv1")
    assert colour["maps"].shape[1:] == inspection.feature_maps(model, meta, image,
                                                               "conv1")["maps"].shape[1:]
    with pytest.raises(ModelError, match="too small"):
        inspection.feature_maps(model, meta, np.zeros((8, 8)), "conv3")
    monkeypatch.setattr(inspection, "MAX_MAP_BYTES", 100_000)
    with pytest.raises(ModelError, match="40x40 image need about .* GiB"):
        inspection.feature_maps(model, meta, image, "conv1")


def test_all_feature_maps_reports_progress(cnn):
    events = []
    results = inspection.all_feature_maps(*cnn, np.ones((30, 30), "uint8"), on_event=events.append)
    assert [r["layer"] for r in results] == ["conv1", "pool1", "conv2", "pool2", "conv3"]
    assert events[-1] == {"type": "progress", "stage": "feature maps", "done": 5, "total": 5}


def _squares(n, size, rng):
    x = 0.2 * rng.random((n, size, size, 1), dtype=np.float32)
    y = np.arange(n) % 2
    corners = rng.integers(0, size - 6, (n, 2))
    for img, label, (r, c) in zip(x, y, corners, strict=True):
        if label:
            img[r:r + 6, c:c + 6] = 1
    return x, y, corners


def test_grad_cam_peaks_on_the_object_that_decides_the_class():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(*_squares(256, 32, rng)[:2], epochs=4, batch_size=32, verbose=0)
    meta = _meta((32, 32, 1), 2, normalization="none")

    images, labels, corners = _squares(8, 32, rng)
    for img, (r, c) in zip(images[labels == 1], corners[labels == 1], strict=True):
        result = inspection.grad_cam(model, meta, img[..., 0], class_index=1)
        peak = np.unravel_index(np.argmax(result["heatmap"]), (32, 32))
        assert r - 1 <= peak[0] <= r + 6 and c - 1 <= peak[1] <= c + 6
        assert result["layer"] == "c2" and result["class_name"] == "c1"
    # a non-square image is padded into the model input; the heatmap comes back on its pixels
    wide = np.zeros((40, 64), "float32")
    wide[10:22, 40:52] = 1
    result = inspection.grad_cam(model, meta, wide)
    assert result["heatmap"].shape == (40, 64) and result["class_index"] == 1
    peak = np.unravel_index(np.argmax(result["heatmap"]), (40, 64))
    assert 9 <= peak[0] <= 22 and 39 <= peak[1] <= 52


def test_grad_cam_through_a_nested_backbone(mobile):
    model, meta = mobile
    image = np.random.default_rng(4).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    result = inspection.grad_cam(model, meta, image)
    assert result["heatmap"].shape == (40, 50) and result["heatmap"].dtype == np.float32
    assert 0 <= result["heatmap"].min() and result["heatmap"].max() <= 1
    assert result["layer"] == f"{BACKBONE}/Conv_1"
    assert len(result["probabilities"]) == 3 and abs(sum(result["probabilities"]) - 1) < 1e-5
    with pytest.raises(ModelError, match="class_index"):
        inspection.grad_cam(model, meta, image, class_index=3)
