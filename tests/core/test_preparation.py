"""One preparation for every path: the numbers that reach the model equal what training fed it.

Real pixels (scikit-image's texture photographs). A recording stand-in for the model shows the
array each path hands to Keras: training and evaluation batches, files, a napari layer, stack
slices, tiles of a tiled map, object crops and whole-image feature maps.
"""

import numpy as np
import pytest

from _textures import RecordingModel, mosaic, texture_folder, write_folder
from napari_convnet.core import inspection
from napari_convnet.core.data import auto_size, index_folder
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.evaluation import evaluate_folder
from napari_convnet.core.objects import classify_objects
from napari_convnet.core.pipeline import load_split
from napari_convnet.core.prediction import classify_image, classify_stack, predict_files
from napari_convnet.core.tiling import tile_class_map
from napari_convnet.errors import DatasetError, ModelError

SIZE = 32
BIG = 10_000  # one batch per call: nothing is padded


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module", params=["dataset", "percentile"])
def trained_view(request, tmp_path_factory):
    """(index, meta, {path: training array}, {path: raw uint8 crop}) of a texture folder."""
    from PIL import Image

    root = texture_folder(tmp_path_factory.mktemp("textures"), SIZE, per_class=12)
    index = index_folder(root, DataConfig(normalization=request.param, validation_split=0.25))
    x, _ = load_split(index, "train")
    paths = [s.path for s in index.splits["train"]]
    meta = {"class_names": index.class_names, "input_shape": [SIZE, SIZE, 1],
            "data_config": index.config.to_dict()}
    raw = {p: np.asarray(Image.open(p)) for p in paths}
    return index, meta, dict(zip(paths, x, strict=True)), raw


def _model():
    return RecordingModel((SIZE, SIZE, 1), 3)


def test_the_configuration_is_taken_from_the_data(trained_view):
    index, _, _, _ = trained_view
    config = index.config
    assert config.image_size == (SIZE, SIZE) and config.channels == 1
    assert index.summary()["image_size_rule"] == f"auto: every image is {SIZE}×{SIZE} → 32×32"
    if config.normalization == "dataset":
        (low, high), = config.levels
        # the photos' uint8 range: dark mortar to bright stone, measured on training crops only
        assert 0 <= low < 80 < 150 < high <= 255


def test_files_layers_stacks_and_features_see_the_training_numbers(trained_view):
    index, meta, fed, raw = trained_view
    paths = list(fed)

    model = _model()
    evaluate_folder(model, meta, index.root, split="train", batch_size=BIG)
    _close(model.seen(), np.stack([fed[p] for p in paths]))
    held_out = [s.path for s in index.splits["validation"]]
    x_val, _ = load_split(index, "validation")
    model = _model()
    predict_files(model, meta, held_out, batch_size=BIG)
    _close(model.seen(), x_val)

    model = _model()
    rows = predict_files(model, meta, paths, batch_size=BIG)["rows"]
    _close(model.seen(), np.stack([fed[r["path"]] for r in rows]))

    for path in paths[:5]:  # a napari layer holding the file's pixels
        model = _model()
        classify_image(model, meta, raw[path])
        _close(model.seen()[0], fed[path])
        _close(inspection.whole_image(model, meta, raw[path])[0], fed[path])

    model = _model()
    classify_stack(model, meta, np.stack([raw[p] for p in paths]), batch_size=BIG)
    _close(model.seen(), np.stack([fed[p] for p in paths]))


def _mosaic_of(raw, paths, cols):
    pieces = [raw[p] for p in paths]
    rows = len(pieces) // cols
    return np.block([[pieces[r * cols + c] for c in range(cols)] for r in range(rows)])


def test_each_tile_of_a_tiled_map_sees_what_training_saw(trained_view):
    _, meta, fed, raw = trained_view
    paths = list(fed)[:12]
    image = _mosaic_of(raw, paths, cols=4)  # 3 x 4 training crops side by side
    model = _model()
    tile_class_map(model, meta, image, stride=SIZE, batch_size=BIG)
    _close(model.seen(), np.stack([fed[p] for p in paths]))


def test_overlapping_tiles_are_prepared_as_those_crops_alone(trained_view):
    """Tiles between training crops (stride half a tile) get what classifying that crop gets."""
    _, meta, fed, raw = trained_view
    image = _mosaic_of(raw, list(fed)[:12], cols=4)
    model = _model()
    tile_class_map(model, meta, image, stride=SIZE // 2, batch_size=BIG)
    tiles = model.seen().reshape(7, 9, SIZE, SIZE, 1)  # tile (r, c) starts at 16r - 16, 16c - 16
    for r, c in [(1, 1), (2, 3), (4, 6), (5, 7)]:
        y, x = 16 * r - 16, 16 * c - 16
        alone = _model()
        classify_image(alone, meta, image[y:y + SIZE, x:x + SIZE])
        _close(tiles[r, c], alone.seen()[0])


@pytest.mark.parametrize("mode", ["bbox", "patch"])
def test_each_object_crop_sees_what_training_saw(trained_view, mode):
    _, meta, fed, raw = trained_view
    paths = list(fed)[:12]
    image = _mosaic_of(raw, paths, cols=4)
    labels = np.kron(np.arange(1, 13).reshape(3, 4), np.ones((SIZE, SIZE), int))
    model = _model()
    result = classify_objects(model, meta, image, labels, mode=mode, padding=0, batch_size=BIG)
    assert list(result["label_ids"]) == list(range(1, 13))
    _close(model.seen(), np.stack([fed[p] for p in paths]))


def test_dataset_levels_are_one_mapping_for_whole_images_and_their_parts(tmp_path):
    """The same pixel gets the same number whether it is in an image, a tile or a crop."""
    root = texture_folder(tmp_path / "data", SIZE, per_class=8)
    index = index_folder(root, DataConfig())
    meta = {"class_names": index.class_names, "input_shape": [SIZE, SIZE, 1],
            "data_config": index.config.to_dict()}
    image, _, _ = mosaic((2, 2), 48, seed=3)  # a 96 x 96 test image, not made of training crops
    (low, high), = index.config.levels
    model = _model()
    tile_class_map(model, meta, image, stride=SIZE, batch_size=BIG)
    tiles = model.seen()  # 3 x 3 tiles; the first is the image's top-left 32 x 32 pixels
    _close(tiles[0, ..., 0], (image[:SIZE, :SIZE].astype(np.float32) - low) / (high - low))
    whole = inspection.whole_image(model, meta, image)[0, ..., 0]
    _close(whole[:SIZE, SIZE:2 * SIZE], tiles[1, ..., 0])


def test_levels_are_measured_on_the_training_split_only(tmp_path):
    dim = {"dim": [np.full((SIZE, SIZE), 10, np.uint8)] * 6,
           "bright": [np.full((SIZE, SIZE), 200, np.uint8)] * 6}
    root = write_folder(tmp_path / "data", dim)
    index = index_folder(root, DataConfig(validation_split=0.0))
    (low, high), = index.config.levels
    assert (low, high) == pytest.approx((10, 200), abs=1e-6)
    # the validation files are not measured: with every bright file held out, low = high = 10
    test = write_folder(tmp_path / "split", {"a": dim["dim"], "b": dim["dim"]})
    (low2, high2), = index_folder(test, DataConfig()).config.levels
    assert low2 == 10 and 10 < high2 < 10.001


def test_a_continued_model_keeps_its_levels(tmp_path):
    from napari_convnet.core.training import TrainConfig, train_from_folder

    first = texture_folder(tmp_path / "first", SIZE, per_class=6)
    model, meta, _ = train_from_folder(first, "dense-2x10", DataConfig(),
                                       TrainConfig(epochs=1, batch_size=8))
    brighter = {n: [np.minimum(c.astype(int) + 40, 255).astype(np.uint8) for c in crops]
                for n, crops in _folder_images(first).items()}
    second = write_folder(tmp_path / "second", brighter)
    assert index_folder(second, DataConfig()).config.levels != index_folder(
        first, DataConfig()).config.levels
    _, again, _ = train_from_folder(second, data_config={"image_size": "auto"},
                                    train_config=TrainConfig(epochs=1, batch_size=8),
                                    model=(model, meta))
    assert again["data_config"]["levels"] == meta["data_config"]["levels"]


def _folder_images(root):
    import os

    from PIL import Image

    return {name: [np.asarray(Image.open(os.path.join(root, name, f)))
                   for f in sorted(os.listdir(os.path.join(root, name)))]
            for name in sorted(os.listdir(root))}


def test_old_bundles_keep_their_per_image_normalisation():
    from napari_convnet.core._predict import data_config

    old = {"class_names": ["a", "b"], "input_shape": [64, 64, 1],
           "data_config": {"image_size": [64, 64], "channels": 1, "percentiles": [1, 99.8]}}
    assert data_config(old).normalization == "percentile"


def test_a_bundle_without_its_levels_is_refused(tmp_path):
    from napari_convnet.core import presets
    from napari_convnet.core.bundle import save_bundle

    meta = {"class_names": ["a", "b"], "input_shape": [SIZE, SIZE, 1],
            "data_config": {"image_size": [SIZE, SIZE], "channels": 1,
                            "normalization": "dataset"}}
    with pytest.raises(ModelError, match="no intensity `levels`"):
        save_bundle(presets.build_model("dense-2x10", (SIZE, SIZE, 1), 2),
                    tmp_path / "m.keras", meta)


@pytest.mark.parametrize("planes, size, reason", [
    ([(28, 28)] * 5, (28, 28), "every image is 28×28"),
    ([(20, 30), (40, 30), (30, 30)], (30, 30), "median of 3 image sizes"),
    ([(2048, 1024)] * 2, (256, 128), "scaled down to at most 256"),
    ([(8, 8)] * 2, (32, 32), "raised to the model's smallest input of 32"),
])
def test_auto_size_rule(planes, size, reason):
    chosen, text = auto_size(planes, min_side=32 if size == (32, 32) else None)
    assert chosen == size and reason in text


def test_fashion_mnist_sized_images_are_not_upscaled(tmp_path):
    rng = np.random.default_rng(0)
    root = write_folder(tmp_path / "data", {c: [rng.integers(0, 255, (28, 28), np.uint8)
                                                for _ in range(4)] for c in "ab"})
    index = index_folder(root, DataConfig())
    assert index.config.image_size == (28, 28) and index.summary()["upscaled"] == 0


def test_bad_sizes_and_levels_are_refused_with_the_bounds():
    with pytest.raises(DatasetError, match="between 4 and 4096"):
        DataConfig(image_size=(20000, 20000))
    with pytest.raises(DatasetError, match="low < high"):
        DataConfig(levels=[(5, 5)])
    with pytest.raises(DatasetError, match="per channel"):
        DataConfig(channels=3, levels=[(0, 1)])
