"""Tiled class maps: a stripe mosaic mapped by the hand-set stripe classifier; the CLI."""

import numpy as np
import pytest
import tifffile

from _helpers_predict import TILE, mosaic, save_stripe_bundle, stripe_meta, stripe_model, stripes
from napari_convnet.cli import main
from napari_convnet.core.tiling import grid, tile_class_map
from napari_convnet.errors import DatasetError


@pytest.fixture(scope="module")
def model():
    return stripe_model()


def _away_from_borders(truth, margin):
    """Pixels at least ``margin`` away from a change of class (and from the image edge)."""
    near = np.zeros(truth.shape, bool)
    for axis in (0, 1):
        edge = np.diff(truth.astype(int), axis=axis) != 0
        for shift in range(-margin, margin + 1):
            near |= np.roll(np.pad(edge, [(0, 1) if a == axis else (0, 0) for a in (0, 1)]),
                            shift, axis=axis)
    return ~near


def test_mosaic_class_map_follows_the_layout(model):
    image, truth = mosaic(blocks=(3, 4), block=48)
    events = []
    result = tile_class_map(model, stripe_meta(), image, on_event=events.append)
    labels, probs = result["labels"], result["probabilities"]
    assert labels.shape == image.shape and labels.dtype == np.uint16
    assert probs.shape == (2, *image.shape) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1, atol=1e-5)
    inner = _away_from_borders(truth, TILE // 2)
    assert (labels[inner] == truth[inner] + 1).mean() >= 0.9
    assert (labels == truth + 1).mean() >= 0.85
    assert result["stride"] == (8, 8) and result["tile"] == (16, 16)
    assert events[-1]["done"] == events[-1]["total"] == result["tiles"]
    assert not result["stopped"]


def test_confidence_threshold_and_uncovered_pixels_are_unlabelled(model):
    image = np.full((48, 64), 0.5, np.float32)
    image[:, :32] = stripes((48, 32), vertical=True)
    result = tile_class_map(model, stripe_meta(), image, stride=16, min_confidence=0.9)
    # the flat half scores 0.5 / 0.5: below the threshold
    assert (result["labels"][:, 48:] == 0).all() and (result["labels"][:, :16] == 2).all()
    calls = []
    partial = tile_class_map(model, stripe_meta(), image, stride=4, batch_size=8,
                             should_stop=lambda: calls.append(1) or len(calls) > 3)
    assert partial["stopped"] and partial["tiles"] == 24
    # tiles go row by row: the bottom rows were never covered
    assert (partial["labels"][-8:] == 0).all() and (partial["probabilities"][:, -8:] == 0).all()


@pytest.mark.parametrize("shape", [(5, 7), (17, 16), (33, 50, 3)])
def test_any_size_is_covered_without_resizing(model, shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    result = tile_class_map(model, stripe_meta(), image, stride=(5, 16))
    assert result["labels"].shape == shape[:2] and (result["labels"] > 0).all()


@pytest.mark.parametrize("length,tile,stride", [(128, 16, 8), (100, 16, 5), (5, 16, 16), (1, 4, 1)])
def test_grid_covers_borders_like_the_middle(length, tile, stride):
    before, after, count = grid(length, tile, stride)
    assert (count - 1) * stride + tile == before + length + after and after >= before
    coverage = np.zeros(before + length + after, int)
    for k in range(count):
        coverage[k * stride:k * stride + tile] += 1
    inside = coverage[before:before + length]
    assert inside.min() >= min(tile // stride, count) and inside.min() > 0


@pytest.mark.parametrize("kwargs,match", [
    ({"stride": 0}, "stride"), ({"stride": 17}, "stride"), ({"stride": (4, 4, 4)}, "stride"),
    ({"min_confidence": 1.5}, "min_confidence"),
])
def test_bad_arguments_say_what_was_received(model, kwargs, match):
    with pytest.raises(DatasetError, match=match):
        tile_class_map(model, stripe_meta(), np.zeros((32, 32), np.float32), **kwargs)
    with pytest.raises(DatasetError, match="one 2D image"):
        tile_class_map(model, stripe_meta(), np.zeros((8, 32, 32), np.float32))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return save_stripe_bundle(tmp_path_factory.mktemp("model") / "stripes.keras")


def test_cli_tile_map_one_file_and_a_folder(bundle, tmp_path, capsys):
    image, truth = mosaic(blocks=(2, 3), block=32)
    tifffile.imwrite(tmp_path / "a.tif", (image * 1000).astype(np.uint16))
    tifffile.imwrite(tmp_path / "b.tif", image.T.copy())
    out = tmp_path / "map.tif"
    assert main(["predict", str(bundle), str(tmp_path / "a.tif"), "--tile-map", str(out),
                 "--stride", "4", "--min-confidence", "0.6"]) == 0
    labels = tifffile.imread(out)
    assert labels.shape == image.shape and labels.dtype == np.uint16
    assert (labels == truth + 1).mean() >= 0.9
    captured = capsys.readouterr()
    assert "1 = horizontal, 2 = vertical" in captured.err and "unlabelled" in captured.out
    folder = tmp_path / "maps"
    assert main(["predict", str(bundle), str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
                 "--tile-map", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["a.tif", "b.tif"]
    assert tifffile.imread(folder / "b.tif").shape == image.T.shape
    # several images into one .tif: a one-line error
    assert main(["predict", str(bundle), str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
                 "--tile-map", str(tmp_path / "one.tif")]) == 2
    assert "Give a folder" in capsys.readouterr().err
