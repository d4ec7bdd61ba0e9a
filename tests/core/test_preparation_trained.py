"""Trained on real textures: a tiled map agrees with the classifier, Grad-CAM and the CLI see
the same image, and brightness alone is learnt with the default normalisation."""

import numpy as np
import pytest

from _textures import crops, mosaic, texture_folder, write_folder
from napari_convnet.cli import main
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.gradcam import grad_cam
from napari_convnet.core.prediction import classify_image, classify_stack
from napari_convnet.core.tiling import tile_class_map
from napari_convnet.core.training import TrainConfig, train_from_folder

SIZE = 32


@pytest.fixture(scope="module", params=["dataset", "percentile"])
def textures(request, tmp_path_factory):
    """A VGG trained on 32x32 crops of the left halves: (model, meta, bundle path)."""
    folder = tmp_path_factory.mktemp("textures")
    root = texture_folder(folder / "data", SIZE, per_class=120)
    out = str(folder / "textures.keras")
    model, meta, _ = train_from_folder(
        root, "vgg2", DataConfig(normalization=request.param, validation_split=0.25),
        TrainConfig(epochs=25, batch_size=16), out=out)
    return model, meta, out


def _away_from_block_borders(shape, block, margin):
    """True for pixels at least ``margin`` from a block border (inside each block)."""
    offset = [np.arange(n) % block for n in shape]
    inside = [(o >= margin) & (o < block - margin) for o in offset]
    return inside[0][:, None] & inside[1][None, :]


def test_tiled_map_agrees_with_classifying_its_crops_one_by_one(textures):
    """Blocks of 2x2 tiles cut from the right halves (never trained on): each block's class by
    its four tile-sized crops classified one by one, against the map's pixels whose covering
    tiles (stride half a tile) all lie inside one block."""
    model, meta, _ = textures
    block = 2 * SIZE
    image, _, pieces = mosaic((6, 6), block, seed=7)
    quarters = [p[y:y + SIZE, x:x + SIZE] for p in pieces for y in (0, SIZE) for x in (0, SIZE)]
    probabilities = classify_stack(model, meta, np.stack(quarters))["probabilities"]
    one_by_one = probabilities.reshape(6, 6, 4, -1).mean(axis=2).argmax(axis=-1)
    result = tile_class_map(model, meta, image, stride=SIZE // 2)
    expected = np.kron(one_by_one, np.ones((block, block), int)) + 1
    keep = _away_from_block_borders(image.shape, block, SIZE // 2)
    agreement = float((result["labels"] == expected)[keep].mean())
    assert agreement >= 0.95, agreement


def test_grad_cam_and_the_command_line_see_the_image_prediction_sees(textures, tmp_path):
    model, meta, bundle = textures
    piece = crops("gravel", SIZE, 1, "right", seed=11)[0]
    expected = classify_image(model, meta, piece)["probabilities"]
    np.testing.assert_allclose(grad_cam(model, meta, piece)["probabilities"], expected,
                               rtol=1e-4, atol=1e-6)
    path = write_folder(tmp_path / "one", {"x": [piece]}) + "/x/x_000.png"
    csv = tmp_path / "out.csv"
    assert main(["predict", bundle, path, "--csv", str(csv)]) == 0
    header, row = csv.read_text().splitlines()[:2]
    columns = dict(zip(header.split(","), row.split(","), strict=True))
    got = [float(columns[f"p_{name}"]) for name in meta["class_names"]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("normalization", ["dataset", "percentile"])
def test_classes_that_differ_only_in_brightness(tmp_path, normalization):
    """Dim and bright copies of the same grass crops: the default keeps the difference,
    per-image stretching erases it."""
    grass = crops("grass", SIZE, 48, "left", seed=5)
    root = write_folder(tmp_path / "data", {
        "bright": grass[:24], "dim": [(g // 3).astype(np.uint8) for g in grass[24:]]})
    _, _, result = train_from_folder(
        root, "course-cnn", DataConfig(normalization=normalization, validation_split=0.25),
        TrainConfig(epochs=10, batch_size=8))
    accuracy = result.final["val_accuracy"]
    if normalization == "dataset":
        assert accuracy >= 0.9, accuracy
    else:
        assert accuracy <= 0.75, accuracy
