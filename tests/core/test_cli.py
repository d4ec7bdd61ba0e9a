"""Command line end to end on a tiny synthetic dataset: presets, train, evaluate, predict, demo,
and one-line errors for bad input."""

import csv
import json

import pytest
from _helpers_models import write_stripes

from napari_convnet.cli import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, match):
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and match in err, err


def test_presets_json_counts(capsys):
    code, out, _ = _run(capsys, "presets", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["presets"]}
    assert rows["course-cnn"]["trainable_params"] == 7135
    assert rows["vgg3"]["trainable_params"] == 435882
    code, out, _ = _run(capsys, "presets", "--input-shape", "20", "20", "1", "--classes", "2",
                        "--layers", "course-cnn")
    assert code == 0 and "needs >= 32 px" in out and "conv3" in out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = write_stripes(root / "data", n=12, size=16)
    model = root / "stripes.keras"
    code = main(["train", str(data), "--preset", "dense-2x10", "--epochs", "2", "--out",
                 str(model), "--image-size", "16", "16", "--lr", "0.01", "--batch-size", "8",
                 "--test-split", "0.25", "--quiet"])
    assert code == 0
    return root, data, model


def test_train_writes_bundle_and_run_record(trained):
    root, _, model = trained
    assert model.is_file() and (root / "stripes.run.json").is_file()
    assert len(list((root / "runs").iterdir())) == 1


def test_train_prints_progress_and_accuracy(tmp_path, capsys):
    data = write_stripes(tmp_path / "data", n=6, size=12)
    code, out, _ = _run(capsys, "train", data, "--preset", "dense-2x10", "--epochs", "1",
                        "--out", tmp_path / "m.keras", "--image-size", "12", "12")
    assert code == 0
    assert "Epoch 1/1" in out and "validation accuracy" in out and "saved" in out
    code, out, _ = _run(capsys, "train", data, "--continue", tmp_path / "m.keras",
                        "--epochs", "1", "--out", tmp_path / "m.keras", "--overwrite", "--quiet",
                        "--image-size", "auto")  # auto: the model's own size
    assert code == 0 and "after 2 epoch(s)" in out


def test_evaluate_json(trained, capsys):
    _, data, model = trained
    code, out, _ = _run(capsys, "evaluate", model, data, "--json")
    assert code == 0
    report = json.loads(out)
    assert {"accuracy", "class_names", "confusion_matrix", "per_class"} <= set(report)
    assert report["split"] == "test" and report["class_names"] == ["horizontal", "vertical"]
    assert sum(map(sum, report["confusion_matrix"])) == 6  # 25 % of 2 x 12 images
    code, out, _ = _run(capsys, "evaluate", model, data)
    assert code == 0 and "confusion matrix" in out


def test_predict_csv(trained, tmp_path, capsys):
    _, data, model = trained
    out_csv = tmp_path / "pred.csv"
    code, out, _ = _run(capsys, "predict", model, data / "vertical", data / "horizontal" /
                        "img000.png", "--csv", out_csv)
    assert code == 0
    assert len(out.strip().splitlines()) == 13
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 13
    assert set(rows[0]) == {"path", "slice", "predicted", "probability", "p_horizontal",
                            "p_vertical"}
    assert abs(float(rows[0]["p_horizontal"]) + float(rows[0]["p_vertical"]) - 1) < 1e-5


def test_demo_on_given_folder(tmp_path, capsys):
    data = write_stripes(tmp_path / "data", n=10, size=28)
    code, out, _ = _run(capsys, "demo", "--epochs", "1", "--data", data, "--quiet")
    assert code == 0 and "test accuracy" in out


@pytest.mark.parametrize("argv, match", [
    (["train", "{data}", "--preset", "resnet", "--epochs", "1", "--out", "{tmp}/m.keras"],
     "Unknown preset 'resnet'"),
    (["train", "{data}", "--preset", "course-cnn", "--epochs", "1", "--out", "{tmp}/m.keras",
      "--image-size", "8", "8"], "at least 18x18"),
    (["train", "{tmp}/missing", "--preset", "course-cnn", "--epochs", "1", "--out",
      "{tmp}/m.keras"], "does not exist"),
    (["evaluate", "{data}/vertical/img012.png", "{data}"], "not a model bundle"),
    (["predict", "{tmp}/nothing.keras", "{data}"], "does not exist"),
    (["demo", "--data", "{tmp}/missing"], "demo dataset is missing"),
])
def test_bad_input_one_line_error(trained, tmp_path, capsys, argv, match):
    _, data, _ = trained
    argv = [a.format(data=data, tmp=tmp_path) for a in argv]
    code, _, err = _run(capsys, *argv)
    _one_line_error(code, err, match)


def test_evaluate_folder_items_and_splits(trained):
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.evaluation import evaluate_folder
    from napari_convnet.errors import DatasetError

    _, data, model_path = trained
    model, meta = load_bundle(model_path)
    report = evaluate_folder(model, meta, data, split="all", items=True)
    assert report["split"] == "all" and report["n_samples"] == 24 == len(report["items"])
    item = report["items"][0]
    assert item["true"] in (0, 1) and abs(sum(item["probabilities"]) - 1) < 1e-5
    with pytest.raises(DatasetError, match="no 'nope' images"):
        evaluate_folder(model, meta, data, split="nope")
