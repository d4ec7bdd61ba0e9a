"""A bundle trained on TensorFlow loads, predicts and is saved again on JAX or PyTorch without
TensorFlow; training there makes a bundle TensorFlow predicts the same with.

Files, tiled class maps, objects, feature maps, kernels and Grad-CAM heatmaps are compared.
The other side runs in a child process with ``KERAS_BACKEND`` set and TensorFlow taken out of
its site-packages (as on a machine without it), so any TensorFlow use on the training,
prediction, inspection or saving path is an error. A backend not installed is skipped.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from _textures import crops, texture_folder

#: The backends a bundle travels to: JAX in CI, PyTorch where it is installed (its Linux wheel
#: brings gigabytes of CUDA libraries, so CI does not).
OTHER_BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(name) is None, reason=f"{name} is not installed"))
    for name in ("jax", "torch")]

#: The start of each child script: the site-packages folders are swapped for
#: :func:`site_without_tensorflow`'s, so TensorFlow is not installed there at all.
_WITHOUT_TENSORFLOW = textwrap.dedent("""
    import json, os, site, sys

    sys.path[:] = [p for p in sys.path if os.path.basename(p) != "site-packages"]
    site.addsitedir(os.environ["SITE_WITHOUT_TENSORFLOW"])
""")


@pytest.fixture(scope="module")
def site_without_tensorflow(tmp_path_factory):
    """A folder of links to everything in site-packages except TensorFlow (its .pth files
    included, so the editable install of the plugin is found)."""
    folder = tmp_path_factory.mktemp("site")
    for packages in {p for p in sys.path if os.path.basename(p) == "site-packages"}:
        for entry in os.scandir(packages):
            if not entry.name.startswith("tensorflow") and \
                    not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry.path)
    return str(folder)


def _run_child(script, args, backend, site):
    """Run ``script`` on ``backend`` without TensorFlow; return its last line, parsed."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "SITE_WITHOUT_TENSORFLOW": site}
    child = subprocess.run([sys.executable, "-c", script, json.dumps(args)],
                           capture_output=True, text=True, env=env, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


_CHILD = _WITHOUT_TENSORFLOW + textwrap.dedent("""
    import numpy as np
    from napari_convnet.core import inspection
    from napari_convnet.core.bundle import load_bundle, save_bundle
    from napari_convnet.core.devices import backend, device_name
    from napari_convnet.core.objects import classify_objects
    from napari_convnet.core.prediction import predict_files
    from napari_convnet.core.tiling import tile_class_map

    bundle, paths, image, layer, out, data = json.loads(sys.argv[1])
    model, meta = load_bundle(bundle)
    rows = predict_files(model, meta, paths, batch_size=4)["rows"]
    probs = [row["probabilities"] for row in rows]
    maps = inspection.feature_maps(model, meta, np.load(image), layer)
    tiles = tile_class_map(model, meta, np.load(image), stride=16)["probabilities"]
    labels = np.zeros((64, 64), np.uint16)
    labels[4:30, 4:30], labels[34:60, 30:60] = 1, 2
    objects = classify_objects(model, meta, np.load(image), labels)["probabilities"]
    cam = inspection.grad_cam(model, meta, np.load(image), class_index=1)["heatmap"]
    saved = save_bundle(model, out, meta)
    from napari_convnet.core.training import TrainConfig, train_from_folder

    _, more, _ = train_from_folder(data, model=out, train_config=TrainConfig(epochs=2,
                                   batch_size=8), out=out.replace(".keras", "-more.keras"))
    print(json.dumps({"grad_cam": np.asarray(cam, np.float64).tolist(),
                      "backend": backend(), "device": device_name(),
                      "probabilities": np.asarray(probs).tolist(),
                      "maps": np.asarray(maps["maps"], np.float64).tolist(),
                      "tiles": np.asarray(tiles, np.float64).tolist(),
                      "objects": np.asarray(objects, np.float64).tolist(),
                      "kernels": inspection.kernels(model, layer).astype(float).tolist(),
                      "versions": saved["versions"], "continued": more["history"],
                      "continued_on": more["versions"]["backend"]}))
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A vgg1 (batch normalisation, augmentation) trained 8 epochs on brick vs grass crops."""
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import TrainConfig, train_from_folder

    root = tmp_path_factory.mktemp("backends")
    data = texture_folder(root / "data", size=32, per_class=32, names=("brick", "grass"))
    out = root / "tf.keras"
    train_from_folder(data, "vgg1", DataConfig(image_size=(32, 32), validation_split=0.25),
                      TrainConfig(epochs=8, batch_size=8),
                      preset_options={"batchnorm": True, "augment": "microscopy"}, out=out)
    return root, out


def _predict_tf(bundle, paths, image, layer):
    """What the child computes, on TensorFlow: file, map, tile and object probabilities."""
    from napari_convnet.core import inspection
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.objects import classify_objects
    from napari_convnet.core.prediction import predict_files
    from napari_convnet.core.tiling import tile_class_map

    model, meta = load_bundle(bundle)
    rows = predict_files(model, meta, paths, batch_size=4)["rows"]
    labels = np.zeros((64, 64), np.uint16)
    labels[4:30, 4:30], labels[34:60, 30:60] = 1, 2
    return {"probabilities": np.asarray([row["probabilities"] for row in rows]),
            "maps": np.asarray(inspection.feature_maps(model, meta, image, layer)["maps"]),
            "tiles": tile_class_map(model, meta, image, stride=16)["probabilities"],
            "objects": np.asarray(classify_objects(model, meta, image, labels)["probabilities"]),
            "kernels": inspection.kernels(model, layer),
            "grad_cam": inspection.grad_cam(model, meta, image, class_index=1)["heatmap"]}


@pytest.mark.parametrize("other", OTHER_BACKENDS)
def test_tensorflow_bundle_on_another_backend_and_back(trained, tmp_path, other,
                                                      site_without_tensorflow):
    from PIL import Image

    from napari_convnet.core import inspection
    from napari_convnet.core.bundle import load_bundle

    _, bundle = trained
    pngs = []  # held-out crops (the right halves of the photographs)
    for name in ("brick", "grass"):
        for i, crop in enumerate(crops(name, 32, 3, half="right", seed=5)):
            pngs.append(str(tmp_path / f"{name}{i}.png"))
            Image.fromarray(crop).save(pngs[-1])
    image = str(tmp_path / "whole.npy")  # feature maps of a larger image than the input
    np.save(image, crops("brick", 64, 1, half="right", seed=7)[0])
    model, meta = load_bundle(bundle)
    assert meta["versions"]["backend"] == "tensorflow" and meta["versions"]["tensorflow"]
    layer = next(row["name"] for row in inspection.list_layers(model)
                 if "conv" in row["name"])
    tf_side = _predict_tf(bundle, pngs, np.load(image), layer)
    probs_tf = tf_side["probabilities"]
    assert probs_tf[:3, 0].mean() > 0.5 > probs_tf[3:, 0].mean()  # it learned the textures

    other_bundle = tmp_path / f"{other}.keras"
    root, _ = trained
    got = _run_child(_CHILD, [str(bundle), pngs, image, layer, str(other_bundle),
                              str(root / "data")], other, site_without_tensorflow)
    assert got["backend"] == other and got["device"] == "CPU"
    assert got["versions"]["backend"] == "tensorflow"  # a saved bundle keeps its training's
    np.testing.assert_allclose(got["probabilities"], probs_tf, atol=1e-5)
    for key in ("tiles", "objects"):
        np.testing.assert_allclose(got[key], tf_side[key], atol=1e-5)
    np.testing.assert_allclose(got["maps"], tf_side["maps"], atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(got["kernels"], tf_side["kernels"])
    assert np.ptp(tf_side["grad_cam"]) > 0.5  # a heatmap, not a blank: the gradients agree
    np.testing.assert_allclose(got["grad_cam"], tf_side["grad_cam"], atol=1e-4)

    # it trains further there: epochs 9 and 10, still telling the textures apart
    assert got["continued_on"] == other and len(got["continued"]["loss"]) == 10
    assert got["continued"]["val_accuracy"][-1] >= 0.75

    # and the bundle the other backend saved predicts the same on TensorFlow
    back = _predict_tf(other_bundle, pngs, np.load(image), layer)
    np.testing.assert_allclose(back["probabilities"], probs_tf, atol=1e-5)


_TRAIN_CHILD = _WITHOUT_TENSORFLOW + textwrap.dedent("""
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.evaluation import evaluate_folder
    from napari_convnet.core.prediction import predict_files
    from napari_convnet.core.training import TrainConfig, train_from_folder

    data, out, paths = json.loads(sys.argv[1])
    model, meta, result = train_from_folder(
        data, "vgg1", DataConfig(validation_split=0.25, test_split=0.2),
        TrainConfig(epochs=6, batch_size=8), out=out)
    rows = predict_files(model, meta, paths, batch_size=4)["rows"]
    report = evaluate_folder(model, meta, data)  # its test split
    print(json.dumps({"history": meta["history"], "metrics": meta["metrics"],
                      "evaluated": [report["split"], report["accuracy"]],
                      "versions": meta["versions"], "device": result.device,
                      "probabilities": [row["probabilities"] for row in rows]}))
""")


@pytest.mark.parametrize("other", OTHER_BACKENDS)
def test_training_without_tensorflow(tmp_path, other, site_without_tensorflow):
    """The whole run (index, PyDataset batches, fit, test split, bundle, record) on JAX or
    PyTorch."""
    from PIL import Image

    data = texture_folder(tmp_path / "data", size=32, per_class=30, names=("brick", "grass"))
    pngs = []
    for name in ("brick", "grass"):
        for i, crop in enumerate(crops(name, 32, 3, half="right", seed=11)):
            pngs.append(str(tmp_path / f"{name}{i}.png"))
            Image.fromarray(crop).save(pngs[-1])
    out = tmp_path / f"{other}-trained.keras"
    got = _run_child(_TRAIN_CHILD, [str(data), str(out), pngs], other, site_without_tensorflow)
    assert got["versions"]["backend"] == other and got["device"] == "CPU"
    assert len(got["history"]["val_accuracy"]) == 6 and "test_accuracy" in got["metrics"]
    assert max(got["history"]["val_accuracy"]) >= 0.8  # it learned brick vs grass
    assert got["evaluated"][0] == "test" and got["evaluated"][1] >= 0.8
    probs = np.asarray(got["probabilities"])
    assert (probs.argmax(1) == [0, 0, 0, 1, 1, 1]).sum() >= 5  # held-out crops
    assert (tmp_path / f"{other}-trained.run.json").exists()
    whole = crops("grass", 64, 1, half="right", seed=2)[0]  # _predict_tf takes a 64x64 image
    back = _predict_tf(out, pngs, whole, "block1_conv1")
    np.testing.assert_allclose(back["probabilities"], probs, atol=1e-5)  # and on TensorFlow

    from napari_convnet.core.training import TrainConfig, train_from_folder

    _, more, result = train_from_folder(data, model=out, train_config=TrainConfig(
        epochs=2, batch_size=8), out=tmp_path / "on-tf.keras")  # and trains further there
    assert result.initial_epoch == 6 and len(more["history"]["loss"]) == 8
    assert more["versions"]["backend"] == "tensorflow" and more["metrics"]["test_accuracy"] >= 0.75
