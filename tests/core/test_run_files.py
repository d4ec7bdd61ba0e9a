"""A new run never replaces an existing bundle silently, and each run record points to its own
bundle: the shared naming rule (napari_convnet.filenames), the core, and the command line."""

import hashlib
import json
import os

import pytest
from _helpers_models import write_stripes

from napari_convnet.cli import main
from napari_convnet.errors import ModelError
from napari_convnet.filenames import free_bundle_path, next_free, report_stem

TRAIN = ("--preset", "dense-2x10", "--epochs", "1", "--image-size", "12", "12",
         "--batch-size", "8", "--quiet")


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_next_free_names(tmp_path):
    model = tmp_path / "cells.keras"
    assert free_bundle_path(model) == str(model)
    model.write_bytes(b"x")
    assert free_bundle_path(model) == str(tmp_path / "cells-2.keras")
    (tmp_path / "cells-2.run.json").write_text("{}")  # a record of a deleted bundle: taken
    assert free_bundle_path(model) == str(tmp_path / "cells-3.keras")
    (tmp_path / "cells-3.keras").write_bytes(b"x")
    # a name that ends in -N counts on from N
    assert free_bundle_path(tmp_path / "cells-3.keras") == str(tmp_path / "cells-4.keras")
    assert next_free(tmp_path / "r-20250101T120000Z.run.json", ".run.json").endswith(
        "r-20250101T120000Z.run.json")
    assert report_stem(model) == str(tmp_path / "cells.evaluation")
    (tmp_path / "cells.evaluation.png").write_bytes(b"x")
    assert report_stem(model) == str(tmp_path / "cells.evaluation-2")
    with pytest.raises(ValueError, match="must end in '.keras'"):
        free_bundle_path(tmp_path / "cells.h5")


def test_cli_refuses_an_existing_out_and_each_record_points_to_its_bundle(tmp_path, capsys):
    data = write_stripes(tmp_path / "data", n=6, size=12)
    first = tmp_path / "m.keras"
    code, _, _ = _cli(capsys, "train", data, *TRAIN, "--out", first)
    assert code == 0
    before = _digest(first)

    # a second run into the same file: refused before any work, the first bundle kept
    code, out, err = _cli(capsys, "train", data, *TRAIN, "--out", first)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "exists already" in err and "m-2.keras" in err and "--overwrite" in err, err
    assert "Epoch" not in out and _digest(first) == before
    assert len(os.listdir(tmp_path / "runs")) == 1

    # the next free name: its own bundle and its own records
    second = tmp_path / "m-2.keras"
    code, _, _ = _cli(capsys, "train", data, *TRAIN, "--out", second)
    assert code == 0 and _digest(first) == before
    for bundle in (first, second):
        record = json.loads((tmp_path / f"{bundle.stem}.run.json").read_text())
        assert record["model"] == str(bundle)
    archived = [json.loads((tmp_path / "runs" / name).read_text())["model"]
                for name in os.listdir(tmp_path / "runs")]
    assert sorted(archived) == sorted([str(first), str(second)])

    # continuing a model into its own file only with --overwrite
    code, _, err = _cli(capsys, "train", data, "--continue", first, "--epochs", "1",
                        "--out", first, "--quiet")
    assert code == 2 and "--overwrite" in err and _digest(first) == before
    code, out, _ = _cli(capsys, "train", data, "--continue", first, "--epochs", "1",
                        "--out", first, "--overwrite", "--quiet")
    assert code == 0 and "after 2 epoch(s)" in out and _digest(first) != before


def test_core_refuses_an_existing_out_before_reading_images(tmp_path):
    from napari_convnet.core.training import TrainConfig, train_from_folder

    data = write_stripes(tmp_path / "data", n=4, size=12)
    out = tmp_path / "m.keras"
    out.write_bytes(b"an earlier bundle")
    events = []
    with pytest.raises(ModelError, match="exists already") as info:
        train_from_folder(data, "dense-2x10", {"image_size": (12, 12)},
                          TrainConfig(epochs=1), out=out, on_event=events.append)
    assert "m-2.keras" in str(info.value) and "overwrite=True" in str(info.value)
    assert events == [] and out.read_bytes() == b"an earlier bundle"


def test_archived_record_of_a_run_in_the_same_second_is_kept(tmp_path):
    from napari_convnet import run_records

    out = tmp_path / "m.keras"
    started = "2025-01-01T12:00:00+00:00"
    first = run_records.write_run_record(out, {"started": started, "run": 1})[1]
    second = run_records.write_run_record(out, {"started": started, "run": 2})[1]
    assert first != second and second.endswith("m-2025-01-01T120000Z-2.run.json")
    assert json.loads(open(first).read())["run"] == 1
