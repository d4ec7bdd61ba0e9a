"""Outputs that are inputs, and names that are not text (issue 15; docs/hardening.md).

Every output path of the command line and of a training run is refused, before anything is
read or written, when it is (or links to) an input: the files stay byte-identical and no
partial file is left. File and class names of any bytes go through the CSV files byte for
byte, and text cells that a spreadsheet would run as formulas are neutralised.
"""

import csv
import os
import shutil

import _corpus as C
import numpy as np
import pytest
import test_bad_input
import tifffile
from test_bad_input import (
    TRAIN_ARGS,
    cli_error,
    config,
    core_error,
    record,
    snapshot,
    train_config,
)

from napari_convnet.cli import main
from napari_convnet.csvfile import cell

# the corpus's fixtures: a course-cnn bundle, a folder nobody can write in
bundle, unwritable = test_bad_input.bundle, test_bad_input.unwritable
REFUSED = "an output never replaces an input"
# b"\xff\xfe" is no UTF-8: Python holds it as the surrogate escapes "\udcff\udcfe"
ODD = os.fsdecode(b"cl\xff\xfe")
FORMULA = "+cmd|' /C calc'!A0"


def _tiff(path):
    tifffile.imwrite(path, (C._image(1, 4) * 255).astype(np.uint8))
    return str(path)


# --- an output is never an input --------------------------------------------------------------

def _inputs(tmp_path, bundle):
    """An image, a TIFF, a label image and a copy of the bundle, in ``tmp_path/in``."""
    folder = tmp_path / "in"
    folder.mkdir()
    model = folder / "model.keras"
    shutil.copy(bundle, model)
    labels = np.zeros((C.SIZE, C.SIZE), np.uint16)
    labels[2:9, 2:9], labels[11:18, 11:18] = 1, 2
    tifffile.imwrite(folder / "labels.tif", labels)
    os.symlink("x.png", folder / "link.csv")  # a link named like an output, to the image
    return {"model": str(model), "png": C.png8(str(folder / "x.png")),
            "tif": _tiff(folder / "x.tif"), "labels": str(folder / "labels.tif"),
            "link": str(folder / "link.csv")}


CLI_CASES = {
    # case: (surface, argv from the inputs, needles)
    "predict x.png --csv x.png": ("classify (CLI)", lambda f: (
        "predict", f["model"], f["png"], "--csv", f["png"]), ["is the input image"]),
    "--tile-map onto the input TIFF": ("classify (CLI)", lambda f: (
        "predict", f["model"], f["tif"], "--tile-map", f["tif"]), ["is the input image"]),
    "--csv onto the model file": ("classify (CLI)", lambda f: (
        "predict", f["model"], f["png"], "--csv", f["model"]), ["is the model bundle"]),
    "--objects --csv onto the label image": ("classify (CLI)", lambda f: (
        "predict", f["model"], f["tif"], "--objects", f["labels"], "--csv", f["labels"]),
        ["is the label image"]),
    "inspect --grad-cam onto its own image": ("inspect (CLI)", lambda f: (
        "inspect", f["model"], f["tif"], "--grad-cam", f["tif"]), ["is the input image"]),
    "inspect --feature-maps onto the model": ("inspect (CLI)", lambda f: (
        "inspect", f["model"], f["tif"], "--layer", "conv1", "--feature-maps", f["model"]),
        ["is the model bundle"]),
    "a symlink output pointing at an input": ("classify (CLI)", lambda f: (
        "predict", f["model"], f["png"], "--csv", f["link"]), ["links to the input image"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_output_onto_input_cli(tmp_path, capsys, bundle, case):
    files = _inputs(tmp_path, bundle)
    surface, argv, needles = CLI_CASES[case]
    before = snapshot(tmp_path)
    argv = argv(files)
    message = cli_error(capsys, [REFUSED, repr(str(argv[-1])), *needles], *argv)
    assert snapshot(tmp_path) == before  # byte-identical, nothing new (no temporary file)
    record(f"output is an input: {case}", surface,
           "exit 2: " + message.replace(str(tmp_path / "in"), "<in>"))


def test_hard_link_output(tmp_path, capsys, bundle):
    files = _inputs(tmp_path, bundle)
    os.link(files["png"], tmp_path / "rows.csv")
    before = snapshot(tmp_path)
    cli_error(capsys, ["is the same file (a hard link) as the input image"],
              "predict", files["model"], files["png"], "--csv", tmp_path / "rows.csv")
    assert snapshot(tmp_path) == before


def test_folder_run_tile_maps(tmp_path, capsys, bundle):
    """``predict MODEL folder --tile-map folder``: a.png's map would be written to a.tif."""
    folder = tmp_path / "folder"
    C.png8(str(folder / "a.png"))
    _tiff(folder / "a.tif")
    before = snapshot(tmp_path)
    message = cli_error(capsys, [REFUSED, f"the class map of {str(folder / 'a.png')!r}",
                                 f"is the input image {str(folder / 'a.tif')!r}"],
                        "predict", bundle, folder, "--tile-map", folder)
    assert snapshot(tmp_path) == before
    record("output is an input: `predict MODEL folder --tile-map folder` (a.png, a.tif)",
           "classify (CLI)", "exit 2, before the model is loaded: "
           + message.replace(str(folder), "<folder>"))
    # no collision, but the maps would be images of the input folder: read by the next run
    os.remove(folder / "a.tif")
    message = cli_error(capsys, ["is inside the input folder", "would read it as an input"],
                        "predict", bundle, folder, "--tile-map", folder / "maps")
    assert not (folder / "maps").exists()
    record("output is an input: class maps into the input folder", "classify (CLI)",
           "exit 2: " + message.replace(str(folder), "<folder>"))
    # a CSV inside an input folder is not an image: written (the next run does not read it)
    code = main(["predict", bundle, str(folder), "--csv", str(folder / "rows.csv")])
    capsys.readouterr()
    assert code == 0 and (folder / "rows.csv").is_file()


def test_train_outputs(tmp_path, capsys, bundle):
    from napari_convnet.core.training import train_from_folder

    root = C.dataset(str(tmp_path / "data"))
    image = os.path.join(root, "a", "img0.png")
    os.symlink(image, tmp_path / "img.keras")
    os.symlink(image, tmp_path / "img.weights.h5")
    os.symlink(tmp_path / "m.keras", tmp_path / "m.weights.h5")
    model = tmp_path / "model.keras"
    shutil.copy(bundle, model)
    os.symlink(model, tmp_path / "model.weights.h5")
    before = snapshot(tmp_path)
    events = []
    message = core_error(["links to a file inside the data folder", "Choose a path outside"],
                         train_from_folder, root, "dense-2x10", config(), train_config(),
                         out=tmp_path / "img.keras", on_event=events.append)
    assert events == []  # refused before reading a single image
    record("output is an input: train --out links to a data image", "train (core)",
           "refused before indexing: " + message.replace(str(tmp_path), "<tmp>"))
    cases = {
        "--checkpoint links to a data image": (
            ["The checkpoint", "inside the data folder"],
            ("--out", tmp_path / "m.keras", "--checkpoint", tmp_path / "img.weights.h5")),
        "--checkpoint and --out the same file": (
            ["is the same file as the model bundle", "Give each output its own path"],
            ("--out", tmp_path / "m.keras", "--checkpoint", tmp_path / "m.weights.h5")),
        "--checkpoint links to the model to continue": (
            ["The checkpoint", "links to the model to continue"],
            ("--continue", model, "--out", tmp_path / "m.keras",
             "--checkpoint", tmp_path / "model.weights.h5")),
    }
    for case, (needles, argv) in cases.items():
        message = cli_error(capsys, needles, "train", root, *TRAIN_ARGS, *argv)
        record(f"output is an input: train {case}", "train (CLI)",
               "exit 2: " + message.replace(str(tmp_path), "<tmp>"))
    assert snapshot(tmp_path) == before


def test_checkpoint_checked_before_training(tmp_path, capsys, unwritable):
    from napari_convnet.core.training import TrainConfig, train_from_folder

    root = C.dataset(str(tmp_path / "data"))
    checkpoint = unwritable / "best.weights.h5"
    events = []
    message = core_error([str(checkpoint), "Choose another --checkpoint file"],
                         train_from_folder, root, "dense-2x10", config(),
                         TrainConfig(epochs=1, batch_size=8, checkpoint=str(checkpoint)),
                         out=tmp_path / "m.keras", on_event=events.append)
    assert events == [] and not (tmp_path / "m.keras").exists()
    record("read-only --checkpoint folder", "train (core)",
           "refused before indexing: " + message.replace(str(unwritable), "<out>"))
    message = cli_error(capsys, [str(checkpoint), "--checkpoint"], "train", root, *TRAIN_ARGS,
                        "--out", tmp_path / "m.keras", "--checkpoint", checkpoint)
    record("read-only --checkpoint folder", "train (CLI)",
           "exit 2: " + message.replace(str(unwritable), "<out>"))
    assert not (tmp_path / "m.keras").exists()


# --- names of any bytes, cells that are not formulas -----------------------------------------

def test_cell_rule():
    assert cell("=1+2") == "'=1+2" and cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell(FORMULA) == "'" + FORMULA and cell("-x") == "'-x" and cell("\t=1") == "'\t=1"
    assert cell(-0.5) == -0.5 and cell("-0.5") == "-0.5" and cell("+1e-05") == "+1e-05"
    assert cell("cat") == "cat" and cell("") == "" and cell(3) == 3


@pytest.fixture(scope="module")
def odd_bundle(tmp_path_factory):
    """An untrained bundle whose classes are a non-UTF-8 name and a formula."""
    from napari_convnet.core.bundle import save_bundle

    path = str(tmp_path_factory.mktemp("odd") / "odd.keras")
    meta = {"class_names": [ODD, FORMULA], "input_shape": [C.SIZE, C.SIZE, 1],
            "data_config": {**config().to_dict(), "channels": 1, "levels": [[0.0, 255.0]]}}
    save_bundle(C.tiny_model(), path, meta)
    return path


def _read_csv(path):
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return list(csv.reader(fh))


def test_odd_names_through_predict_csv(tmp_path, capsysbinary, odd_bundle):
    folder = os.path.join(os.fsencode(tmp_path), b"imgs \xe9\xff")
    image = os.fsdecode(os.path.join(folder, b"-img\xff.png"))
    C.png8(image)
    out = tmp_path / "rows.csv"
    assert main(["predict", odd_bundle, os.fsdecode(folder), "--csv", str(out)]) == 0
    printed, err = capsysbinary.readouterr()
    assert os.fsencode(image) in printed and b"Traceback" not in err  # printed byte for byte
    header, row = _read_csv(out)
    assert header[4:] == [f"p_{ODD}", f"p_{FORMULA}"]  # "p_..." is no formula
    assert os.path.isfile(os.fsencode(row[0])) and row[0] == image  # the path round-trips
    assert row[2] in (ODD, "'" + FORMULA) and float(row[3]) > 0
    record("non-UTF-8 file and class names", "classify (CLI)",
           "predict --csv: exit 0; the CSV is UTF-8 with the names' own bytes (surrogateescape), "
           "the path cell opens the file")


def test_formula_class_in_objects_csv(tmp_path, capsysbinary, odd_bundle):
    image = C.png8(str(tmp_path / "img.png"))
    labels = np.zeros((C.SIZE, C.SIZE), np.uint16)
    labels[2:9, 2:9], labels[11:18, 11:18] = 1, 2
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    out = tmp_path / "objects.csv"
    assert main(["predict", odd_bundle, image, "--objects", str(tmp_path / "labels.tif"),
                 "--csv", str(out)]) == 0
    capsysbinary.readouterr()
    rows = _read_csv(out)
    assert rows[0] == ["label_id", "class", "probability", f"p_{ODD}", f"p_{FORMULA}"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(r[1] in (ODD, "'" + FORMULA) for r in rows[1:])
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)
    record(f"class named `{FORMULA}`", "classify (CLI)",
           "predict --objects --csv: the class cell is written `'+cmd|...` (no formula); "
           "numbers stay numbers")
