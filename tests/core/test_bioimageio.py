"""bioimage.io packages: a model trained here opens in bioimageio.core and gives the same
class probabilities; packages pass bioimage.io's own test; packages come back in as bundles.

Trained briefly on crops of scikit-image's texture photographs, with each normalisation a
package can express; the images given to bioimageio.core are the raw PNG files.
"""

import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import yaml
from PIL import Image
from tests import _textures

from napari_convnet.cli import main
from napari_convnet.core.bundle import load_bundle
from napari_convnet.core.prediction import predict_files
from napari_convnet.core.sharing import bioimageio as bio
from napari_convnet.core.sharing.importing import import_model
from napari_convnet.core.training import TrainConfig, train_from_folder
from napari_convnet.errors import ModelError

pytest.importorskip("bioimageio.core")

INFO = bio.PackageInfo("Texture classifier", "Brick, grass and gravel crops (scikit-image).",
                       ["A. Microscopist", "B. Facility"], "MIT",
                       "Example citation https://example.org/paper")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("textures")
    train = _textures.texture_folder(root / "train", 32, 30)
    test = _textures.texture_folder(root / "test", 32, 6, half="right", seed=9)
    return train, test


@pytest.fixture(scope="module", params=["percentile", "dataset", "range"])
def package(request, folders, tmp_path_factory):
    """A vgg1 with the plugin's own augmentation layer, trained 2 epochs, and its package."""
    train, _ = folders
    root = tmp_path_factory.mktemp(request.param)
    model, meta, _ = train_from_folder(
        train, preset="vgg1", preset_options={"augment": "microscopy"},
        data_config={"normalization": request.param},
        train_config=TrainConfig(epochs=2, batch_size=16), out=root / "model.keras")
    events = []
    result = bio.export_package(model, meta, root / "model.zip", INFO, on_event=events.append)
    return root, result, events


def _bioimageio_probabilities(zip_path, paths):
    with bio.core_environment():
        from bioimageio.core import predict

        out = []
        for path in paths:
            x = np.asarray(Image.open(path), np.float32)[None, ..., None]
            sample = predict(model=str(zip_path), inputs={"image": x})
            out.append(np.asarray(sample.members["probabilities"].data))
    return np.concatenate(out)


def test_package_passes_bioimageio_test_and_says_what_it_holds(package):
    root, result, events = package
    onnx = keras.backend.backend() == "tensorflow"  # JAX and PyTorch need jax2onnx/onnxscript
    assert result["test"] == "passed" and result["weights"] == ["keras_v3"] + ["onnx"] * onnx
    assert onnx or "No ONNX weights" in result["notes"][0]
    assert [e["stage"] for e in events][-1] == "package written"
    with zipfile.ZipFile(root / "model.zip") as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        readme = zf.read("README.md").decode()
        assert {"model.keras", "test_input.npy", "cover.png"} <= set(zf.namelist())
        cover = Image.open(zf.open("cover.png"))
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == list(_textures.TEXTURES)
    assert [a["name"] for a in rdf["authors"]] == INFO.authors and rdf["license"] == "MIT"
    assert rdf["cite"][0]["url"] == "https://example.org/paper"
    assert cover.size[0] == 2 * cover.size[1]
    assert "brick" in readme and "Confusion" in readme or "confusion" in readme
    bio.test_package(root / "model.zip")  # again, from the file as it is on disk


def test_bioimageio_core_gives_the_plugins_probabilities(package, folders):
    root, _, _ = package
    _, test = folders
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(test) for f in files)
    model, meta = load_bundle(root / "model.keras")
    ours = np.array([row["probabilities"] for row in predict_files(model, meta, paths)["rows"]])
    theirs = _bioimageio_probabilities(root / "model.zip", paths)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    assert (ours.argmax(1) == theirs.argmax(1)).all()


def test_package_comes_back_as_a_bundle(package, folders, tmp_path):
    root, _, _ = package
    _, test = folders
    model, meta = import_model(root / "model.zip", tmp_path / "back.keras")
    original, original_meta = load_bundle(root / "model.keras")
    assert meta["class_names"] == original_meta["class_names"]
    assert meta["data_config"]["normalization"] == original_meta["data_config"]["normalization"]
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(test) for f in files)
    back = [r["probabilities"] for r in predict_files(model, meta, paths)["rows"]]
    ours = [r["probabilities"] for r in predict_files(original, original_meta, paths)["rows"]]
    np.testing.assert_allclose(back, ours, atol=1e-6)


def _rewrite(src, dst, change):
    """Copy the package ``src`` to ``dst`` with its rdf.yaml changed by ``change(rdf)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "rdf.yaml":
                rdf = yaml.safe_load(data)
                change(rdf)
                data = yaml.safe_dump(rdf).encode()
            zout.writestr(item, data)
    return dst


def test_someone_elses_package_is_read_from_its_preprocessing(package, tmp_path):
    """Without napari-convnet's own settings, the pre-processing steps give the normalisation."""
    root, _, _ = package

    def strip(rdf):
        rdf.pop("config")
        rdf["outputs"][0]["axes"][1]["channel_names"] = ["b", "gr", "gv"]

    other = _rewrite(root / "model.zip", tmp_path / "other.zip", strip)
    _, original_meta = load_bundle(root / "model.keras")
    _, meta = import_model(other, tmp_path / "other.keras")
    assert meta["class_names"] == ["b", "gr", "gv"]
    want, got = original_meta["data_config"], meta["data_config"]
    if want["normalization"] == "range":  # range is scale_linear by 1/255: levels (0, 255)
        assert got["normalization"] == "dataset"
        np.testing.assert_allclose(got["levels"], [[0, 255]], atol=1e-9)
    else:
        assert got["normalization"] == want["normalization"]
        key = "levels" if want["normalization"] == "dataset" else "percentiles"
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6)


def test_invalid_packages_are_refused_with_the_validators_reason(package, tmp_path):
    root, _, _ = package
    bad = _rewrite(root / "model.zip", tmp_path / "bad.zip",
                   lambda rdf: rdf["inputs"][0]["axes"][1].update(size=0))
    with pytest.raises(ModelError, match="not a valid bioimage.io model.*inputs.0.axes"):
        import_model(bad, tmp_path / "o.keras")
    if keras.backend.backend() == "tensorflow":  # the package has ONNX weights
        onnx_only = _rewrite(root / "model.zip", tmp_path / "onnx.zip",
                             lambda rdf: (rdf["weights"].pop("keras_v3"),
                                          rdf["weights"]["onnx"].pop("parent")))
        with pytest.raises(ModelError, match="no Keras weights.*onnx"):
            import_model(onnx_only, tmp_path / "o.keras")
    segmenter = _rewrite(root / "model.zip", tmp_path / "seg.zip", lambda rdf: rdf["outputs"][0]
                         .update(axes=[{"type": "batch"}, {"type": "space", "id": "y",
                                                           "size": 32}]))
    with pytest.raises(ModelError, match="valid|not a classifier"):
        import_model(segmenter, tmp_path / "o.keras")
    assert not os.path.exists(tmp_path / "o.keras")


def test_cli_export_writes_both_and_checks_them(package, folders, tmp_path, capsys):
    root, _, _ = package
    train, _ = folders
    onnx = ["--onnx", str(tmp_path / "m.onnx")] if keras.backend.backend() == "tensorflow" else []
    code = main(["export", str(root / "model.keras"), "--bioimageio", str(tmp_path / "p.zip"),
                 *onnx, "--author", "A. Microscopist", "--no-test", "--data", train])
    out, err = capsys.readouterr()
    assert code == 0, err
    if keras.backend.backend() == "tensorflow":
        assert "onnxruntime gives the Keras probabilities within" in out
        assert "weights keras_v3, onnx; bioimage.io test not run" in out
    bio.check_package(tmp_path / "p.zip")
    assert main(["export", str(root / "model.keras"), "--bioimageio",
                 str(tmp_path / "q.zip")]) == 2
    assert "--author" in capsys.readouterr().err


def test_bioimageio_command_line_test_passes(package):
    """`bioimageio test ./pkg.zip`, the command the Model Zoo's maintainers run."""
    root, _, _ = package
    if request_param(root) != "percentile":
        pytest.skip("the command is run on one package: each takes ~15 s")
    command = os.path.join(os.path.dirname(sys.executable), "bioimageio")
    run = subprocess.run([command, "test", str((root / "model.zip").resolve())],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]


def request_param(root):
    """The normalisation of a ``package`` fixture's folder (it is named after it)."""
    return next(n for n in ("percentile", "dataset", "range") if root.name.startswith(n))
