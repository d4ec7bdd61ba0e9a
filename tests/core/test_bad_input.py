"""Bad-input corpus (issue 9; table in docs/hardening.md).

Every case of the corpus (``_corpus.py``, generated into ``tmp_path``) goes through the four
areas a user reaches: data loading, training, inspection and classification, in core and on
the command line. Each run must end either in a result or in a clear message that names the
file and says what to do: a ``ConvnetError`` in core, one ``napari-convnet CMD: error:`` line
and exit status 2 on the command line, never a traceback; and no file saved earlier is
damaged. Set ``NAPARI_CONVNET_HARDENING_TABLE=FILE`` to write every outcome as JSON lines
(what docs/hardening.md tabulates).
"""

import errno
import json
import os
import shutil
import tracemalloc

import _corpus as C
import numpy as np
import pytest

from napari_convnet.cli import main
from napari_convnet.errors import ConvnetError

SIZE = C.SIZE
_TABLE = os.environ.get("NAPARI_CONVNET_HARDENING_TABLE")


def record(case, surface, outcome):
    """Append one outcome to the table file when asked for (see the module docstring)."""
    if _TABLE:
        with open(_TABLE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"case": case, "surface": surface, "outcome": outcome}) + "\n")


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def cli_error(capsys, needles, *argv):
    """Run a command that must fail: exit 2 and one stderr line holding every needle."""
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"napari-convnet {argv[0]}: error: "), err
    for needle in needles:
        assert needle in err, err
    return err.strip().split(": error: ", 1)[1]


def core_error(needles, fn, *args, **kwargs):
    """Call a core function that must fail with a ConvnetError holding every needle."""
    with pytest.raises(ConvnetError) as info:
        fn(*args, **kwargs)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return f"{type(info.value).__name__}: {info.value}"


def snapshot(folder):
    """Relative path -> bytes of every file below ``folder`` (links not followed)."""
    files = {}
    for current, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(current, name)
            if os.path.isfile(path) and not os.path.islink(path):
                files[os.path.relpath(path, folder)] = C.digest(path)
    return files


def config():
    from napari_convnet.core.data_config import DataConfig

    return DataConfig(image_size=(SIZE, SIZE))


def train_config():
    from napari_convnet.core.training import TrainConfig

    return TrainConfig(epochs=1, batch_size=8)


TRAIN_ARGS = ("--preset", "dense-2x10", "--epochs", 1, "--batch-size", 8,
              "--image-size", SIZE, SIZE, "--quiet")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A course-cnn bundle on 20x20x1 (untrained: robustness, not accuracy, is tested)."""
    from napari_convnet.core import presets
    from napari_convnet.core.bundle import save_bundle

    path = str(tmp_path_factory.mktemp("bundle") / "model.keras")
    meta = {"class_names": list(C.CLASSES), "input_shape": [SIZE, SIZE, 1],
            "data_config": {**config().to_dict(), "channels": 1, "levels": [[0.0, 255.0]]},
            "preset": "course-cnn"}
    save_bundle(presets.build_model("course-cnn", (SIZE, SIZE, 1), 2), path, meta)
    return path


@pytest.fixture(scope="module")
def loaded(bundle):
    from napari_convnet.core.bundle import load_bundle

    return load_bundle(bundle)


# --- damaged and odd image files -------------------------------------------------------------

FILE_CASES = {
    "truncated PNG": ("cut.png", C.truncated_png, "truncated file"),
    "truncated TIFF": ("cut.tif", C.truncated_tiff, "truncated file"),
    "text file named .tif": ("notes.tif", C.text_as_tif, "not an image file"),
    "0-byte PNG": ("empty.png", C.zero_bytes, "empty file (0 bytes)"),
    "0-byte TIFF": ("empty.tif", C.zero_bytes, "empty file (0 bytes)"),
    "NaN in float TIFF": ("nan.tif", lambda p: C.float_tiff(p, "nan"), "NaN or inf"),
    "inf in float TIFF": ("inf.tif", lambda p: C.float_tiff(p, "inf"), "NaN or inf"),
    "20000x20000 TIFF": ("huge.tif", C.huge_tiff, "image too large"),
    "20000x20000 PNG": ("huge.png", C.huge_png, "image too large"),
}
FILE_IDS = list(FILE_CASES)
# one decoded 20x20 good image is 400 B; anything near a 400 MB plane means it was decoded
_MEMORY_BOUND = 32 * 2**20


def bad_dataset(root, case):
    """A good two-class dataset plus the case's file in class ``a``; returns (root, file)."""
    name, make, _ = FILE_CASES[case]
    C.dataset(root)
    return root, make(os.path.join(root, "a", name))


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_data_core(tmp_path, case):
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.pipeline import load_split, make_dataset

    root, bad = bad_dataset(str(tmp_path / "data"), case)
    tracemalloc.start()  # indexing decodes (or refuses) every file
    try:
        index = index_folder(root, config())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    x, _ = load_split(index, "train")
    batches = list(make_dataset(index, "train", batch_size=8, cache=False))
    reasons = {b.path: b.reason for b in index.bad_files}
    assert FILE_CASES[case][2] in reasons[bad]
    assert len(x) + len(index.splits["validation"]) == 8  # every good file, not the bad one
    assert sum(int(b[0].shape[0]) for b in batches) == len(x) and np.isfinite(x).all()
    assert peak < _MEMORY_BOUND, f"{peak / 2**20:.0f} MiB"
    record(case, "data (core)", f"skipped, listed: {reasons[bad]}")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_data_cli(tmp_path, capsys, case):
    root, bad = bad_dataset(str(tmp_path / "data"), case)
    code, out, _ = cli(capsys, "data", root, "--image-size", SIZE, SIZE)
    assert code == 0
    line = next(line for line in out.splitlines() if bad in line)
    assert FILE_CASES[case][2] in line and "Bad files 1 (skipped)" in out
    record(case, "data (CLI)", f"exit 0, `{line.strip()[len(root) + 1:]}`")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_train_core(tmp_path, case):
    from napari_convnet.core.training import train_from_folder

    root, bad = bad_dataset(str(tmp_path / "data"), case)
    events = []
    _, meta, _ = train_from_folder(root, "dense-2x10", config(), train_config(),
                                   out=str(tmp_path / "m.keras"), on_event=events.append)
    assert [b["path"] for b in meta["dataset"]["bad_files"]] == [bad]
    assert any(e["type"] == "message" and "1 bad file" in e["text"] for e in events)
    record(case, "train (core)", "trained on the other files; warning `1 bad file(s)/folder(s) "
                                 "skipped`, listed in the bundle's dataset summary")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_train_cli(tmp_path, capsys, case):
    root, _ = bad_dataset(str(tmp_path / "data"), case)
    out = tmp_path / "m.keras"
    code, _, err = cli(capsys, "train", root, *TRAIN_ARGS, "--out", out)
    assert code == 0 and out.is_file() and "1 bad file(s)/folder(s) skipped" in err
    record(case, "train (CLI)", "exit 0, bundle saved; stderr `warning: 1 bad file(s)/folder(s) "
                                "skipped`")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_inspect_cli(tmp_path, capsys, bundle, case):
    _, bad = bad_dataset(str(tmp_path / "data"), case)
    out = tmp_path / "cam.tif"
    message = cli_error(capsys, [bad, FILE_CASES[case][2]], "inspect", bundle, bad,
                        "--grad-cam", out)
    cli_error(capsys, [bad], "inspect", bundle, bad, "--layer", "conv1", "--feature-maps", out)
    assert not out.exists()
    record(case, "inspect (CLI)", f"exit 2: {message.replace(bad, '<file>')}")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_classify_core(tmp_path, loaded, case):
    from napari_convnet.core.prediction import predict_files

    root, bad = bad_dataset(str(tmp_path / "data"), case)
    result = predict_files(*loaded, [os.path.join(root, "a")])
    assert len(result["rows"]) == 4 and [e["path"] for e in result["errors"]] == [bad]
    assert FILE_CASES[case][2] in result["errors"][0]["error"]
    record(case, "classify (core)", "predict_files: other files classified, the file listed in "
                                    "`errors`")


@pytest.mark.parametrize("case", FILE_IDS)
def test_file_classify_cli(tmp_path, capsys, bundle, case):
    _, bad = bad_dataset(str(tmp_path / "data"), case)
    code, out, err = cli(capsys, "predict", bundle, bad)
    assert code == 1 and out == "" and err.count("\n") == 1 and bad in err
    tile_map = tmp_path / "map.tif"
    message = cli_error(capsys, [bad, FILE_CASES[case][2]], "predict", bundle, bad,
                        "--tile-map", tile_map)
    assert not tile_map.exists()
    cli_error(capsys, [bad], "predict", bundle, bad, "--objects", bad)
    record(case, "classify (CLI)", "predict: exit 1, `warning: skipped ...`; --tile-map/--objects:"
                                   f" exit 2: {message.replace(bad, '<file>')}")


# --- the same troubles as arrays (napari layers, notebooks) ----------------------------------

def _nan():
    img = C._image(0, 1).astype(np.float64)
    img[2, 3] = np.nan
    return img


def _inf():
    img = C._image(0, 1).copy()
    img[5] = np.inf
    return img


ARRAY_CASES = {
    # case: (array factory, needle of the refusal, or None when it must work)
    "NaN in float array": (_nan, "NaN or inf"),
    "inf in float array": (_inf, "NaN or inf"),
    "20000x20000 array": (lambda: np.broadcast_to(np.uint8(7), (C.HUGE, C.HUGE)),
                          "image too large"),
    "0x0 array (no pixels)": (lambda: np.zeros((0, 0), np.uint8), "no pixels"),
    "1x1 array": (lambda: np.full((1, 1), 9, np.uint16), None),
    "text array": (lambda: np.array([["not", "an"], ["image", "!"]]), "non-numeric dtype"),
    "1-D array": (lambda: np.arange(SIZE * SIZE, dtype=np.float32), "at least 2 dimensions"),
    "bool array": (lambda: C._image(0, 2) > 0.5, None),
    "int8 array": (lambda: (C._image(0, 2) * 100).astype(np.int8), None),
    "uint16 array": (lambda: (C._image(0, 2) * 65535).astype(np.uint16), None),
    "float64 array": (lambda: C._image(0, 2).astype(np.float64) * 1e6, None),
    "RGB array for a grey model": (lambda: np.stack([C._image(0, 2)] * 3, axis=-1), None),
}
ARRAY_IDS = list(ARRAY_CASES)


def _call(name, model, meta, image):
    from napari_convnet.core import inspection, objects, prediction, tiling

    if name == "classify_image":
        return prediction.classify_image(model, meta, image)
    if name == "classify_stack":
        return prediction.classify_stack(model, meta, image[None] if image.ndim else image)
    if name == "tile_class_map":
        return tiling.tile_class_map(model, meta, image)
    if name == "classify_objects":
        shape = np.shape(image)[:2] if image.ndim >= 2 else (SIZE, SIZE)
        labels = np.broadcast_to(np.int32(1), shape)  # read-only, and no 1.6 GB when huge
        return objects.classify_objects(model, meta, image, labels)
    if name == "feature_maps":
        return inspection.feature_maps(model, meta, image, "pool1")
    return inspection.grad_cam(model, meta, image)


# where one function words a refusal its own way
_NEEDLES = {("1x1 array", "feature_maps"): "too small for layer",  # 'valid' 3x3 conv on 1 px
            ("1-D array", "classify_stack"): "A stack needs"}
_CLASSIFY = ("classify_image", "classify_stack", "tile_class_map", "classify_objects")
_INSPECT = ("feature_maps", "grad_cam")


@pytest.mark.parametrize("function", _CLASSIFY + _INSPECT)
@pytest.mark.parametrize("case", ARRAY_IDS)
def test_array(loaded, case, function):
    factory, needle = ARRAY_CASES[case]
    image = factory()
    surface = "classify (core)" if function in _CLASSIFY else "inspect (core)"
    needle = _NEEDLES.get((case, function), needle)
    if needle is None:
        result = _call(function, *loaded, image)
        values = [v for k, v in result.items() if k in ("probabilities", "heatmap", "maps")]
        assert all(np.isfinite(np.asarray(v, np.float32)).all() for v in values)
        record(case, surface, f"{function}: ok")
        return
    tracemalloc.start()
    try:
        message = core_error([needle], _call, function, *loaded, image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < _MEMORY_BOUND, f"{peak / 2**20:.0f} MiB"
    record(case, surface, f"{function}: {message}")


def test_kernels_bad_layer(loaded):
    from napari_convnet.core.inspection import kernels

    core_error(["'predictions'", "conv1"], kernels, loaded[0], "predictions")
    core_error(["nope"], kernels, loaded[0], "nope")


# --- folders: empty, one class, mixed images, odd names, link loops ---------------------------

def _empty(root):
    os.makedirs(os.path.join(root, "a"))
    os.makedirs(os.path.join(root, "b"))
    return root, None


def _single(root):
    C.dataset(root, classes=("only",))
    return root, os.path.join(root, "only", "img0.png")


def _mixed_channels(root):
    C.dataset(root)
    return root, C.rgb_png(os.path.join(root, "a", "colour.png"))


def _bit_depths(root):
    C.bit_depths(os.path.join(root, "a"), 0)
    C.bit_depths(os.path.join(root, "b"), 1)
    return root, os.path.join(root, "a", "int32.tif")


def _one_pixel(root):
    for label, name in enumerate(C.CLASSES):
        for i in range(3):
            C.one_pixel(os.path.join(root, name, f"dot{i}.png"), 40 + 80 * label + i)
    return root, os.path.join(root, "a", "dot0.png")


def _unicode(root):
    root = os.path.join(root, "données d'essai")
    for label, name in enumerate(("classe A", "classe B")):
        for i in (1, 2, 3):
            C.png8(os.path.join(root, name, f"ïmage {i}.png"), label, seed=i + 3 * label)
    C.truncated_png(os.path.join(root, "classe B", "ïmage cassée.png"))
    return root, os.path.join(root, "classe A", "ïmage 1.png")


def _loop(root):
    C.dataset(root)
    C.symlink_loop(os.path.join(root, "a"))
    return root, os.path.join(root, "a", "loop", "loop", "img0.png")


FOLDER_CASES = {
    # case: (builder, needles of the refusal (None: it works), what the working run shows)
    "empty folder (empty class folders)": (_empty, ["at least two classes", "has 0"], None),
    "single-class folder": (_single, ["at least two classes", "has 1 (only)"], None),
    "mixed channel counts": (_mixed_channels, ["colour.png", "--channels"], None),
    "mixed bit depths": (_bit_depths, None, "1-bit PNG read as uint8; uint8, uint16, int32, "
                                            "float32"),
    "1x1 images": (_one_pixel, None, "smaller than (20, 20) are upscaled"),
    "non-ASCII and spaces in paths": (_unicode, None, "ïmage cassée.png"),
    "symlink loop in the data folder": (_loop, None, "each file once"),
}
FOLDER_IDS = list(FOLDER_CASES)


@pytest.mark.parametrize("case", FOLDER_IDS)
def test_folder_data(tmp_path, capsys, case):
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.pipeline import load_split

    build, needles, shows = FOLDER_CASES[case]
    root, _ = build(str(tmp_path / "data"))
    if needles is not None:
        message = core_error(needles, index_folder, root, config())
        record(case, "data (core)", message.replace(root, "<data>"))
        message = cli_error(capsys, needles, "data", root, "--image-size", SIZE, SIZE)
        record(case, "data (CLI)", f"exit 2: {message.replace(root, '<data>')}")
        return
    index = index_folder(root, config())
    x, _ = load_split(index, "train")
    assert np.isfinite(x).all()
    summary = index.summary()
    paths = [s.path for split in index.splits.values() for s in split]
    assert len(paths) == len(set(map(os.path.realpath, paths)))  # a loop adds no duplicate
    code, out, _ = cli(capsys, "data", root, "--image-size", SIZE, SIZE)
    assert code == 0
    if case == "mixed bit depths":
        assert set(summary["dtypes"]) == {"uint8", "uint16", "int32", "float32"}
    elif case == "1x1 images":
        assert summary["upscaled"] == 6 and shows in out
    elif case.startswith("non-ASCII"):
        assert shows in out and summary["class_names"] == ["classe A", "classe B"]
    else:  # the links back up are listed as not followed, and no file counts twice
        assert summary["files"] == 8
        assert {os.path.basename(b["path"]) for b in summary["bad_files"]} == {"loop", "up"}
        assert all("(a loop): not followed" in b["reason"] for b in summary["bad_files"])
    record(case, "data (core)", f"ok: {summary['files']} files, {shows}")
    record(case, "data (CLI)", "exit 0, summary printed")


@pytest.mark.parametrize("case", FOLDER_IDS)
def test_folder_train(tmp_path, capsys, case):
    from napari_convnet.core.training import train_from_folder

    build, needles, _ = FOLDER_CASES[case]
    root, _ = build(str(tmp_path / "data"))
    out = os.path.join(os.path.dirname(root), "modèle 1.keras")
    if needles is not None:
        message = core_error(needles, train_from_folder, root, "dense-2x10", config(),
                             train_config(), out=out)
        record(case, "train (core)", message.replace(root, "<data>"))
        message = cli_error(capsys, needles, "train", root, *TRAIN_ARGS, "--out", out)
        record(case, "train (CLI)", f"exit 2: {message.replace(root, '<data>')}")
        assert not os.path.exists(out)
        if case == "mixed channel counts":  # the fix the message names works
            code, _, _ = cli(capsys, "train", root, *TRAIN_ARGS, "--channels", 1, "--out", out)
            assert code == 0 and os.path.isfile(out)
        return
    _, meta, _ = train_from_folder(root, "dense-2x10", config(), train_config(), out=out)
    assert os.path.isfile(out) and os.path.isfile(out[:-len(".keras")] + ".run.json")
    record(case, "train (core)", f"ok: trained, {meta['dataset']['files']} files")
    os.remove(out)
    code, _, _ = cli(capsys, "train", root, *TRAIN_ARGS, "--out", out)
    assert code == 0 and os.path.isfile(out)
    record(case, "train (CLI)", "exit 0, bundle and run record written")


@pytest.mark.parametrize("case", FOLDER_IDS)
def test_folder_inspect_classify(tmp_path, capsys, bundle, loaded, case):
    from napari_convnet.core.prediction import predict_files

    build, _, _ = FOLDER_CASES[case]
    root, image = build(str(tmp_path / "data"))
    cam = os.path.join(os.path.dirname(root), "carte é.tif")
    if image is None:  # nothing to inspect: the folder itself is not an image
        message = cli_error(capsys, [root, "is a folder"], "inspect", bundle, root,
                            "--grad-cam", cam)
        record(case, "inspect (CLI)", f"exit 2: {message.replace(root, '<data>')}")
        message = core_error(["No image files"], predict_files, *loaded, [root])
        record(case, "classify (core)", message.replace(root, "<data>"))
        message = cli_error(capsys, ["No image files"], "predict", bundle, root)
        record(case, "classify (CLI)", f"exit 2: {message.replace(root, '<data>')}")
        return
    code, out, _ = cli(capsys, "inspect", bundle, image, "--grad-cam", cam)
    assert code == 0 and os.path.isfile(cam)
    record(case, "inspect (CLI)", "exit 0, Grad-CAM TIFF written")
    result = predict_files(*loaded, [root])
    assert result["rows"] and all(os.path.isfile(r["path"]) for r in result["rows"])
    bad = [e["path"] for e in result["errors"]]
    assert bad == ([os.path.join(root, "classe B", "ïmage cassée.png")]
                   if case.startswith("non-ASCII") else [])
    record(case, "classify (core)",
           f"predict_files: {len(result['rows'])} rows" + (", the cut file in `errors`"
                                                            if bad else ""))
    code, out, err = cli(capsys, "predict", bundle, root, "--csv", tmp_path / "rows.csv")
    assert code == 0 and len(out.splitlines()) == len(result["rows"])
    record(case, "classify (CLI)", "exit 0, one line per image" +
           ("; `warning: skipped ... 'ïmage cassée.png': truncated file`" if bad else ""))


# --- outputs that cannot be written ---------------------------------------------------------

@pytest.fixture
def unwritable(tmp_path, bundle):
    """A folder path nobody can write below: read-only, or a regular file when run as root.

    Root ignores the permission bits (CI runs tests as root), but a path below a regular
    file fails for everyone. The read-only folder already holds a good bundle.
    """
    folder = tmp_path / "read-only"
    folder.mkdir()
    shutil.copy(bundle, folder / "model.keras")
    folder.chmod(0o555)
    try:
        (folder / "probe").write_bytes(b"")
    except PermissionError:
        yield folder
        folder.chmod(0o755)
        return
    (folder / "probe").unlink()
    folder.chmod(0o755)
    blocker = tmp_path / "a-file"
    blocker.write_text("a file, not a folder")
    yield blocker


def test_readonly_output_train(tmp_path, capsys, unwritable):
    from napari_convnet.core.training import train_from_folder

    root = C.dataset(str(tmp_path / "data"))
    before = snapshot(tmp_path)
    out = unwritable / "model.keras"
    events = []
    message = core_error([str(out), "Choose another output file"], train_from_folder, root,
                         "dense-2x10", config(), train_config(), out=out, on_event=events.append)
    assert events == []  # refused before reading a single image
    record("read-only output folder", "train (core)", "refused before indexing: "
           + message.replace(str(unwritable), "<out>"))
    message = cli_error(capsys, [str(out)], "train", root, *TRAIN_ARGS, "--out", out)
    record("read-only output folder", "train (CLI)", "exit 2: "
           + message.replace(str(unwritable), "<out>"))
    assert snapshot(tmp_path) == before


def test_readonly_output_cli(tmp_path, capsys, bundle, unwritable):
    image = C.png8(str(tmp_path / "img.png"))
    before = snapshot(tmp_path)
    outs = {
        "inspect --kernels": ("inspect", bundle, "--layer", "conv1", "--kernels"),
        "inspect --grad-cam": ("inspect", bundle, image, "--grad-cam"),
        "predict --csv": ("predict", bundle, image, "--csv"),
        "predict --tile-map": ("predict", bundle, image, "--tile-map"),
        "predict --objects --csv": ("predict", bundle, image, "--objects", image, "--csv"),
    }
    for what, argv in outs.items():
        out = unwritable / ("out.csv" if argv[-1] == "--csv" else "out.tif")
        message = cli_error(capsys, [str(out)], *argv, out)
        surface = "inspect (CLI)" if what.startswith("inspect") else "classify (CLI)"
        record("read-only output folder", surface,
               f"{what}: exit 2: " + message.replace(str(unwritable), "<out>"))
    assert snapshot(tmp_path) == before


def test_readonly_dataset_cache(tmp_path, unwritable):
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.pipeline import make_dataset

    index = index_folder(C.dataset(str(tmp_path / "data")), config())
    message = core_error(["dataset cache", "cache=True"], make_dataset, index, "train",
                         cache=unwritable / "cache")
    record("read-only output folder", "data (core)",
           "make_dataset(cache=PATH): " + message.replace(str(unwritable), "<out>"))


def _disk_full(path):
    """Write a few bytes to ``path`` (a partial file), then fail like a full disk."""
    with open(path, "wb") as fh:
        fh.write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_disk_full_train(tmp_path, capsys, bundle, monkeypatch):
    import keras

    from napari_convnet.core.training import train_from_folder

    root = C.dataset(str(tmp_path / "data"))
    out = tmp_path / "out" / "model.keras"
    out.parent.mkdir()
    shutil.copy(bundle, out)
    before = snapshot(out.parent)
    monkeypatch.setattr(keras.Model, "save", lambda self, path, **kw: _disk_full(path))
    message = core_error([str(out), "No space left on device", "previous file is unchanged"],
                         train_from_folder, root, "dense-2x10", config(), train_config(),
                         out=out, overwrite=True)
    record("full disk (ENOSPC while saving)", "train (core)",
           message.replace(str(out.parent), "<out>"))
    message = cli_error(capsys, [str(out), "No space left"], "train", root, *TRAIN_ARGS,
                        "--out", out, "--overwrite")
    record("full disk (ENOSPC while saving)", "train (CLI)",
           "exit 2: " + message.replace(str(out.parent), "<out>"))
    assert snapshot(out.parent) == before  # the old bundle intact, no temporary file left


def test_disk_full_cli_outputs(tmp_path, capsys, bundle, monkeypatch):
    import tifffile

    from napari_convnet.cli import predict

    image = C.png8(str(tmp_path / "img.png"))
    outs = tmp_path / "out"
    outs.mkdir()
    for name in ("rows.csv", "map.tif", "cam.tif", "kernels.tif", "objects.csv"):
        (outs / name).write_text("an earlier result")
    before = snapshot(outs)
    monkeypatch.setattr(tifffile, "imwrite", lambda path, *a, **kw: _disk_full(path))
    monkeypatch.setattr(predict, "write_csv", lambda path, result: _disk_full(path))
    monkeypatch.setattr(predict, "write_objects_csv",
                        lambda fh, result: _disk_full(fh.name))
    runs = {
        "predict --csv": ("classify (CLI)", "predict", bundle, image, "--csv", outs / "rows.csv"),
        "predict --tile-map": ("classify (CLI)", "predict", bundle, image, "--tile-map",
                               outs / "map.tif"),
        "predict --objects --csv": ("classify (CLI)", "predict", bundle, image, "--objects",
                                    image, "--csv", outs / "objects.csv"),
        "inspect --grad-cam": ("inspect (CLI)", "inspect", bundle, image, "--grad-cam",
                               outs / "cam.tif"),
        "inspect --kernels": ("inspect (CLI)", "inspect", bundle, "--layer", "conv1",
                              "--kernels", outs / "kernels.tif"),
    }
    for what, (surface, *argv) in runs.items():
        message = cli_error(capsys, [str(argv[-1]), "No space left", "existing file is unchanged"],
                            *argv)
        record("full disk (ENOSPC while saving)", surface,
               f"{what}: exit 2: " + message.replace(str(outs), "<out>"))
    assert snapshot(outs) == before


# --- model files that are not our bundles ---------------------------------------------------

MODEL_CASES = {
    "plain Keras .keras (no metadata)": (C.foreign_keras, ["not a napari-convnet bundle",
                                                           "allow_foreign=True"]),
    ".keras with a Lambda layer": (C.lambda_keras, ["Lambda layer", "safe_mode=False"]),
    "truncated .keras (cut zip)": (None, ["not a model bundle", "damaged"]),
    "random bytes named .keras": (C.random_keras, ["not a model bundle", "damaged"]),
}
MODEL_IDS = list(MODEL_CASES)


@pytest.fixture
def bad_model(tmp_path, bundle, request):
    make, needles = MODEL_CASES[request.param]
    path = str(tmp_path / "bad model.keras")
    if make is None:
        C.truncated_keras(path, bundle)
    else:
        make(path)
    return path, needles


@pytest.mark.parametrize("bad_model", MODEL_IDS, indirect=True)
def test_model_file(tmp_path, capsys, bad_model, bundle, request):
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.training import train_from_folder

    case = request.node.callspec.params["bad_model"]
    path, needles = bad_model
    needles = [path, *needles]
    root = C.dataset(str(tmp_path / "data"))
    image = os.path.join(root, "a", "img0.png")
    out = tmp_path / "good.keras"  # an earlier good bundle where the continued run would go
    shutil.copy(bundle, out)
    before = snapshot(tmp_path)
    message = core_error(needles, load_bundle, path).replace(path, "<file>")
    record(case, "inspect (core)", f"load_bundle: {message}")
    record(case, "classify (core)", f"load_bundle: {message}")
    message = core_error(needles, train_from_folder, root, None, None, train_config(), out=out,
                         model=path).replace(path, "<file>")
    record(case, "train (core)", f"train_from_folder(model=<file>): {message}")
    for surface, argv in (
            ("train (CLI)", ("train", root, "--continue", path, "--epochs", 1, "--out", out,
                             "--overwrite")),
            ("inspect (CLI)", ("inspect", path, "--list-layers")),
            ("classify (CLI)", ("predict", path, image))):
        message = cli_error(capsys, needles, *argv).replace(path, "<file>")
        record(case, surface, f"exit 2: {message}")
    assert snapshot(tmp_path) == before


def test_foreign_model_allowed(tmp_path):
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.prediction import classify_image

    path = C.foreign_keras(str(tmp_path / "plain.keras"))
    with pytest.warns(UserWarning, match="no napari-convnet metadata"):
        model, meta = load_bundle(path, allow_foreign=True)
    assert meta["class_names"] == ["class_0", "class_1"]
    assert classify_image(model, meta, C._image(0, 0))["class_name"] in meta["class_names"]
