"""Objects of a label image classified one by one; the CLI's --objects CSV."""

import csv
import io

import numpy as np
import pytest
import tifffile

from _helpers_predict import objects_scene, save_stripe_bundle, stripe_meta, stripe_model
from napari_convnet.cli import main
from napari_convnet.cli.predict import write_objects_csv
from napari_convnet.core.objects import classify_objects, object_table
from napari_convnet.errors import DatasetError


@pytest.fixture(scope="module")
def model():
    return stripe_model()


@pytest.fixture(scope="module")
def scene():
    return objects_scene()


@pytest.mark.parametrize("mode", ["bbox", "patch"])
def test_each_object_gets_its_class(model, scene, mode):
    image, labels, truth = scene
    events = []
    result = classify_objects(model, stripe_meta(), image, labels, mode=mode, batch_size=3,
                              on_event=events.append)
    assert result["label_ids"].tolist() == sorted(truth)
    assert result["class_index"].tolist() == [truth[i] for i in sorted(truth)]
    assert result["probabilities"].shape == (7, 2) and (result["probability"] > 0.9).all()
    class_labels = result["class_labels"]
    assert class_labels.shape == labels.shape and class_labels.dtype == np.uint16
    for label, cls in truth.items():
        assert (class_labels[labels == label] == cls + 1).all()
    assert (class_labels[labels == 0] == 0).all()
    assert [e["done"] for e in events] == [3, 6, 7]


def test_bbox_crops_follow_the_bundle_resize_rule(model, scene):
    image, labels, truth = scene
    for resize in ("pad", "crop", "stretch"):
        result = classify_objects(model, stripe_meta(resize=resize), image, labels, padding=0.3)
        assert result["class_index"].tolist() == [truth[i] for i in sorted(truth)]


def test_object_table_boxes_and_centroids():
    labels = np.zeros((10, 12), np.int64)
    labels[2:5, 3:9] = 7
    labels[6, 0] = 2
    ids, boxes, centroids, (pixels, member) = object_table(labels)
    assert ids.tolist() == [2, 7]
    assert boxes.tolist() == [[6, 0, 7, 1], [2, 3, 5, 9]]
    np.testing.assert_allclose(centroids, [[6, 0], [3, 5.5]])
    assert len(pixels) == 19 and np.bincount(member).tolist() == [1, 18]
    big = labels * 10**9  # ids past the lookup table
    assert object_table(big)[0].tolist() == [2 * 10**9, 7 * 10**9]


def test_stop_and_bad_inputs(model, scene):
    image, labels, _ = scene
    calls = []
    result = classify_objects(model, stripe_meta(), image, labels, batch_size=2,
                              should_stop=lambda: calls.append(1) or len(calls) > 1)
    assert result["stopped"] and result["label_ids"].tolist() == [2, 5]
    assert (result["class_labels"][labels == 8] == 0).all()
    with pytest.raises(DatasetError, match=r"shape \(64, 64\) but the image has \(128, 128\)"):
        classify_objects(model, stripe_meta(), image, labels[:64, :64])
    with pytest.raises(DatasetError, match="integer label image"):
        classify_objects(model, stripe_meta(), image, labels.astype(np.float32))
    with pytest.raises(DatasetError, match="mode"):
        classify_objects(model, stripe_meta(), image, labels, mode="cells")
    empty = classify_objects(model, stripe_meta(), image, np.zeros_like(labels))
    assert len(empty["label_ids"]) == 0 and not empty["class_labels"].any()


def test_csv_and_cli_objects(model, scene, tmp_path, capsys):
    image, labels, truth = scene
    buffer = io.StringIO()
    write_objects_csv(buffer, classify_objects(model, stripe_meta(), image, labels))
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [int(r["label_id"]) for r in rows] == sorted(truth)
    assert set(rows[0]) == {"label_id", "class", "probability", "p_horizontal", "p_vertical"}

    bundle = save_stripe_bundle(tmp_path / "stripes.keras")
    tifffile.imwrite(tmp_path / "image.tif", (image * 4000).astype(np.uint16))
    tifffile.imwrite(tmp_path / "labels.tif", labels.astype(np.uint16))
    args = ["predict", str(bundle), str(tmp_path / "image.tif"), "--objects",
            str(tmp_path / "labels.tif")]
    assert main(args + ["--csv", str(tmp_path / "objects.csv"), "--mode", "patch"]) == 0
    with open(tmp_path / "objects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = {str(k): ("horizontal", "vertical")[v] for k, v in truth.items()}
    assert {r["label_id"]: r["class"] for r in rows} == expected
    capsys.readouterr()
    assert main(args) == 0  # CSV on stdout
    out = capsys.readouterr().out
    assert out.startswith("label_id,class,probability") and len(out.splitlines()) == 8
    assert main(args[:3] + [str(tmp_path / "image.tif")] + args[3:]) == 2
    assert "exactly one IMAGE" in capsys.readouterr().err
